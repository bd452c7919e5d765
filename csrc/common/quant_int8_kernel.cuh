// Q/K -> INT8 with per-block, per-warp or per-thread (MMA-fragment) scale groups, smooth-K fused: the
// kernel, and its host plan (checks, padding, grid) and launch on raw pointers. Used by the core op
// quant_int8 (csrc/core/quant_int8.cu) and by the fused attention ops of the mma families.
//
// Group rule (shared with sageattention/reference.py): tokens are cut into blocks of block_size;
// inside a block, token i uses scale group (i % group_period) / group_stride. per-block/per-warp:
// period = stride = 1 (one group). per-thread for Q under an m16 MMA row fragment: period 8,
// stride 1 (a lane owns rows g, g+8, g+16, ...); for K under the n8 column fragment: period 8,
// stride 2 (a lane owns columns 2t, 2t+1 of every 8).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <type_traits>

#include "common/s8_round.cuh"
#include "common/stable_op.h"
#include "common/varlen.cuh"
#include "common/vec_io.cuh"

namespace sage {

constexpr int kQuantInt8Threads = 256;
constexpr int kQuantInt8MaxGroups = 32;    // scale groups per block (the op's contract)
constexpr int kQuantInt8MaxSlots = 256;    // scale groups per CTA tile
constexpr int kQuantInt8TileChunks = 1024;  // 8-element chunks per CTA tile (16 KB of fp16) unless one block is larger
constexpr int kQuantInt8Unroll = 4;         // loads in flight per thread
constexpr int kQuantInt8MinBlocks = 4;      // CTAs per SM the kernels are register-budgeted for (64 registers)

struct QuantInt8Args {
  Bhnd s;
  int block_size, period, stride, groups, d_pad;
  int blocks_per_cta;  // scale blocks per CTA tile: small blocks (Q's 16 rows) share one CTA
  int64_t n_pad, blocks;
  // log2 of block_size, period, stride and groups when all four are powers of two (every spec the
  // kernels use), so the per-chunk group index is shifts and masks; pow2 == false divides.
  bool pow2;
  int block_shift, stride_shift, groups_shift;
};

__device__ __forceinline__ int scale_slot(const QuantInt8Args& a, int row) {  // row within the CTA tile
  if (a.pow2) {
    return ((row >> a.block_shift) << a.groups_shift) + ((row & (a.period - 1)) >> a.stride_shift);
  }
  return (row / a.block_size) * a.groups + ((row % a.block_size) % a.period) / a.stride;
}

// The mean as given (quant_int8_tile's default MeanFn).
struct GivenMean {
  __device__ __forceinline__ const float* operator()(const float* mu) const { return mu; }
};

// A CTA takes `blocks_per_cta` consecutive scale blocks: pass 1 reduces the group maxima, pass 2
// writes INT8. A tile of up to kQuantInt8Unroll chunks per thread (kQuantInt8TileChunks: every tile
// but K's at D = 256) stays in the registers of pass 1's one round; a larger one is streamed twice
// (pass 2 re-reads it from L2), which keeps registers low enough for several CTAs per SM: holding a
// whole larger tile in registers left 2 CTAs per SM at half the bandwidth. Lanes that share a row
// reduce with shuffles; one lane per row updates the group's maximum in shared memory.
// CHUNKS = d_pad / 8 when it is 8, 16 or 32: row/chunk arithmetic by shifts, and a thread's
// channels are the same in every iteration (kQuantInt8Threads is a multiple), so the K mean it
// subtracts is loaded once. CHUNKS = 0: any d_pad (a multiple of 8), with divisions.
// VARLEN: x is a pack (one batch) and the rows are padded window tiles (common/varlen.cuh, `vr`); a CTA tile
// then lies inside one window tile (plan_quant_int8_packed).
// Tile `tile` of head h of batch b; mu: the mean to subtract (the head's D floats, global or shared memory), or null;
// mean_fn(mu) -> the mean to subtract, called once the tile's first loads are out (a fold of statistics partials,
// CTA-wide and behind a barrier, then overlaps them).
template <typename T, bool VEC, int CHUNKS, bool VARLEN, typename MeanFn = GivenMean>
__device__ __forceinline__ void quant_int8_tile(const T* __restrict__ x, const float* __restrict__ mu,
                                                const QuantInt8Args& a, int8_t* __restrict__ out,
                                                float* __restrict__ scale, const VarlenRows& vr, unsigned tile,
                                                unsigned h, unsigned b, const MeanFn& mean_fn = {}) {
  static_assert(CHUNKS == 0 || (CHUNKS <= 32 && 32 % (CHUNKS == 0 ? 1 : CHUNKS) == 0), "CHUNKS must divide the warp");
  __shared__ float slot_amax[kQuantInt8MaxSlots];
  const int64_t bh = static_cast<int64_t>(b) * a.s.h + h;
  const T* src = x + b * a.s.sb + h * a.s.sh;
  const int64_t block0 = static_cast<int64_t>(tile) * a.blocks_per_cta;
  const int tile_blocks = static_cast<int>(min(static_cast<int64_t>(a.blocks_per_cta), a.blocks - block0));
  const int64_t tok0 = block0 * a.block_size;
  const int chunks = CHUNKS ? CHUNKS : a.d_pad / 8;
  const int work = tile_blocks * a.block_size * chunks;
  const int slots = tile_blocks * a.groups;
  // Lanes holding one row: `chunks` consecutive lanes when that divides the warp, else one.
  const int row_lanes = (chunks <= 32 && (32 % chunks) == 0) ? chunks : 1;
  const int lane = threadIdx.x & 31;
  const int warp_first = threadIdx.x - lane;
  int valid_rows = static_cast<int>(min(static_cast<int64_t>(tile_blocks) * a.block_size, a.s.n - tok0));
  int64_t src_tok0 = tok0;  // the token of the tile's first row
  if constexpr (VARLEN) {
    const WindowRows w = window_rows(vr, tok0, tile_blocks * a.block_size);
    src_tok0 = w.tok0;
    valid_rows = w.valid;
  }

  float my_mean[8];  // CHUNKS > 0: the mean of this thread's fixed channels (0 past the head dim), set below

  // Chunk idx of the tile: fetched in the input type (few registers per load in flight), then
  // converted as quantized: mean removed for real tokens; padding (rows and channels) is zero.
  auto fetch = [&](int idx) {
    Chunk8<T> c;
    const int row = idx / chunks;
    if (idx < work && row < valid_rows) {
      c = load_chunk8<T, VEC>(src + (src_tok0 + row) * a.s.sn, (idx % chunks) * 8, a.s.d);
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) c.e[i] = from_float<T>(0.f);
    }
    return c;
  };
  auto values = [&](int idx, const Chunk8<T>& c, float v[8]) {
    chunk_to_float(c, v);
    if (!mu || idx / chunks >= valid_rows) return;
    if constexpr (CHUNKS > 0) {
#pragma unroll
      for (int i = 0; i < 8; ++i) v[i] -= my_mean[i];  // zero - zero past the head dim
    } else {
      const int c0 = (idx % chunks) * 8;
#pragma unroll
      for (int i = 0; i < 8; ++i) v[i] = (c0 + i < a.s.d) ? v[i] - mu[c0 + i] : 0.f;
    }
  };

  // The first round's loads go out before anything waits (the mean, the slots' barrier; a fold of statistics
  // partials overlaps them); fetch zero-fills past the tile, so they need no guard. With round_s8_bits below, the
  // paired Q/K launch went 1-4 % faster on the H200 (bench/mma_notes.md, twenty-fourth session).
  Chunk8<T> raw[kQuantInt8Unroll];
  // Where every chunk of the first round is a whole 16-byte chunk of a real row (CTA-uniform), its loads go out back
  // to back, without fetch's per-chunk tests and scalar fallback between them. With the paired launch's 32-bit tile
  // indices (cta_in_head), the paired Q/K kernel went 103 -> 77 us on the H100 at B4 H32 N4K D64, near the probe's
  // copy rate (bench/mma_notes.md, twenty-sixth session).
  if (VEC && CHUNKS > 0 && a.s.d == chunks * 8 && valid_rows * chunks >= kQuantInt8Unroll * kQuantInt8Threads) {
#pragma unroll
    for (int u = 0; u < kQuantInt8Unroll; ++u) {
      const int idx = threadIdx.x + u * kQuantInt8Threads;
      // `valid` CHUNKS * 8: every chunk is whole, so load_chunk8 takes its vector path.
      raw[u] = load_chunk8<T, true>(src + (src_tok0 + idx / chunks) * a.s.sn, (idx % chunks) * 8, CHUNKS * 8);
    }
  } else {
#pragma unroll
    for (int u = 0; u < kQuantInt8Unroll; ++u) raw[u] = fetch(threadIdx.x + u * kQuantInt8Threads);
  }
  mu = mean_fn(mu);
  if constexpr (CHUNKS > 0) {
    const int c0 = (threadIdx.x % CHUNKS) * 8;
#pragma unroll
    for (int i = 0; i < 8; ++i) my_mean[i] = (mu && c0 + i < a.s.d) ? mu[c0 + i] : 0.f;
  }

  for (int i = threadIdx.x; i < slots; i += kQuantInt8Threads) slot_amax[i] = 0.f;
  __syncthreads();

  // The loop bound is tested on the warp's first index so every lane of a warp runs the shuffles.
  for (int base = 0; base + warp_first < work; base += kQuantInt8Unroll * kQuantInt8Threads) {
    if (base != 0) {
#pragma unroll
      for (int u = 0; u < kQuantInt8Unroll; ++u) raw[u] = fetch(base + threadIdx.x + u * kQuantInt8Threads);
    }
#pragma unroll
    for (int u = 0; u < kQuantInt8Unroll; ++u) {
      const int idx = base + threadIdx.x + u * kQuantInt8Threads;
      float v[8];
      values(idx, raw[u], v);
      float m = 0.f;
#pragma unroll
      for (int i = 0; i < 8; ++i) m = fmaxf(m, fabsf(v[i]));
      for (int w = 1; w < row_lanes; w <<= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, w));
      // Non-negative floats order like their bit patterns, so an integer max is a float max.
      if (idx < work && lane % row_lanes == 0) {
        atomicMax(reinterpret_cast<int*>(&slot_amax[scale_slot(a, idx / chunks)]), __float_as_int(m));
      }
    }
  }
  __syncthreads();

  // Scales out; the slots then hold the reciprocal the quantizer multiplies by (one division per
  // group instead of one per chunk).
  float* scale_out = scale + bh * a.blocks * a.groups + block0 * a.groups;
  for (int i = threadIdx.x; i < slots; i += kQuantInt8Threads) {
    const float amax = slot_amax[i];
    scale_out[i] = amax / 127.f;
    slot_amax[i] = amax > 0.f ? 127.f / amax : 0.f;
  }
  __syncthreads();

  int8_t* dst = out + (bh * a.n_pad + tok0) * a.d_pad;
  // A tile of one round (every Q tile, and K's up to D = 128) is still in raw: pass 1 fetched exactly the chunks
  // this thread quantizes, so it is not read again (one memory round trip less per tile). H200, Q and K of B4 H32
  // N1K D64: 29.7 -> 27.0 us (ptxas spills 16 bytes at the 64 registers of 4 CTAs per SM; budgeting for 3 CTAs
  // instead, 70 registers and no spill, measured 30.3).
  const bool held = work <= kQuantInt8Unroll * kQuantInt8Threads;
  for (int base = threadIdx.x; base < work; base += kQuantInt8Unroll * kQuantInt8Threads) {
    if (!held) {
#pragma unroll
      for (int u = 0; u < kQuantInt8Unroll; ++u) raw[u] = fetch(base + u * kQuantInt8Threads);
    }
#pragma unroll
    for (int u = 0; u < kQuantInt8Unroll; ++u) {
      const int idx = base + u * kQuantInt8Threads;
      if (idx < work) {
        const float inv = slot_amax[scale_slot(a, idx / chunks)];
        float v[8];
        values(idx, raw[u], v);
        // round_s8_bits: |v * inv| <= 127 (|v| <= its group's amax, inv = 127 / amax), so no clamp.
        int w[8];
#pragma unroll
        for (int i = 0; i < 8; ++i) w[i] = round_s8_bits(v[i], inv);
        const uint32_t lo = pack_s8x4(w[0], w[1], w[2], w[3]), hi = pack_s8x4(w[4], w[5], w[6], w[7]);
        *reinterpret_cast<uint2*>(dst + static_cast<int64_t>(idx) * 8) = make_uint2(lo, hi);
      }
    }
  }
}

// The head's mean for tile `tile` (mean: [B, H, D], or a pack's [S, H, D] by the window tile's sequence), or null.
template <bool VARLEN>
__device__ __forceinline__ const float* quant_int8_mean(const float* mean, const QuantInt8Args& a,
                                                        const VarlenRows& vr, unsigned tile, unsigned h, unsigned b) {
  const int64_t bh = static_cast<int64_t>(b) * a.s.h + h;
  if constexpr (VARLEN) {  // a pack's mean is its sequences' [S, H, D]: the window tile's own sequence
    const int64_t tok0 = static_cast<int64_t>(tile) * a.blocks_per_cta * a.block_size;
    const int seq = mean ? __ldg(vr.tile_seq + tok0 / kVarlenTile) : -1;
    return seq >= 0 ? mean + (static_cast<int64_t>(seq) * a.s.h + bh) * a.s.d : nullptr;
  }
  return mean ? mean + bh * a.s.d : nullptr;
}

template <typename T, bool VEC, int CHUNKS, bool VARLEN = false>
__global__ void __launch_bounds__(kQuantInt8Threads, kQuantInt8MinBlocks) quant_int8_kernel(
    const T* __restrict__ x, const float* __restrict__ mean, QuantInt8Args a, int8_t* __restrict__ out,
    float* __restrict__ scale, VarlenRows vr) {
  const float* mu = quant_int8_mean<VARLEN>(mean, a, vr, blockIdx.x, blockIdx.y, blockIdx.z);
  quant_int8_tile<T, VEC, CHUNKS, VARLEN>(x, mu, a, out, scale, vr, blockIdx.x, blockIdx.y, blockIdx.z);
}

// One checked quant_int8 call: the kernel's arguments, the output shapes and the grid.
struct QuantInt8Plan {
  QuantInt8Args args;
  bool vec;  // 16-byte loads: every row of x is 16-byte aligned (rows_16b_aligned)
  dim3 grid;

  std::array<int64_t, 4> out_shape() const { return {args.s.b, args.s.h, args.n_pad, args.d_pad}; }
  std::array<int64_t, 3> scale_shape() const { return {args.s.b, args.s.h, args.blocks * args.groups}; }
  bool empty() const { return args.s.b * args.s.h * args.blocks == 0; }  // nothing to launch
};

// Checks x (named `name` in errors) and the scale-group spec (the quant_int8 schema in
// csrc/core/registry.cpp) and plans the launch; x's mean, when given, is the caller's to check.
// The plan of x's (B, H, N, D) view `s` (vec: rows_16b_aligned); `rows` tokens per head are padded (s.n for a
// batch; a pack's padded window tiles, where a CTA tile then stays inside one window tile).
inline QuantInt8Plan plan_quant_int8_view(const Bhnd& s, bool vec, int64_t rows, bool packed, int64_t block_size,
                                          int64_t group_period, int64_t group_stride, int64_t head_dim_padded,
                                          int64_t pad_multiple) {
  SAGE_CHECK(block_size > 0 && block_size <= 256, "block_size must be in [1, 256], got ", block_size);
  SAGE_CHECK(group_period > 0 && group_stride > 0 && group_period % group_stride == 0,
             "group_period must be a positive multiple of group_stride, got ", group_period, "/", group_stride);
  SAGE_CHECK(block_size % group_period == 0 || group_period == 1, "block_size ", block_size,
             " must be a multiple of group_period ", group_period);
  const int64_t groups = group_period / group_stride;
  SAGE_CHECK(groups <= kQuantInt8MaxGroups, "at most ", kQuantInt8MaxGroups, " scale groups per block, got ", groups);
  SAGE_CHECK(head_dim_padded >= s.d && head_dim_padded % 8 == 0, "head_dim_padded must be >= head dim ", s.d,
             " and a multiple of 8, got ", head_dim_padded);
  SAGE_CHECK(pad_multiple > 0 && (pad_multiple % block_size == 0 || block_size % pad_multiple == 0),
             "pad_multiple ", pad_multiple, " and block_size ", block_size, " must divide one another");
  const int64_t n_pad = round_up(rows, std::max(block_size, pad_multiple));
  const int64_t blocks = n_pad / block_size;
  const int64_t chunks_per_block = block_size * head_dim_padded / 8;
  int64_t per_cta = std::max<int64_t>(
      1, std::min<int64_t>({kQuantInt8TileChunks / chunks_per_block, kQuantInt8MaxSlots / groups, blocks}));
  if (packed) {
    SAGE_CHECK(kVarlenTile % block_size == 0 && n_pad % kVarlenTile == 0, "a packed operand's blocks of ", block_size,
               " rows must tile its ", kVarlenTile, "-row windows");
    per_cta = std::min<int64_t>(per_cta, kVarlenTile / block_size);
    while (kVarlenTile % (per_cta * block_size) != 0) --per_cta;
  }
  const int block_shift = log2_if_pow2(block_size), period_shift = log2_if_pow2(group_period);
  const int stride_shift = log2_if_pow2(group_stride), groups_shift = log2_if_pow2(groups);
  const bool pow2 = block_shift >= 0 && period_shift >= 0 && stride_shift >= 0 && groups_shift >= 0 &&
                    (group_period <= block_size || group_period == 1);
  QuantInt8Plan plan;
  plan.args = QuantInt8Args{s, static_cast<int>(block_size), static_cast<int>(group_period),
                            static_cast<int>(group_stride), static_cast<int>(groups),
                            static_cast<int>(head_dim_padded), static_cast<int>(per_cta), n_pad, blocks, pow2,
                            block_shift, stride_shift, groups_shift};
  plan.vec = vec;
  const int64_t ctas = (blocks + per_cta - 1) / per_cta;
  if (!plan.empty()) {
    SAGE_CHECK(ctas <= 2147483647 && s.h <= 65535 && s.b <= 65535, "tensor too large for the grid");
  }
  plan.grid = dim3(static_cast<unsigned>(ctas), static_cast<unsigned>(s.h), static_cast<unsigned>(s.b));
  return plan;
}

inline QuantInt8Plan plan_quant_int8(const Tensor& x, int64_t tensor_layout, int64_t block_size, int64_t group_period,
                                     int64_t group_stride, int64_t head_dim_padded, int64_t pad_multiple,
                                     const char* name) {
  const Bhnd s = bhnd(x, tensor_layout, name);
  return plan_quant_int8_view(s, rows_16b_aligned(x, s), s.n, false, block_size, group_period, group_stride,
                              head_dim_padded, pad_multiple);
}

// Enqueues the kernel for x of element type T (nothing when the plan is empty): out and scale have the
// plan's shapes, contiguous; mean is null or [B, H, D] fp32, contiguous (VARLEN: [S, H, D], per sequence). ANY_PAD = false: only the
// padded head dims 64, 128 and 256 (the attention kernels' own), so a module that needs no other does not
// compile the generic kernels (CHUNKS = 0).
// VARLEN: a plan_quant_int8_packed plan, rows from `vr`.
template <typename T, bool ANY_PAD = true, bool VARLEN = false>
void launch_quant_int8(const QuantInt8Plan& plan, const T* x, const float* mean, int8_t* out, float* scale,
                       cudaStream_t stream, const VarlenRows& vr = {}) {
  if (plan.empty()) return;
  const QuantInt8Args& a = plan.args;
  auto go = [&](auto vec_tag) {
    constexpr bool V = decltype(vec_tag)::value;
    switch (a.d_pad / 8) {
      case 8: quant_int8_kernel<T, V, 8, VARLEN><<<plan.grid, kQuantInt8Threads, 0, stream>>>(x, mean, a, out, scale, vr); break;
      case 16: quant_int8_kernel<T, V, 16, VARLEN><<<plan.grid, kQuantInt8Threads, 0, stream>>>(x, mean, a, out, scale, vr); break;
      case 32: quant_int8_kernel<T, V, 32, VARLEN><<<plan.grid, kQuantInt8Threads, 0, stream>>>(x, mean, a, out, scale, vr); break;
      default:
        if constexpr (ANY_PAD) {
          quant_int8_kernel<T, V, 0, VARLEN><<<plan.grid, kQuantInt8Threads, 0, stream>>>(x, mean, a, out, scale, vr);
        } else {
          SAGE_CHECK(false, "head_dim_padded must be 64, 128 or 256 here, got ", a.d_pad);
        }
    }
  };
  if (plan.vec) go(std::true_type{});
  else if constexpr (!VARLEN) go(std::false_type{});  // packs are planned with 16-byte loads only
  else SAGE_CHECK(false, "quant_int8: a packed operand needs 16-byte aligned rows");
  check_launch("quant_int8");
}

}  // namespace sage
