// sageattention::qk_int8_sv_f8_attn: INT8 Q.K^T + FP8 e4m3 P.V (mma.sync, sm_89+).
#include "common/mma/attn_host.h"
#include "common/mma/attn_smem.cuh"
#include "mma_fp8/f8_attn.h"

SAGE_PYMODULE(_C_mma_fp8)

namespace sage::mma {
namespace {

std::tuple<Tensor, Tensor> qk_int8_sv_f8_attn(Tensor q, Tensor k, Tensor v, Tensor q_scale, Tensor k_scale,
                                              Tensor v_scale, std::optional<Tensor> v_mean, int64_t tensor_layout,
                                              int64_t qo_len, int64_t kv_len, int64_t head_dim, int64_t out_dtype,
                                              bool is_causal, bool q_per_thread, bool k_per_thread, double sm_scale,
                                              int64_t pv_accum, bool return_lse) {
  check_f8_pv_accum(pv_accum);
  AttnCall c = prepare_attn(q, k, q_scale, k_scale, v_mean, tensor_layout, qo_len, kv_len, head_dim, out_dtype,
                            q_per_thread, k_per_thread, sm_scale, return_lse);
  check_cuda(v, "v");
  const int64_t B = q.size(0), hkv = k.size(1);
  SAGE_CHECK(v.scalar_type() == ScalarType::Float8_e4m3fn && v.dim() == 4 && v.is_contiguous() && v.size(0) == B &&
                 v.size(1) == hkv && v.size(2) == c.d_pad && v.size(3) == k.size(2),
             "v must be the contiguous e4m3 [B, Hkv, D_pad, N_pad] output of quant_v_fp8, padded like k");
  SAGE_CHECK(v_scale.scalar_type() == ScalarType::Float && v_scale.dim() == 3 && v_scale.size(0) == B &&
                 v_scale.size(1) == hkv && v_scale.size(2) == c.d_pad && v_scale.is_contiguous(),
             "v_scale must be a contiguous float32 [B, Hkv, D_pad] tensor");
  c.p.v = v.data_ptr();
  c.p.v_scale = reinterpret_cast<const float*>(v_scale.data_ptr());
  if (attn_is_empty(c)) return {c.out, c.lse};
  torch::stable::accelerator::DeviceGuard guard(q.get_device_index());
  launch_f8_attn(c, is_causal, pv_accum, current_stream(q.get_device_index()));
  return {c.out, c.lse};
}

int64_t mma_f8_attn_smem(int64_t head_dim_padded) { return attn_smem_bytes_of<true>(head_dim_padded); }

}  // namespace
}  // namespace sage::mma

STABLE_TORCH_LIBRARY_FRAGMENT(sageattention, m) {
  // As qk_int8_sv_f16_attn, with v: e4m3 [B, Hkv, D_pad, N_pad] (quant_v_fp8, tokens contiguous) and
  // its per-channel v_scale. Per-thread K scales follow the FP8 key order: 4 groups per 64 keys,
  // key j in group (j % 16) / 4. pv_accum: 0 fp32, 1 fp32+fp32, 2 fp32+fp16 (SAGE_FP8_F16_ACCUM).
  m.def(
      "qk_int8_sv_f8_attn(Tensor q, Tensor k, Tensor v, Tensor q_scale, Tensor k_scale, Tensor v_scale, "
      "Tensor? v_mean, int tensor_layout, int qo_len, int kv_len, int head_dim, int out_dtype, bool is_causal, "
      "bool q_per_thread, bool k_per_thread, float sm_scale, int pv_accum, bool return_lse) -> (Tensor out, Tensor lse)");
  // Bytes of shared memory per block the attention kernel takes at this padded head dim (any accumulation):
  // kernels/mma.py declines a call whose kernel does not fit the GPU (99 KB per block on sm_86, sm_89, sm_12x).
  m.def("mma_f8_attn_smem(int head_dim_padded) -> int");
}

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("qk_int8_sv_f8_attn", TORCH_BOX(&sage::mma::qk_int8_sv_f8_attn));
}

// No tensor arguments: registered for every backend (a property of the compiled kernels).
STABLE_TORCH_LIBRARY_IMPL(sageattention, CompositeExplicitAutograd, m) {
  m.impl("mma_f8_attn_smem", TORCH_BOX(&sage::mma::mma_f8_attn_smem));
}
