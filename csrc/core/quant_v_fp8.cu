// V -> FP8 e4m3 with a per-channel scale, transposed to [B, H, D_pad, N_pad] so tokens are the
// contiguous (K-major) dimension the FP8 PV MMA wants; optional smooth-V mean subtraction.
#include <cuda_fp8.h>

#include "common/dtype_dispatch.h"
#include "common/stable_op.h"
#include "common/vec_io.cuh"

namespace sage {
namespace {

constexpr int kThreads = 256;
constexpr int kTileTokens = 64;
constexpr int kMaxDim = 256;

template <typename T, bool VEC>
__global__ void __launch_bounds__(kThreads) quant_v_fp8_kernel(
    const T* __restrict__ v, Bhnd s, int d_pad, int64_t n_pad, float scale_max, const float* __restrict__ amax,
    const float* __restrict__ mean, uint8_t* __restrict__ out) {
  // Tile transposed in shared memory: [channel][token]. Rows of 68 bytes: the 16 threads that write
  // one token's channels c, c+8, ... then hit 4 banks per word instead of all landing in one.
  __shared__ alignas(16) uint8_t tile[kMaxDim][kTileTokens + 4];
  const int64_t bh = static_cast<int64_t>(blockIdx.z) * s.h + blockIdx.y;
  const T* src = v + blockIdx.z * s.sb + blockIdx.y * s.sh;
  const float* am = amax + bh * s.d;
  const float* mu = mean ? mean + bh * s.d : nullptr;
  const int64_t tok0 = static_cast<int64_t>(blockIdx.x) * kTileTokens;
  const int chunks = d_pad / 8;

  for (int idx = threadIdx.x; idx < kTileTokens * chunks; idx += kThreads) {
    const int row = idx / chunks, c0 = (idx % chunks) * 8;
    const int64_t tok = tok0 + row;
    float x[8];
    if (tok < s.n) {
      load8<T, VEC>(src + tok * s.sn, c0, s.d, x);
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) x[i] = 0.f;
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int c = c0 + i;
      float q = 0.f;
      if (c < s.d && tok < s.n) {
        const float centered = mu ? x[i] - mu[c] : x[i];
        const float a = am[c];
        q = a > 0.f ? fminf(fmaxf(centered * (scale_max / a), -448.f), 448.f) : 0.f;
      }
      tile[c][row] = __nv_fp8_e4m3(q).__x;
    }
  }
  __syncthreads();
  // Write rows of 64 tokens as sixteen 4-byte stores (rows are 4-byte aligned in shared memory).
  uint8_t* dst = out + bh * d_pad * n_pad + tok0;
  for (int idx = threadIdx.x; idx < d_pad * (kTileTokens / 4); idx += kThreads) {
    const int c = idx / (kTileTokens / 4), part = idx % (kTileTokens / 4);
    *reinterpret_cast<uint32_t*>(dst + c * n_pad + part * 4) = *reinterpret_cast<const uint32_t*>(&tile[c][part * 4]);
  }
}

__global__ void v_scale_kernel(const float* __restrict__ amax, int d, int d_pad, int64_t count, float scale_max,
                               float* __restrict__ scale) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const int64_t bh = i / d_pad;
  const int c = static_cast<int>(i % d_pad);
  scale[i] = c < d ? amax[bh * d + c] / scale_max : 0.f;
}

std::tuple<Tensor, Tensor> quant_v_fp8(Tensor v, int64_t tensor_layout, int64_t pad_multiple, int64_t head_dim_padded,
                                       double scale_max, Tensor absmax, std::optional<Tensor> mean) {
  check_cuda(v, "v");
  const Bhnd s = bhnd(v, tensor_layout, "v");
  SAGE_CHECK(head_dim_padded >= s.d && head_dim_padded % 16 == 0 && head_dim_padded <= kMaxDim,
             "head_dim_padded must be >= head dim ", s.d, ", a multiple of 16 and <= ", kMaxDim, "; got ",
             head_dim_padded);
  SAGE_CHECK(pad_multiple > 0 && pad_multiple % kTileTokens == 0, "pad_multiple must be a multiple of ",
             kTileTokens, ", got ", pad_multiple);
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
  const int64_t count = s.b * s.h * head_dim_padded;
  if (count == 0) return {out, scale};
  cudaStream_t stream = current_stream(v.get_device_index());
  const float smax = static_cast<float>(scale_max);
  v_scale_kernel<<<static_cast<unsigned>((count + 255) / 256), 256, 0, stream>>>(
      reinterpret_cast<const float*>(absmax.data_ptr()), static_cast<int>(s.d), static_cast<int>(head_dim_padded),
      count, smax, reinterpret_cast<float*>(scale.data_ptr()));
  check_launch("v_scale");
  if (n_pad == 0) return {out, scale};
  const bool vec = rows_16b_aligned(v, s);
  dim3 grid(static_cast<unsigned>(n_pad / kTileTokens), s.h, s.b);
  SAGE_DISPATCH_FLOATING(v.scalar_type(), "v", [&] {
    const auto* vp = reinterpret_cast<const scalar_t*>(v.data_ptr());
    const auto* ap = reinterpret_cast<const float*>(absmax.data_ptr());
    auto* op = reinterpret_cast<uint8_t*>(out.data_ptr());
    if (vec) quant_v_fp8_kernel<scalar_t, true><<<grid, kThreads, 0, stream>>>(vp, s, head_dim_padded, n_pad, smax, ap, mean_ptr, op);
    else quant_v_fp8_kernel<scalar_t, false><<<grid, kThreads, 0, stream>>>(vp, s, head_dim_padded, n_pad, smax, ap, mean_ptr, op);
  });
  check_launch("quant_v_fp8");
  return {out, scale};
}

}  // namespace
}  // namespace sage

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("quant_v_fp8", TORCH_BOX(&sage::quant_v_fp8));
}
