// Tile vocabulary of the mma.sync attention kernels: per-head-dim tile sizes, padded or swizzled shared-memory
// row tiles, the cooperative global -> shared copy, and the fragment-address rules of ldmatrix.
#pragma once

#include <cstdint>

#include "common/mma/ptx.cuh"

// Lazy running max (bench/mma_notes.md, round 5; 1 = on, the default): the FP16-PV kernel with fp32 O at D = 64
// soft-maxes a tile against the running max of the earlier tiles and takes the exact-max path only when a score
// exceeds that max by more than SAGE_MMA_LAZY_T (log2 units). H200, kernel-only: D=64 +5 % at 16K, +6.5 % at 4K.
// 0 builds today's exact path everywhere, for A/B runs.
#ifndef SAGE_MMA_LAZY_MAX
#define SAGE_MMA_LAZY_MAX 1
#endif
#ifndef SAGE_MMA_LAZY_T
#define SAGE_MMA_LAZY_T 8
#endif

namespace sage::mma {

// How PV is computed and accumulated. The first three use FP16 V (mma m16n8k16), the others
// FP8 e4m3 V (mma m16n8k32).
enum class PvAccum : int {
  kF16F32 = 0,     // "fp32": f16 MMA accumulating straight into the fp32 O registers
  kF16F16F32 = 1,  // "fp16+fp32": a fresh f16 accumulator per KV tile, added into fp32 O
  kF16F16 = 2,     // "fp16": O itself kept in f16 registers (rescaled in f16)
  kF8F32 = 3,      // "fp32": e4m3 MMA accumulating straight into fp32 O
  kF8F32F32 = 4,   // "fp32+fp32": fresh fp32 accumulator per KV tile, added into fp32 O (two-level)
  kF8F32F16 = 5,   // "fp32+fp16": fresh f16 accumulator per KV tile (SAGE_FP8_F16_ACCUM builds only)
};

constexpr bool pv_is_fp8(PvAccum a) { return static_cast<int>(a) >= 3; }

// Tile sizes per padded head dim. One warp owns kMT m16 row tiles (WARP_Q = 16 * kMT query rows);
// the Python side quantizes Q with WARP_Q-token scale blocks and pads Q to kCtaQ, K to kCtaK.
//  - D <= 128: 2 row tiles per warp halve the shared-memory reads of K and V per FLOP (each K/V
//    fragment feeds two MMAs); registers: O 64*kMT*D/128, S 32*kMT.
//  - D = 256: one row tile per warp, else O alone would need 256 registers per lane.
// kMinBlocks: CTAs per SM the register budget is built for (__launch_bounds__).
template <int D>
struct MmaTile {
  static_assert(D == 64 || D == 128 || D == 256, "native head dims are 64, 128 and 256");
  static constexpr int kMT = D <= 128 ? 2 : 1;
  static constexpr int kWarps = 4;
  // Measured on H100 (bench/mma_notes.md): D=64 at 3 CTAs/SM (168 registers) beat 2 CTAs with Q
  // in registers; 1 row tile x 8 warps at D=128 was slower than 2 row tiles x 4 warps. The FP16-PV fp32-O kernel
  // at D=64 has a second build for 2 (WarpTile::kWideMinBlocks).
  static constexpr int kMinBlocks = D == 64 ? 3 : 1;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kWarpQ = 16 * kMT;
  static constexpr int kCtaQ = kWarps * kWarpQ;
  static constexpr int kCtaK = 64;
};

// The shared-memory row of key k in a K tile stored in S-column order (WarpTile::k_col_order): the inverse of
// key_of_col<true> (below) within each 16 keys (bit 1 of k -> bit 3, bits 2-3 -> bits 1-2), so that S column c of
// n8 tile j sits in row 8 j + c and every ldmatrix phase of the FP8-PV kernel reads 8 consecutive rows, as FP16
// PV's do, free of the two-way bank conflicts that key order meets on padded rows.
__device__ __forceinline__ constexpr int col_order_row(int k) {
  return (k & ~15) | ((k & 2) << 2) | ((k >> 1) & 6) | (k & 1);
}

// A ROWS x ROW_BYTES tile in shared memory whose 8 row addresses of one ldmatrix phase (8 consecutive rows, one
// 16-byte chunk) land in 8 different 16-byte bank groups, for any row length:
//  - SWIZZLE = false: each row padded by 16 bytes;
//  - SWIZZLE = true: rows unpadded, chunk c of row r stored at chunk c ^ ((r / rows per 128-byte line) mod
//    min(8, chunks)). Then the 8 threads of a quarter-warp's cp.async (whole rows, all chunks) also fill exactly
//    one aligned 128-byte line: with padding those rows straddle two lines, and ncu counted 10.5-15 L1 wavefronts per
//    copy instruction against 4 (bench/mma_notes.md, "Thirty-third session"). Rows of a phase must be consecutive
//    (from a multiple of 8). The FP8-PV kernel keeps the padding: swizzled, its tiles lost 2-7 % to more spills
//    (bench/mma_notes.md, "Thirty-fifth session").
template <int ROWS, int ROW_BYTES, bool SWIZZLE = false>
struct SmemTile {
  static_assert(ROW_BYTES % 16 == 0, "rows are copied in 16-byte chunks");
  static_assert(!SWIZZLE || ROW_BYTES % 64 == 0, "swizzled rows are whole halves of a 128-byte line");
  static constexpr int kRows = ROWS;
  static constexpr int kRowBytes = ROW_BYTES;
  static constexpr int kStride = SWIZZLE ? ROW_BYTES : ROW_BYTES + 16;
  static constexpr int kBytes = ROWS * kStride;
  static constexpr int kChunks = ROW_BYTES / 16;
  static constexpr int kRowsPerLine = kChunks >= 8 ? 1 : 8 / kChunks;
  static constexpr int kSwzMask = (kChunks >= 8 ? 8 : kChunks) - 1;

  __device__ __forceinline__ static uint32_t at(uint32_t base, int row, int byte) {
    if constexpr (SWIZZLE) {
      const int chunk = (byte >> 4) ^ ((row / kRowsPerLine) & kSwzMask);
      return base + row * kStride + chunk * 16 + (byte & 15);
    } else {
      return base + row * kStride + byte;
    }
  }

  // All THREADS threads copy rows [0, ROWS) from `src` (row r at src + r * src_stride bytes).
  // Rows >= valid_rows and bytes >= valid_bytes are zero-filled, never read. Thread i always moves
  // chunk i % kChunks of rows i / kChunks + k * THREADS / kChunks. Used for Q, the tail K/V tiles
  // and the FP8-PV kernel's K/V: at D=128 that kernel spilled 368 B with load_full instead (and
  // 328 B with an unpredicated rolled loop), against 72/80 B with this one.
  // COL_ORDER: source row r lands in row col_order_row(r) (a K tile stored in S-column order).
  template <int THREADS, bool COL_ORDER = false>
  __device__ __forceinline__ static void load(uint32_t base, const char* src, int64_t src_stride, int valid_rows,
                                              int valid_bytes) {
    static_assert(THREADS % kChunks == 0 && ROWS % (THREADS / kChunks) == 0, "tile copy must split evenly");
    constexpr int kRowStep = THREADS / kChunks;
    static_assert(!COL_ORDER || kRowStep % 16 == 0, "the column order permutes rows within 16: the step keeps it");
    const int c = static_cast<int>(threadIdx.x) % kChunks;
    int r = static_cast<int>(threadIdx.x) / kChunks;
    const int dr = COL_ORDER ? col_order_row(r) - r : 0;  // the same for every row this thread copies
    const bool col_ok = c * 16 < valid_bytes;
    const char* g = src + r * src_stride + c * 16;
    uint32_t d = at(base, r + dr, c * 16);
#pragma unroll 1
    for (int i = 0; i < ROWS / kRowStep; ++i) {
      const bool ok = col_ok && r < valid_rows;
      cp_async_16(SWIZZLE ? at(base, r + dr, c * 16) : d, ok ? g : src, ok);
      r += kRowStep;
      g += kRowStep * src_stride;
      d += kRowStep * kStride;
    }
  }

  // The same for a tile whose ROWS rows and ROW_BYTES bytes are all valid: no predicates, fully
  // unrolled; the global address advances by kRowStep * src_stride per chunk, the shared one by an
  // immediate offset. The rolled loop ran 4 (K) + 8 (V) iterations of ~13-15 instructions behind
  // loop-carried 64-bit adds right after the barrier (~215 executed instructions per warp-tile at
  // D=128, ~82 unrolled). FP16-PV K/V on the H200 (bench/mma_notes.md, v8): +5 % at D=128 N=16K,
  // +4.5 % at 4K, +0.5-1.6 % at D=64.
  template <int THREADS>
  __device__ __forceinline__ static void load_full(uint32_t base, const char* src, int64_t src_stride) {
    static_assert(THREADS % kChunks == 0 && ROWS % (THREADS / kChunks) == 0, "tile copy must split evenly");
    constexpr int kRowStep = THREADS / kChunks;
    const int c = static_cast<int>(threadIdx.x) % kChunks, r = static_cast<int>(threadIdx.x) / kChunks;
    const char* g = src + r * src_stride + c * 16;
    const uint32_t d = at(base, r, c * 16);
#pragma unroll
    for (int i = 0; i < ROWS / kRowStep; ++i) {
      cp_async_16_full(SWIZZLE ? at(base, r + i * kRowStep, c * 16) : d + i * kRowStep * kStride, g);
      g += kRowStep * src_stride;
    }
  }
};

// Key order inside a KV tile as seen by the S accumulator: S column c of n8 tile j holds key
// key_of_col(j, c). FP16 PV uses the identity (the m16n8k16 A fragment matches the S layout).
// FP8 PV permutes keys so that a lane's S values (columns 2t, 2t+1 of tiles j and j+1) are the
// 4 consecutive keys 4t..4t+3 that the m16n8k32 e4m3 A fragment wants; V then stays in natural
// token order. Only the K row addresses given to ldmatrix change; read in this order, those phases ({0, 1, 4, 5, 8,
// 9, 12, 13} + 0 or 2) meet two-way bank conflicts on padded rows (bench/mma_smem_layout_check.py), so most FP8-PV
// kernels store K in this order instead (col_order_row, WarpTile::k_col_order).
template <bool FP8_ORDER>
__device__ __forceinline__ constexpr int key_of_col(int j, int c) {
  if constexpr (FP8_ORDER) {
    return (j / 4) * 32 + ((j % 4) / 2) * 16 + (c / 2) * 4 + (j % 2) * 2 + (c % 2);
  } else {
    return j * 8 + c;
  }
}

}  // namespace sage::mma
