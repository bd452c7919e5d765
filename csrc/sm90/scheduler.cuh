// Which (q tile, head, batch) each work item is, and the grid that walks them. A persistent grid has
// at most one CTA per SM (the kernel needs the whole shared memory); each CTA starts with item
// blockIdx.x and then takes the next free item of a queue (an atomic counter), so uneven causal
// items balance as under the hardware's own CTA placement, and the producer streams the next item's
// Q and first K/V steps while the consumers finish the current item (two Q slots, tile.cuh). A grid
// of one CTA per item runs the same code once per CTA.
// Items are head-major with the q tile fastest (consecutive items share K/V in L2); under causal
// masking the q tiles of a head go longest-first, so the short diagonal tiles fill the tail.
// Multicast kernels (kMulticastKernel) walk pairs of items instead: 2-CTA clusters, cluster c starting
// with pair c, rank r of the cluster taking item 2 * pair + r (an even number of q tiles per head keeps
// both in one head); rank 0 takes the next pairs from the counter and hands them to rank 1.
#pragma once

#include <cuda_runtime.h>

#include "sm90/ptx.cuh"
#include "sm90/tile.cuh"
#include "common/varlen.cuh"

namespace sage::sm90 {

struct TileCoord {
  int q_tile, h, b;
};

// Fits an int: the host checks num_q_tiles * hq * batch < 2^30 before launching.
__host__ __device__ __forceinline__ int num_work_items(const AttnParams& p) { return p.num_q_tiles * p.hq * p.batch; }

template <bool CAUSAL>
__device__ __forceinline__ TileCoord tile_of_item(int item, const AttnParams& p) {
  const int x = item % p.num_q_tiles;
  const int hb = item / p.num_q_tiles;
  return {CAUSAL ? p.num_q_tiles - 1 - x : x, hb % p.hq, hb / p.hq};
}

// Varlen kernels: work item (h, t) is padded Q tile t of head h (sm90/varlen.cuh), resolved by the producer to
// the rows of its sequence. q0 < 0: the tile holds no query row (it lies between two windows), and the item is
// skipped. The producer publishes the item in two int4 of its Q slot (store_varlen_item / load_varlen_item).
struct VarlenItem {
  int q0;       // the tile's first row within the sequence
  int qo_len;   // the sequence's queries
  int kv_len;   // ... and keys
  int k_tile0;  // the padded tile of its first key
  int q_tok0;   // the token of its first query in q and out
};

__device__ __forceinline__ VarlenItem varlen_item(int q_tile, const AttnParams& p) {
  const int s = __ldg(p.q_tile_seq + q_tile);
  if (s < 0) return {-1, 0, 0, 0, 0};
  const VarlenSeq qs = varlen_seq(p.cu_q, s, p.total_q);
  const int q0 = (q_tile - qs.tile0) * kCtaQ;
  if (q0 >= qs.len) return {-1, 0, 0, 0, 0};
  const VarlenSeq ks = varlen_seq(p.cu_k, s, p.total_k);
  return {q0, qs.len, ks.len, ks.tile0, qs.tok0};
}

__device__ __forceinline__ void store_varlen_item(int4* slot, const VarlenItem& v) {
  slot[0] = make_int4(v.q0, v.qo_len, v.kv_len, v.k_tile0);
  slot[1] = make_int4(v.q_tok0, 0, 0, 0);
}

// Read by every consumer thread; through a shuffle the values are warp-uniform (kernel.cuh explains why that
// matters for the loop).
__device__ __forceinline__ VarlenItem load_varlen_item(const int4* slot) {
  const volatile int* v = reinterpret_cast<const volatile int*>(slot);
  return {__shfl_sync(0xffffffffu, v[0], 0), __shfl_sync(0xffffffffu, v[1], 0), __shfl_sync(0xffffffffu, v[2], 0),
          __shfl_sync(0xffffffffu, v[3], 0), __shfl_sync(0xffffffffu, v[4], 0)};
}

// The n-th item of a single CTA's walk (the producer thread asks once per item).
__device__ __forceinline__ int next_item(int n, const AttnParams& p) {
  return n == 0 ? static_cast<int>(blockIdx.x) : static_cast<int>(gridDim.x) + atomicAdd(p.next_item, 1);
}

// The n-th item of a cluster CTA's walk (multicast kernels; the producer thread of both ranks asks once per
// item, in step). Hand-over h = n - 1 uses slot h % 2: rank 0 stores the pair into rank 1's shared memory
// and releases it with an arrival on rank 1's pair_full; rank 1 acknowledges every hand-over on rank 0's
// pair_empty, which rank 0 waits for before it reuses the slot and, for the last two, before it exits
// (pair_walk_end). Two slots let rank 0 run a hand-over ahead. Returns num_work_items(p) for the end of
// the walk: rank 1 leaves only after it read that last hand-over, so rank 0's stores always find it.
template <typename Plan>
__device__ __forceinline__ int next_pair_item(const Plan& sm, int n, const AttnParams& p) {
  const int pairs = num_work_items(p) / 2;
  const uint32_t rank = cluster_rank();
  int pair = static_cast<int>(blockIdx.x / 2);
  if (n > 0) {
    const int h = n - 1, hs = h % 2;
    if (rank == 0) {
      pair = static_cast<int>(gridDim.x / 2) + atomicAdd(p.next_item, 1);
      if (h >= 2) mbar_wait_acquire_cluster(&sm.pair_empty[hs], (h / 2 - 1) & 1);
      st_cluster_s32(cluster_smem_addr(&sm.pair[hs], 1), pair);
      mbar_arrive_release_cluster(cluster_smem_addr(&sm.pair_full[hs], 1));
    } else {
      mbar_wait_acquire_cluster(&sm.pair_full[hs], (h / 2) & 1);
      pair = *reinterpret_cast<volatile int*>(&sm.pair[hs]);
      mbar_arrive_release_cluster(cluster_smem_addr(&sm.pair_empty[hs], 0));
    }
  }
  return pair < pairs ? 2 * pair + static_cast<int>(rank) : 2 * pairs;
}

// Rank 0, after its walk's n-th request returned the end: waits for rank 1's acknowledgements of the last two
// hand-overs (h = n - 2, n - 1), so that no arrival of rank 1 is still on its way to this CTA when it exits.
template <typename Plan>
__device__ __forceinline__ void pair_walk_end(const Plan& sm, int n) {
  if (cluster_rank() != 0) return;
  for (int h = n - 2; h < n; ++h)
    if (h >= 0) mbar_wait_acquire_cluster(&sm.pair_empty[h % 2], (h / 2) & 1);
}

// Persistent: min(items, SMs); otherwise one CTA per item.
inline dim3 grid_shape(const AttnParams& p, int sm_count, bool persistent) {
  const int items = num_work_items(p);
  const int ctas = persistent ? (items < sm_count ? items : sm_count) : items;
  return dim3(static_cast<unsigned>(ctas > 0 ? ctas : 1));
}

}  // namespace sage::sm90
