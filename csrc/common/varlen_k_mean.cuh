// Smooth K for packs (the mma families' varlen ops): the per-channel mean of every sequence's own keys,
// k_mean [S, H, D], with cu_seqlens read on the GPU only.
//
// Sequence s is cut into token slices exactly as channel_stats cuts a head of its length (the same slices, the
// same sums in the same order), so a pack of one sequence gets the batch's mean bit for bit. Its slices' partial
// sums go to slots [cu[s] / 256 + s, ... + slices): like the padded tiles of common/varlen.cuh, that start needs no
// prefix sum (a sequence of n tokens has at most max(1, ceil(n / 256)) slices, which fit before the next start),
// so a pack of T tokens in S sequences needs T / 256 + S + 1 slots per head.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common/channel_stats_kernel.cuh"
#include "common/stable_op.h"
#include "common/varlen.cuh"

namespace sage {

__device__ __forceinline__ int first_slot(const int* cu, int s, int total) {
  return clamped_cu(cu, s, total) / kStatsRowsPerSlice + s;
}

// Slots per head of a pack of `total` tokens in `seqs` sequences.
inline int64_t varlen_stats_slots(int64_t total, int64_t seqs) { return total / kStatsRowsPerSlice + seqs + 1; }

// Grid (slots, H): the CTA of slot t sums the slice t - first_slot(s) of the sequence s whose slots hold t (none:
// it returns). partial [H, slots, D].
template <typename T>
__global__ void __launch_bounds__(kStatsThreads) varlen_partial_kernel(const T* __restrict__ x, Bhnd s,
                                                                       const int* __restrict__ cu, int seqs,
                                                                       float* __restrict__ partial) {
  const int slot = static_cast<int>(blockIdx.x), total = static_cast<int>(s.n);
  int lo = -1, hi = seqs;  // the last sequence whose first slot is at or before this one
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (first_slot(cu, mid, total) <= slot) lo = mid;
    else hi = mid;
  }
  if (lo < 0) return;
  const VarlenSeq seq = varlen_seq(cu, lo, total);
  const StatsSlices sl = stats_slices(seq.len);
  const int slice = slot - first_slot(cu, lo, total);
  if (slice >= sl.count) return;
  const int64_t n0 = static_cast<int64_t>(slice) * sl.rows;
  const T* base = x + seq.tok0 * s.sn + blockIdx.y * s.sh;
  channel_partial_slice<T, true, 1>(base, s, n0, min(n0 + sl.rows, static_cast<int64_t>(seq.len)),
                                    partial + (static_cast<int64_t>(blockIdx.y) * gridDim.x + slot) * s.d);
}

// Grid (S, H): k_mean[s, h] = the sum of sequence s's slices, in slice order, over its length (0 when empty), as
// channel_finalize_kernel folds a head.
template <typename = void>
__global__ void varlen_mean_kernel(const float* __restrict__ partial, const int* __restrict__ cu, int total, int d,
                                   int slots, float* __restrict__ mean) {
  const int s = static_cast<int>(blockIdx.x), h = static_cast<int>(blockIdx.y);
  const VarlenSeq seq = varlen_seq(cu, s, total);
  const StatsSlices sl = stats_slices(seq.len);
  const float* p = partial + (static_cast<int64_t>(h) * slots + first_slot(cu, s, total)) * d;
  for (int c = threadIdx.x; c < d; c += blockDim.x) {
    float sum = 0.f;
    for (int i = 0; i < sl.count; ++i) sum += p[i * d + c];
    mean[(static_cast<int64_t>(s) * gridDim.y + h) * d + c] = seq.len > 0 ? sum / static_cast<float>(seq.len) : 0.f;
  }
}

// Enqueues both kernels for the pack k (view s: one batch of total tokens, 16-byte aligned rows): partial holds
// H * varlen_stats_slots(total, seqs) * D floats, mean is [seqs, H, D].
template <typename T>
void launch_varlen_k_mean(const Bhnd& s, const T* k, const int* cu, int64_t seqs, float* partial, float* mean,
                          cudaStream_t stream) {
  const int64_t slots = varlen_stats_slots(s.n, seqs);
  SAGE_CHECK(slots < (int64_t{1} << 31) && s.h <= 65535 && seqs <= 2147483647, "pack too large for the K mean grid");
  varlen_partial_kernel<T><<<dim3(static_cast<unsigned>(slots), static_cast<unsigned>(s.h)), kStatsThreads, 0,
                             stream>>>(k, s, cu, static_cast<int>(seqs), partial);
  check_launch("varlen K mean (partials)");
  varlen_mean_kernel<><<<dim3(static_cast<unsigned>(seqs), static_cast<unsigned>(s.h)), 128, 0, stream>>>(
      partial, cu, static_cast<int>(s.n), static_cast<int>(s.d), static_cast<int>(slots), mean);
  check_launch("varlen K mean (fold)");
}

}  // namespace sage
