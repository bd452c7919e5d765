// Which (q tile, head, batch) each work item is, and the grid that walks them. A persistent grid has
// at most one CTA per SM (the kernel needs the whole shared memory); each CTA starts with item
// blockIdx.x and then takes the next free item of a queue (an atomic counter), so uneven causal
// items balance as under the hardware's own CTA placement, and the producer streams the next item's
// Q and first K/V steps while the consumers finish the current item (two Q slots, tile.cuh). A grid
// of one CTA per item runs the same code once per CTA.
// Items are head-major with the q tile fastest (consecutive items share K/V in L2); under causal
// masking the q tiles of a head go longest-first, so the short diagonal tiles fill the tail.
#pragma once

#include <cuda_runtime.h>

#include "sm90/tile.cuh"

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

// Persistent: min(items, SMs); otherwise one CTA per item.
inline dim3 grid_shape(const AttnParams& p, int sm_count, bool persistent) {
  const int items = num_work_items(p);
  const int ctas = persistent ? (items < sm_count ? items : sm_count) : items;
  return dim3(static_cast<unsigned>(ctas > 0 ? ctas : 1));
}

}  // namespace sage::sm90
