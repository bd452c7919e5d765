// sageattn_sm90: quant_qkv_sm90 then qk_int8_pv_fp8_sm90 in one op. A small call's time is mostly
// host time: two op calls that box and parse eight intermediate tensors and allocate each of them. Here
// the intermediates never become tensors: they are pieces of one scratch buffer, freed on return (the
// caching allocator hands the block only to later work on the same stream, which runs after these kernels).
#include <array>
#include <cstdint>
#include <tuple>

#include "common/scratch_layout.h"
#include "common/stable_op.h"
#include "sm90/host_ops.h"

namespace sage::sm90 {
namespace {

std::tuple<Tensor, Tensor, Tensor> sageattn_sm90(Tensor q, Tensor k, Tensor v, int64_t tensor_layout, bool is_causal,
                                                 bool qk_per_thread, bool smooth_k, bool smooth_v, double sm_scale,
                                                 bool return_lse, bool two_level) {
  // The head dim is the last one in both layouts; a wrong rank is reported by plan_quant_qkv.
  const int64_t d = q.dim() == 4 ? q.size(3) : 0;
  SAGE_CHECK(d <= kMaxHeadDim, "sageattn_sm90 runs head dims up to ", kMaxHeadDim, ", got ", d);
  const int64_t dp = padded_head_dim(d);
  const QkvPlan plan = plan_quant_qkv(q, k, v, tensor_layout, qk_per_thread, smooth_k, smooth_v, dp, "sageattn_sm90");
  SAGE_CHECK(plan.k.h > 0 && plan.q.h % plan.k.h == 0, "sageattn_sm90: q's heads (", plan.q.h,
             ") must be a multiple of k's and v's (", plan.k.h, ")");

  torch::stable::accelerator::DeviceGuard guard(q.get_device_index());
  ScratchLayout layout;
  const QkvPieces pieces(plan, layout);
  Tensor scratch = torch::stable::new_empty(q, {layout.size()}, ScalarType::Byte);
  // k_mean is returned (the caller's LSE correction needs it), so it is a tensor of its own.
  Tensor k_mean = torch::stable::new_empty(q, plan.k_mean_shape(), ScalarType::Float);
  const QkvOutputs quantized =
      pieces.in(static_cast<char*>(scratch.data_ptr()), plan, reinterpret_cast<float*>(k_mean.data_ptr()));
  launch_quant_qkv(plan, q, k, v, quantized);

  const AttnOperands ops{quantized.q_int8, quantized.q_scale, quantized.k_int8, quantized.k_scale,
                         quantized.v_fp8, quantized.v_scale, quantized.v_mean,
                         plan.q.b, plan.q.h, plan.k.h, plan.nq_pad, plan.nk_pad, dp,
                         quantized.work_counter, true};
  auto [out, lse] = launch_attention(q, ops, tensor_layout, plan.k.n, is_causal, qk_per_thread, sm_scale, return_lse,
                                     two_level);
  return {out, lse, k_mean};
}

}  // namespace
}  // namespace sage::sm90

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("sageattn_sm90", TORCH_BOX(&sage::sm90::sageattn_sm90));
}
