// sageattn_sm90_varlen: packed sequences (cu_seqlens, as FlashAttention's varlen functions) through the fused
// quantization and the attention kernel in one op, with no read of cu_seqlens on the host: three launches (the
// padded tiles' sequences, the quantization, the attention kernel as its programmatic dependent) whatever the
// lengths. common/varlen.cuh explains the padded layout. K is smoothed per sequence (k_mean [sequences, Hkv, d]);
// V's per-channel scale and mean span the whole pack (the epilogue adds V's mean back, so that one is exact).
#include <array>
#include <cstdint>
#include <tuple>

#include "common/scratch_layout.h"
#include "common/stable_op.h"
#include "sm90/host_ops.h"
#include "common/varlen.cuh"

namespace sage::sm90 {
namespace {

std::tuple<Tensor, Tensor, Tensor> sageattn_sm90_varlen(Tensor q, Tensor k, Tensor v, Tensor cu_seqlens_q,
                                                        Tensor cu_seqlens_k, bool is_causal, bool qk_per_thread,
                                                        bool smooth_k, bool smooth_v, double sm_scale,
                                                        bool return_lse) {
  const char* op = "sageattn_sm90_varlen";
  const int64_t d = q.dim() == 3 ? q.size(2) : 0;
  SAGE_CHECK(d <= 256, op, " runs head dims up to 256, got ", d);
  check_cu_seqlens(cu_seqlens_q, q, "cu_seqlens_q", op);
  check_cu_seqlens(cu_seqlens_k, q, "cu_seqlens_k", op);
  SAGE_CHECK(cu_seqlens_k.size(0) == cu_seqlens_q.size(0), op, ": cu_seqlens_q and cu_seqlens_k must have the same "
             "length (sequences + 1), got ", cu_seqlens_q.size(0), " and ", cu_seqlens_k.size(0));
  const int64_t seqs = cu_seqlens_q.size(0) - 1;
  const int64_t dp = padded_head_dim(d);
  const QkvPlan plan = plan_quant_qkv_varlen(q, k, v, seqs, qk_per_thread, smooth_k, smooth_v, dp, op);
  check_heads(plan, op);

  torch::stable::accelerator::DeviceGuard guard(q.get_device_index());
  const int64_t tiles_q = plan.nq_pad / kVarlenTile, tiles_k = plan.nk_pad / kVarlenTile;
  ScratchLayout layout;
  const QkvPieces pieces(plan, layout);
  const int64_t at_tq = layout.take(std::array<int64_t, 1>{tiles_q}, sizeof(int));
  const int64_t at_tk = layout.take(std::array<int64_t, 1>{tiles_k}, sizeof(int));
  const int64_t at_seg = layout.take(plan.k_seg_sum_shape(), sizeof(float));
  Tensor scratch = torch::stable::new_empty(q, {layout.size()}, ScalarType::Byte);
  Tensor k_mean = torch::stable::new_empty(q, plan.k_mean_shape(), ScalarType::Float);

  char* base = static_cast<char*>(scratch.data_ptr());
  auto i32 = [base](int64_t offset) { return reinterpret_cast<int*>(base + offset); };
  const VarlenTables tables{reinterpret_cast<const int*>(cu_seqlens_q.data_ptr()),
                            reinterpret_cast<const int*>(cu_seqlens_k.data_ptr()), i32(at_tq), i32(at_tk)};
  launch_tile_seq(tables.cu_q, tables.cu_k, seqs, plan.q.n, plan.k.n, tiles_q, tiles_k, i32(at_tq), i32(at_tk),
                  current_stream(q.get_device_index()));

  QkvOutputs quantized = pieces.in(base, plan, reinterpret_cast<float*>(k_mean.data_ptr()));
  quantized.k_seg_sum = plan.smooth_k ? reinterpret_cast<float*>(base + at_seg) : nullptr;
  launch_quant_qkv(plan, q, k, v, quantized, &tables);

  const AttnOperands ops{quantized.q_int8, quantized.q_scale, quantized.k_int8, quantized.k_scale,
                         quantized.v_fp8, quantized.v_scale, quantized.v_mean,
                         1, plan.q.h, plan.k.h, plan.nq_pad, plan.nk_pad, dp,
                         quantized.work_counter, true};
  auto [out, lse] = launch_attention_varlen(q, ops, tables, plan.k.n, is_causal, qk_per_thread, sm_scale, return_lse);
  return {out, lse, k_mean};
}

}  // namespace
}  // namespace sage::sm90

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("sageattn_sm90_varlen", TORCH_BOX(&sage::sm90::sageattn_sm90_varlen));
}
