// The two roles of the mainloop: the TMA producer and the consumer warpgroups' online softmax.
//
// Pipeline: kStages slots for K and for V, each with a "full" barrier (TMA transaction bytes) and an
// "empty" barrier (one arrival per consumer warp after its wgmma reading the slot has retired).
//
// Consumer math per KV tile j (per 64-row warpgroup):
//   S = Q_int8 . K_int8^T            wgmma m64n128k32 s8 -> s32, D/32 steps, accumulated onto
//                                    kScoreMagicBits so S arrives as the float kScoreMagic + S
//   s = S * q_scale * k_scale * sm_scale * log2 e   (one scalar per thread: the scale groups follow
//                                                    the accumulator fragment)
//   m' = max(m, rowmax s);  P~ = exp2(s - m' + log2 448)  -> e4m3, registers become wgmma's A operand
//   PV = P~ . V                      wgmma m64nDk32 e4m3 -> f32, fresh accumulator per tile
//   O = O * exp2(m - m') + PV        (two-level accumulation in true fp32 registers)
// Two consumer loops: consumer_loop ("fp32+fp32", the default: ping-pong between the warpgroups,
// softmax(j) overlapped with PV(j-1)) and consumer_loop_single ("fp32": PV into O, double-buffered S
// so QK(j+1) overlaps softmax(j)).
//
// Register-A fragment vs. accumulator fragment: a thread holds S columns {2t, 2t+1, 8+2t, 9+2t} of
// every 16, but wgmma's 8-bit A fragment wants k = {4t..4t+3}. Instead of shuffling, the V tile is
// stored with its keys permuted inside every 32 (quant_v_fp8_sm90 writes that order), so the
// thread's own four values are exactly the four consecutive k of the fragment.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>

#include "common/int8_score.cuh"
#include "sm90/ptx.cuh"
#include "sm90/tile.cuh"

namespace sage::sm90 {

// The QK accumulator starts at kScoreMagicBits (common/int8_score.cuh), so the scores come out as
// floats (kScoreMagic + S) with no I2FP: one MOV per score, before the wgmma instead of in the
// softmax (ptxas places the MOVs right before the first IGMMA, inside the ping-pong turn). Measured
// +5-11 % over I2FP, and +0-8 % over an IADD per score after the wgmma
// (bench/results/sm90_h100_score_conv_ab.log).
__device__ __forceinline__ void init_scores(int32_t (&s_acc)[64]) {
#pragma unroll
  for (int i = 0; i < 64; ++i) s_acc[i] = kScoreMagicBits;
}

template <int D>
struct SmemPlan {
  int8_t* q;
  int8_t* k;    // [kStages][kCtaK * D]
  uint8_t* v;   // [kStages][D * kCtaK]
  uint64_t* q_full;   // the item's Q has landed (and the item slot is written); a plain arrive ends the walk
  uint64_t* q_empty;  // one arrival per consumer warp once its last wgmma reading Q has retired
  int* item;          // the work item the producer handed out with the last q_full phase
  uint64_t* k_full;
  uint64_t* k_empty;
  uint64_t* v_full;
  uint64_t* v_empty;

  __device__ explicit SmemPlan(uint8_t* raw) {
    using T = TileTraits<D>;
    uint8_t* base = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(raw) + 1023) & ~uintptr_t{1023});
    q = reinterpret_cast<int8_t*>(base);
    k = reinterpret_cast<int8_t*>(base + T::kQBytes);
    v = base + T::kQBytes + T::kStages * T::kKBytes;
    uint64_t* bars = reinterpret_cast<uint64_t*>(v + T::kStages * T::kVBytes);
    q_full = bars;
    q_empty = bars + 1;
    k_full = bars + 2;
    k_empty = k_full + T::kStages;
    v_full = k_empty + T::kStages;
    v_empty = v_full + T::kStages;
    item = reinterpret_cast<int*>(v_empty + T::kStages);
  }
};

// Number of KV tiles a CTA whose first query row is q0 must visit (0 when every row is masked).
template <bool CAUSAL>
__device__ __forceinline__ int kv_tiles_for(int q0, const AttnParams& p) {
  int n = (p.kv_len + kCtaK - 1) / kCtaK;
  if constexpr (CAUSAL) {
    const int last_key = q0 + kCtaQ - 1 + (p.kv_len - p.qo_len);  // bottom-right alignment
    n = last_key < 0 ? 0 : min(n, last_key / kCtaK + 1);
  }
  return n;
}

// ---- producer: one thread streams each work item's Q, then its K/V tiles through the ring ------
// `j0` is the ring position of this item's first KV tile (the ring and its barrier phases run on
// across items). The caller has published the item and waited for the previous item's Q to be free.
template <int D>
__device__ __forceinline__ void producer_loop(const SmemPlan<D>& sm, const CUtensorMap* tm_q, const CUtensorMap* tm_k,
                                              const CUtensorMap* tm_v, int q_row0, int kv_row0, int v_row0,
                                              int n_tiles, int j0) {
  using T = TileTraits<D>;
  mbar_arrive_expect_tx(sm.q_full, T::kQBytes);
  tma_load_2d(sm.q, tm_q, sm.q_full, 0, q_row0);
  for (int j = 0; j < n_tiles; ++j) {
    const int g = j0 + j;
    const int s = g % T::kStages;
    const uint32_t phase = (g / T::kStages) & 1;
    if (g >= T::kStages) mbar_wait(&sm.k_empty[s], phase ^ 1);
    mbar_arrive_expect_tx(&sm.k_full[s], T::kKBytes);
    tma_load_2d(sm.k + s * T::kKBytes, tm_k, &sm.k_full[s], 0, kv_row0 + j * kCtaK);
    if (g >= T::kStages) mbar_wait(&sm.v_empty[s], phase ^ 1);
    mbar_arrive_expect_tx(&sm.v_full[s], T::kVBytes);
    tma_load_2d(sm.v + s * T::kVBytes, tm_v, &sm.v_full[s], j * kCtaK, v_row0);
  }
}

__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// Two fp32 -> two e4m3 in the low 16 bits (lo first in memory order).
__device__ __forceinline__ uint32_t pack_e4m3x2(float lo, float hi) {
  uint16_t r;
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(r) : "f"(hi), "f"(lo));
  return r;
}

// Consumer-side state of one thread: its share of O (rows g and g+8 of its warp's 16) and the
// running max / partial row sums of those two rows.
template <int D>
struct RowState {
  float o[D / 2];
  float m[2];
  float l[2];  // partial sums over this thread's columns; quad-reduced in the epilogue
};

// Named barriers (id 0 is __syncthreads): each consumer warpgroup waits for its turn to issue its
// batch of wgmmas, then hands the turn to the other, so one warpgroup's softmax overlaps the other's
// tensor-core work (ping-pong) instead of both hitting the same unit at the same time. Both
// warpgroups take the same number of turns per work item, so the alternation runs on across the
// items of a persistent CTA: the kernel opens it once (warpgroup 1 hands warpgroup 0 the first turn)
// and closes it once. Opening and closing it per item would let warpgroup 1 arrive twice on
// warpgroup 0's barrier before warpgroup 0 waits once, and the barrier would complete without it.
enum NamedBarrier : int { kTurnWg0 = 1, kTurnWg1 = 2 };
__device__ __forceinline__ void named_sync(int id) {
  asm volatile("bar.sync %0, %1;" ::"r"(id), "n"(128 * kConsumerWarpgroups) : "memory");
}
__device__ __forceinline__ void named_arrive(int id) {
  asm volatile("bar.arrive %0, %1;" ::"r"(id), "n"(128 * kConsumerWarpgroups) : "memory");
}

// Maximum of the 32 scores a thread holds for row r (0: row g, 1: row g + 8), on their bit patterns
// (common/int8_score.cuh): 16 VIMNMX3 of depth 5 instead of a chain of 32 FMNMX. Hand-shaped: a
// generic tree (17 of depth 4) measured 2.6 % slower on the D64 default (bench/NOTES.md).
__device__ __forceinline__ int row_max_bits(const float (&sf)[64], int r) {
  int e[32];
#pragma unroll
  for (int j = 0; j < 32; ++j) e[j] = __float_as_int(sf[4 * (j / 2) + 2 * r + (j & 1)]);
  int p[10];
#pragma unroll
  for (int c = 0; c < 10; ++c) p[c] = __vimax3_s32(e[3 * c], e[3 * c + 1], e[3 * c + 2]);
  const int q = __vimax3_s32(__vimax3_s32(p[0], p[1], p[2]), __vimax3_s32(p[3], p[4], p[5]),
                             __vimax3_s32(p[6], p[7], p[8]));
  return max(__vimax3_s32(q, p[9], e[30]), e[31]);
}

// Online-softmax step on one S tile: masks, updates m and l, returns the O rescale factors and
// leaves P~ (fp32) in sf.
// kLimitMask: the mask as one compare per element against a per-row limit (last visible key minus
// this thread's first column) instead of rebuilding key and row indices; used by the single-level
// loop, where registers are tight.
template <bool CAUSAL, bool kLimitMask = false>
__device__ __forceinline__ void softmax_tile(int32_t (&s_acc)[64], float scale, bool need_mask,
                                             int key0, int row0, int t, const AttnParams& p, float (&m)[2],
                                             float (&l)[2], float (&alpha)[2]) {
  float sf[64];  // kScoreMagic + S (common/int8_score.cuh): monotonic in S, masked = -inf
#pragma unroll
  for (int i = 0; i < 64; ++i) sf[i] = __int_as_float(s_acc[i]);
  if (need_mask) {
    const int causal_off = p.kv_len - p.qo_len;
    if constexpr (kLimitMask) {
      int lim[2];  // element i of row r is masked iff its column offset exceeds lim[r]
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        int last_key = p.kv_len - 1;
        if constexpr (CAUSAL) last_key = min(last_key, row0 + 8 * r + causal_off);
        lim[r] = last_key - key0 - 2 * t;
      }
#pragma unroll
      for (int i = 0; i < 64; ++i) {
        if ((i / 4) * 8 + (i & 1) > lim[(i >> 1) & 1]) sf[i] = -INFINITY;
      }
    } else {
#pragma unroll
      for (int i = 0; i < 64; ++i) {
        const int key = key0 + (i / 4) * 8 + 2 * t + (i & 1);
        const int row = row0 + ((i & 2) ? 8 : 0);
        bool masked = key >= p.kv_len;
        if constexpr (CAUSAL) masked = masked || key > row + causal_off;
        if (masked) sf[i] = -INFINITY;
      }
    }
  }
  float mx[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) mx[r] = __int_as_float(row_max_bits(sf, r));
  float shift[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    // Scale before the quad reduction: per-thread K scales differ across the quad's columns.
    // mx - kScoreMagic is exact (S's max); scale > 0 (clamped by the caller), so -inf stays -inf.
    float tile_max = (mx[r] - kScoreMagic) * scale;
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
    const float m_new = fmaxf(m[r], tile_max);
    const float m_use = m_new == -INFINITY ? 0.f : m_new;  // fully masked so far: keep exp2 finite
    alpha[r] = fast_exp2(m[r] - m_use);
    shift[r] = fmaf(kScoreMagic, scale, m_use - kFp8Offset);  // applied to kScoreMagic + S
    m[r] = m_new;
  }
  float rs[2][2] = {{0.f, 0.f}, {0.f, 0.f}};  // two partial sums per row: shorter FADD chains
#pragma unroll
  for (int i = 0; i < 64; ++i) {
    const int r = (i >> 1) & 1;
    const float e = fast_exp2(fmaf(sf[i], scale, -shift[r]));  // masked: exp2(-inf) = 0
    s_acc[i] = __float_as_int(e);  // P~ (fp32 bits) reuses the accumulator registers
    rs[r][i & 1] += e;
  }
  l[0] = l[0] * alpha[0] + (rs[0][0] + rs[0][1]);
  l[1] = l[1] * alpha[1] + (rs[1][0] + rs[1][1]);
}

// P~ (fp32, accumulator layout) -> e4m3 A fragments; chunk c covers keys 32c..32c+31.
__device__ __forceinline__ void pack_p(const int32_t (&f)[64], uint32_t (&a)[4][4]) {
#pragma unroll
  for (int c = 0; c < 4; ++c) {
    float x[16];
#pragma unroll
    for (int i = 0; i < 16; ++i) x[i] = __int_as_float(f[16 * c + i]);
    a[c][0] = pack_e4m3x2(x[0], x[1]) | (pack_e4m3x2(x[4], x[5]) << 16);
    a[c][1] = pack_e4m3x2(x[2], x[3]) | (pack_e4m3x2(x[6], x[7]) << 16);
    a[c][2] = pack_e4m3x2(x[8], x[9]) | (pack_e4m3x2(x[12], x[13]) << 16);
    a[c][3] = pack_e4m3x2(x[10], x[11]) | (pack_e4m3x2(x[14], x[15]) << 16);
  }
}

// Software-pipelined consumer: iteration `it` issues QK(it) and PV(it-1) as one batch in this
// warpgroup's turn, then runs softmax(it) while PV(it-1) (and the other warpgroup's batch) occupy
// the tensor cores. O = O * alpha + PV with a fresh PV accumulator per tile (two-level).
template <int D, bool CAUSAL>
__device__ __forceinline__ void consumer_loop(const SmemPlan<D>& sm, const AttnParams& p, RowState<D>& st, int wg,
                                              int warp, int lane, int q0, int n_tiles, float q_scale,
                                              const float* k_scale_head, int j0) {
  using T = TileTraits<D>;
  const int t = lane & 3;
  const int row0 = q0 + wg * 64 + warp * 16 + (lane >> 2);  // and row0 + 8
  const int warp_row0 = q0 + wg * 64 + warp * 16;
  const int causal_off = p.kv_len - p.qo_len;
  const uint64_t desc_q = smem_desc<T::kQKRowBytes>(sm.q + wg * 64 * D);
  const int my_turn = wg == 0 ? kTurnWg0 : kTurnWg1;
  const int other_turn = wg == 0 ? kTurnWg1 : kTurnWg0;

#pragma unroll
  for (int i = 0; i < D / 2; ++i) st.o[i] = 0.f;
  st.m[0] = st.m[1] = -INFINITY;
  st.l[0] = st.l[1] = 0.f;

  int32_t s_acc[64];
  float pv[D / 2];
  uint32_t a[4][4];
#pragma unroll
  for (int i = 0; i < D / 2; ++i) pv[i] = 0.f;
#pragma unroll
  for (int c = 0; c < 4; ++c) a[c][0] = a[c][1] = a[c][2] = a[c][3] = 0u;


  // The loop is peeled (QK only / QK+PV / PV only) so every wgmma wait has a fixed depth: ptxas
  // serializes wgmmas whose retirement it cannot prove on every path.
  auto issue_qk = [&](int it) {
    const int s = (j0 + it) % T::kStages;
    const uint64_t desc_k = smem_desc<T::kQKRowBytes>(sm.k + s * T::kKBytes);
#pragma unroll
    for (int kk = 0; kk < D / 32; ++kk) wgmma_m64n128k32_s8(s_acc, desc_q + 2 * kk, desc_k + 2 * kk, 1);
    wgmma_commit();
  };
  auto issue_pv = [&](int it) {
    const int s = (j0 + it) % T::kStages;
    const uint64_t desc_v = smem_desc<T::kVRowBytes>(sm.v + s * T::kVBytes);
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      if constexpr (D == 128) wgmma_m64n128k32_e4m3(pv, a[c], desc_v + 2 * c, c > 0);
      else wgmma_m64n64k32_e4m3(pv, a[c], desc_v + 2 * c, c > 0);
    }
    wgmma_commit();
  };
  auto wait_k = [&](int it) { mbar_wait(&sm.k_full[(j0 + it) % T::kStages], ((j0 + it) / T::kStages) & 1); };
  auto wait_v = [&](int it) { mbar_wait(&sm.v_full[(j0 + it) % T::kStages], ((j0 + it) / T::kStages) & 1); };
  auto release = [&](uint64_t* empty, int it) {
    __syncwarp();
    if (lane == 0) mbar_arrive(&empty[(j0 + it) % T::kStages]);
  };
  // After QK(it) retired: free the K slot, softmax in place (P~ bits in s_acc).
  // The K scale is loaded at the top of the iteration, before the barrier waits, so its global
  // latency hides behind them.
  auto load_k_scale = [&](int it) { return p.per_thread ? k_scale_head[it * 4 + t] : k_scale_head[it]; };
  auto softmax = [&](int it, float k_scale, float (&alpha)[2]) {
    pin(s_acc);
    release(sm.k_empty, it);
    const int key0 = it * kCtaK;
    const bool need_mask = key0 + kCtaK > p.kv_len || (CAUSAL && key0 + kCtaK - 1 > warp_row0 + causal_off);
    // Clamped away from 0 so a masked -inf score never meets 0 * inf (all-zero Q/K groups).
    softmax_tile<CAUSAL>(s_acc, fmaxf(q_scale * k_scale, 1e-30f), need_mask, key0, row0, t, p, st.m, st.l, alpha);
  };
  // O = O * alpha(it) + PV(it): the rescale for tile `it` is deferred until PV(it) retires, so
  // the update is one FFMA per element.
  float alpha_prev[2] = {0.f, 0.f};
  auto accumulate_pv = [&](int it) {
    pin(pv);
    release(sm.v_empty, it);
#pragma unroll
    for (int i = 0; i < D / 2; ++i) st.o[i] = fmaf(st.o[i], alpha_prev[(i >> 1) & 1], pv[i]);
  };
  auto rescale_and_pack = [&](const float (&alpha)[2]) {
    alpha_prev[0] = alpha[0];
    alpha_prev[1] = alpha[1];
    pack_p(s_acc, a);
  };

  if (n_tiles > 0) {
    {  // tile 0: QK only
      float alpha[2];
      const float k_scale = load_k_scale(0);
      init_scores(s_acc);
      wait_k(0);
      if (p.pingpong) named_sync(my_turn);
      wgmma_fence();
      issue_qk(0);
      if (p.pingpong) named_arrive(other_turn);
      wgmma_wait<0>();
      softmax(0, k_scale, alpha);
      rescale_and_pack(alpha);
    }
    for (int it = 1; it < n_tiles; ++it) {  // QK(it) and PV(it-1) in one turn
      float alpha[2];
      const float k_scale = load_k_scale(it);
      init_scores(s_acc);  // P~(it-1) was packed at the end of the last iteration
      wait_k(it);
      wait_v(it - 1);
      if (p.pingpong) named_sync(my_turn);
      wgmma_fence();
      issue_qk(it);
      issue_pv(it - 1);
      if (p.pingpong) named_arrive(other_turn);
      wgmma_wait<1>();
      softmax(it, k_scale, alpha);
      wgmma_wait<0>();
      accumulate_pv(it - 1);
      rescale_and_pack(alpha);
    }
    {  // last PV
      wait_v(n_tiles - 1);
      if (p.pingpong) named_sync(my_turn);
      wgmma_fence();
      issue_pv(n_tiles - 1);
      if (p.pingpong) named_arrive(other_turn);
      wgmma_wait<0>();
      accumulate_pv(n_tiles - 1);
    }
  }
}

// Single-level variant (pv_accum_dtype "fp32"): PV accumulates straight into O (the wgmma's fp32
// accumulator), which frees the 64 registers of the per-tile PV accumulator for a second S buffer:
// QK(it+1) is issued before softmax(it), so the QK latency hides behind the softmax (FA3-style
// intra-warpgroup overlap). Order per tile: [QK(it+1)] softmax(it) | retire PV(it-1) | O *= alpha |
// pack P(it) | PV(it) -> O | retire QK(it+1). The last tile is peeled so every wait depth is static.
template <int D, bool CAUSAL>
__device__ __forceinline__ void consumer_loop_single(const SmemPlan<D>& sm, const AttnParams& p, RowState<D>& st,
                                                     int wg, int warp, int lane, int q0, int n_tiles, float q_scale,
                                                     const float* k_scale_head, int j0) {
  using T = TileTraits<D>;
  const int t = lane & 3;
  const int row0 = q0 + wg * 64 + warp * 16 + (lane >> 2);
  const int warp_row0 = q0 + wg * 64 + warp * 16;
  const int causal_off = p.kv_len - p.qo_len;
  const uint64_t desc_q = smem_desc<T::kQKRowBytes>(sm.q + wg * 64 * D);

#pragma unroll
  for (int i = 0; i < D / 2; ++i) st.o[i] = 0.f;
  st.m[0] = st.m[1] = -INFINITY;
  st.l[0] = st.l[1] = 0.f;

  int32_t s0[64], s1[64];
  uint32_t a[4][4];
  if (n_tiles == 0) return;

  auto issue_qk = [&](int32_t (&s_acc)[64], int it) {
    const int g = j0 + it;
    mbar_wait(&sm.k_full[g % T::kStages], (g / T::kStages) & 1);
    const uint64_t desc_k = smem_desc<T::kQKRowBytes>(sm.k + (g % T::kStages) * T::kKBytes);
    init_scores(s_acc);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < D / 32; ++kk) wgmma_m64n128k32_s8(s_acc, desc_q + 2 * kk, desc_k + 2 * kk, 1);
    wgmma_commit();
  };
  auto issue_pv = [&](int it) {
    const int g = j0 + it;
    mbar_wait(&sm.v_full[g % T::kStages], (g / T::kStages) & 1);
    const uint64_t desc_v = smem_desc<T::kVRowBytes>(sm.v + (g % T::kStages) * T::kVBytes);
    wgmma_fence();
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      if constexpr (D == 128) wgmma_m64n128k32_e4m3(st.o, a[c], desc_v + 2 * c, 1);
      else wgmma_m64n64k32_e4m3(st.o, a[c], desc_v + 2 * c, 1);
    }
    wgmma_commit();
  };
  auto release = [&](uint64_t* empty, int it) {
    __syncwarp();
    if (lane == 0) mbar_arrive(&empty[(j0 + it) % T::kStages]);
  };
  auto softmax = [&](int32_t (&s_acc)[64], int it, float k_scale, float (&alpha)[2]) {
    pin(s_acc);
    release(sm.k_empty, it);
    const int key0 = it * kCtaK;
    const bool need_mask = key0 + kCtaK > p.kv_len || (CAUSAL && key0 + kCtaK - 1 > warp_row0 + causal_off);
    softmax_tile<CAUSAL, true>(s_acc, fmaxf(q_scale * k_scale, 1e-30f), need_mask, key0, row0, t, p, st.m, st.l,
                               alpha);
  };
  auto rescale = [&](const float (&alpha)[2]) {
    pin(st.o);
#pragma unroll
    for (int i = 0; i < D / 2; ++i) st.o[i] *= alpha[(i >> 1) & 1];
  };
  auto load_k_scale = [&](int it) { return p.per_thread ? k_scale_head[it * 4 + t] : k_scale_head[it]; };

  // Tile `it` with a successor: S(it) in cur (retired), QK(it+1) goes to nxt.
  auto step = [&](int32_t (&cur)[64], int32_t (&nxt)[64], int it) {
    float alpha[2];
    const float k_scale = load_k_scale(it);
    issue_qk(nxt, it + 1);
    softmax(cur, it, k_scale, alpha);
    wgmma_wait<1>();  // retires PV(it-1); QK(it+1) may still run
    if (it > 0) release(sm.v_empty, it - 1);
    rescale(alpha);
    pack_p(cur, a);
    issue_pv(it);
    wgmma_wait<1>();  // retires QK(it+1); PV(it) may still run
  };
  // The last tile: no successor.
  auto last = [&](int32_t (&cur)[64], int it) {
    float alpha[2];
    const float k_scale = load_k_scale(it);
    softmax(cur, it, k_scale, alpha);
    wgmma_wait<0>();  // retires PV(it-1)
    if (it > 0) release(sm.v_empty, it - 1);
    rescale(alpha);
    pack_p(cur, a);
    issue_pv(it);
    wgmma_wait<0>();
    pin(st.o);
    release(sm.v_empty, it);
  };

  issue_qk(s0, 0);
  wgmma_wait<0>();
  int it = 0;
  for (; it + 2 < n_tiles; it += 2) {
    step(s0, s1, it);
    step(s1, s0, it + 1);
  }
  if (n_tiles - it == 2) {
    step(s0, s1, it);
    last(s1, it + 1);
  } else {
    last(s0, it);
  }
}

}  // namespace sage::sm90
