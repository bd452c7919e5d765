// Q, K and V quantized for the sm_90a kernel in one launch, each input read once.
//
// Work is cut into chunks of 128 tokens of one (batch, head): one K scale block, one KV tile, eight
// Q scale blocks. K (smooth) and V (per-channel scale) need statistics over all tokens of a head
// before any of its values can be quantized, so one thread-block cluster takes a whole K or V head:
// each of its C <= 16 CTAs streams its m chunks through two shared-memory buffers and reduces
// per-channel partials; after one cluster barrier every CTA folds the C partials from distributed
// shared memory in rank order (the same result in every CTA, independent of timing) and quantizes
// its chunks in reverse order: the last two are still in the stage buffers, the others are read again,
// newest first, so that an LRU L2 still holds most of them (the cluster read its head microseconds
// earlier). Q (and K without smoothing) needs no statistics: its clusters take C * m
// consecutive chunks with no barrier. quant_qkv_sm90_fits says whether the GPU runs such a cluster.
//
// Outputs match core's quant_int8 (Q, K) and quant_v_fp8_sm90 (V) bit for bit, except that K's
// mean is summed in another order (a last-bit difference in the mean can move an INT8 value by 1).
#pragma once

#include <cuda_fp8.h>

#include <cstdint>
#include <type_traits>

#include "common/int8_score.cuh"  // kScoreMagic
#include "common/mma/ptx.cuh"
#include "common/quant_v_tile.cuh"  // kE4m3Max, WgmmaFragmentTokenOrder
#include "common/s8_round.cuh"
#include "common/stable_op.h"
#include "common/vec_io.cuh"
#include "sm90/ptx.cuh"
#include "common/varlen.cuh"

namespace sage::sm90 {

constexpr int kQkvRows = 128;         // tokens per chunk
static_assert(kQkvRows == kVarlenTile, "a chunk of a packed operand must be one window tile");
constexpr int kQkvMaxSlots = 64;      // INT8 scale groups per chunk (Q per-thread: 8 blocks x 8 groups)
constexpr int kQkvMaxCluster = 16;    // CTAs per cluster (non-portable above 8; the H100 runs 16)

// One input and its INT8 scale-group rule (group of row r inside a chunk:
// ((r >> block_shift) << groups_shift) + ((r & period_mask) >> stride_shift); see quant_int8.cu).
struct QkvOperand {
  const void* x;
  Bhnd s;
  int64_t n_pad;   // tokens rounded up to kQkvRows
  int64_t chunks;  // B * H * (n_pad / kQkvRows)
  int per_head;    // n_pad / kQkvRows
  int block_shift, groups_shift, period_mask, stride_shift, slots;  // slots per chunk
  void* out;
  float* scale;
  // Packed sequences (VARLEN kernels): s is the pack as one batch of s.n tokens, and chunk j of a head is padded
  // tile j (sm90/varlen.cuh): the rows of sequence tile_seq[j] that fall into it.
  const int* cu;
  const int* tile_seq;
};

// Cluster units, in launch order: K heads (smooth_k), V heads, then runs of C * m chunks of K
// (without smoothing) and of Q.
struct QkvArgs {
  QkvOperand q, k, v;
  bool smooth_k, smooth_v;
  bool v_s8;      // V in s8 (absmax / 127, the INT8-PV kernel) instead of e4m3 (absmax / 448)
  float* k_mean;  // [B, Hk, D] when smooth_k; packs: [sequences, Hk, D]
  float* v_mean;  // [B, Hk, D] when smooth_v
  float* k_seg_sum;  // packs with smooth_k: [Hk, per_head, D_PAD] scratch, each segment's channel sums (head_unit)
  int per_cta;    // m: chunks per CTA
  int* work_counter;  // sageattn_sm90: the attention kernel's queue counter, cleared here (else null)
  int64_t k_head_units, v_head_units, k_run_units, q_run_units;
};

// Which rows of a chunk a thread holds: channel chunk c (8 channels, one 16-byte load) of four
// rows {b, b+1, b+8, b+9}, b = 16 (q >> 2) + 2 (q & 3) for its row slot q: the wgmma token order
// (quant_v_tile.cuh) puts these rows' V bytes of one channel into one 4-byte word q. A CTA has one
// thread per (channel chunk, row slot): 512 threads at D_PAD 128, 256 at 64 (64 registers each at
// 128, so two CTAs per SM keep 32 warps; fewer threads each holding more rows were issue-bound). At D_PAD 256 a
// CTA is 1 024 threads, one per SM (kMinCtasPerSm): 64 registers each, as at 128.
template <int D_PAD>
struct QkvGeometry {
  static constexpr int kChunksPerRow = D_PAD / 8;   // threads sharing a row: 8 or 16
  static constexpr int kRowSlots = kQkvRows / 4;    // 32
  static constexpr int kThreads = kChunksPerRow * kRowSlots;
  static constexpr int kWarps = kThreads / 32;
  static constexpr int kLoads = 4;
  static constexpr int kSwizzleShift = D_PAD == 256 ? 0 : D_PAD == 128 ? 1 : 2;  // see vtile_word
  static constexpr int kMinCtasPerSm = D_PAD == 256 ? 1 : 2;
  // Warps whose channel partials sh.red holds at once (2048 floats per statistic): all of them up to D_PAD 128; at
  // 256 a quarter, the other warps' partials folded into theirs first (ChannelStats::reduce).
  static constexpr int kRedWarps = 2048 / D_PAD < kWarps ? 2048 / D_PAD : kWarps;
  static_assert(32 % kChunksPerRow == 0, "a warp holds whole rows");

  __host__ __device__ static constexpr int row(int slot, int u) {
    return 16 * (slot >> 2) + 2 * (slot & 3) + (u & 1) + 8 * (u >> 1);
  }
  // The four rows of slot q land at positions 4q .. 4q+3 of the wgmma token order: one V word.
  static constexpr bool rows_are_token_order_words() {
    for (int slot = 0; slot < kRowSlots; ++slot) {
      for (int u = 0; u < kLoads; ++u) {
        if (WgmmaFragmentTokenOrder::pos(row(slot, u)) != 4 * slot + u) return false;
      }
    }
    return true;
  }
  // Word w of channel ch in the transposed V tile [D_PAD][32 words], swizzled so that the 32 lanes
  // of a warp storing one word each (32, 16 or 8 channel chunks x 1, 2 or 4 row slots) hit 32 banks.
  __device__ __forceinline__ static int vtile_word(int ch, int w) {
    return ch * 32 + (w ^ (((ch >> 3) << kSwizzleShift) & 31));
  }
};

static_assert(QkvGeometry<256>::rows_are_token_order_words() && QkvGeometry<128>::rows_are_token_order_words() &&
                  QkvGeometry<64>::rows_are_token_order_words(),
              "a thread's rows must form one word of the wgmma token order");

template <int D_PAD>
struct QkvSmem {
  union {                        // the statistics are reduced before any V chunk is transposed
    float red[3][2048];          // per-warp channel partials (QkvGeometry::kRedWarps warps at a time)
    uint32_t vtile[D_PAD * 32];  // one V chunk transposed
  };
  float part[3][D_PAD];        // this CTA's partials, read by the whole cluster
  float stat[2][D_PAD];        // the head's mean and absmax
  float slot[2][kQkvMaxSlots];  // INT8 group maxima of chunks t and t+1 (by parity of t): one zeroed ahead
  float inv[2][kQkvMaxSlots];   // their reciprocals
  // then two stage buffers: uint4 [2][kLoads][kThreads], thread t owning column t
};

// Dynamic shared memory of one CTA: the struct, then the two stage buffers.
template <int D_PAD>
constexpr int kQkvSmemBytes =
    static_cast<int>(sizeof(QkvSmem<D_PAD>)) + 2 * QkvGeometry<D_PAD>::kLoads * QkvGeometry<D_PAD>::kThreads * 16;

template <int D_PAD>
__device__ __forceinline__ uint4* stage_buffer(QkvSmem<D_PAD>& sh, int t) {
  using G = QkvGeometry<D_PAD>;
  return reinterpret_cast<uint4*>(&sh + 1) + static_cast<size_t>(t) * G::kLoads * G::kThreads;
}

template <typename T, int D_PAD>
using ChunkRegs = Chunk8<T>[QkvGeometry<D_PAD>::kLoads];

// L2 eviction priority of data read for the last time (Q; K and V in the quantization pass): evicted before the
// K/V chunks that the quantization pass of some cluster still has to read again. Made where it is used (one
// instruction) rather than held in two registers across the chunk loop.
template <bool EVICT_FIRST>
__device__ __forceinline__ uint64_t l2_policy() {
  uint64_t policy;
  if constexpr (EVICT_FIRST) asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(policy));
  else asm volatile("createpolicy.fractional.L2::evict_normal.b64 %0, 1.0;\n" : "=l"(policy));
  return policy;
}
__device__ __forceinline__ void cp_async_16_hint(uint32_t dst, const void* src, bool valid, uint64_t policy) {
  asm volatile("cp.async.cg.shared.global.L2::cache_hint [%0], [%1], 16, %2, %3;\n" ::"r"(dst), "l"(src),
               "r"(valid ? 16 : 0), "l"(policy));
}

enum QkvTask : int { kTaskK = 0, kTaskV = 1 };  // the operands with statistics (template tags)

// Maxima of |x| on packed 16-bit pairs: exact (the conversion to float is monotonic) and, like the fmaxf
// chains they replace, they skip NaNs.
template <typename T>
using Pair = std::conditional_t<std::is_same_v<T, __half>, __half2, __nv_bfloat162>;

template <typename T>
__device__ __forceinline__ const Pair<T>* pairs(const Chunk8<T>& c) {
  return reinterpret_cast<const Pair<T>*>(c.e);
}

// max |x| of a chunk's eight values.
template <typename T>
__device__ __forceinline__ float chunk_absmax(const Chunk8<T>& c) {
  const Pair<T>* p = pairs(c);
  const Pair<T> m = __hmax2(__hmax2(__habs2(p[0]), __habs2(p[1])), __hmax2(__habs2(p[2]), __habs2(p[3])));
  return fmaxf(fmaxf(0.f, __low2float(m)), __high2float(m));
}

// Per-channel statistics of this thread's rows: 0 sum, 1 max (max |x| unless CENTERED), 2 min.
template <bool SUM, bool MAX, bool CENTERED>
struct ChannelStats {
  float st[3][8];
  __device__ __forceinline__ ChannelStats() {
#pragma unroll
    for (int i = 0; i < 8; ++i) { st[0][i] = 0.f; st[1][i] = CENTERED ? -INFINITY : 0.f; st[2][i] = INFINITY; }
  }
  template <typename T, int N>
  __device__ __forceinline__ void add(const Chunk8<T> (&raw)[N], const float (&row_ok)[N]) {
    if constexpr (MAX && !SUM && !CENTERED) {  // max |x| only: on packed pairs over the N rows, then to float
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        Pair<T> m = __habs2(pairs(raw[0])[k]);
#pragma unroll
        for (int u = 1; u < N; ++u) m = __hmax2(m, __habs2(pairs(raw[u])[k]));
        st[1][2 * k] = fmaxf(st[1][2 * k], __low2float(m));
        st[1][2 * k + 1] = fmaxf(st[1][2 * k + 1], __high2float(m));
      }
    } else {
#pragma unroll
      for (int u = 0; u < N; ++u) {
        float x[8];
        chunk_to_float(raw[u], x);
        const bool ok = row_ok[u] != 0.f;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          if (SUM) st[0][i] += x[i];  // rows past the end hold zeros
          if (MAX) st[1][i] = fmaxf(st[1][i], CENTERED ? (ok ? x[i] : -INFINITY) : fabsf(x[i]));
          if (CENTERED) st[2][i] = fminf(st[2][i], ok ? x[i] : INFINITY);
        }
      }
    }
  }
  // CTA total -> sh.part (fixed order: lanes, then warps).
  template <int D_PAD>
  __device__ __forceinline__ void reduce(QkvSmem<D_PAD>& sh) {
    using G = QkvGeometry<D_PAD>;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int m = G::kChunksPerRow; m < 32; m <<= 1) {
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        if (SUM) st[0][i] += __shfl_xor_sync(0xffffffffu, st[0][i], m);
        if (MAX) st[1][i] = fmaxf(st[1][i], __shfl_xor_sync(0xffffffffu, st[1][i], m));
        if (CENTERED) st[2][i] = fminf(st[2][i], __shfl_xor_sync(0xffffffffu, st[2][i], m));
      }
    }
    if constexpr (G::kRedWarps < G::kWarps) {
      // Group g of kRedWarps warps, last first, hands its partials to group 0 through sh.red (a fixed order).
      for (int g = G::kWarps / G::kRedWarps - 1; g > 0; --g) {
        if (warp / G::kRedWarps == g && lane < G::kChunksPerRow) {
#pragma unroll
          for (int i = 0; i < 8; ++i) {
#pragma unroll
            for (int k = 0; k < 3; ++k) sh.red[k][(warp % G::kRedWarps) * D_PAD + lane * 8 + i] = st[k][i];
          }
        }
        __syncthreads();
        if (warp < G::kRedWarps && lane < G::kChunksPerRow) {
#pragma unroll
          for (int i = 0; i < 8; ++i) {
            const int at = warp * D_PAD + lane * 8 + i;
            if (SUM) st[0][i] += sh.red[0][at];
            if (MAX) st[1][i] = fmaxf(st[1][i], sh.red[1][at]);
            if (CENTERED) st[2][i] = fminf(st[2][i], sh.red[2][at]);
          }
        }
        __syncthreads();
      }
    }
    if ((G::kRedWarps == G::kWarps || warp < G::kRedWarps) && lane < G::kChunksPerRow) {
#pragma unroll
      for (int i = 0; i < 8; ++i) {
#pragma unroll
        for (int k = 0; k < 3; ++k) sh.red[k][warp * D_PAD + lane * 8 + i] = st[k][i];
      }
    }
    __syncthreads();
    if (threadIdx.x < D_PAD) {
      const int ch = threadIdx.x;
      float sum = 0.f, mx = CENTERED ? -INFINITY : 0.f, mn = INFINITY;
#pragma unroll
      for (int w = 0; w < G::kRedWarps; ++w) {
        if (SUM) sum += sh.red[0][w * D_PAD + ch];
        if (MAX) mx = fmaxf(mx, sh.red[1][w * D_PAD + ch]);
        if (CENTERED) mn = fminf(mn, sh.red[2][w * D_PAD + ch]);
      }
      sh.part[0][ch] = sum;
      sh.part[1][ch] = mx;
      sh.part[2][ch] = mn;
    }
  }
};

// After the cluster barrier: fold the C partials in rank order into sh.stat (mean, absmax); rank 0
// writes the op's outputs (K mean; V scale and mean).
template <int D_PAD, int TASK>
__device__ __forceinline__ void fold_cluster(QkvSmem<D_PAD>& sh, const QkvArgs& a, const QkvOperand& op, int64_t bh,
                                             uint32_t rank, uint32_t ranks) {
  constexpr bool kV = TASK == kTaskV;
  if (threadIdx.x >= D_PAD) return;
  const int ch = threadIdx.x;
  const bool centered = kV && a.smooth_v;
  const bool want_sum = !kV || a.smooth_v;
  float s = 0.f, x = centered ? -INFINITY : 0.f, n = INFINITY;
  for (uint32_t r = 0; r < ranks; ++r) {
    if (want_sum) s += ld_cluster(&sh.part[0][ch], r);
    if (kV) x = fmaxf(x, ld_cluster(&sh.part[1][ch], r));
    if (centered) n = fminf(n, ld_cluster(&sh.part[2][ch], r));
  }
  const float mean = want_sum ? s / static_cast<float>(op.s.n) : 0.f;
  const float amax = centered ? fmaxf(x - mean, mean - n) : x;
  sh.stat[0][ch] = mean;
  sh.stat[1][ch] = amax;
  if (rank != 0) return;
  const bool real = ch < op.s.d;
  if (!kV && real) a.k_mean[bh * op.s.d + ch] = mean;
  if (kV) {
    op.scale[bh * D_PAD + ch] = real ? amax / (a.v_s8 ? 127.f : kE4m3Max) : 0.f;
    if (centered && real) a.v_mean[bh * op.s.d + ch] = mean;
  }
}

// The scale groups of this thread's rows row(slot, u) as byte u (they are the same in every chunk).
template <int D_PAD>
__device__ __forceinline__ uint32_t slot_bytes(const QkvOperand& op) {
  using G = QkvGeometry<D_PAD>;
  const int slot_row = threadIdx.x / G::kChunksPerRow;
  uint32_t bytes = 0;
#pragma unroll
  for (int u = 0; u < G::kLoads; ++u) {
    const int r = G::row(slot_row, u);
    const int slot = ((r >> op.block_shift) << op.groups_shift) + ((r & op.period_mask) >> op.stride_shift);
    bytes |= static_cast<uint32_t>(slot) << (8 * u);
  }
  return bytes;
}

// INT8 with the operand's scale groups (`slots`: slot_bytes). CENTER: `mean` (this thread's channels)
// is subtracted from real rows only (row_ok 1; rows past the end stay 0). |x - mean| * 127 / amax <= 127
// up to rounding, so round-to-nearest never leaves [-127, 127] and needs no clamp. Two barriers per
// chunk: the group maxima alternate between two arrays by the parity of the stream index t, and chunk t
// zeroes chunk t+1's (sh.slot[0] is zeroed before the first chunk).
template <typename T, bool VEC, int D_PAD, bool CENTER>
__device__ __forceinline__ void quantize_int8_chunk(QkvSmem<D_PAD>& sh, const QkvOperand& op, int64_t bh, int j,
                                                    int t, uint32_t slots, const ChunkRegs<T, D_PAD>& raw,
                                                    const uint4* stage,
                                                    const float (&row_ok)[QkvGeometry<D_PAD>::kLoads],
                                                    const float (&mean)[8]) {
  using G = QkvGeometry<D_PAD>;
  const int c = threadIdx.x % G::kChunksPerRow, slot_row = threadIdx.x / G::kChunksPerRow;
  auto slot_of = [&](int u) { return static_cast<int>(__byte_perm(slots, 0, 0x4440 + u)); };  // u may vary
  float* group_max = sh.slot[t & 1];
  float* group_inv = sh.inv[t & 1];
  float m[G::kLoads];  // never NaN (fmaxf from 0), so any order of the maxima gives the same bits
#pragma unroll
  for (int u = 0; u < G::kLoads; ++u) {
    m[u] = 0.f;
    if constexpr (CENTER) {
      float x[8];
      chunk_to_float(raw[u], x);
#pragma unroll
      for (int i = 0; i < 8; ++i) m[u] = fmaxf(m[u], fabsf(fmaf(-mean[i], row_ok[u], x[i])));
    } else {
      m[u] = chunk_absmax(raw[u]);
    }
  }
  // The four row maxima over the row's lanes, halving the values per lane on the first two steps: lane c ends
  // with row u = 2 (c & 1) + ((c >> 1) & 1) (5 shuffles rather than 4 per row).
  const bool hi = c & 1, mid = c & 2;
  const float a0 = fmaxf(hi ? m[2] : m[0], __shfl_xor_sync(0xffffffffu, hi ? m[0] : m[2], 1));
  const float a1 = fmaxf(hi ? m[3] : m[1], __shfl_xor_sync(0xffffffffu, hi ? m[1] : m[3], 1));
  float row_max = fmaxf(mid ? a1 : a0, __shfl_xor_sync(0xffffffffu, mid ? a0 : a1, 2));
#pragma unroll
  for (int w = 4; w < G::kChunksPerRow; w <<= 1) row_max = fmaxf(row_max, __shfl_xor_sync(0xffffffffu, row_max, w));
  // Non-negative floats order like their bit patterns, so an integer max is a float max.
  if (c < 4) atomicMax(reinterpret_cast<int*>(&group_max[slot_of(2 * (c & 1) + (c >> 1))]), __float_as_int(row_max));
  __syncthreads();
  float* scale_out = op.scale + (bh * op.per_head + j) * op.slots;
  for (int i = threadIdx.x; i < op.slots; i += G::kThreads) {
    const float amax = group_max[i];
    __stcs(scale_out + i, amax / 127.f);
    group_inv[i] = amax > 0.f ? 127.f / amax : 0.f;
    sh.slot[(t + 1) & 1][i] = 0.f;  // its last reader (chunk t-1) was this thread, before the barrier above
  }
  __syncthreads();
  int8_t* dst = static_cast<int8_t*>(op.out) + (bh * op.n_pad + static_cast<int64_t>(j) * kQkvRows) * D_PAD + c * 8;
#pragma unroll
  for (int u = 0; u < G::kLoads; ++u) {
    const int r = G::row(slot_row, u);
    const float inv = group_inv[slot_of(u)];
    float x[8];  // VEC: read the values again from the stage buffer rather than hold them across the barriers
    chunk_to_float(VEC ? *reinterpret_cast<const Chunk8<T>*>(stage + u * G::kThreads + threadIdx.x) : raw[u], x);
    int q[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) q[i] = round_s8_bits(CENTER ? fmaf(-mean[i], row_ok[u], x[i]) : x[i], inv);
    __stcs(reinterpret_cast<uint2*>(dst + r * D_PAD),
           make_uint2(pack_s8x4(q[0], q[1], q[2], q[3]), pack_s8x4(q[4], q[5], q[6], q[7])));
  }
}

// Per-channel e4m3 (or s8: v_s8), transposed to [D_pad, N_pad] in the wgmma fragment token order: a thread's
// four rows are one 4-byte word per channel.
template <typename T, int D_PAD>
__device__ __forceinline__ void quantize_v_chunk(QkvSmem<D_PAD>& sh, const QkvOperand& op, int64_t bh, int j,
                                                 const ChunkRegs<T, D_PAD>& raw,
                                                 const float (&row_ok)[QkvGeometry<D_PAD>::kLoads],
                                                 const float (&mean)[8], const float (&mult)[8], bool v_s8) {
  using G = QkvGeometry<D_PAD>;
  const int c = threadIdx.x % G::kChunksPerRow, slot_row = threadIdx.x / G::kChunksPerRow;
#pragma unroll
  for (int i = 0; i < 8; ++i) {  // channel by channel: 4 floats live rather than 32
    float4 q;  // e4m3 conversion saturates at 448, as the separate pass's clamp did
    q.x = fmaf(-mean[i], row_ok[0], to_float(raw[0].e[i])) * mult[i];
    q.y = fmaf(-mean[i], row_ok[1], to_float(raw[1].e[i])) * mult[i];
    q.z = fmaf(-mean[i], row_ok[2], to_float(raw[2].e[i])) * mult[i];
    q.w = fmaf(-mean[i], row_ok[3], to_float(raw[3].e[i])) * mult[i];
    // s8: |q| <= 127 by the scale; adding 1.5 * 2^23 rounds to nearest even in the low byte (round_s8_bits).
    sh.vtile[G::vtile_word(c * 8 + i, slot_row)] =
        v_s8 ? pack_s8x4(round_s8_bits(q.x, 1.f), round_s8_bits(q.y, 1.f), round_s8_bits(q.z, 1.f),
                         round_s8_bits(q.w, 1.f))
             : __nv_fp8x4_e4m3(q).__x;
  }
  __syncthreads();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t n_pad = op.n_pad;
  uint8_t* dst = static_cast<uint8_t*>(op.out) + (bh * D_PAD + warp) * n_pad + j * kQkvRows + lane * 4;
#pragma unroll 2
  for (int k = 0; k < D_PAD / G::kWarps; ++k) {  // a warp stores one channel's 128 bytes
    const int ch = warp + k * G::kWarps;
    __stcs(reinterpret_cast<uint32_t*>(dst + k * G::kWarps * n_pad), sh.vtile[G::vtile_word(ch, lane)]);
  }
}

// Element 0 of head bh of an operand (B * H and every head's token count fit 32 bits: 32-bit division).
template <typename T>
__device__ __forceinline__ const T* head_base(const QkvOperand& op, int64_t bh) {
  const uint32_t h = static_cast<uint32_t>(op.s.h), b = static_cast<uint32_t>(bh) / h;
  return static_cast<const T*>(op.x) + b * op.s.sb + (static_cast<uint32_t>(bh) - b * h) * op.s.sh;
}

// Chunk j of head bh: its row r (token j * kQkvRows + r of the head) is at x + (j * kQkvRows + r) * s.sn when
// j * kQkvRows + r < n_end, else zero.
template <typename T>
struct ChunkPos {
  int64_t bh;
  int j;
  const T* x;
  int n_end;
};

// Chunk j of head bh, whose element 0 is at x: a batch's tokens; or with VARLEN, padded tile j of a pack.
template <typename T, bool VARLEN>
__device__ __forceinline__ ChunkPos<T> chunk_pos(const QkvOperand& op, int64_t bh, int j, const T* x) {
  if constexpr (VARLEN) {
    const int row0 = j * kQkvRows;
    const WindowRows w = window_rows({op.cu, op.tile_seq, static_cast<int>(op.s.n)}, row0, kQkvRows);
    return {bh, j, x + (w.tok0 - row0) * op.s.sn, row0 + w.valid};
  } else {
    return {bh, j, x, static_cast<int>(op.s.n)};
  }
}

// Loads of one chunk into a stage buffer (rows past the end and channels past the head dim are
// zero-filled). VEC only: unaligned inputs load synchronously in load_sync. A thread's rows are
// row(slot, 0) + {0, 1, 8, 9}.
template <typename T, int D_PAD, bool EVICT_FIRST>
__device__ __forceinline__ void prefetch(uint4* stage, const QkvOperand& op, const ChunkPos<T>& p) {
  using G = QkvGeometry<D_PAD>;
  const uint64_t policy = l2_policy<EVICT_FIRST>();
  const int c = threadIdx.x % G::kChunksPerRow, slot_row = threadIdx.x / G::kChunksPerRow;
  const int tok0 = p.j * kQkvRows + G::row(slot_row, 0), n = p.n_end;
  const int64_t sn = op.s.sn;
  const T* src = p.x + tok0 * sn + c * 8;
  const bool col_ok = c * 8 < op.s.d;
#pragma unroll
  for (int u = 0; u < G::kLoads; ++u) {
    const int du = (u & 1) + 8 * (u >> 1);
    if (u > 0) src += (u == 2 ? 7 : 1) * sn;  // stepped rather than tok * sn per row: no 64-bit multiply per load
    const bool ok = col_ok && tok0 + du < n;
    cp_async_16_hint(smem_u32(stage + u * G::kThreads + threadIdx.x), ok ? src : op.x, ok, policy);
  }
}

template <typename T, bool VEC, int D_PAD>
__device__ __forceinline__ void chunk_values(const uint4* stage, const QkvOperand& op, const ChunkPos<T>& p,
                                             ChunkRegs<T, D_PAD>& raw, float (&row_ok)[QkvGeometry<D_PAD>::kLoads]) {
  using G = QkvGeometry<D_PAD>;
  const int c = threadIdx.x % G::kChunksPerRow, slot_row = threadIdx.x / G::kChunksPerRow;
  const int tok0 = p.j * kQkvRows, n = p.n_end;
#pragma unroll
  for (int u = 0; u < G::kLoads; ++u) {
    const int tok = tok0 + G::row(slot_row, u);
    row_ok[u] = tok < n ? 1.f : 0.f;
    if constexpr (VEC) {
      raw[u] = *reinterpret_cast<const Chunk8<T>*>(stage + u * G::kThreads + threadIdx.x);
    } else if (tok < n) {
      raw[u] = load_chunk8<T, false>(p.x + tok * op.s.sn, c * 8, static_cast<int>(op.s.d));
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) raw[u].e[i] = from_float<T>(0.f);
    }
  }
}

// Runs fn(t, pos, raw, row_ok, stage) on chunks t = 0 .. count-1 (positions chunk_at(t)) through the two
// stage buffers (chunk t in buffer (t ^ flip) & 1), chunk t+1 loading while fn works on chunk t. The
// first `resident` chunks (at most two) are what an earlier pass left in the buffers; they are not loaded. `stage`
// (VEC) still holds chunk t until fn returns.
template <typename T, bool VEC, int D_PAD, bool EVICT_FIRST, typename ChunkAt, typename Fn>
__device__ __forceinline__ void stream_chunks(QkvSmem<D_PAD>& sh, const QkvOperand& op, int count, int resident,
                                              int flip, const ChunkAt& chunk_at, const Fn& fn) {
  using G = QkvGeometry<D_PAD>;
  if (VEC && resident == 0 && count > 0) {
    prefetch<T, D_PAD, EVICT_FIRST>(stage_buffer(sh, flip & 1), op, chunk_at(0));
  }
  mma::cp_async_commit();
  for (int t = 0; t < count; ++t) {
    if (VEC && t + 1 >= resident && t + 1 < count) {  // the buffer held chunk t-1, which this thread has read
      prefetch<T, D_PAD, EVICT_FIRST>(stage_buffer(sh, ((t + 1) ^ flip) & 1), op, chunk_at(t + 1));
    }
    mma::cp_async_commit();
    mma::cp_async_wait<1>();  // chunk t has landed (only this thread's own 16-byte pieces are read)
    const ChunkPos<T> p = chunk_at(t);
    ChunkRegs<T, D_PAD> raw;
    float row_ok[G::kLoads];
    const uint4* stage = stage_buffer(sh, (t ^ flip) & 1);
    chunk_values<T, VEC, D_PAD>(stage, op, p, raw, row_ok);
    fn(t, p, raw, row_ok, stage);
  }
}

// Packed K (smooth K): every sequence is smoothed with its own mean. A segment is a CTA's consecutive chunks of
// one sequence; its channel sums go to the head's slot of its first chunk in a.k_seg_sum (global memory, ordered
// for the cluster by its barrier and read past L1). The mean of sequence s folds, in rank order, the segments that
// the ranks holding its window's tiles wrote: the same bits in every CTA, and for a pack of one sequence the
// batch's fold (one segment per rank, the same sums in the same order).
template <int D_PAD>
__device__ __forceinline__ float* seg_sum_slot(const QkvArgs& a, const QkvOperand& op, int64_t bh, int j) {
  return a.k_seg_sum + (bh * op.per_head + j) * D_PAD;
}

// Thread ch < D_PAD: sequence s's mean of channel ch into sh.stat[0]; the CTA holding the sequence's first tile
// also writes it to a.k_mean. Every thread calls it (barriers: the previous mean is read, the new one written).
template <int D_PAD>
__device__ __forceinline__ void sequence_mean(QkvSmem<D_PAD>& sh, const QkvArgs& a, const QkvOperand& op, int64_t bh,
                                              int s, int j0, int count) {
  __syncthreads();
  if (threadIdx.x < D_PAD) {
    const int ch = threadIdx.x;
    float mean = 0.f;
    if (s >= 0) {
      const VarlenSeq seq = varlen_seq(op.cu, s, static_cast<int>(op.s.n));
      const int end = seq.tile0 + max(1, (seq.len + kQkvRows - 1) / kQkvRows);  // its window, at least one tile
      const int m = a.per_cta;
      float sum = 0.f;
      for (int r = seq.tile0 / m; r * m < end; ++r) sum += __ldcg(seg_sum_slot<D_PAD>(a, op, bh, max(seq.tile0, r * m)) + ch);
      mean = seq.len > 0 ? sum / static_cast<float>(seq.len) : 0.f;
      if (seq.tile0 >= j0 && seq.tile0 < j0 + count && ch < op.s.d) a.k_mean[(s * op.s.h + bh) * op.s.d + ch] = mean;
    }
    sh.stat[0][ch] = mean;
  }
  __syncthreads();
}

// A whole K or V head: partials, cluster fold, quantization. Chunk j = rank * m + t. With more than
// two chunks per CTA the quantization pass reads them again; the cluster's whole head (at most a
// few MB) was read microseconds earlier, so that second read comes from L2.
template <typename T, bool VEC, int D_PAD, bool VARLEN, int TASK, typename Stats>
__device__ __forceinline__ void head_unit(QkvSmem<D_PAD>& sh, const QkvArgs& a, const QkvOperand& op, int64_t bh) {
  using G = QkvGeometry<D_PAD>;
  constexpr bool kSeqMean = VARLEN && TASK == kTaskK;  // packed K: a mean per sequence (sequence_mean)
  const uint32_t rank = cluster_rank(), ranks = cluster_size();
  const int m = a.per_cta;
  const int j0 = static_cast<int>(rank) * m;
  const int count = max(0, min(m, op.per_head - j0));
  const T* x = head_base<T>(op, bh);
  auto chunk_at = [&](int t) { return chunk_pos<T, VARLEN>(op, bh, j0 + t, x); };
  Stats stats;
  int seg_seq = -2, seg_j = 0;  // kSeqMean: the open segment's sequence and first chunk
  auto close_segment = [&] {    // its sums to its slot; stats start over
    __syncthreads();            // the last reduce's readers of sh.red are done
    stats.reduce(sh);
    if (threadIdx.x < D_PAD) __stcg(seg_sum_slot<D_PAD>(a, op, bh, seg_j) + threadIdx.x, sh.part[0][threadIdx.x]);
    stats = Stats();
  };
  stream_chunks<T, VEC, D_PAD, false>(sh, op, count, 0, 0, chunk_at,
                               [&](int t, const ChunkPos<T>& p, const ChunkRegs<T, D_PAD>& raw,
                                   const float (&row_ok)[G::kLoads], const uint4*) {
                                 if constexpr (kSeqMean) {
                                   const int s = __ldg(op.tile_seq + p.j);
                                   if (s != seg_seq) {
                                     if (t > 0) close_segment();
                                     seg_seq = s;
                                     seg_j = p.j;
                                   }
                                 }
                                 stats.add(raw, row_ok);
                               });
  if constexpr (kSeqMean) {
    if (count > 0) close_segment();
  } else {
    stats.reduce(sh);
  }
  cluster_arrive();  // this CTA's partials are written (release)
  cluster_wait();    // ... and every other CTA's (acquire)
  if constexpr (!kSeqMean) fold_cluster<D_PAD, TASK>(sh, a, op, bh, rank, ranks);
  cluster_arrive_relaxed();  // done reading the other CTAs' shared memory; they may exit after our wait below
  for (int i = threadIdx.x; i < kQkvMaxSlots; i += G::kThreads) sh.slot[0][i] = 0.f;
  __syncthreads();
  const int c = threadIdx.x % G::kChunksPerRow;
  float mean[8], mult[8];  // mult: V's e4m3 multipliers
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    mean[i] = !kSeqMean && (TASK == kTaskK || a.smooth_v) ? sh.stat[0][c * 8 + i] : 0.f;
    const float amax = sh.stat[1][c * 8 + i];
    mult[i] = (TASK == kTaskV && c * 8 + i < op.s.d && amax > 0.f) ? (a.v_s8 ? 127.f : kE4m3Max) / amax : 0.f;
  }
  seg_seq = -2;  // kSeqMean: the first chunk quantized loads its sequence's mean
  const uint32_t slots = slot_bytes<D_PAD>(op);
  // Newest first: chunks count-1 and count-2 are still in the buffers, the rest most likely still in L2.
  stream_chunks<T, VEC, D_PAD, true>(sh, op, count, min(count, 2), (count - 1) & 1,
                               [&](int t) { return chunk_pos<T, VARLEN>(op, bh, j0 + count - 1 - t, x); },
                               [&](int t, const ChunkPos<T>& p, const ChunkRegs<T, D_PAD>& raw,
                                   const float (&row_ok)[G::kLoads], const uint4* stage) {
                                 if constexpr (TASK == kTaskV) {
                                   if (t > 0) __syncthreads();  // the previous chunk's V tile is free
                                   quantize_v_chunk<T, D_PAD>(sh, op, p.bh, p.j, raw, row_ok, mean, mult, a.v_s8);
                                 } else {
                                   if constexpr (kSeqMean) {
                                     const int s = __ldg(op.tile_seq + p.j);
                                     if (s != seg_seq) {
                                       seg_seq = s;
                                       sequence_mean<D_PAD>(sh, a, op, bh, s, j0, count);
#pragma unroll
                                       for (int i = 0; i < 8; ++i) mean[i] = sh.stat[0][c * 8 + i];
                                     }
                                   }
                                   quantize_int8_chunk<T, VEC, D_PAD, true>(sh, op, p.bh, p.j, t, slots, raw, stage,
                                                                            row_ok, mean);
                                 }
                               });
  cluster_wait();
}

template <typename T, bool VEC, int D_PAD, bool VARLEN = false>
__global__ void __launch_bounds__(QkvGeometry<D_PAD>::kThreads, QkvGeometry<D_PAD>::kMinCtasPerSm)
    quant_qkv_kernel(QkvArgs a) {
  using G = QkvGeometry<D_PAD>;
  extern __shared__ __align__(16) unsigned char smem_bytes[];
  QkvSmem<D_PAD>& sh = *reinterpret_cast<QkvSmem<D_PAD>*>(smem_bytes);
  // The attention kernel that sageattn_sm90 launches next may be scheduled once every CTA of this grid
  // started: its set-up then overlaps this grid's tail (it waits for this grid's completion before it reads
  // anything). Issued by every thread: a branch on the thread index here moved ptxas' register allocation of
  // the whole kernel (spills in the VEC kernels).
  allow_dependent_launch();
  // Head units and runs interleaved evenly rather than heads first: fewer K/V heads in flight hold their chunks
  // in L2 for the second read, and streaming runs overlap the heads' compute-heavier quantization passes.
  const int64_t unit = blockIdx.x / cluster_size();
  const int64_t heads = a.k_head_units + a.v_head_units, runs = a.k_run_units + a.q_run_units;
  const int64_t runs_before = unit * runs / (heads + runs);
  const bool is_run = (unit + 1) * runs / (heads + runs) > runs_before;
  int64_t u = is_run ? heads + runs_before : unit - runs_before;
  if (u < a.k_head_units) {
    head_unit<T, VEC, D_PAD, VARLEN, kTaskK, ChannelStats<true, false, false>>(sh, a, a.k, u);
    return;
  }
  u -= a.k_head_units;
  if (u < a.v_head_units) {
    if (a.smooth_v) head_unit<T, VEC, D_PAD, VARLEN, kTaskV, ChannelStats<true, true, true>>(sh, a, a.v, u);
    else head_unit<T, VEC, D_PAD, VARLEN, kTaskV, ChannelStats<false, true, false>>(sh, a, a.v, u);
    return;
  }
  u -= a.v_head_units;
  // A run of C * m chunks with no statistics (Q; K without smoothing): this CTA's m of them.
  const bool is_k = u < a.k_run_units;
  const QkvOperand& op = is_k ? a.k : a.q;
  const int64_t run = is_k ? u : u - a.k_run_units;
  const int m = a.per_cta;
  const int64_t first = (run * cluster_size() + cluster_rank()) * m;
  const int64_t left = op.chunks - first;
  const int count = left <= 0 ? 0 : static_cast<int>(left < m ? left : m);
  const float mean[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  // The run's chunk t: chunk j0 + t of head bh0 while that head lasts (no division per chunk).
  const int64_t bh0 = first / op.per_head;
  const int j0 = static_cast<int>(first - bh0 * op.per_head);
  const T* x0 = head_base<T>(op, bh0);
  const uint32_t slots = slot_bytes<D_PAD>(op);
  for (int i = threadIdx.x; i < kQkvMaxSlots; i += G::kThreads) sh.slot[0][i] = 0.f;
  __syncthreads();
  stream_chunks<T, VEC, D_PAD, true>(
      sh, op, count, 0, 0,
      [&](int t) {
        const int k = j0 + t;
        if (k < op.per_head) return chunk_pos<T, VARLEN>(op, bh0, k, x0);
        const int dh = static_cast<uint32_t>(k) / static_cast<uint32_t>(op.per_head);
        return chunk_pos<T, VARLEN>(op, bh0 + dh, k - dh * op.per_head, head_base<T>(op, bh0 + dh));
      },
      [&](int t, const ChunkPos<T>& p, const ChunkRegs<T, D_PAD>& raw, const float (&row_ok)[G::kLoads],
          const uint4* stage) {
        quantize_int8_chunk<T, VEC, D_PAD, false>(sh, op, p.bh, p.j, t, slots, raw, stage, row_ok, mean);
      });
  // The attention kernel's queue counter (sageattn_sm90), instead of a memset on the stream: the first Q run
  // always exists, and its end is where this costs the kernel's register allocation least.
  if (a.work_counter != nullptr && !is_k && run == 0 && cluster_rank() == 0 && threadIdx.x == 0) *a.work_counter = 0;
}

}  // namespace sage::sm90
