// sageattn_sm90_varlen: packed sequences (cu_seqlens, as FlashAttention's varlen functions) through the fused
// quantization and the attention kernel in one op, with no read of cu_seqlens on the host: three launches (the
// padded tiles' sequences, the quantization, the attention kernel as its programmatic dependent) whatever the
// lengths. sm90/varlen.cuh explains the padded layout. The smoothing statistics (K's mean, V's per-channel scale
// and mean) span the whole pack, as upstream's varlen function's do.
#include <array>
#include <cstdint>
#include <tuple>

#include "common/scratch_layout.h"
#include "common/stable_op.h"
#include "sm90/host_ops.h"
#include "sm90/varlen.cuh"

namespace sage::sm90 {
namespace {

// table[t] = the last sequence whose window starts at or before padded tile t, -1 for none; one thread per tile.
__global__ void tile_seq_kernel(const int* cu_q, const int* cu_k, int seqs, int total_q, int total_k, int tiles_q,
                                int tiles_k, int* table_q, int* table_k) {
  int t = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  const bool is_q = t < tiles_q;
  if (!is_q) t -= tiles_q;
  if (t >= (is_q ? tiles_q : tiles_k)) return;
  const int* cu = is_q ? cu_q : cu_k;
  const int total = is_q ? total_q : total_k;
  int lo = -1, hi = seqs;  // lo only ever moves to a sequence that starts at or before t
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (clamped_cu(cu, mid, total) / kVarlenTile + mid <= t) lo = mid;
    else hi = mid;
  }
  (is_q ? table_q : table_k)[t] = lo;
}

void check_cu(const Tensor& cu, const Tensor& q, const char* name) {
  SAGE_CHECK(cu.is_cuda() && cu.get_device_index() == q.get_device_index(), "sageattn_sm90_varlen: ", name,
             " must be on q's GPU");
  SAGE_CHECK(cu.scalar_type() == ScalarType::Int, "sageattn_sm90_varlen: ", name, " must be int32");
  SAGE_CHECK(cu.dim() == 1 && cu.stride(0) == 1 && cu.size(0) >= 2, "sageattn_sm90_varlen: ", name,
             " must be a contiguous 1-D tensor of at least 2 offsets");
}

std::tuple<Tensor, Tensor, Tensor> sageattn_sm90_varlen(Tensor q, Tensor k, Tensor v, Tensor cu_seqlens_q,
                                                        Tensor cu_seqlens_k, bool is_causal, bool qk_per_thread,
                                                        bool smooth_k, bool smooth_v, double sm_scale,
                                                        bool return_lse) {
  const char* op = "sageattn_sm90_varlen";
  const int64_t d = q.dim() == 3 ? q.size(2) : 0;
  SAGE_CHECK(d <= 128, op, " runs head dims up to 128, got ", d);
  check_cu(cu_seqlens_q, q, "cu_seqlens_q");
  check_cu(cu_seqlens_k, q, "cu_seqlens_k");
  SAGE_CHECK(cu_seqlens_k.size(0) == cu_seqlens_q.size(0), op, ": cu_seqlens_q and cu_seqlens_k must have the same "
             "length (sequences + 1), got ", cu_seqlens_q.size(0), " and ", cu_seqlens_k.size(0));
  const int64_t seqs = cu_seqlens_q.size(0) - 1;
  const int64_t dp = d <= 64 ? 64 : 128;
  const QkvPlan plan = plan_quant_qkv_varlen(q, k, v, seqs, qk_per_thread, smooth_k, smooth_v, dp, op);
  SAGE_CHECK(plan.k.h > 0 && plan.q.h % plan.k.h == 0, op, ": q's heads (", plan.q.h,
             ") must be a multiple of k's and v's (", plan.k.h, ")");

  torch::stable::accelerator::DeviceGuard guard(q.get_device_index());
  const int64_t tiles_q = plan.nq_pad / kVarlenTile, tiles_k = plan.nk_pad / kVarlenTile;
  ScratchLayout layout;
  const int64_t at_q8 = layout.take(plan.q_int8_shape(), 1);
  const int64_t at_qs = layout.take(plan.q_scale_shape(), sizeof(float));
  const int64_t at_k8 = layout.take(plan.k_int8_shape(), 1);
  const int64_t at_ks = layout.take(plan.k_scale_shape(), sizeof(float));
  const int64_t at_v8 = layout.take(plan.v_fp8_shape(), 1);
  const int64_t at_vs = layout.take(plan.v_scale_shape(), sizeof(float));
  const int64_t at_vm = layout.take(plan.v_mean_shape(), sizeof(float));  // no bytes without smooth_v
  const int64_t at_counter = layout.take(std::array<int64_t, 1>{1}, sizeof(int));
  const int64_t at_tq = layout.take(std::array<int64_t, 1>{tiles_q}, sizeof(int));
  const int64_t at_tk = layout.take(std::array<int64_t, 1>{tiles_k}, sizeof(int));
  Tensor scratch = torch::stable::new_empty(q, {layout.size()}, ScalarType::Byte);
  Tensor k_mean = torch::stable::new_empty(q, plan.k_mean_shape(), ScalarType::Float);

  char* base = static_cast<char*>(scratch.data_ptr());
  auto f32 = [base](int64_t offset) { return reinterpret_cast<float*>(base + offset); };
  auto i32 = [base](int64_t offset) { return reinterpret_cast<int*>(base + offset); };
  const VarlenTables tables{reinterpret_cast<const int*>(cu_seqlens_q.data_ptr()),
                            reinterpret_cast<const int*>(cu_seqlens_k.data_ptr()), i32(at_tq), i32(at_tk)};
  const int threads = 256;
  const int64_t blocks = (tiles_q + tiles_k + threads - 1) / threads;
  tile_seq_kernel<<<static_cast<unsigned>(blocks), threads, 0, current_stream(q.get_device_index())>>>(
      tables.cu_q, tables.cu_k, static_cast<int>(seqs), static_cast<int>(plan.q.n), static_cast<int>(plan.k.n),
      static_cast<int>(tiles_q), static_cast<int>(tiles_k), i32(at_tq), i32(at_tk));
  check_launch("sageattn_sm90_varlen (tile table)");

  const QkvOutputs quantized{base + at_q8, f32(at_qs), base + at_k8, f32(at_ks),
                             reinterpret_cast<float*>(k_mean.data_ptr()), base + at_v8, f32(at_vs),
                             smooth_v ? f32(at_vm) : nullptr, i32(at_counter)};
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
