// Packed sequences (sageattn_sm90_varlen) in the sm90 kernels, without reading cu_seqlens on the host.
//
// The quantized operands keep every sequence in a window of whole 128-row tiles: sequence s starts at padded
// tile cu[s] / 128 + s. That start needs no prefix sum (window s ends at or before window s + 1 starts, since
// cu[s + 1] / 128 - cu[s] / 128 >= ceil(len / 128) - 1), so a pack of T tokens in S sequences fits
// ceil(T / 128) + S tiles per head whatever the lengths. tile_seq_kernel maps each padded tile to its
// sequence once per call (a binary search per tile); the quantization pass and the attention kernel then
// read one entry per chunk or work item. Tiles between windows belong to no row: zero in the operands,
// and the attention kernel skips their work items.
//
// Any cu values are memory safe: each is clamped into [0, total], a sequence's length is max(0, end -
// start), and a tile maps to a sequence whose window starts at or before it (else to none).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace sage::sm90 {

constexpr int kVarlenTile = 128;  // rows of a padded tile: one Q tile, one K scale block, one quantization chunk

__device__ __forceinline__ int clamped_cu(const int* cu, int s, int total) { return min(max(__ldg(cu + s), 0), total); }

// Sequence s of a pack: its first token, its length and its first padded tile.
struct VarlenSeq {
  int tok0, len, tile0;
};

__device__ __forceinline__ VarlenSeq varlen_seq(const int* cu, int s, int total) {
  const int a = clamped_cu(cu, s, total), e = clamped_cu(cu, s + 1, total);
  return {a, max(0, e - a), a / kVarlenTile + s};
}

// Padded tiles per head of a pack of `total` tokens in `seqs` sequences (host and device agree on it).
__host__ __device__ inline int64_t varlen_tiles(int64_t total, int64_t seqs) {
  return (total + kVarlenTile - 1) / kVarlenTile + seqs;
}

}  // namespace sage::sm90
