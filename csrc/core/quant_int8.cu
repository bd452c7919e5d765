// Q/K -> INT8 with per-block, per-warp or per-thread (MMA-fragment) scale groups, smooth-K fused.
//
// Group rule (shared with sageattention/reference.py): tokens are cut into blocks of block_size;
// inside a block, token i uses scale group (i % group_period) / group_stride. per-block/per-warp:
// period = stride = 1 (one group). per-thread for Q under an m16 MMA row fragment: period 8,
// stride 1 (a lane owns rows g, g+8, g+16, ...); for K under the n8 column fragment: period 8,
// stride 2 (a lane owns columns 2t, 2t+1 of every 8).
#include "common/dtype_dispatch.h"
#include "common/stable_op.h"
#include "common/vec_io.cuh"

namespace sage {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxGroups = 32;

struct QuantInt8Args {
  Bhnd s;
  int block_size, period, stride, groups, d_pad;
  int64_t n_pad;
};

// One pass over global memory: each thread keeps its (up to ITEMS) 8-element chunks of the block in
// registers while the group maxima are reduced in shared memory, then quantizes from registers.
template <typename T, bool VEC, int ITEMS>
__global__ void __launch_bounds__(kThreads) quant_int8_kernel(
    const T* __restrict__ x, const float* __restrict__ mean, QuantInt8Args a, int8_t* __restrict__ out,
    float* __restrict__ scale) {
  __shared__ float group_amax[kMaxGroups];
  const int64_t bh = static_cast<int64_t>(blockIdx.z) * a.s.h + blockIdx.y;
  const T* src = x + blockIdx.z * a.s.sb + blockIdx.y * a.s.sh;
  const float* mu = mean ? mean + bh * a.s.d : nullptr;
  const int64_t tok0 = static_cast<int64_t>(blockIdx.x) * a.block_size;
  const int chunks = a.d_pad / 8;  // d_pad is a multiple of 8
  const int work = a.block_size * chunks;

  if (threadIdx.x < kMaxGroups) group_amax[threadIdx.x] = 0.f;

  float v[ITEMS][8];
#pragma unroll
  for (int it = 0; it < ITEMS; ++it) {
    const int idx = threadIdx.x + it * kThreads;
    const int row = idx / chunks, c0 = (idx % chunks) * 8;
    const int64_t tok = tok0 + row;
    if (idx < work && tok < a.s.n) {
      load8<T, VEC>(src + tok * a.s.sn, c0, a.s.d, v[it]);
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) v[it][i] = 0.f;
    }
    if (mu && idx < work && tok < a.s.n) {
#pragma unroll
      for (int i = 0; i < 8; ++i) v[it][i] = (c0 + i < a.s.d) ? v[it][i] - mu[c0 + i] : 0.f;
    }
  }
  __syncthreads();  // group_amax initialised
#pragma unroll
  for (int it = 0; it < ITEMS; ++it) {
    const int idx = threadIdx.x + it * kThreads;
    if (idx >= work) break;
    const int row = idx / chunks;
    float m = 0.f;
#pragma unroll
    for (int i = 0; i < 8; ++i) m = fmaxf(m, fabsf(v[it][i]));
    // Non-negative floats order like their bit patterns, so an integer max is a float max.
    atomicMax(reinterpret_cast<int*>(&group_amax[(row % a.period) / a.stride]), __float_as_int(m));
  }
  __syncthreads();

  float* scale_out = scale + bh * (a.n_pad / a.block_size) * a.groups + blockIdx.x * a.groups;
  if (threadIdx.x < a.groups) scale_out[threadIdx.x] = group_amax[threadIdx.x] / 127.f;

  int8_t* dst = out + (bh * a.n_pad + tok0) * a.d_pad;
#pragma unroll
  for (int it = 0; it < ITEMS; ++it) {
    const int idx = threadIdx.x + it * kThreads;
    if (idx >= work) break;
    const int row = idx / chunks;
    const float amax = group_amax[(row % a.period) / a.stride];
    const float inv = amax > 0.f ? 127.f / amax : 0.f;
    alignas(8) int8_t q[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) q[i] = static_cast<int8_t>(max(-127, min(127, __float2int_rn(v[it][i] * inv))));
    *reinterpret_cast<uint2*>(dst + static_cast<int64_t>(idx) * 8) = *reinterpret_cast<const uint2*>(q);
  }
}

template <typename T, bool VEC>
void launch_quant_int8(dim3 grid, cudaStream_t stream, const T* x, const float* mean, const QuantInt8Args& a,
                       int8_t* out, float* scale) {
  const int work = a.block_size * (a.d_pad / 8);
  const int items = (work + kThreads - 1) / kThreads;
  if (items <= 1) quant_int8_kernel<T, VEC, 1><<<grid, kThreads, 0, stream>>>(x, mean, a, out, scale);
  else if (items <= 2) quant_int8_kernel<T, VEC, 2><<<grid, kThreads, 0, stream>>>(x, mean, a, out, scale);
  else if (items <= 4) quant_int8_kernel<T, VEC, 4><<<grid, kThreads, 0, stream>>>(x, mean, a, out, scale);
  else if (items <= 8) quant_int8_kernel<T, VEC, 8><<<grid, kThreads, 0, stream>>>(x, mean, a, out, scale);
  else quant_int8_kernel<T, VEC, 16><<<grid, kThreads, 0, stream>>>(x, mean, a, out, scale);
}

std::tuple<Tensor, Tensor> quant_int8(Tensor x, int64_t tensor_layout, int64_t block_size, int64_t group_period,
                                      int64_t group_stride, int64_t head_dim_padded, int64_t pad_multiple,
                                      std::optional<Tensor> mean) {
  check_cuda(x, "x");
  const Bhnd s = bhnd(x, tensor_layout, "x");
  SAGE_CHECK(block_size > 0 && block_size <= 256, "block_size must be in [1, 256], got ", block_size);
  SAGE_CHECK(group_period > 0 && group_stride > 0 && group_period % group_stride == 0,
             "group_period must be a positive multiple of group_stride, got ", group_period, "/", group_stride);
  SAGE_CHECK(block_size % group_period == 0 || group_period == 1, "block_size ", block_size,
             " must be a multiple of group_period ", group_period);
  SAGE_CHECK(block_size * head_dim_padded <= 16 * 8 * kThreads, "block_size * head_dim_padded must be <= ",
             16 * 8 * kThreads, " (one block is quantized from registers), got ", block_size, " * ", head_dim_padded);
  const int64_t groups = group_period / group_stride;
  SAGE_CHECK(groups <= kMaxGroups, "at most ", kMaxGroups, " scale groups per block, got ", groups);
  SAGE_CHECK(head_dim_padded >= s.d && head_dim_padded % 8 == 0, "head_dim_padded must be >= head dim ", s.d,
             " and a multiple of 8, got ", head_dim_padded);
  SAGE_CHECK(pad_multiple > 0 && (pad_multiple % block_size == 0 || block_size % pad_multiple == 0),
             "pad_multiple ", pad_multiple, " and block_size ", block_size, " must divide one another");
  const float* mean_ptr = nullptr;
  if (mean.has_value()) {
    const Tensor& mt = *mean;
    SAGE_CHECK(mt.scalar_type() == ScalarType::Float && mt.dim() == 3 && mt.size(0) == s.b && mt.size(1) == s.h &&
                   mt.size(2) == s.d && mt.is_contiguous(),
               "mean must be a contiguous float32 [B, H, D] tensor matching x");
    mean_ptr = reinterpret_cast<const float*>(mt.data_ptr());
  }
  torch::stable::accelerator::DeviceGuard guard(x.get_device_index());
  const int64_t n_pad = round_up(s.n, std::max(block_size, pad_multiple));
  const int64_t blocks = n_pad / block_size;
  Tensor out = torch::stable::new_empty(x, {s.b, s.h, n_pad, head_dim_padded}, ScalarType::Char);
  Tensor scale = torch::stable::new_empty(x, {s.b, s.h, blocks * groups}, ScalarType::Float);
  if (s.b * s.h * blocks == 0) return {out, scale};
  QuantInt8Args a{s, static_cast<int>(block_size), static_cast<int>(group_period), static_cast<int>(group_stride),
                  static_cast<int>(groups), static_cast<int>(head_dim_padded), n_pad};
  const bool vec = rows_16b_aligned(x, s);
  SAGE_CHECK(blocks <= 2147483647 && s.h <= 65535 && s.b <= 65535, "tensor too large for the grid");
  dim3 grid(static_cast<unsigned>(blocks), s.h, s.b);
  cudaStream_t stream = current_stream(x.get_device_index());
  SAGE_DISPATCH_FLOATING(x.scalar_type(), "x", [&] {
    const auto* xp = reinterpret_cast<const scalar_t*>(x.data_ptr());
    auto* op = reinterpret_cast<int8_t*>(out.data_ptr());
    auto* sp = reinterpret_cast<float*>(scale.data_ptr());
    if (vec) launch_quant_int8<scalar_t, true>(grid, stream, xp, mean_ptr, a, op, sp);
    else launch_quant_int8<scalar_t, false>(grid, stream, xp, mean_ptr, a, op, sp);
  });
  check_launch("quant_int8");
  return {out, scale};
}

}  // namespace
}  // namespace sage

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("quant_int8", TORCH_BOX(&sage::quant_int8));
}
