// The fused mma ops' quantization in fewer launches, for batches whose q and k (and v, FP8 PV) share one dtype and
// have 16-byte aligned rows: K's and V's channel-statistics partials in one launch, Q's and K's INT8 in one launch,
// and for heads of at most kStatsFoldMaxSlices token slices no finalize launch: K's quantization (here) and V's
// (quant_v_tile.cuh, FOLD) finalize their head's statistics from the partials themselves. Each launch saved is a
// gap on the GPU and a few microseconds of host time, which is what a short call on sm_80/86/89 spends.
// Every CTA runs the same tile function as the separate kernels, and the folds call finalize_channel as the
// finalize kernel does, so the outputs are the separate launches' bit for bit.
#pragma once

#include <cstdint>

#include "common/channel_stats_kernel.cuh"
#include "common/quant_int8_kernel.cuh"
#include "common/stable_op.h"

namespace sage {

// One operand's statistics partials (channel_stats' first pass over the plan's slices); ctas 0: none.
template <typename T>
struct StatsJob {
  const T* x = nullptr;
  Bhnd s{};
  int rows = 0, slices = 1;
  float* partial = nullptr;
  int64_t ctas = 0;  // slices * H * B
};

template <typename T>
StatsJob<T> stats_job(const ChannelStatsPlan& plan, const T* x, float* partial) {
  SAGE_CHECK(plan.vec, "stats_job: the paired launch takes 16-byte aligned rows only");
  const int64_t ctas = plan.empty() ? 0 : plan.slices * plan.s.h * plan.s.b;
  return {x, plan.s, plan.rows, static_cast<int>(plan.slices), partial, ctas};
}

// CTA `cta` of a one-shot launch over (b, h) heads of `per_head` CTAs each: its index inside its head, its head
// (b * H + h), h and b, in 32-bit divisions (two 64-bit ones were ~80 instructions before a tile's first load). The
// launches check cta < 2^31, so per_head, the heads and H fit too.
struct CtaInHead {
  int64_t index, head;
  int h, b;
};
__device__ __forceinline__ CtaInHead cta_in_head(int64_t cta, int per_head, int64_t heads_h) {
  const int c32 = static_cast<int>(cta), head32 = c32 / per_head, h32 = static_cast<int>(heads_h);
  return {c32 - head32 * per_head, head32, head32 % h32, head32 / h32};
}

// The slice and head by cta_in_head, as the INT8 pair's tiles: -1..-3 % on this kernel at 16-bit inputs (H100,
// bench/mma_notes.md, twenty-seventh session).
template <typename T>
__device__ __forceinline__ void run_stats_job(const StatsJob<T>& j, int64_t cta) {
  const CtaInHead at = cta_in_head(cta, j.slices, j.s.h);
  channel_partial_tile<T, true>(j.x, j.s, j.rows, j.slices, j.partial, static_cast<unsigned>(at.index), at.h, at.b);
}

// CTAs [0, a.ctas) take a's slices, the rest b's.
template <typename T>
__global__ void __launch_bounds__(kStatsThreads, kStatsMinCtas<T>)
    channel_partial_pair_kernel(StatsJob<T> a, StatsJob<T> b) {
  // Two calls, not one on `first ? a : b`: the selected struct went to the stack (176 bytes, 96 registers).
  if (blockIdx.x < a.ctas) run_stats_job(a, blockIdx.x);
  else run_stats_job(b, blockIdx.x - a.ctas);
}

template <typename T>
void launch_channel_partial_pair(const StatsJob<T>& a, const StatsJob<T>& b, cudaStream_t stream) {
  const int64_t ctas = a.ctas + b.ctas;
  if (ctas == 0) return;
  SAGE_CHECK(ctas <= 2147483647, "too many statistics slices for one launch");
  channel_partial_pair_kernel<T><<<static_cast<unsigned>(ctas), kStatsThreads, 0, stream>>>(a, b);
  check_launch("channel_stats (paired partials)");
}

// One operand's INT8 quantization (a quant_int8 plan) in a pair launch. The mean to subtract: none, a finalized
// [B, H, D] one, or (fold) the head's, finalized from `partial` by each CTA and written to mean_out by its first tile.
template <typename T>
struct QuantInt8Job {
  const T* x = nullptr;
  QuantInt8Args a{};
  int8_t* out = nullptr;
  float* scale = nullptr;
  const float* mean = nullptr;
  const float* partial = nullptr;  // fold: [B*H, slices, 3, D]
  int slices = 0;
  float* mean_out = nullptr;  // fold: [B, H, D]
  int tiles = 0;              // the plan's grid.x
  int64_t ctas = 0;           // tiles * H * B
};

template <typename T>
QuantInt8Job<T> quant_int8_job(const QuantInt8Plan& plan, const T* x, int8_t* out, float* scale) {
  SAGE_CHECK(plan.vec, "quant_int8_job: the paired launch takes 16-byte aligned rows only");
  QuantInt8Job<T> j;
  j.x = x;
  j.a = plan.args;
  j.out = out;
  j.scale = scale;
  j.tiles = static_cast<int>(plan.grid.x);
  j.ctas = plan.empty() ? 0 : static_cast<int64_t>(plan.grid.x) * plan.grid.y * plan.grid.z;
  return j;
}

// A fold job's mean: the head's, finalized from its statistics partials into shared memory (every thread of the CTA
// calls it); the first tile also writes it out. Without partials, the mean as given.
template <typename T>
struct FoldedMean {
  const QuantInt8Job<T>& j;
  int64_t head, tile;
  float* smem;
  __device__ __forceinline__ const float* operator()(const float* mu) const {
    if (!j.partial) return mu;  // CTA-uniform
    const int d = static_cast<int>(j.a.s.d);
    const float* partials = j.partial + head * j.slices * 3 * d;
    for (int c = threadIdx.x; c < d; c += kQuantInt8Threads) {
      const float m = finalize_channel<true>(partials, j.slices, d, c, j.a.s.n, false).mean;
      smem[c] = m;
      if (tile == 0) j.mean_out[head * d + c] = m;
    }
    __syncthreads();
    return smem;
  }
};

template <typename T, int CHUNKS>
__device__ __forceinline__ void run_quant_int8_job(const QuantInt8Job<T>& j, int64_t cta) {
  const CtaInHead at = cta_in_head(cta, j.tiles, j.a.s.h);
  const float* mu = j.mean ? j.mean + at.head * j.a.s.d : nullptr;
  __shared__ float folded_mean[kMaxHeadDim];
  quant_int8_tile<T, true, CHUNKS, false>(j.x, mu, j.a, j.out, j.scale, VarlenRows{}, at.index, at.h, at.b,
                                          FoldedMean<T>{j, at.head, at.index, folded_mean});
}

// CTAs [0, a.ctas) take a's tiles, the rest b's; CHUNKS: both plans' d_pad / 8.
template <typename T, int CHUNKS>
__global__ void __launch_bounds__(kQuantInt8Threads, kQuantInt8MinBlocks)
    quant_int8_pair_kernel(QuantInt8Job<T> a, QuantInt8Job<T> b) {
  // One call on the selected job (the tile function inlined once: half the code of a call per job, and no spill).
  const bool first = blockIdx.x < a.ctas;
  run_quant_int8_job<T, CHUNKS>(first ? a : b, first ? blockIdx.x : blockIdx.x - a.ctas);
}

template <typename T>
void launch_quant_int8_pair(const QuantInt8Job<T>& a, const QuantInt8Job<T>& b, cudaStream_t stream) {
  const int64_t ctas = a.ctas + b.ctas;
  if (ctas == 0) return;
  SAGE_CHECK(ctas <= 2147483647, "too many quantization tiles for one launch");
  SAGE_CHECK(a.a.d_pad == b.a.d_pad, "a paired quant_int8 launch needs one padded head dim");
  const dim3 grid(static_cast<unsigned>(ctas));
  switch (a.a.d_pad / 8) {
    case 8: quant_int8_pair_kernel<T, 8><<<grid, kQuantInt8Threads, 0, stream>>>(a, b); break;
    case 16: quant_int8_pair_kernel<T, 16><<<grid, kQuantInt8Threads, 0, stream>>>(a, b); break;
    case 32: quant_int8_pair_kernel<T, 32><<<grid, kQuantInt8Threads, 0, stream>>>(a, b); break;
    default: SAGE_CHECK(false, "head_dim_padded must be 64, 128 or 256 here, got ", a.a.d_pad);
  }
  check_launch("quant_int8 (paired)");
}

}  // namespace sage
