// Q, K and V quantized for the sm_90a kernel in one launch, each input read once.
//
// Work is cut into chunks of 128 tokens of one (batch, head): one K scale block, one KV tile, eight
// Q scale blocks. K (smooth) and V (per-channel scale) need statistics over all tokens of a head
// before any of its values can be quantized, so one thread-block cluster takes a whole K or V head:
// each of its C <= 16 CTAs streams its m chunks through two shared-memory buffers and reduces
// per-channel partials; after one cluster barrier every CTA folds the C partials from distributed
// shared memory in rank order (the same result in every CTA, independent of timing) and quantizes
// its chunks: still resident when m <= 2, else read again, from L2 (the cluster read its head
// microseconds earlier). Q (and K without smoothing) needs no statistics: its clusters take C * m
// consecutive chunks with no barrier. quant_qkv_sm90_fits says whether the GPU runs such a cluster.
//
// Outputs match core's quant_int8 (Q, K) and quant_v_fp8_sm90 (V) bit for bit, except that K's
// mean is summed in another order (a last-bit difference in the mean can move an INT8 value by 1).
#pragma once

#include <cuda_fp8.h>

#include <cstdint>

#include "common/mma/ptx.cuh"
#include "common/quant_v_tile.cuh"  // kE4m3Max, WgmmaFragmentTokenOrder
#include "common/stable_op.h"
#include "common/vec_io.cuh"
#include "sm90/ptx.cuh"

namespace sage::sm90 {

constexpr int kQkvRows = 128;         // tokens per chunk
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
};

// Cluster units, in launch order: K heads (smooth_k), V heads, then runs of C * m chunks of K
// (without smoothing) and of Q.
struct QkvArgs {
  QkvOperand q, k, v;
  bool smooth_k, smooth_v;
  float* k_mean;  // [B, Hk, D] when smooth_k
  float* v_mean;  // [B, Hk, D] when smooth_v
  int per_cta;    // m: chunks per CTA
  int64_t k_head_units, v_head_units, k_run_units, q_run_units;
};

// Which rows of a chunk a thread holds: channel chunk c (8 channels, one 16-byte load) of four
// rows {b, b+1, b+8, b+9}, b = 16 (q >> 2) + 2 (q & 3) for its row slot q: the wgmma token order
// (quant_v_tile.cuh) puts these rows' V bytes of one channel into one 4-byte word q. A CTA has one
// thread per (channel chunk, row slot): 512 threads at D_PAD 128, 256 at 64 (64 registers each at
// 128, so two CTAs per SM keep 32 warps; fewer threads each holding more rows were issue-bound).
template <int D_PAD>
struct QkvGeometry {
  static constexpr int kChunksPerRow = D_PAD / 8;   // threads sharing a row: 8 or 16
  static constexpr int kRowSlots = kQkvRows / 4;    // 32
  static constexpr int kThreads = kChunksPerRow * kRowSlots;
  static constexpr int kWarps = kThreads / 32;
  static constexpr int kLoads = 4;
  static constexpr int kSwizzleShift = D_PAD == 128 ? 1 : 2;  // see vtile_word
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
  // of a warp storing one word each (16 or 8 channel chunks x 2 or 4 row slots) hit 32 banks.
  __device__ __forceinline__ static int vtile_word(int ch, int w) {
    return ch * 32 + (w ^ (((ch >> 3) << kSwizzleShift) & 31));
  }
};

static_assert(QkvGeometry<128>::rows_are_token_order_words() && QkvGeometry<64>::rows_are_token_order_words(),
              "a thread's rows must form one word of the wgmma token order");

template <int D_PAD>
struct QkvSmem {
  union {                        // the statistics are reduced before any V chunk is transposed
    float red[3][2048];          // per-warp channel partials
    uint32_t vtile[D_PAD * 32];  // one V chunk transposed
  };
  float part[3][D_PAD];        // this CTA's partials, read by the whole cluster
  float stat[2][D_PAD];        // the head's mean and absmax
  float slot[kQkvMaxSlots];    // INT8 group maxima, then their reciprocals
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

enum QkvTask : int { kTaskK = 0, kTaskV = 1 };  // the operands with statistics (template tags)

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
    if (lane < G::kChunksPerRow) {
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
      for (int w = 0; w < G::kWarps; ++w) {
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
    op.scale[bh * D_PAD + ch] = real ? amax / kE4m3Max : 0.f;
    if (centered && real) a.v_mean[bh * op.s.d + ch] = mean;
  }
}

__device__ __forceinline__ uint32_t pack_s8x4(int a, int b, int c, int d) {
  return __byte_perm(__byte_perm(a, b, 0x0040), __byte_perm(c, d, 0x0040), 0x5410);
}

// INT8 with the operand's scale groups. `mean` (this thread's channels) is subtracted from real
// rows only (row_ok 1; rows past the end stay 0). |x - mean| * 127 / amax <= 127 up to rounding,
// so round-to-nearest never leaves [-127, 127] and needs no clamp.
template <typename T, int D_PAD>
__device__ __forceinline__ void quantize_int8_chunk(QkvSmem<D_PAD>& sh, const QkvOperand& op, int64_t bh, int j,
                                                    const ChunkRegs<T, D_PAD>& raw,
                                                    const float (&row_ok)[QkvGeometry<D_PAD>::kLoads],
                                                    const float (&mean)[8]) {
  using G = QkvGeometry<D_PAD>;
  const int c = threadIdx.x % G::kChunksPerRow, slot_row = threadIdx.x / G::kChunksPerRow;
  auto slot_of = [&](int r) { return ((r >> op.block_shift) << op.groups_shift) + ((r & op.period_mask) >> op.stride_shift); };
  for (int i = threadIdx.x; i < op.slots; i += G::kThreads) sh.slot[i] = 0.f;
  __syncthreads();
#pragma unroll
  for (int u = 0; u < G::kLoads; ++u) {
    float x[8], m = 0.f;
    chunk_to_float(raw[u], x);
#pragma unroll
    for (int i = 0; i < 8; ++i) m = fmaxf(m, fabsf(fmaf(-mean[i], row_ok[u], x[i])));
#pragma unroll
    for (int w = 1; w < G::kChunksPerRow; w <<= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, w));
    // Non-negative floats order like their bit patterns, so an integer max is a float max.
    if (c == 0) atomicMax(reinterpret_cast<int*>(&sh.slot[slot_of(G::row(slot_row, u))]), __float_as_int(m));
  }
  __syncthreads();
  float* scale_out = op.scale + (bh * op.per_head + j) * op.slots;
  for (int i = threadIdx.x; i < op.slots; i += G::kThreads) {
    const float amax = sh.slot[i];
    scale_out[i] = amax / 127.f;
    sh.slot[i] = amax > 0.f ? 127.f / amax : 0.f;
  }
  __syncthreads();
  int8_t* dst = static_cast<int8_t*>(op.out) + (bh * op.n_pad + static_cast<int64_t>(j) * kQkvRows) * D_PAD + c * 8;
#pragma unroll
  for (int u = 0; u < G::kLoads; ++u) {
    const int r = G::row(slot_row, u);
    const float inv = sh.slot[slot_of(r)];
    float x[8];
    chunk_to_float(raw[u], x);
    int q[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) q[i] = __float2int_rn(fmaf(-mean[i], row_ok[u], x[i]) * inv);
    *reinterpret_cast<uint2*>(dst + static_cast<int64_t>(r) * D_PAD) =
        make_uint2(pack_s8x4(q[0], q[1], q[2], q[3]), pack_s8x4(q[4], q[5], q[6], q[7]));
  }
}

// Per-channel e4m3, transposed to [D_pad, N_pad] in the wgmma fragment token order: a thread's
// four rows are one 4-byte word per channel.
template <typename T, int D_PAD>
__device__ __forceinline__ void quantize_v_chunk(QkvSmem<D_PAD>& sh, const QkvOperand& op, int64_t bh, int j,
                                                 const ChunkRegs<T, D_PAD>& raw,
                                                 const float (&row_ok)[QkvGeometry<D_PAD>::kLoads],
                                                 const float (&mean)[8], const float (&amax)[8]) {
  using G = QkvGeometry<D_PAD>;
  const int c = threadIdx.x % G::kChunksPerRow, slot_row = threadIdx.x / G::kChunksPerRow;
  float x[4][8];
#pragma unroll
  for (int k = 0; k < 4; ++k) chunk_to_float(raw[k], x[k]);
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const float mult = (c * 8 + i < op.s.d && amax[i] > 0.f) ? kE4m3Max / amax[i] : 0.f;
    float4 q;  // e4m3 conversion saturates at 448, as the separate pass's clamp did
    q.x = fmaf(-mean[i], row_ok[0], x[0][i]) * mult;
    q.y = fmaf(-mean[i], row_ok[1], x[1][i]) * mult;
    q.z = fmaf(-mean[i], row_ok[2], x[2][i]) * mult;
    q.w = fmaf(-mean[i], row_ok[3], x[3][i]) * mult;
    sh.vtile[G::vtile_word(c * 8 + i, slot_row)] = __nv_fp8x4_e4m3(q).__x;
  }
  __syncthreads();
  uint8_t* dst = static_cast<uint8_t*>(op.out) + bh * D_PAD * op.n_pad + static_cast<int64_t>(j) * kQkvRows;
  const int lane = threadIdx.x & 31;
  for (int ch = threadIdx.x >> 5; ch < D_PAD; ch += G::kWarps) {  // a warp stores one channel's 128 bytes
    *reinterpret_cast<uint32_t*>(dst + ch * op.n_pad + lane * 4) = sh.vtile[G::vtile_word(ch, lane)];
  }
}

// Element 0 of head bh of an operand.
template <typename T>
__device__ __forceinline__ const T* head_base(const QkvOperand& op, int64_t bh) {
  return static_cast<const T*>(op.x) + (bh / op.s.h) * op.s.sb + (bh % op.s.h) * op.s.sh;
}

// Loads of one chunk into a stage buffer (rows past the end and channels past the head dim are
// zero-filled). VEC only: unaligned inputs load synchronously in load_sync.
template <typename T, int D_PAD>
__device__ __forceinline__ void prefetch(uint4* stage, const QkvOperand& op, int64_t bh, int j) {
  using G = QkvGeometry<D_PAD>;
  const int c = threadIdx.x % G::kChunksPerRow, slot_row = threadIdx.x / G::kChunksPerRow;
  const T* base = head_base<T>(op, bh) + c * 8;
  const int64_t tok0 = static_cast<int64_t>(j) * kQkvRows;
  const bool col_ok = c * 8 < op.s.d;
#pragma unroll
  for (int u = 0; u < G::kLoads; ++u) {
    const int64_t tok = tok0 + G::row(slot_row, u);
    const bool ok = col_ok && tok < op.s.n;
    mma::cp_async_16(smem_u32(stage + u * G::kThreads + threadIdx.x), ok ? base + tok * op.s.sn : op.x, ok);
  }
}

template <typename T, bool VEC, int D_PAD>
__device__ __forceinline__ void chunk_values(const uint4* stage, const QkvOperand& op, int64_t bh, int j,
                                             ChunkRegs<T, D_PAD>& raw, float (&row_ok)[QkvGeometry<D_PAD>::kLoads]) {
  using G = QkvGeometry<D_PAD>;
  const int c = threadIdx.x % G::kChunksPerRow, slot_row = threadIdx.x / G::kChunksPerRow;
  const int64_t tok0 = static_cast<int64_t>(j) * kQkvRows;
  const T* base = head_base<T>(op, bh);
#pragma unroll
  for (int u = 0; u < G::kLoads; ++u) {
    const int64_t tok = tok0 + G::row(slot_row, u);
    row_ok[u] = tok < op.s.n ? 1.f : 0.f;
    if constexpr (VEC) {
      raw[u] = *reinterpret_cast<const Chunk8<T>*>(stage + u * G::kThreads + threadIdx.x);
    } else if (tok < op.s.n) {
      raw[u] = load_chunk8<T, false>(base + tok * op.s.sn, c * 8, static_cast<int>(op.s.d));
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) raw[u].e[i] = from_float<T>(0.f);
    }
  }
}

struct ChunkPos {
  int64_t bh;
  int j;
};

// Runs fn(t, pos, raw, row_ok) on chunks t = 0 .. count-1 (positions chunk_at(t)) through the two
// stage buffers, chunk t+1 loading while fn works on chunk t. load == false reuses what an earlier
// pass left in the buffers (at most two chunks).
template <typename T, bool VEC, int D_PAD, typename ChunkAt, typename Fn>
__device__ __forceinline__ void stream_chunks(QkvSmem<D_PAD>& sh, const QkvOperand& op, int count, bool load,
                                              const ChunkAt& chunk_at, const Fn& fn) {
  using G = QkvGeometry<D_PAD>;
  if (VEC && load && count > 0) {
    const ChunkPos p = chunk_at(0);
    prefetch<T, D_PAD>(stage_buffer(sh, 0), op, p.bh, p.j);
  }
  mma::cp_async_commit();
  for (int t = 0; t < count; ++t) {
    if (VEC && load && t + 1 < count) {  // the buffer held chunk t-1, which this thread has read
      const ChunkPos p = chunk_at(t + 1);
      prefetch<T, D_PAD>(stage_buffer(sh, (t + 1) & 1), op, p.bh, p.j);
    }
    mma::cp_async_commit();
    mma::cp_async_wait<1>();  // chunk t has landed (only this thread's own 16-byte pieces are read)
    const ChunkPos p = chunk_at(t);
    ChunkRegs<T, D_PAD> raw;
    float row_ok[G::kLoads];
    chunk_values<T, VEC, D_PAD>(stage_buffer(sh, t & 1), op, p.bh, p.j, raw, row_ok);
    fn(t, p, raw, row_ok);
  }
}

// A whole K or V head: partials, cluster fold, quantization. Chunk j = rank * m + t. With more than
// two chunks per CTA the quantization pass reads them again; the cluster's whole head (at most a
// few MB) was read microseconds earlier, so that second read comes from L2.
template <typename T, bool VEC, int D_PAD, int TASK, typename Stats>
__device__ __forceinline__ void head_unit(QkvSmem<D_PAD>& sh, const QkvArgs& a, const QkvOperand& op, int64_t bh) {
  using G = QkvGeometry<D_PAD>;
  const uint32_t rank = cluster_rank(), ranks = cluster_size();
  const int m = a.per_cta;
  const int j0 = static_cast<int>(rank) * m;
  const int count = max(0, min(m, op.per_head - j0));
  auto chunk_at = [&](int t) { return ChunkPos{bh, j0 + t}; };
  Stats stats;
  stream_chunks<T, VEC, D_PAD>(sh, op, count, true, chunk_at,
                               [&](int, const ChunkPos&, const ChunkRegs<T, D_PAD>& raw,
                                   const float (&row_ok)[G::kLoads]) { stats.add(raw, row_ok); });
  stats.reduce(sh);
  cluster_arrive();  // this CTA's partials are written (release)
  cluster_wait();    // ... and every other CTA's (acquire)
  fold_cluster<D_PAD, TASK>(sh, a, op, bh, rank, ranks);
  cluster_arrive_relaxed();  // done reading the other CTAs' shared memory; they may exit after our wait below
  __syncthreads();
  const int c = threadIdx.x % G::kChunksPerRow;
  float mean[8], amax[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    mean[i] = (TASK == kTaskK || a.smooth_v) ? sh.stat[0][c * 8 + i] : 0.f;
    amax[i] = sh.stat[1][c * 8 + i];
  }
  stream_chunks<T, VEC, D_PAD>(sh, op, count, count > 2, chunk_at,
                               [&](int t, const ChunkPos& p, const ChunkRegs<T, D_PAD>& raw,
                                   const float (&row_ok)[G::kLoads]) {
                                 if (t > 0) __syncthreads();  // the previous chunk's slots / V tile are free
                                 if constexpr (TASK == kTaskV) {
                                   quantize_v_chunk<T, D_PAD>(sh, op, p.bh, p.j, raw, row_ok, mean, amax);
                                 } else {
                                   quantize_int8_chunk<T, D_PAD>(sh, op, p.bh, p.j, raw, row_ok, mean);
                                 }
                               });
  cluster_wait();
}

template <typename T, bool VEC, int D_PAD>
__global__ void __launch_bounds__(QkvGeometry<D_PAD>::kThreads, 2) quant_qkv_kernel(QkvArgs a) {
  using G = QkvGeometry<D_PAD>;
  extern __shared__ __align__(16) unsigned char smem_bytes[];
  QkvSmem<D_PAD>& sh = *reinterpret_cast<QkvSmem<D_PAD>*>(smem_bytes);
  const int64_t unit = blockIdx.x / cluster_size();
  int64_t u = unit;
  if (u < a.k_head_units) {
    head_unit<T, VEC, D_PAD, kTaskK, ChannelStats<true, false, false>>(sh, a, a.k, u);
    return;
  }
  u -= a.k_head_units;
  if (u < a.v_head_units) {
    if (a.smooth_v) head_unit<T, VEC, D_PAD, kTaskV, ChannelStats<true, true, true>>(sh, a, a.v, u);
    else head_unit<T, VEC, D_PAD, kTaskV, ChannelStats<false, true, false>>(sh, a, a.v, u);
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
  stream_chunks<T, VEC, D_PAD>(
      sh, op, count, true, [&](int t) { return ChunkPos{(first + t) / op.per_head, static_cast<int>((first + t) % op.per_head)}; },
      [&](int t, const ChunkPos& p, const ChunkRegs<T, D_PAD>& raw, const float (&row_ok)[G::kLoads]) {
        if (t > 0) __syncthreads();
        quantize_int8_chunk<T, D_PAD>(sh, op, p.bh, p.j, raw, row_ok, mean);
      });
}

}  // namespace sage::sm90
