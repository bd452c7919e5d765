// Which (q tile, head, batch) a CTA computes. One CTA per tile for now (grid = q tiles x Hq x B);
// under causal masking the tiles with the most KV work are handed out first (blockIdx.x 0 -> the last
// q tile), so the short diagonal tiles fill the tail of the wave.
#pragma once

#include "sm90/tile.cuh"

namespace sage::sm90 {

struct TileCoord {
  int q_tile, h, b;
};

template <bool CAUSAL>
__device__ __forceinline__ TileCoord tile_of_block(const AttnParams& p) {
  const int x = static_cast<int>(blockIdx.x);
  return {CAUSAL ? p.num_q_tiles - 1 - x : x, static_cast<int>(blockIdx.y), static_cast<int>(blockIdx.z)};
}

inline dim3 grid_shape(const AttnParams& p, int batch) {
  return dim3(static_cast<unsigned>(p.num_q_tiles), static_cast<unsigned>(p.hq), static_cast<unsigned>(batch));
}

}  // namespace sage::sm90
