// sageattention::sageattn_mma_f16_varlen: sageattn_mma_f16 for packed sequences (cu_seqlens, never read on the
// host): Q and K quantized into each sequence's window of padded tiles (common/varlen.cuh), K smoothed with each
// sequence's own mean (common/varlen_k_mean.cuh), and one CTA per padded q tile and head; V is the fp16 pack itself.
#include <cstdint>
#include <tuple>

#include "common/mma/varlen_call.h"
#include "common/scratch_layout.h"
#include "common/stable_op.h"
#include "mma_fp16/f16_attn.h"

namespace sage::mma {
namespace {

std::tuple<Tensor, Tensor, Tensor> sageattn_mma_f16_varlen(Tensor q, Tensor k, Tensor v, Tensor cu_seqlens_q,
                                                           Tensor cu_seqlens_k, bool is_causal, bool qk_per_thread,
                                                           bool smooth_k, double sm_scale, bool return_lse) {
  const char* op = "sageattn_mma_f16_varlen";
  PackTables tables(q, cu_seqlens_q, cu_seqlens_k, op);
  const QkPlan plan = plan_qk_packed(q, k, v, tables.seqs, qk_per_thread, smooth_k, /*fp8_key_order=*/false, op);
  torch::stable::accelerator::DeviceGuard guard(q.get_device_index());
  ScratchLayout layout;
  const QkPieces pieces = take_qk_pieces(plan, layout);
  tables.take(plan, layout);
  Tensor scratch = torch::stable::new_empty(q, {layout.size()}, ScalarType::Byte);
  Tensor k_mean = torch::stable::new_empty(q, plan.k_mean_shape(), ScalarType::Float);
  char* base = static_cast<char*>(scratch.data_ptr());
  const QkBuffers qk = pieces.in(base, plan, k_mean);
  const auto rows = tables.rows(base, plan);
  AttnCall c = packed_attn_call(q, plan, qk, nullptr, rows, sm_scale, return_lse);
  set_f16_v_view(c.p, v, packed_view(v, "v", op), plan.shape.head_dim, plan.shape.d_pad);  // before any launch
  cudaStream_t stream = current_stream(q.get_device_index());
  tables.launch(base, plan, stream);
  launch_qk_quant<true>(plan, q, k, qk, stream, /*paired=*/false, rows.data());
  dispatch_attn<static_cast<int>(PvAccum::kF16F32), true>(c, is_causal, stream);
  return {c.out, c.lse, k_mean};
}

}  // namespace
}  // namespace sage::mma

STABLE_TORCH_LIBRARY_FRAGMENT(sageattention, m) {
  // Packed sequences: q [total_q, Hq, d], k [total_k, Hkv, d] float16/bfloat16, v [total_k, Hkv, Dv] float16 as
  // sageattn_mma_f16 reads it, cu_seqlens_q / cu_seqlens_k int32 [S + 1] on the GPU (never read on the host). Each
  // sequence attends to its own keys (causal: bottom-right aligned per sequence) and has its own K mean. "fp32"
  // accumulation. out [1, total_q, Hq, d]; lse [1, Hq, total_q] (without the smooth-K correction) or [0];
  // k_mean [S, Hkv, d] (smooth_k) or [0, Hkv, d].
  m.def(
      "sageattn_mma_f16_varlen(Tensor q, Tensor k, Tensor v, Tensor cu_seqlens_q, Tensor cu_seqlens_k, "
      "bool is_causal, bool qk_per_thread, bool smooth_k, float sm_scale, bool return_lse) -> (Tensor out, "
      "Tensor lse, Tensor k_mean)");
}

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("sageattn_mma_f16_varlen", TORCH_BOX(&sage::mma::sageattn_mma_f16_varlen));
}
