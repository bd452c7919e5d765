// Per-channel mean and absolute max over all tokens of one (batch, head): smooth-K's mean and the
// per-channel FP8 V scale come from this single pass over the tensor. The kernels, and their host
// plan (checks, slices) and launch on raw pointers: used by the core op channel_stats
// (csrc/core/channel_stats.cu) and by the fused attention ops of the mma families.
//
// Two kernels: partials over token slices (many CTAs, so enough loads are in flight to approach
// memory bandwidth), then a small deterministic reduction over the slices.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

#include "common/stable_op.h"
#include "common/vec_io.cuh"

namespace sage {

constexpr int kStatsThreads = 256;
// Tokens per statistics slice. For A/B builds: NVCC_APPEND_FLAGS=-DSAGE_STATS_ROWS_PER_SLICE=N. On the H200 128 lost
// everywhere (SDXL's 1K level too, 5.0 -> 6.3 us) and 512 won only for K alone at B4 H32 N1K (bench/mma_notes.md,
// twenty-fourth session).
#ifndef SAGE_STATS_ROWS_PER_SLICE
#define SAGE_STATS_ROWS_PER_SLICE 256
#endif
constexpr int kStatsRowsPerSlice = SAGE_STATS_ROWS_PER_SLICE;
// CTAs per SM the partial kernels over 16-bit inputs are register-budgeted for: 4 (64 registers, 64 KB of loads in
// flight per SM). Left to ptxas they took 80 registers, 3 CTAs per SM: the paired partials kernel at B4 H32 N4K D64
// ran 41.6 us, at 4 CTAs 33.5 (H100, ncu; bench/mma_notes.md, twenty-sixth session). fp32 inputs stay with ptxas's
// choice (at 64 registers they spill 136 bytes). For A/B builds: NVCC_APPEND_FLAGS=-DSAGE_STATS_MIN_CTAS=N (0: ptxas's).
#ifndef SAGE_STATS_MIN_CTAS
#define SAGE_STATS_MIN_CTAS 4
#endif
template <typename T>
constexpr int kStatsMinCtas = sizeof(T) < 4 ? SAGE_STATS_MIN_CTAS : 0;
static_assert(kStatsRowsPerSlice > 0, "SAGE_STATS_ROWS_PER_SLICE must be positive");
constexpr int kStatsMaxSlices = 64;
// Heads of at most this many slices (2K tokens at 256 per slice) let the quantization kernels finalize the statistics
// themselves (each CTA reads its head's partials: at most 8 x 3 x D floats from L2) instead of a finalize launch.
constexpr int kStatsFoldMaxSlices = 8;

// How a head of n tokens is cut into token slices (one CTA each): up to kStatsMaxSlices of at least
// kStatsRowsPerSlice tokens. The batch plan and the packed K mean (common/varlen_k_mean.cuh) both cut by it, so a
// pack of one sequence gets the batch's sums bit for bit.
struct StatsSlices {
  int count, rows;
};

__host__ __device__ inline StatsSlices stats_slices(int64_t n) {
  int64_t count = (n + kStatsRowsPerSlice - 1) / kStatsRowsPerSlice;
  count = count < 1 ? 1 : count > kStatsMaxSlices ? kStatsMaxSlices : count;
  const int64_t rows = (n + count - 1) / count;
  return {static_cast<int>(count), static_cast<int>(rows < 1 ? 1 : rows)};
}

// Partial sums / max / min (kStats 3; kStats 1: sums only) of tokens [n0, n1) of the head at `base`, for every
// channel, into out[0 .. kStats * D). Every thread of the CTA calls it.
template <typename T, bool VEC, int kStats>
__device__ __forceinline__ void channel_partial_slice(const T* __restrict__ base, const Bhnd& s, int64_t n0,
                                                      int64_t n1, float* __restrict__ out) {
  const int chunks = (s.d + 7) / 8;
  const int lanes = kStatsThreads / chunks;
  const int chunk = threadIdx.x % chunks;
  const int lane = threadIdx.x / chunks;

  float sum[8], mx[8], mn[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) { sum[i] = 0.f; mx[i] = -INFINITY; mn[i] = INFINITY; }
  if (lane < lanes) {
    // Four rows per iteration: four independent 16-byte loads in flight before the first use.
    int64_t n = n0 + lane;
    for (; n + 3 * lanes < n1; n += 4 * lanes) {
      Chunk8<T> raw[4];
#pragma unroll
      for (int u = 0; u < 4; ++u) raw[u] = load_chunk8<T, VEC>(base + (n + u * lanes) * s.sn, chunk * 8, s.d);
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        float v[8];
        chunk_to_float(raw[u], v);
#pragma unroll
        for (int i = 0; i < 8; ++i) { sum[i] += v[i]; mx[i] = fmaxf(mx[i], v[i]); mn[i] = fminf(mn[i], v[i]); }
      }
    }
    for (; n < n1; n += lanes) {
      float v[8];
      load8<T, VEC>(base + n * s.sn, chunk * 8, s.d, v);
#pragma unroll
      for (int i = 0; i < 8; ++i) { sum[i] += v[i]; mx[i] = fmaxf(mx[i], v[i]); mn[i] = fminf(mn[i], v[i]); }
    }
  }
  __shared__ float red[kStats][kStatsThreads][8];
  // This thread's partials into shared-memory slot t, and slot t's folded into this thread's.
  const auto keep = [&](int t) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      red[0][t][i] = sum[i];
      if constexpr (kStats == 3) { red[1][t][i] = mx[i]; red[2][t][i] = mn[i]; }
    }
  };
  const auto fold = [&](int t) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      sum[i] += red[0][t][i];
      if constexpr (kStats == 3) { mx[i] = fmaxf(mx[i], red[1][t][i]); mn[i] = fminf(mn[i], red[2][t][i]); }
    }
  };
  if (32 % chunks == 0) {
    // A chunk's lanes inside a warp sit `chunks` threads apart (head dims 8-256 in powers of two): shuffles fold
    // them, then one thread per chunk folds the 8 warps' results. One thread folding all 32 lanes serially through
    // shared memory cost 40 % of the kernel: H200, K of B4 H32 D64, 17.0 -> 10.5 us at N = 1K and
    // 49.2 -> 28.2 at 4K (a shared-memory tree over the lanes: 15.7 and 43.2; bench/results/channel_stats_fold_*).
    // Folding the warps with one thread per (statistic, channel) instead lost up to 30 % on grids of more than a
    // wave: this serial tail overlaps the other CTAs' loads (bench/results/mma_stats_fold_ab_h200_s24.log).
    for (int off = chunks; off < 32; off <<= 1) {
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        sum[i] += __shfl_xor_sync(0xffffffffu, sum[i], off);
        if constexpr (kStats == 3) {
          mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], off));
          mn[i] = fminf(mn[i], __shfl_xor_sync(0xffffffffu, mn[i], off));
        }
      }
    }
    const int warp = threadIdx.x / 32, wl = threadIdx.x % 32;
    if (wl < chunks) keep(warp * chunks + wl);
    __syncthreads();
    if (lane == 0) {  // threadIdx.x < chunks: warp 0, which holds its own fold already
      for (int w = 1; w < kStatsThreads / 32; ++w) fold(w * chunks + chunk);
    }
  } else {
    // Other head dims (a chunk's lanes are not a fixed shuffle distance apart; 5 chunks at D = 40): one thread per
    // chunk folds the lanes through shared memory. A log2 tree over the lanes instead measured faster on large
    // grids (B4 H32, D64/128: 7-15 %) but slower on the few-head grids of image models (7-12 %), where D = 40 is used.
    keep(threadIdx.x);
    __syncthreads();
    if (lane == 0) {
      for (int l = 1; l < lanes; ++l) fold(l * chunks + chunk);
    }
  }
  if (lane == 0) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int c = chunk * 8 + i;
      if (c < s.d) {
        out[c] = sum[i];
        if constexpr (kStats == 3) { out[s.d + c] = mx[i]; out[2 * s.d + c] = mn[i]; }
      }
    }
  }
}

// Partial sums / max / min of tokens [slice * rows, (slice + 1) * rows) of head h of batch b, for every channel.
// partial layout: [B*H, slices, 3, D] (sum, max, min).
template <typename T, bool VEC>
__device__ __forceinline__ void channel_partial_tile(const T* __restrict__ x, const Bhnd& s, int rows, unsigned slices,
                                                     float* __restrict__ partial, unsigned slice, unsigned h,
                                                     unsigned b) {
  const T* base = x + b * s.sb + h * s.sh;
  const int64_t n0 = static_cast<int64_t>(slice) * rows;
  const int64_t bh = static_cast<int64_t>(b) * s.h + h;
  channel_partial_slice<T, VEC, 3>(base, s, n0, min(n0 + rows, s.n), partial + (bh * slices + slice) * 3 * s.d);
}

template <typename T, bool VEC>
__global__ void __launch_bounds__(kStatsThreads, kStatsMinCtas<T>)
    channel_partial_kernel(const T* __restrict__ x, Bhnd s, int rows, float* __restrict__ partial) {
  channel_partial_tile<T, VEC>(x, s, rows, gridDim.x, partial, blockIdx.x, blockIdx.y, blockIdx.z);
}

// Channel c's mean and absmax from the `slices` partials of one head (`head`: its [slices, 3, D] block) of n tokens.
// centered: the absmax is max |x - mean|, else max |x|. channel_finalize_kernel and the quantization kernels that fold
// the finalize in (common/mma/quant_pair_kernels.cuh, quant_v_tile.cuh) all call this, so their means and scales agree
// bit for bit. FEW (slices <= kStatsFoldMaxSlices, the folds): every slice's partials are loaded before the first
// is summed, so the loads overlap; a rolled loop waits for each one in turn (the L2 latency times the slices, at
// the start of every folding CTA). The sums run in slice order either way, hence the same bits.
struct ChannelFinal {
  float mean, amax;
};
template <bool FEW = false>
__device__ __forceinline__ ChannelFinal finalize_channel(const float* __restrict__ head, int slices, int d, int c,
                                                         int64_t n, bool centered) {
  float sum = 0.f, mx = -INFINITY, mn = INFINITY;
  const auto at = [&](int sl, int stat) { return head[static_cast<int64_t>(sl) * 3 * d + stat * d + c]; };
  if constexpr (FEW) {
    float ps[kStatsFoldMaxSlices][3];
#pragma unroll
    for (int sl = 0; sl < kStatsFoldMaxSlices; ++sl) {
      if (sl < slices) ps[sl][0] = at(sl, 0), ps[sl][1] = at(sl, 1), ps[sl][2] = at(sl, 2);
    }
#pragma unroll
    for (int sl = 0; sl < kStatsFoldMaxSlices; ++sl) {
      if (sl < slices) sum += ps[sl][0], mx = fmaxf(mx, ps[sl][1]), mn = fminf(mn, ps[sl][2]);
    }
  } else {
    for (int sl = 0; sl < slices; ++sl) {
      sum += at(sl, 0); mx = fmaxf(mx, at(sl, 1)); mn = fminf(mn, at(sl, 2));
    }
  }
  const float m = n > 0 ? sum / static_cast<float>(n) : 0.f;
  return {m, n == 0 ? 0.f : centered ? fmaxf(mx - m, m - mn) : fmaxf(fabsf(mx), fabsf(mn))};
}

// A template only so that two files of one module may include this header (a plain __global__ would be defined
// twice).
template <typename = void>
__global__ void channel_finalize_kernel(const float* __restrict__ partial, int slices, int d, int64_t n,
                                        bool centered, float* __restrict__ mean_out, float* __restrict__ amax_out) {
  const int64_t bh = blockIdx.x;
  for (int c = threadIdx.x; c < d; c += blockDim.x) {
    const ChannelFinal f = finalize_channel(partial + bh * slices * 3 * d, slices, d, c, n, centered);
    mean_out[bh * d + c] = f.mean;
    amax_out[bh * d + c] = f.amax;
  }
}

// One checked channel_stats call: the token slices of the partial pass and the buffer sizes.
struct ChannelStatsPlan {
  Bhnd s;
  int64_t slices;
  int rows;  // tokens per slice
  bool vec;  // 16-byte loads: every row of x is 16-byte aligned (rows_16b_aligned)

  std::array<int64_t, 3> stat_shape() const { return {s.b, s.h, s.d}; }  // mean and absmax, fp32
  int64_t partial_elems() const { return empty() ? 0 : s.b * s.h * slices * 3 * s.d; }  // fp32 scratch
  bool empty() const { return s.b * s.h * s.d == 0; }  // nothing to launch
  bool foldable() const { return slices <= kStatsFoldMaxSlices; }  // finalize inside the consumer (see above)
  dim3 grid() const {
    return dim3(static_cast<unsigned>(slices), static_cast<unsigned>(s.h), static_cast<unsigned>(s.b));
  }
};

// Plans the two passes over x's (B, H, N, D) view `s` (vec: rows_16b_aligned); a pack is one batch.
inline ChannelStatsPlan plan_channel_stats_view(const Bhnd& s, bool vec) {
  SAGE_CHECK(s.d <= 8 * kStatsThreads, "head dim ", s.d, " is larger than ", 8 * kStatsThreads);
  ChannelStatsPlan plan;
  plan.s = s;
  if (!plan.empty()) {
    SAGE_CHECK(s.h <= 65535 && s.b <= 65535, "too many heads or batches for the grid");
  }
  const StatsSlices cut = stats_slices(s.n);
  plan.slices = cut.count;
  plan.rows = cut.rows;
  plan.vec = vec;
  return plan;
}

// Checks x (named `name` in errors) and plans the two passes.
inline ChannelStatsPlan plan_channel_stats(const Tensor& x, int64_t tensor_layout, const char* name) {
  const Bhnd s = bhnd(x, tensor_layout, name);
  return plan_channel_stats_view(s, rows_16b_aligned(x, s));
}

// Enqueues the finalize pass over `partial` (plan.partial_elems() floats, written by the partials pass).
inline void launch_channel_finalize(const ChannelStatsPlan& plan, const float* partial, bool centered, float* mean,
                                    float* amax, cudaStream_t stream) {
  if (plan.empty()) return;
  channel_finalize_kernel<><<<static_cast<unsigned>(plan.s.b * plan.s.h), 128, 0, stream>>>(
      partial, static_cast<int>(plan.slices), static_cast<int>(plan.s.d), plan.s.n, centered, mean, amax);
  check_launch("channel_stats (finalize)");
}

// Enqueues both passes for x of element type T (nothing when the plan is empty): partial holds
// plan.partial_elems() floats; mean and amax are [B, H, D] fp32, contiguous. centered: amax is
// max |x - mean|, else max |x|.
template <typename T>
void launch_channel_stats(const ChannelStatsPlan& plan, const T* x, bool centered, float* partial, float* mean,
                          float* amax, cudaStream_t stream) {
  if (plan.empty()) return;
  const Bhnd& s = plan.s;
  if (plan.vec) {
    channel_partial_kernel<T, true><<<plan.grid(), kStatsThreads, 0, stream>>>(x, s, plan.rows, partial);
  } else {
    channel_partial_kernel<T, false><<<plan.grid(), kStatsThreads, 0, stream>>>(x, s, plan.rows, partial);
  }
  check_launch("channel_stats (partials)");
  launch_channel_finalize(plan, partial, centered, mean, amax, stream);
}

}  // namespace sage
