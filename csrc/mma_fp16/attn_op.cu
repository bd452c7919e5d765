// sageattention::qk_int8_sv_f16_attn: INT8 Q.K^T + FP16 P.V (mma.sync, sm_80+).
#include "common/mma/attn_host.h"
#include "common/mma/attn_smem.cuh"
#include "mma_fp16/f16_attn.h"

SAGE_PYMODULE(_C_mma_fp16)

namespace sage::mma {
namespace {

std::tuple<Tensor, Tensor> qk_int8_sv_f16_attn(Tensor q, Tensor k, Tensor v, Tensor q_scale, Tensor k_scale,
                                               std::optional<Tensor> v_mean, int64_t tensor_layout, int64_t qo_len,
                                               int64_t kv_len, int64_t head_dim, int64_t out_dtype, bool is_causal,
                                               bool q_per_thread, bool k_per_thread, double sm_scale,
                                               int64_t pv_accum, bool return_lse) {
  check_f16_pv_accum(pv_accum);
  AttnCall c = prepare_attn(q, k, q_scale, k_scale, v_mean, tensor_layout, qo_len, kv_len, head_dim, out_dtype,
                            q_per_thread, k_per_thread, sm_scale, return_lse);
  set_f16_v(c.p, v, tensor_layout, q.size(0), k.size(1), kv_len, head_dim, c.d_pad);
  if (attn_is_empty(c)) return {c.out, c.lse};
  torch::stable::accelerator::DeviceGuard guard(q.get_device_index());
  launch_f16_attn(c, is_causal, pv_accum, current_stream(q.get_device_index()));
  return {c.out, c.lse};
}

int64_t mma_f16_attn_smem(int64_t head_dim_padded) { return attn_smem_bytes_of<false>(head_dim_padded); }

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
  // Bytes of shared memory per block the attention kernel takes at this padded head dim (any accumulation):
  // kernels/mma.py declines a call whose kernel does not fit the GPU (99 KB per block on sm_86, sm_89, sm_12x).
  m.def("mma_f16_attn_smem(int head_dim_padded) -> int");
}

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("qk_int8_sv_f16_attn", TORCH_BOX(&sage::mma::qk_int8_sv_f16_attn));
}

// No tensor arguments: registered for every backend (a property of the compiled kernels).
STABLE_TORCH_LIBRARY_IMPL(sageattention, CompositeExplicitAutograd, m) {
  m.impl("mma_f16_attn_smem", TORCH_BOX(&sage::mma::mma_f16_attn_smem));
}
