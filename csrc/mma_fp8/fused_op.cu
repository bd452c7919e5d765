// sageattention::sageattn_mma_f8: what sageattention/kernels/mma.py runs for FP8 PV (quant_int8 for Q,
// channel_stats + quant_int8 for smoothed K, channel_stats + quant_v_fp8 for V, qk_int8_sv_f8_attn) in one
// op. A small call's time is mostly host time: five or six op calls, each parsing its arguments and
// allocating its outputs. Here the intermediates are pieces of one scratch buffer, freed on return: the
// caching allocator hands the block only to later work on the same stream, which runs after these kernels.
#include <cstdint>
#include <tuple>

#include "common/channel_stats_kernel.cuh"
#include "common/dtype_dispatch.h"
#include "common/mma/fused_quant.h"
#include "common/quant_v_tile.cuh"
#include "common/scratch_layout.h"
#include "common/stable_op.h"
#include "mma_fp8/f8_attn.h"
#include "mma_fp8/v_fp8.h"

namespace sage::mma {
namespace {

std::tuple<Tensor, Tensor, Tensor> sageattn_mma_f8(Tensor q, Tensor k, Tensor v, int64_t tensor_layout,
                                                   bool is_causal, bool qk_per_thread, bool smooth_k, bool smooth_v,
                                                   double sm_scale, int64_t pv_accum, double v_scale_max,
                                                   bool return_lse) {
  check_f8_pv_accum(pv_accum);
  SAGE_CHECK(v_scale_max > 0.0 && v_scale_max <= kE4m3Max, "v_scale_max must be in (0, ", kE4m3Max, "], got ",
             v_scale_max);
  const QkPlan plan = plan_qk(q, k, v, tensor_layout, qk_per_thread, smooth_k, /*fp8_key_order=*/true,
                              "sageattn_mma_f8");
  SAGE_CHECK(is_half_like(v.scalar_type()), "sageattn_mma_f8: v must be float16 or bfloat16");
  VFp8Pieces v_pieces(plan_channel_stats(v, tensor_layout, "v"),
                      plan_quant_v_fp8(v, tensor_layout, plan.tile.cta_k, plan.shape.d_pad, kQuantVMaxDim,
                                       static_cast<float>(v_scale_max)));
  torch::stable::accelerator::DeviceGuard guard(q.get_device_index());
  ScratchLayout layout;
  const QkPieces pieces = take_qk_pieces(plan, layout);
  v_pieces.take(layout);
  Tensor scratch = torch::stable::new_empty(q, {layout.size()}, ScalarType::Byte);
  // k_mean is returned (the caller's LSE correction needs it), so it is a tensor of its own.
  Tensor k_mean = torch::stable::new_empty(q, plan.k_mean_shape(), ScalarType::Float);
  char* base = static_cast<char*>(scratch.data_ptr());
  const QkBuffers qk = pieces.in(base, plan, k_mean);
  const VFp8Buffers vb = v_pieces.in(base);
  AttnCall c = qk_attn_call(q, plan, qk, smooth_v ? vb.mean : nullptr, tensor_layout, sm_scale, return_lse);
  c.p.v = vb.fp8;
  c.p.v_scale = vb.scale;

  cudaStream_t stream = current_stream(q.get_device_index());
  const bool pair_qk = qk_pairable(plan, q, k);  // reads the environment: once per call
  if (pair_qk && v.scalar_type() == q.scalar_type() && v_pieces.pairable()) {
    SAGE_DISPATCH_HALF(q.scalar_type(), "q", [&] {
      auto typed = [](const Tensor& t) { return reinterpret_cast<const scalar_t*>(t.data_ptr()); };
      const PairedVStats<scalar_t> v_stats{typed(v), &v_pieces.stats, vb.partial};
      launch_qk_quant_paired<scalar_t>(plan, typed(q), typed(k), qk, stream, &v_stats);
      launch_v_fp8_quant<scalar_t>(v_pieces, typed(v), smooth_v, vb, stream);
    });
  } else {
    launch_qk_quant(plan, q, k, qk, stream, pair_qk);
    launch_v_fp8(v_pieces, v, smooth_v, vb, stream);
  }
  if (!attn_is_empty(c)) launch_f8_attn(c, is_causal, pv_accum, stream);
  return {c.out, c.lse, k_mean};
}

}  // namespace
}  // namespace sage::mma

STABLE_TORCH_LIBRARY_FRAGMENT(sageattention, m) {
  // quant_int8 (Q), channel_stats + quant_int8 (K, smooth_k), channel_stats + quant_v_fp8 (V, scale_max
  // v_scale_max, smooth_v) and qk_int8_sv_f8_attn in one op, with the scale groups of
  // sageattention/kernels/mma.py (q_spec, k_spec) for the kernel's tile and qk_per_thread; the quantized
  // operands (and V's mean, which the kernel adds back) live in one scratch buffer inside it. q, k, v: float16
  // or bfloat16 in tensor_layout, v of k's shape, head dims up to 256 (padded to 64, 128 or 256). out and lse
  // as qk_int8_sv_f8_attn (lse without the smooth-K correction, [0] unless return_lse); k_mean: the mean K
  // smoothing removed, [B, Hkv, D] fp32, or [0, Hkv, D] without smooth_k.
  m.def(
      "sageattn_mma_f8(Tensor q, Tensor k, Tensor v, int tensor_layout, bool is_causal, bool qk_per_thread, "
      "bool smooth_k, bool smooth_v, float sm_scale, int pv_accum, float v_scale_max, bool return_lse) -> "
      "(Tensor out, Tensor lse, Tensor k_mean)");
}

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("sageattn_mma_f8", TORCH_BOX(&sage::mma::sageattn_mma_f8));
}
