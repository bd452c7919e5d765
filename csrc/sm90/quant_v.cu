// V -> per-channel FP8 e4m3, transposed to [B, H, D_pad, N_pad] with the sm90 key order inside every
// 32 tokens (token 16h + 8b + 2t + e at position 16h + 4t + 2b + e; see registry.cpp). The kernel is
// core's transposing quantizer (common/quant_v_tile.cuh) with the wgmma fragment order.
#include <optional>
#include <tuple>

#include "common/quant_v_tile.cuh"
#include "common/stable_op.h"

namespace sage::sm90 {
namespace {

constexpr int kQvMaxDim = 128;  // the wgmma kernel's largest head dim

std::tuple<Tensor, Tensor> quant_v_fp8_sm90(Tensor v, int64_t tensor_layout, int64_t pad_multiple,
                                            int64_t head_dim_padded, Tensor absmax, std::optional<Tensor> mean) {
  check_cuda(v, "v");
  SAGE_CHECK(is_half_like(v.scalar_type()), "v must be float16 or bfloat16");
  const Bhnd s = bhnd(v, tensor_layout, "v");
  SAGE_CHECK(head_dim_padded >= s.d && head_dim_padded % 16 == 0 && head_dim_padded <= kQvMaxDim,
             "head_dim_padded must be >= head dim, a multiple of 16 and <= ", kQvMaxDim);
  SAGE_CHECK(pad_multiple > 0 && pad_multiple % kQuantVTokens == 0, "pad_multiple must be a multiple of ", kQuantVTokens);
  auto check_stat = [&](const Tensor& t, const char* name) {
    SAGE_CHECK(t.scalar_type() == ScalarType::Float && t.dim() == 3 && t.size(0) == s.b && t.size(1) == s.h &&
                   t.size(2) == s.d && t.is_contiguous(),
               name, " must be a contiguous float32 [B, H, D] tensor matching v");
  };
  check_stat(absmax, "absmax");
  const float* mean_ptr = nullptr;
  if (mean.has_value()) {
    check_stat(*mean, "mean");
    mean_ptr = reinterpret_cast<const float*>(mean->data_ptr());
  }
  torch::stable::accelerator::DeviceGuard guard(v.get_device_index());
  const int64_t n_pad = round_up(s.n, pad_multiple);
  Tensor out = torch::stable::new_empty(v, {s.b, s.h, head_dim_padded, n_pad}, ScalarType::Float8_e4m3fn);
  Tensor scale = torch::stable::new_empty(v, {s.b, s.h, head_dim_padded}, ScalarType::Float);
  if (s.b * s.h == 0) return {out, scale};
  cudaStream_t stream = current_stream(v.get_device_index());
  const QuantVArgs args{s, static_cast<int>(head_dim_padded), n_pad, 448.f};
  const bool vec = rows_16b_aligned(v, s);
  auto* op = reinterpret_cast<uint8_t*>(out.data_ptr());
  auto* sp = reinterpret_cast<float*>(scale.data_ptr());
  const auto* ap = reinterpret_cast<const float*>(absmax.data_ptr());
  if (v.scalar_type() == ScalarType::Half) {
    launch_quant_v_fp8_tile<__half, WgmmaFragmentTokenOrder>(reinterpret_cast<const __half*>(v.data_ptr()), args,
                                                             vec, ap, mean_ptr, op, sp, stream);
  } else {
    launch_quant_v_fp8_tile<__nv_bfloat16, WgmmaFragmentTokenOrder>(
        reinterpret_cast<const __nv_bfloat16*>(v.data_ptr()), args, vec, ap, mean_ptr, op, sp, stream);
  }
  check_launch("quant_v_fp8_sm90");
  return {out, scale};
}

}  // namespace
}  // namespace sage::sm90

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("quant_v_fp8_sm90", TORCH_BOX(&sage::sm90::quant_v_fp8_sm90));
}
