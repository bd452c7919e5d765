// V -> FP8 e4m3 with a per-channel scale, transposed to [B, H, D_pad, N_pad] so tokens are the
// contiguous (K-major) dimension the FP8 PV MMA wants; optional smooth-V mean subtraction.
#include "common/dtype_dispatch.h"
#include "common/quant_v_tile.cuh"
#include "common/stable_op.h"

namespace sage {
namespace {

std::tuple<Tensor, Tensor> quant_v_fp8(Tensor v, int64_t tensor_layout, int64_t pad_multiple, int64_t head_dim_padded,
                                       double scale_max, Tensor absmax, std::optional<Tensor> mean) {
  check_cuda(v, "v");
  const Bhnd s = bhnd(v, tensor_layout, "v");
  SAGE_CHECK(head_dim_padded >= s.d && head_dim_padded % 16 == 0 && head_dim_padded <= kQuantVMaxDim,
             "head_dim_padded must be >= head dim ", s.d, ", a multiple of 16 and <= ", kQuantVMaxDim, "; got ",
             head_dim_padded);
  SAGE_CHECK(pad_multiple > 0 && pad_multiple % kQuantVTokens == 0, "pad_multiple must be a multiple of ",
             kQuantVTokens, ", got ", pad_multiple);
  SAGE_CHECK(scale_max > 0.0 && scale_max <= 448.0, "scale_max must be in (0, 448], got ", scale_max);
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
  if (s.b * s.h * head_dim_padded == 0) return {out, scale};
  const QuantVArgs args{s, static_cast<int>(head_dim_padded), n_pad, static_cast<float>(scale_max)};
  const bool vec = rows_16b_aligned(v, s);
  cudaStream_t stream = current_stream(v.get_device_index());
  SAGE_DISPATCH_FLOATING(v.scalar_type(), "v", [&] {
    launch_quant_v_fp8_tile<scalar_t, NaturalTokenOrder>(
        reinterpret_cast<const scalar_t*>(v.data_ptr()), args, vec, reinterpret_cast<const float*>(absmax.data_ptr()),
        mean_ptr, reinterpret_cast<uint8_t*>(out.data_ptr()), reinterpret_cast<float*>(scale.data_ptr()), stream);
  });
  check_launch("quant_v_fp8");
  return {out, scale};
}

}  // namespace
}  // namespace sage

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("quant_v_fp8", TORCH_BOX(&sage::quant_v_fp8));
}
