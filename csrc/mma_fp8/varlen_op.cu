// sageattention::sageattn_mma_f8_varlen: sageattn_mma_f8 for packed sequences (cu_seqlens, never read on the
// host): Q, K and V quantized into each sequence's window of padded tiles (common/varlen.cuh), K smoothed with each
// sequence's own mean (common/varlen_k_mean.cuh), V's statistics over the pack, and one CTA per padded q tile and
// head. The build's default accumulation only
// ("fp32+fp16" where compiled, else "fp32+fp32"): the others take sageattn_varlen's runs path.
#include <cstdint>
#include <tuple>

#include "common/channel_stats_kernel.cuh"
#include "common/dtype_dispatch.h"
#include "common/mma/varlen_call.h"
#include "common/quant_v_tile.cuh"
#include "common/scratch_layout.h"
#include "common/stable_op.h"
#include "mma_fp8/f8_attn.h"
#include "mma_fp8/v_fp8.h"

namespace sage::mma {
namespace {

#if SAGE_FP8_F16_ACCUM
constexpr PvAccum kVarlenAccum = PvAccum::kF8F32F16;
#else
constexpr PvAccum kVarlenAccum = PvAccum::kF8F32F32;
#endif

std::tuple<Tensor, Tensor, Tensor> sageattn_mma_f8_varlen(Tensor q, Tensor k, Tensor v, Tensor cu_seqlens_q,
                                                          Tensor cu_seqlens_k, bool is_causal, bool qk_per_thread,
                                                          bool smooth_k, bool smooth_v, double sm_scale,
                                                          double v_scale_max, bool return_lse) {
  const char* op = "sageattn_mma_f8_varlen";
  SAGE_CHECK(v_scale_max > 0.0 && v_scale_max <= kE4m3Max, "v_scale_max must be in (0, ", kE4m3Max, "], got ",
             v_scale_max);
  PackTables tables(q, cu_seqlens_q, cu_seqlens_k, op);
  const QkPlan plan = plan_qk_packed(q, k, v, tables.seqs, qk_per_thread, smooth_k, /*fp8_key_order=*/true, op);
  SAGE_CHECK(is_half_like(v.scalar_type()), op, ": v must be float16 or bfloat16");
  const Bhnd vs = packed_view(v, "v", op);
  VFp8Pieces v_pieces(plan_channel_stats_view(vs, true),  // aligned: checked by plan_qk_packed
                      plan_quant_v_fp8_view(vs, true, plan.shape.nk_pad, plan.tile.cta_k, plan.shape.d_pad,
                                            kQuantVMaxDim, static_cast<float>(v_scale_max)));
  torch::stable::accelerator::DeviceGuard guard(q.get_device_index());
  ScratchLayout layout;
  const QkPieces pieces = take_qk_pieces(plan, layout);
  v_pieces.take(layout);
  tables.take(plan, layout);
  Tensor scratch = torch::stable::new_empty(q, {layout.size()}, ScalarType::Byte);
  Tensor k_mean = torch::stable::new_empty(q, plan.k_mean_shape(), ScalarType::Float);
  char* base = static_cast<char*>(scratch.data_ptr());
  const QkBuffers qk = pieces.in(base, plan, k_mean);
  const VFp8Buffers vb = v_pieces.in(base);
  const auto rows = tables.rows(base, plan);
  AttnCall c = packed_attn_call(q, plan, qk, smooth_v ? vb.mean : nullptr, rows, sm_scale, return_lse);
  c.p.v = vb.fp8;
  c.p.v_scale = vb.scale;

  cudaStream_t stream = current_stream(q.get_device_index());
  tables.launch(base, plan, stream);
  launch_qk_quant<true>(plan, q, k, qk, stream, /*paired=*/false, rows.data());
  launch_v_fp8<true>(v_pieces, v, smooth_v, vb, stream, rows[1]);
  dispatch_attn<static_cast<int>(kVarlenAccum), true>(c, is_causal, stream);
  return {c.out, c.lse, k_mean};
}

}  // namespace
}  // namespace sage::mma

STABLE_TORCH_LIBRARY_FRAGMENT(sageattention, m) {
  // Packed sequences: q [total_q, Hq, d], k / v [total_k, Hkv, d] float16/bfloat16, cu_seqlens_q / cu_seqlens_k
  // int32 [S + 1] on the GPU (never read on the host). Each sequence attends to its own keys (causal: bottom-right
  // aligned per sequence) and has its own K mean; V's statistics span the pack. The build's default accumulation
  // (fp32+fp16 where compiled, else fp32+fp32; v_scale_max as sageattn_mma_f8 for it). out [1, total_q, Hq, d]; lse
  // [1, Hq, total_q] (without the smooth-K correction) or [0]; k_mean [S, Hkv, d] (smooth_k) or [0, Hkv, d].
  m.def(
      "sageattn_mma_f8_varlen(Tensor q, Tensor k, Tensor v, Tensor cu_seqlens_q, Tensor cu_seqlens_k, "
      "bool is_causal, bool qk_per_thread, bool smooth_k, bool smooth_v, float sm_scale, float v_scale_max, "
      "bool return_lse) -> (Tensor out, Tensor lse, Tensor k_mean)");
}

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("sageattn_mma_f8_varlen", TORCH_BOX(&sage::mma::sageattn_mma_f8_varlen));
}
