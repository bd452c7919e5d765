// sageattention::channel_stats: the op around the kernels of common/channel_stats_kernel.cuh.
#include <tuple>

#include "common/channel_stats_kernel.cuh"
#include "common/dtype_dispatch.h"
#include "common/stable_op.h"

namespace sage {
namespace {

std::tuple<Tensor, Tensor> channel_stats(Tensor x, int64_t tensor_layout, bool centered) {
  check_cuda(x, "x");
  const ChannelStatsPlan plan = plan_channel_stats(x, tensor_layout, "x");
  torch::stable::accelerator::DeviceGuard guard(x.get_device_index());
  Tensor mean = torch::stable::new_empty(x, plan.stat_shape(), ScalarType::Float);
  Tensor amax = torch::stable::new_empty(x, plan.stat_shape(), ScalarType::Float);
  if (plan.empty()) return {mean, amax};
  Tensor partial = torch::stable::new_empty(x, {plan.partial_elems()}, ScalarType::Float);
  cudaStream_t stream = current_stream(x.get_device_index());
  SAGE_DISPATCH_FLOATING(x.scalar_type(), "x", [&] {
    launch_channel_stats(plan, reinterpret_cast<const scalar_t*>(x.data_ptr()), centered,
                         reinterpret_cast<float*>(partial.data_ptr()), reinterpret_cast<float*>(mean.data_ptr()),
                         reinterpret_cast<float*>(amax.data_ptr()), stream);
  });
  return {mean, amax};
}

}  // namespace
}  // namespace sage

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("channel_stats", TORCH_BOX(&sage::channel_stats));
}
