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
  SAGE_CHECK(scale_max > 0.0 && scale_max <= kE4m3Max, "scale_max must be in (0, ", kE4m3Max, "], got ", scale_max);
  return quant_v_fp8_transposed<NaturalTokenOrder>(
      v, tensor_layout, pad_multiple, head_dim_padded, kQuantVMaxDim, static_cast<float>(scale_max), absmax, mean,
      "quant_v_fp8", [&](auto&& launch) {
        SAGE_DISPATCH_FLOATING(v.scalar_type(), "v", [&] { launch(reinterpret_cast<const scalar_t*>(v.data_ptr())); });
      });
}

}  // namespace
}  // namespace sage

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("quant_v_fp8", TORCH_BOX(&sage::quant_v_fp8));
}
