// V -> per-channel FP8 e4m3, transposed to [B, H, D_pad, N_pad] with the sm90 key order inside every
// 32 tokens (token 16h + 8b + 2t + e at position 16h + 4t + 2b + e; see registry.cpp). The kernel is
// core's transposing quantizer (common/quant_v_tile.cuh) with the wgmma fragment order.
#include <optional>
#include <tuple>

#include "common/quant_v_tile.cuh"
#include "common/stable_op.h"

namespace sage::sm90 {
namespace {


std::tuple<Tensor, Tensor> quant_v_fp8_sm90(Tensor v, int64_t tensor_layout, int64_t pad_multiple,
                                            int64_t head_dim_padded, Tensor absmax, std::optional<Tensor> mean) {
  check_cuda(v, "v");
  SAGE_CHECK(is_half_like(v.scalar_type()), "v must be float16 or bfloat16");
  return quant_v_fp8_transposed<WgmmaFragmentTokenOrder>(
      v, tensor_layout, pad_multiple, head_dim_padded, kMaxHeadDim, kE4m3Max, absmax, mean, "quant_v_fp8_sm90",
      [&](auto&& launch) {
        if (v.scalar_type() == ScalarType::Half) launch(reinterpret_cast<const __half*>(v.data_ptr()));
        else launch(reinterpret_cast<const __nv_bfloat16*>(v.data_ptr()));
      });
}

}  // namespace
}  // namespace sage::sm90

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("quant_v_fp8_sm90", TORCH_BOX(&sage::sm90::quant_v_fp8_sm90));
}
