// sageattn_sm90: quant_qkv_sm90 then qk_int8_pv_fp8_sm90 in one op. A small call's time is mostly
// host time: two op calls that box and parse eight intermediate tensors and allocate each of them. Here
// the intermediates never become tensors: they are pieces of one scratch buffer, freed on return (the
// caching allocator hands the block only to later work on the same stream, which runs after these kernels).
// sageattn_sm90_pv16: the same with 16-bit PV, whose kernel reads V in place (the quantization takes Q and K only).
// sageattn_sm90_pv_int8: the same with INT8 PV (V quantized to s8 per channel).
#include <array>
#include <cstdint>
#include <tuple>

#include "common/scratch_layout.h"
#include "common/stable_op.h"
#include "sm90/host_ops.h"

namespace sage::sm90 {
namespace {

// The fused quantization of `plan` into one scratch buffer, launched on the current stream; k_mean is a tensor of its
// own (returned: the caller's LSE correction needs it). Both tensors must outlive the attention launch's enqueue.
struct Quantized {
  Tensor scratch, k_mean;
  QkvOutputs out;
};

Quantized quantize_to_scratch(const QkvPlan& plan, const Tensor& q, const Tensor& k, const Tensor& v) {
  ScratchLayout layout;
  const QkvPieces pieces(plan, layout);
  Tensor scratch = torch::stable::new_empty(q, {layout.size()}, ScalarType::Byte);
  Tensor k_mean = torch::stable::new_empty(q, plan.k_mean_shape(), ScalarType::Float);
  const QkvOutputs out =
      pieces.in(static_cast<char*>(scratch.data_ptr()), plan, reinterpret_cast<float*>(k_mean.data_ptr()));
  launch_quant_qkv(plan, q, k, v, out);
  return {scratch, k_mean, out};
}

// The attention launch's view of the quantized operands (V's pointers null when the plan has no V).
AttnOperands operands_of(const QkvPlan& plan, const QkvOutputs& o, int64_t dp) {
  return {o.q_int8, o.q_scale, o.k_int8, o.k_scale, plan.with_v ? o.v_fp8 : nullptr,
          plan.with_v ? o.v_scale : nullptr, plan.with_v ? o.v_mean : nullptr, plan.q.b, plan.q.h, plan.k.h,
          plan.nq_pad, plan.nk_pad, dp, o.work_counter, true};
}

// The padded head dim of q (head dims up to max_d; the head dim is the last one in both layouts, and a wrong rank is
// reported by plan_quant_qkv).
int64_t padded_head_dim_of(const Tensor& q, int64_t max_d, const char* op) {
  const int64_t d = q.dim() == 4 ? q.size(3) : 0;
  SAGE_CHECK(d <= max_d, op, " runs head dims up to ", max_d, ", got ", d);
  return padded_head_dim(d);
}

// The steps every fused op ends with: the quantization of `plan` into scratch, then the attention launch (v16 and
// pv_s8 as launch_attention's); returns out, lse and k_mean.
std::tuple<Tensor, Tensor, Tensor> quantize_and_attend(const QkvPlan& plan, const Tensor& q, const Tensor& k,
                                                       const Tensor& v, int64_t dp, int64_t tensor_layout,
                                                       bool is_causal, bool qk_per_thread, double sm_scale,
                                                       bool return_lse, bool two_level, const Tensor* v16 = nullptr,
                                                       bool pv_s8 = false) {
  torch::stable::accelerator::DeviceGuard guard(q.get_device_index());
  const Quantized quantized = quantize_to_scratch(plan, q, k, v);
  auto [out, lse] = launch_attention(q, operands_of(plan, quantized.out, dp), tensor_layout, plan.k.n, is_causal,
                                     qk_per_thread, sm_scale, return_lse, two_level, v16, pv_s8);
  return {out, lse, quantized.k_mean};
}

std::tuple<Tensor, Tensor, Tensor> sageattn_sm90(Tensor q, Tensor k, Tensor v, int64_t tensor_layout, bool is_causal,
                                                 bool qk_per_thread, bool smooth_k, bool smooth_v, double sm_scale,
                                                 bool return_lse, bool two_level) {
  const int64_t dp = padded_head_dim_of(q, kMaxHeadDim, "sageattn_sm90");
  const QkvPlan plan = plan_quant_qkv(q, k, v, tensor_layout, qk_per_thread, smooth_k, smooth_v, dp, "sageattn_sm90");
  check_heads(plan, "sageattn_sm90");
  return quantize_and_attend(plan, q, k, v, dp, tensor_layout, is_causal, qk_per_thread, sm_scale, return_lse,
                             two_level);
}

// 16-bit PV: Q and K quantized as above (no V pass: the kernel reads v itself, in q's dtype), head dims up to 256.
// v may carry more channels than q (zeros: a head dim padded to a multiple of 8 so that TMA can read its rows).
std::tuple<Tensor, Tensor, Tensor> sageattn_sm90_pv16(Tensor q, Tensor k, Tensor v, int64_t tensor_layout,
                                                      bool is_causal, bool qk_per_thread, bool smooth_k,
                                                      double sm_scale, bool return_lse) {
  const int64_t dp = padded_head_dim_of(q, kMaxHeadDim, "sageattn_sm90_pv16");
  // V is not quantized: k stands in for it in the plan (whose V shapes then count no bytes), v is checked here.
  QkvPlan plan = plan_quant_qkv(q, k, k, tensor_layout, qk_per_thread, smooth_k, false, dp, "sageattn_sm90_pv16");
  plan.with_v = false;
  check_heads(plan, "sageattn_sm90_pv16");
  check_cuda(v, "v");
  const Bhnd vs = bhnd(v, tensor_layout, "v");
  SAGE_CHECK(v.scalar_type() == q.scalar_type(), "sageattn_sm90_pv16: v must have q's dtype");
  SAGE_CHECK(vs.b == plan.k.b && vs.h == plan.k.h && vs.n == plan.k.n && vs.d >= plan.q.d && vs.d <= dp,
             "sageattn_sm90_pv16: v must be k's shape (its head dim may be zero-padded up to ", dp, ")");
  SAGE_CHECK(v16_map_ok(v, vs), "sageattn_sm90_pv16: v needs 16-byte aligned data and strides of multiples of 8 ",
             "elements; call .contiguous() (and pad the head dim to a multiple of 8)");
  return quantize_and_attend(plan, q, k, v, dp, tensor_layout, is_causal, qk_per_thread, sm_scale, return_lse, false,
                             &v);
}

// INT8 PV: V quantized per channel to s8 (optionally smoothed) in the fused pass, PV on u8 x s8 wgmma into s32 O.
std::tuple<Tensor, Tensor, Tensor> sageattn_sm90_pv_int8(Tensor q, Tensor k, Tensor v, int64_t tensor_layout,
                                                         bool is_causal, bool qk_per_thread, bool smooth_k,
                                                         bool smooth_v, double sm_scale, bool return_lse) {
  const int64_t dp = padded_head_dim_of(q, kMaxHeadDim, "sageattn_sm90_pv_int8");
  QkvPlan plan =
      plan_quant_qkv(q, k, v, tensor_layout, qk_per_thread, smooth_k, smooth_v, dp, "sageattn_sm90_pv_int8");
  plan.v_s8 = true;
  check_heads(plan, "sageattn_sm90_pv_int8");
  SAGE_CHECK(plan.k.n <= kMaxS8PvKeys, "sageattn_sm90_pv_int8 takes at most ", kMaxS8PvKeys,
             " keys per call (its s32 O could overflow beyond), got ", plan.k.n);
  return quantize_and_attend(plan, q, k, v, dp, tensor_layout, is_causal, qk_per_thread, sm_scale, return_lse, false,
                             nullptr, true);
}

}  // namespace
}  // namespace sage::sm90

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("sageattn_sm90", TORCH_BOX(&sage::sm90::sageattn_sm90));
  m.impl("sageattn_sm90_pv16", TORCH_BOX(&sage::sm90::sageattn_sm90_pv16));
  m.impl("sageattn_sm90_pv_int8", TORCH_BOX(&sage::sm90::sageattn_sm90_pv_int8));
}
