// V -> per-channel FP8 e4m3, transposed to [B, H, D_pad, N_pad] with the sm90 key order inside every
// 32 tokens (token 16h + 8b + 2t + e at position 16h + 4t + 2b + e; see registry.cpp).
#include <cuda_fp8.h>

#include <optional>
#include <tuple>

#include "common/dtype_dispatch.h"
#include "common/stable_op.h"
#include "common/vec_io.cuh"

namespace sage::sm90 {
namespace {

constexpr int kQvThreads = 256;
constexpr int kQvTokens = 64;
constexpr int kQvMaxDim = 128;

__device__ __forceinline__ int fragment_position(int tok) {  // within a 64-token tile
  const int p = tok & 31;
  const int half = p >> 4, b = (p >> 3) & 1, t = (p >> 1) & 3, e = p & 1;
  return (tok & ~31) + half * 16 + t * 4 + b * 2 + e;
}

template <typename T, bool VEC>
__global__ void __launch_bounds__(kQvThreads) quant_v_sm90_kernel(const T* __restrict__ v, Bhnd s, int d_pad,
                                                                  int64_t n_pad, const float* __restrict__ amax,
                                                                  const float* __restrict__ mean,
                                                                  uint8_t* __restrict__ out, float* __restrict__ scale) {
  __shared__ alignas(16) uint8_t tile[kQvMaxDim][kQvTokens + 16];
  const int64_t bh = static_cast<int64_t>(blockIdx.z) * s.h + blockIdx.y;
  const T* src = v + blockIdx.z * s.sb + blockIdx.y * s.sh;
  const float* am = amax + bh * s.d;
  const float* mu = mean ? mean + bh * s.d : nullptr;
  const int64_t tok0 = static_cast<int64_t>(blockIdx.x) * kQvTokens;
  const int chunks = d_pad / 8;
  for (int idx = threadIdx.x; idx < kQvTokens * chunks; idx += kQvThreads) {
    const int row = idx / chunks, c0 = (idx % chunks) * 8;
    const int64_t tok = tok0 + row;
    float x[8];
    if (tok < s.n) {
      load8<T, VEC>(src + tok * s.sn, c0, static_cast<int>(s.d), x);
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) x[i] = 0.f;
    }
    const int pos = fragment_position(row);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int c = c0 + i;
      float q = 0.f;
      if (c < s.d && tok < s.n) {
        const float a = am[c];
        const float centered = mu ? x[i] - mu[c] : x[i];
        q = a > 0.f ? fminf(fmaxf(centered * (448.f / a), -448.f), 448.f) : 0.f;
      }
      tile[c][pos] = __nv_fp8_e4m3(q).__x;
    }
  }
  if (blockIdx.x == 0) {
    for (int c = threadIdx.x; c < d_pad; c += kQvThreads) scale[bh * d_pad + c] = c < s.d ? am[c] / 448.f : 0.f;
  }
  __syncthreads();
  uint8_t* dst = out + bh * d_pad * n_pad + tok0;
  for (int idx = threadIdx.x; idx < d_pad * (kQvTokens / 16); idx += kQvThreads) {
    const int c = idx / (kQvTokens / 16), part = idx % (kQvTokens / 16);
    *reinterpret_cast<uint4*>(dst + c * n_pad + part * 16) = *reinterpret_cast<const uint4*>(&tile[c][part * 16]);
  }
}

std::tuple<Tensor, Tensor> quant_v_fp8_sm90(Tensor v, int64_t tensor_layout, int64_t pad_multiple,
                                            int64_t head_dim_padded, Tensor absmax, std::optional<Tensor> mean) {
  check_cuda(v, "v");
  SAGE_CHECK(is_half_like(v.scalar_type()), "v must be float16 or bfloat16");
  const Bhnd s = bhnd(v, tensor_layout, "v");
  SAGE_CHECK(head_dim_padded >= s.d && head_dim_padded % 16 == 0 && head_dim_padded <= kQvMaxDim,
             "head_dim_padded must be >= head dim, a multiple of 16 and <= ", kQvMaxDim);
  SAGE_CHECK(pad_multiple > 0 && pad_multiple % kQvTokens == 0, "pad_multiple must be a multiple of ", kQvTokens);
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
  if (s.b * s.h == 0 || n_pad == 0) return {out, scale};
  cudaStream_t stream = current_stream(v.get_device_index());
  const bool vec = rows_16b_aligned(v, s);
  dim3 grid(static_cast<unsigned>(n_pad / kQvTokens), static_cast<unsigned>(s.h), static_cast<unsigned>(s.b));
  auto* op = reinterpret_cast<uint8_t*>(out.data_ptr());
  auto* sp = reinterpret_cast<float*>(scale.data_ptr());
  const auto* ap = reinterpret_cast<const float*>(absmax.data_ptr());
  if (v.scalar_type() == ScalarType::Half) {
    const auto* vp = reinterpret_cast<const __half*>(v.data_ptr());
    if (vec) quant_v_sm90_kernel<__half, true><<<grid, kQvThreads, 0, stream>>>(vp, s, head_dim_padded, n_pad, ap, mean_ptr, op, sp);
    else quant_v_sm90_kernel<__half, false><<<grid, kQvThreads, 0, stream>>>(vp, s, head_dim_padded, n_pad, ap, mean_ptr, op, sp);
  } else {
    const auto* vp = reinterpret_cast<const __nv_bfloat16*>(v.data_ptr());
    if (vec) quant_v_sm90_kernel<__nv_bfloat16, true><<<grid, kQvThreads, 0, stream>>>(vp, s, head_dim_padded, n_pad, ap, mean_ptr, op, sp);
    else quant_v_sm90_kernel<__nv_bfloat16, false><<<grid, kQvThreads, 0, stream>>>(vp, s, head_dim_padded, n_pad, ap, mean_ptr, op, sp);
  }
  check_launch("quant_v_fp8_sm90");
  return {out, scale};
}

}  // namespace
}  // namespace sage::sm90

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("quant_v_fp8_sm90", TORCH_BOX(&sage::sm90::quant_v_fp8_sm90));
}
