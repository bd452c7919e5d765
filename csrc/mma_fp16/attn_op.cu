// sageattention::qk_int8_sv_f16_attn: INT8 Q.K^T + FP16 P.V (mma.sync, sm_80+).
#include "common/mma/attn_host.h"

SAGE_PYMODULE(_C_mma_fp16)

namespace sage::mma {
namespace {

std::tuple<Tensor, Tensor> qk_int8_sv_f16_attn(Tensor q, Tensor k, Tensor v, Tensor q_scale, Tensor k_scale,
                                               std::optional<Tensor> v_mean, int64_t tensor_layout, int64_t qo_len,
                                               int64_t kv_len, int64_t head_dim, int64_t out_dtype, bool is_causal,
                                               bool q_per_thread, bool k_per_thread, double sm_scale,
                                               int64_t pv_accum, bool return_lse) {
  SAGE_CHECK(pv_accum >= 0 && pv_accum <= 2, "pv_accum must be 0 (fp32), 1 (fp16+fp32) or 2 (fp16), got ",
             pv_accum);
  AttnCall c = prepare_attn(q, k, q_scale, k_scale, v_mean, tensor_layout, qo_len, kv_len, head_dim, out_dtype,
                            q_per_thread, k_per_thread, sm_scale, return_lse);
  check_cuda(v, "v");
  SAGE_CHECK(v.scalar_type() == ScalarType::Half, "v must be float16 for the FP16-PV kernel");
  const Bhnd vs = bhnd(v, tensor_layout, "v");
  SAGE_CHECK(vs.b == q.size(0) && vs.h == k.size(1) && vs.n == kv_len, "v must be [B, Hkv, kv_len, Dv] in the layout");
  SAGE_CHECK(vs.d >= head_dim && vs.d <= c.d_pad && vs.d % 8 == 0, "v's head dim (", vs.d,
             ") must be a multiple of 8 in [head_dim, ", c.d_pad, "]; pad it");
  SAGE_CHECK(vs.sb % 8 == 0 && vs.sh % 8 == 0 && vs.sn % 8 == 0 && reinterpret_cast<uintptr_t>(v.data_ptr()) % 16 == 0,
             "v's strides must be multiples of 8 elements and its data 16-byte aligned");
  c.p.v = v.data_ptr();
  c.p.v_sb = vs.sb, c.p.v_sh = vs.sh, c.p.v_sn = vs.sn;
  c.p.v_dim = static_cast<int>(vs.d);
  if (qo_len == 0 || c.p.batch == 0 || c.p.hq == 0) return {c.out, c.lse};
  torch::stable::accelerator::DeviceGuard guard(q.get_device_index());
  cudaStream_t stream = current_stream(q.get_device_index());
  switch (pv_accum) {
    case 0: dispatch_attn<static_cast<int>(PvAccum::kF16F32)>(c, is_causal, stream); break;
    case 1: dispatch_attn<static_cast<int>(PvAccum::kF16F16F32)>(c, is_causal, stream); break;
    default: dispatch_attn<static_cast<int>(PvAccum::kF16F16)>(c, is_causal, stream); break;
  }
  return {c.out, c.lse};
}

}  // namespace
}  // namespace sage::mma

STABLE_TORCH_LIBRARY_FRAGMENT(sageattention, m) {
  // Attention on pre-quantized operands. q/k: INT8 HND [B, H, N_pad, D_pad] (quant_int8 with the
  // kernel's tile: Q blocks of WARP_Q tokens padded to CTA_Q, K blocks of 64); scales per warp
  // (q: 1 per WARP_Q tokens, k: 1 per 64 keys) or per thread (q: 8, k: 4 groups per block).
  // v: fp16 in tensor_layout. pv_accum: 0 fp32, 1 fp16+fp32, 2 fp16. lse: [B, Hq, qo_len] natural
  // log without the smooth-K correction, or an empty tensor when return_lse is false.
  m.def(
      "qk_int8_sv_f16_attn(Tensor q, Tensor k, Tensor v, Tensor q_scale, Tensor k_scale, Tensor? v_mean, "
      "int tensor_layout, int qo_len, int kv_len, int head_dim, int out_dtype, bool is_causal, bool q_per_thread, "
      "bool k_per_thread, float sm_scale, int pv_accum, bool return_lse) -> (Tensor out, Tensor lse)");
}

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("qk_int8_sv_f16_attn", TORCH_BOX(&sage::mma::qk_int8_sv_f16_attn));
}
