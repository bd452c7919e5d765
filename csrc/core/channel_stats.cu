// Per-channel mean and absolute max over all tokens of one (batch, head): smooth-K's mean and the
// per-channel FP8 V scale come from this single pass.
#include "common/dtype_dispatch.h"
#include "common/stable_op.h"
#include "common/vec_io.cuh"

namespace sage {
namespace {

constexpr int kThreads = 256;

template <typename T, bool VEC>
__global__ void __launch_bounds__(kThreads) channel_stats_kernel(
    const T* __restrict__ x, Bhnd s, bool centered, float* __restrict__ mean_out, float* __restrict__ amax_out) {
  const int chunks = (s.d + 7) / 8;
  const int lanes = kThreads / chunks;  // rows processed side by side
  const int chunk = threadIdx.x % chunks;
  const int lane = threadIdx.x / chunks;
  const T* base = x + blockIdx.y * s.sb + blockIdx.x * s.sh;

  float sum[8], mx[8], mn[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) { sum[i] = 0.f; mx[i] = -INFINITY; mn[i] = INFINITY; }
  if (lane < lanes) {
    for (int64_t n = lane; n < s.n; n += lanes) {
      float v[8];
      load8<T, VEC>(base + n * s.sn, chunk * 8, s.d, v);
#pragma unroll
      for (int i = 0; i < 8; ++i) { sum[i] += v[i]; mx[i] = fmaxf(mx[i], v[i]); mn[i] = fminf(mn[i], v[i]); }
    }
  }
  // Tree-reduce the row lanes through shared memory, 8 channels per thread.
  __shared__ float red[3][kThreads][8];
#pragma unroll
  for (int i = 0; i < 8; ++i) { red[0][threadIdx.x][i] = sum[i]; red[1][threadIdx.x][i] = mx[i]; red[2][threadIdx.x][i] = mn[i]; }
  __syncthreads();
  if (lane == 0) {
    for (int l = 1; l < lanes; ++l) {
      const int t = l * chunks + chunk;
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        sum[i] += red[0][t][i]; mx[i] = fmaxf(mx[i], red[1][t][i]); mn[i] = fminf(mn[i], red[2][t][i]);
      }
    }
    const int64_t out = (static_cast<int64_t>(blockIdx.y) * gridDim.x + blockIdx.x) * s.d;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int c = chunk * 8 + i;
      if (c >= s.d) break;
      const float m = s.n > 0 ? sum[i] / static_cast<float>(s.n) : 0.f;
      const float a = s.n == 0 ? 0.f : centered ? fmaxf(mx[i] - m, m - mn[i]) : fmaxf(fabsf(mx[i]), fabsf(mn[i]));
      mean_out[out + c] = m;
      amax_out[out + c] = a;
    }
  }
}

std::tuple<Tensor, Tensor> channel_stats(Tensor x, int64_t tensor_layout, bool centered) {
  check_cuda(x, "x");
  const Bhnd s = bhnd(x, tensor_layout, "x");
  SAGE_CHECK(s.d <= 8 * kThreads, "head dim ", s.d, " is larger than ", 8 * kThreads);
  torch::stable::accelerator::DeviceGuard guard(x.get_device_index());
  Tensor mean = torch::stable::new_empty(x, {s.b, s.h, s.d}, ScalarType::Float);
  Tensor amax = torch::stable::new_empty(x, {s.b, s.h, s.d}, ScalarType::Float);
  if (s.b * s.h * s.d == 0) return {mean, amax};
  const bool vec = s.d % 8 == 0 && s.sn % 8 == 0 && s.sh % 8 == 0 && s.sb % 8 == 0 &&
                   reinterpret_cast<uintptr_t>(x.data_ptr()) % 16 == 0;
  cudaStream_t stream = current_stream(x.get_device_index());
  dim3 grid(s.h, s.b);
  SAGE_DISPATCH_FLOATING(x.scalar_type(), "x", [&] {
    const auto* ptr = reinterpret_cast<const scalar_t*>(x.data_ptr());
    auto* mp = reinterpret_cast<float*>(mean.data_ptr());
    auto* ap = reinterpret_cast<float*>(amax.data_ptr());
    if (vec) channel_stats_kernel<scalar_t, true><<<grid, kThreads, 0, stream>>>(ptr, s, centered, mp, ap);
    else channel_stats_kernel<scalar_t, false><<<grid, kThreads, 0, stream>>>(ptr, s, centered, mp, ap);
  });
  check_launch("channel_stats");
  return {mean, amax};
}

}  // namespace
}  // namespace sage

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("channel_stats", TORCH_BOX(&sage::channel_stats));
}
