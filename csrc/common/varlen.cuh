// Packed sequences (sageattn_varlen's one-op paths: sageattn_sm90_varlen, sageattn_mma_f16_varlen,
// sageattn_mma_f8_varlen) without reading cu_seqlens on the host.
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

#include "common/stable_op.h"

namespace sage {

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

// The rows of a packed operand: cu_seqlens and the padded tiles' sequences (tile_seq_kernel).
struct VarlenRows {
  const int* cu;        // [seqs + 1]
  const int* tile_seq;  // [tiles]
  int total;            // tokens of the pack
};

// Padded rows [row0, row0 + rows) of one window tile (rows <= kVarlenTile, row0 % rows == 0): the token of the
// first and how many are real (0 for a tile between windows).
struct WindowRows {
  int64_t tok0;
  int valid;
};

__device__ __forceinline__ WindowRows window_rows(const VarlenRows& vr, int64_t row0, int rows) {
  const int s = __ldg(vr.tile_seq + row0 / kVarlenTile);
  if (s < 0) return {0, 0};
  const VarlenSeq seq = varlen_seq(vr.cu, s, vr.total);
  const int64_t off = row0 - static_cast<int64_t>(seq.tile0) * kVarlenTile;  // >= 0: the table's promise
  return {seq.tok0 + off, static_cast<int>(max(int64_t{0}, min(static_cast<int64_t>(rows), seq.len - off)))};
}

// table[t] = the last sequence whose window starts at or before padded tile t, -1 for none; one thread per tile.
// A template only so that every module including this header may instantiate it.
template <typename = void>
__global__ void tile_seq_kernel(const int* cu_q, const int* cu_k, int seqs, int total_q, int total_k, int tiles_q,
                                int tiles_k, int* table_q, int* table_k) {
  int t = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  const bool is_q = t < tiles_q;
  if (!is_q) t -= tiles_q;
  if (t >= (is_q ? tiles_q : tiles_k)) return;
  const int* cu = is_q ? cu_q : cu_k;
  const int total = is_q ? total_q : total_k;
  int lo = -1, hi = seqs;  // lo only ever moves to a sequence that starts at or before t
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (clamped_cu(cu, mid, total) / kVarlenTile + mid <= t) lo = mid;
    else hi = mid;
  }
  (is_q ? table_q : table_k)[t] = lo;
}

// Fills both tables (device memory of tiles_q and tiles_k ints) on `stream`.
inline void launch_tile_seq(const int* cu_q, const int* cu_k, int64_t seqs, int64_t total_q, int64_t total_k,
                            int64_t tiles_q, int64_t tiles_k, int* table_q, int* table_k, cudaStream_t stream) {
  constexpr int kThreads = 256;
  const int64_t blocks = (tiles_q + tiles_k + kThreads - 1) / kThreads;
  tile_seq_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      cu_q, cu_k, static_cast<int>(seqs), static_cast<int>(total_q), static_cast<int>(total_k),
      static_cast<int>(tiles_q), static_cast<int>(tiles_k), table_q, table_k);
  check_launch("sageattn varlen (tile table)");
}

// A pack [total, heads, head_dim] as one batch (B, H, N, D) view; `op` names the caller in errors.
inline Bhnd packed_view(const Tensor& x, const char* name, const char* op) {
  check_cuda(x, name);
  SAGE_CHECK(x.dim() == 3, op, ": ", name, " must be a packed [total_tokens, heads, head_dim] tensor, got ", x.dim(),
             "-D");
  SAGE_CHECK(x.stride(2) == 1, op, ": ", name, " must be contiguous in its last (head) dim; call .contiguous()");
  return Bhnd{1, x.size(1), x.size(0), x.size(2), x.size(0) * x.stride(0), x.stride(1), x.stride(0)};
}

// Checks one cu_seqlens tensor of a varlen op (its values stay unread on the host).
inline void check_cu_seqlens(const Tensor& cu, const Tensor& q, const char* name, const char* op) {
  SAGE_CHECK(cu.is_cuda() && cu.get_device_index() == q.get_device_index(), op, ": ", name, " must be on q's GPU");
  SAGE_CHECK(cu.scalar_type() == ScalarType::Int, op, ": ", name, " must be int32");
  SAGE_CHECK(cu.dim() == 1 && cu.stride(0) == 1 && cu.size(0) >= 2, op, ": ", name,
             " must be a contiguous 1-D tensor of at least 2 offsets");
}

// Padded tiles per head of a pack of `total` tokens in `seqs` sequences (host and device agree on it).
__host__ __device__ inline int64_t varlen_tiles(int64_t total, int64_t seqs) {
  return (total + kVarlenTile - 1) / kVarlenTile + seqs;
}

}  // namespace sage
