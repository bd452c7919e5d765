// sageattention::quant_int8: the op around the kernel of common/quant_int8_kernel.cuh (which
// documents the scale-group rule).
#include <optional>
#include <tuple>

#include "common/dtype_dispatch.h"
#include "common/quant_int8_kernel.cuh"
#include "common/stable_op.h"

namespace sage {
namespace {

std::tuple<Tensor, Tensor> quant_int8(Tensor x, int64_t tensor_layout, int64_t block_size, int64_t group_period,
                                      int64_t group_stride, int64_t head_dim_padded, int64_t pad_multiple,
                                      std::optional<Tensor> mean) {
  check_cuda(x, "x");
  const QuantInt8Plan plan =
      plan_quant_int8(x, tensor_layout, block_size, group_period, group_stride, head_dim_padded, pad_multiple, "x");
  const Bhnd& s = plan.args.s;
  const float* mean_ptr = nullptr;
  if (mean.has_value()) {
    const Tensor& mt = *mean;
    SAGE_CHECK(mt.scalar_type() == ScalarType::Float && mt.dim() == 3 && mt.size(0) == s.b && mt.size(1) == s.h &&
                   mt.size(2) == s.d && mt.is_contiguous(),
               "mean must be a contiguous float32 [B, H, D] tensor matching x");
    mean_ptr = reinterpret_cast<const float*>(mt.data_ptr());
  }
  torch::stable::accelerator::DeviceGuard guard(x.get_device_index());
  Tensor out = torch::stable::new_empty(x, plan.out_shape(), ScalarType::Char);
  Tensor scale = torch::stable::new_empty(x, plan.scale_shape(), ScalarType::Float);
  if (plan.empty()) return {out, scale};
  cudaStream_t stream = current_stream(x.get_device_index());
  SAGE_DISPATCH_FLOATING(x.scalar_type(), "x", [&] {
    launch_quant_int8(plan, reinterpret_cast<const scalar_t*>(x.data_ptr()), mean_ptr,
                      reinterpret_cast<int8_t*>(out.data_ptr()), reinterpret_cast<float*>(scale.data_ptr()), stream);
  });
  return {out, scale};
}

}  // namespace
}  // namespace sage

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("quant_int8", TORCH_BOX(&sage::quant_int8));
}
