// sageattention::sageattn_mma_f16: what sageattention/kernels/mma.py runs for FP16 PV (quant_int8 for Q,
// channel_stats + quant_int8 for smoothed K, qk_int8_sv_f16_attn) in one op, for V the kernel reads as it is.
// A small call's time is mostly host time: three or four op calls, each parsing its arguments and allocating
// its outputs. Here the intermediates are pieces of one scratch buffer, freed on return: the caching
// allocator hands the block only to later work on the same stream, which runs after these kernels.
#include <cstdint>
#include <tuple>

#include "common/mma/fused_quant.h"
#include "common/scratch_layout.h"
#include "common/stable_op.h"
#include "mma_fp16/f16_attn.h"

namespace sage::mma {
namespace {

std::tuple<Tensor, Tensor, Tensor> sageattn_mma_f16(Tensor q, Tensor k, Tensor v, int64_t tensor_layout,
                                                    bool is_causal, bool qk_per_thread, bool smooth_k,
                                                    double sm_scale, int64_t pv_accum, bool return_lse) {
  check_f16_pv_accum(pv_accum);
  const QkPlan plan = plan_qk(q, k, v, tensor_layout, qk_per_thread, smooth_k, /*fp8_key_order=*/false,
                              "sageattn_mma_f16");
  torch::stable::accelerator::DeviceGuard guard(q.get_device_index());
  ScratchLayout layout;
  const QkPieces pieces = take_qk_pieces(plan, layout);
  Tensor scratch = torch::stable::new_empty(q, {layout.size()}, ScalarType::Byte);
  // k_mean is returned (the caller's LSE correction needs it), so it is a tensor of its own.
  Tensor k_mean = torch::stable::new_empty(q, plan.k_mean_shape(), ScalarType::Float);
  const QkBuffers qk = pieces.in(static_cast<char*>(scratch.data_ptr()), plan, k_mean);
  AttnCall c = qk_attn_call(q, plan, qk, nullptr, tensor_layout, sm_scale, return_lse);
  const AttnShape& g = plan.shape;
  set_f16_v(c.p, v, tensor_layout, g.batch, g.hkv, g.kv_len, g.head_dim, g.d_pad);  // before any launch
  cudaStream_t stream = current_stream(q.get_device_index());
  launch_qk_quant(plan, q, k, qk, stream, qk_pairable(plan, q, k));
  if (!attn_is_empty(c)) launch_f16_attn(c, is_causal, pv_accum, stream);
  return {c.out, c.lse, k_mean};
}

}  // namespace
}  // namespace sage::mma

STABLE_TORCH_LIBRARY_FRAGMENT(sageattention, m) {
  // quant_int8 (Q), channel_stats + quant_int8 (K, smooth_k) and qk_int8_sv_f16_attn in one op, with the
  // scale groups of sageattention/kernels/mma.py (q_spec, k_spec) for the kernel's tile and qk_per_thread;
  // the quantized operands live in one scratch buffer inside it. q, k: float16 or bfloat16 in tensor_layout,
  // head dims up to 256 (padded to 64, 128 or 256); v: k's shape, float16, head dim a multiple of 8, strides
  // multiples of 8 elements, 16-byte aligned data (else convert it and use the separate ops). out and lse as
  // qk_int8_sv_f16_attn (lse without the smooth-K correction, [0] unless return_lse); k_mean: the mean K
  // smoothing removed, [B, Hkv, D] fp32, or [0, Hkv, D] without smooth_k.
  m.def(
      "sageattn_mma_f16(Tensor q, Tensor k, Tensor v, int tensor_layout, bool is_causal, bool qk_per_thread, "
      "bool smooth_k, float sm_scale, int pv_accum, bool return_lse) -> (Tensor out, Tensor lse, Tensor k_mean)");
}

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("sageattn_mma_f16", TORCH_BOX(&sage::mma::sageattn_mma_f16));
}
