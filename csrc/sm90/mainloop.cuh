// The two roles of the mainloop: the TMA producer and the consumer warpgroups' online softmax.
//
// Pipeline: kStages ring entries, each the K and V^T tiles of one softmax step (TileTraits: 128,
// 192 or 256 keys), with one "full" barrier (the TMA transaction bytes of both tiles) and one
// "empty" barrier (one arrival per consumer warp once the PV wgmma reading the entry's V has
// retired; QK(j) retires before PV(j) is issued). A separate pair for K and for V cost a barrier
// wait and an arrival more per step: one pair measured +2 % at D128 16K and causal, +1-6 % on the
// two-level kernel (bench/NOTES.md, v13).
//
// Consumer math per step j (per 64-row warpgroup, N = kStepKeys):
//   S = Q_int8 . K_int8^T            wgmma m64nNk32 s8 -> s32, D/32 steps, accumulated onto
//                                    kScoreMagicBits so S arrives as the float kScoreMagic + S
//   s = S * q_scale * k_scale * sm_scale * log2 e   (one scalar per thread and segment: the scale
//                                                    groups follow the accumulator fragment)
//   m' = max(m, rowmax s);  P~ = exp2(s - m' + log2 448)  -> e4m3, registers become wgmma's A operand
//   two-level ("fp32+fp32", N = 128):  PV = P~ . V (fresh accumulator);  O = O * exp2(m - m') + PV
//   single-level ("fp32"):             O = O * exp2(m - m');  O += P~ . V (wgmma into O)
// Both consumer loops issue QK(j) and PV(j-1) as one batch and run softmax(j) while PV(j-1) and the
// other warpgroup's batch occupy the tensor cores; the two-level loop hands the warpgroups turns
// (ping-pong), the single-level loop does not.
//
// 16-bit PV (TileTraits::kPv16; consumer_loop_single's kPv): P~ is rounded to f16 / bf16 (q's dtype) instead of e4m3
// and PV runs as m64nDk16 wgmmas on V read from the caller's tensor (MN-major B: keys are rows of 64 channels, so
// neither a transpose nor a key permutation is needed); 128-key steps, since P~ takes twice the registers.
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
#include "common/mma/ptx.cuh"  // ldsm_x4: the ldmatrix that load_q_frags shares with the mma.sync kernels
#include "sm90/ptx.cuh"
#include "sm90/tile.cuh"
#include "sm90/trace.cuh"

namespace sage::sm90 {

// The QK accumulator starts at kScoreMagicBits (common/int8_score.cuh), so the scores come out as
// floats (kScoreMagic + S) with no I2FP: one MOV per score, before the wgmma instead of in the
// softmax (ptxas places the MOVs right before the first IGMMA, inside the ping-pong turn). Measured
// +5-11 % over I2FP, and +0-8 % over an IADD per score after the wgmma
// (bench/results/sm90_h100_score_conv_ab.log).
template <int N>
__device__ __forceinline__ void init_scores(int32_t (&s_acc)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) s_acc[i] = kScoreMagicBits;
}

template <typename T>
struct SmemPlan {
  int8_t* q;    // [T::kQSlots][kCtaQ * D]: work item n uses slot n % T::kQSlots
  int8_t* k;    // [kStages][kStepKeys * D]
  uint8_t* v;   // [kStages][kSegments][D * kVBoxKeys]
  // [T::kQSlots] q_full: the item's Q has landed (and its item slot is written; a plain arrive ends
  // the walk); q_empty: one arrival per consumer warp once its last wgmma reading the slot retired.
  uint64_t* q_full;
  uint64_t* q_empty;
  int* item;          // [T::kQSlots] the work item the producer handed out with the slot's last q_full phase
  uint64_t* full;   // [kStages] the entry's K and V^T tiles have landed
  uint64_t* empty;  // [kStages] one arrival per consumer warp once PV of the entry retired
  // [2] multicast kernels (scheduler.cuh, next_pair_item): rank 0 takes each pair from the launch's counter and
  // hands it to rank 1 through pair[h % 2]; pair_full (on rank 1) says it is written, pair_empty (on rank 0)
  // that rank 1 has read it.
  uint64_t* pair_full;
  uint64_t* pair_empty;
  int* pair;
  int4* seq;  // [2 * T::kQSlots] varlen kernels: the slot's item resolved to its sequence (scheduler.cuh, VarlenItem)
  uint8_t* ones;  // [256] INT8 PV: bytes of 127, the B operand of the wgmma that sums P~'s rows (kernel.cuh fills it)

  __device__ explicit SmemPlan(uint8_t* raw) {
    uint8_t* base = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(raw) + 1023) & ~uintptr_t{1023});
    q = reinterpret_cast<int8_t*>(base);
    k = reinterpret_cast<int8_t*>(base + T::kQSlots * T::kQBytes);
    v = base + T::kQSlots * T::kQBytes + T::kStages * T::kKBytes;
    uint64_t* bars = reinterpret_cast<uint64_t*>(v + T::kStages * T::kVBytes);
    q_full = bars;
    q_empty = bars + T::kQSlots;
    full = bars + 2 * T::kQSlots;
    empty = full + T::kStages;
    item = reinterpret_cast<int*>(empty + T::kStages);
    pair_full = reinterpret_cast<uint64_t*>((reinterpret_cast<uintptr_t>(item + T::kQSlots) + 7) & ~uintptr_t{7});
    pair_empty = pair_full + 2;
    pair = reinterpret_cast<int*>(pair_empty + 2);
    seq = reinterpret_cast<int4*>((reinterpret_cast<uintptr_t>(pair + 2) + 15) & ~uintptr_t{15});
    ones = reinterpret_cast<uint8_t*>(seq + 2 * T::kQSlots);
  }
};

// Number of steps a CTA whose first query row is q0 must take (0 when every row is masked). The last
// step may reach past kv_len (and past the padded K/V): those keys are masked, and TMA zero-fills
// what lies outside the tensors.
template <typename T, bool CAUSAL>
__device__ __forceinline__ int kv_steps_for(int q0, const AttnParams& p) {
  int last_key = p.kv_len - 1;
  if constexpr (CAUSAL) last_key = min(last_key, q0 + kCtaQ - 1 + (p.kv_len - p.qo_len));  // bottom-right alignment
  return last_key < 0 ? 0 : last_key / T::kStepKeys + 1;
}
// The same from lengths in registers (the varlen producer's; written out rather than shared, since routing the
// batch kernels through it moved ptxas' register allocation of their causal loops).
template <typename T, bool CAUSAL>
__device__ __forceinline__ int kv_steps_for(int q0, int qo_len, int kv_len) {
  int last_key = kv_len - 1;
  if constexpr (CAUSAL) last_key = min(last_key, q0 + kCtaQ - 1 + (kv_len - qo_len));
  return last_key < 0 ? 0 : last_key / T::kStepKeys + 1;
}

// ---- producer: one thread streams each work item's Q, then its K/V steps through the ring ------
// `j0` is the ring position of this item's first step (the ring and its barrier phases run on
// across items). The caller has published the item and waited for Q slot `qs` to be free.
template <typename T>
__device__ __forceinline__ void producer_loop(const SmemPlan<T>& sm, const CUtensorMap* tm_q, const CUtensorMap* tm_k,
                                              const CUtensorMap* tm_v, int qs, int q_row0, int kv_row0, int v_row0,
                                              int n_steps, int j0, int mc_rank = -1, int v_key0 = 0, int v_b = 0) {
  mbar_arrive_expect_tx(&sm.q_full[qs], T::kQBytes);
#pragma unroll
  for (int b = 0; b < T::kQKBoxes; ++b)
    tma_load_2d(sm.q + qs * T::kQBytes + b * T::kQBoxBytes, tm_q, &sm.q_full[qs], b * T::kQKRowBytes, q_row0);
  for (int j = 0; j < n_steps; ++j) {
    const int g = j0 + j;
    const int s = g % T::kStages;
    const uint32_t phase = (g / T::kStages) & 1;
    if (g >= T::kStages) mbar_wait(&sm.empty[s], phase ^ 1);
    mbar_arrive_expect_tx(&sm.full[s], T::kKBytes + T::kVBytes);
    // Paired CTAs: rank 0 loads the K tile and rank 1 the V^T boxes, each into both CTAs. The entry's empty
    // barrier counted both CTAs' consumers, so the peer's copy of the entry is free too.
    if (mc_rank >= 0) {
      if (mc_rank == 0) {
        tma_load_2d_multicast(sm.k + s * T::kKBytes, tm_k, &sm.full[s], 0, kv_row0 + j * T::kStepKeys, 3);
      } else if constexpr (T::kPv16) {
#pragma unroll
        for (int h = 0; h < T::kVBoxes; ++h)
          tma_load_4d_multicast(sm.v + s * T::kVBytes + h * T::kVBoxBytes, tm_v, &sm.full[s], h * 64,
                                j * T::kStepKeys, v_row0, v_b, 3);
      } else {
#pragma unroll
        for (int h = 0; h < T::kSegments; ++h)
          tma_load_2d_multicast(sm.v + s * T::kVBytes + h * T::kVBoxBytes, tm_v, &sm.full[s],
                                j * T::kStepKeys + h * T::kVBoxKeys, v_row0, 3);
      }
      continue;
    }
#pragma unroll
    for (int b = 0; b < T::kQKBoxes; ++b)
      tma_load_2d(sm.k + s * T::kKBytes + b * T::kKBoxBytes, tm_k, &sm.full[s], b * T::kQKRowBytes,
                  kv_row0 + j * T::kStepKeys);
    if constexpr (T::kPv16) {  // 16-bit V from the caller's tensor: (channel, key, kv head = v_row0, batch = v_b)
#pragma unroll
      for (int h = 0; h < T::kVBoxes; ++h)
        tma_load_4d(sm.v + s * T::kVBytes + h * T::kVBoxBytes, tm_v, &sm.full[s], h * 64, v_key0 + j * T::kStepKeys,
                    v_row0, v_b);
    } else {
#pragma unroll
      for (int h = 0; h < T::kSegments; ++h)
        tma_load_2d(sm.v + s * T::kVBytes + h * T::kVBoxBytes, tm_v, &sm.full[s],
                    v_key0 + j * T::kStepKeys + h * T::kVBoxKeys, v_row0);
    }
  }
}

// Multicast kernels, after the end of the walk: the peer's consumers still arrive on this CTA's empty
// barriers (and the peer's loads land here) until both CTAs have finished their last item, so the CTA must
// not exit before. Waits for the phase a refill of each of the next kStages ring positions would wait for:
// then both CTAs' consumers have released every entry, and every multicast into this CTA has completed
// (the consumers waited for it). A cluster barrier at the end of the kernel would do the same, but it made
// ptxas lose the consumer loop's warp-uniform values (bench/NOTES.md, "K/V multicast").
template <typename T>
__device__ __forceinline__ void producer_drain(const SmemPlan<T>& sm, int j0) {
  for (int g = j0; g < j0 + T::kStages; ++g)
    if (g >= T::kStages) mbar_wait(&sm.empty[g % T::kStages], ((g / T::kStages) & 1) ^ 1);
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

// The PV operands' element type of a single-level kernel (consumer_loop_single's kPv).
constexpr int kPvE4m3 = 0, kPvF16 = 1, kPvBf16 = 2, kPvS8 = 3;
template <int kPv>
inline constexpr bool kPvIs16 = kPv == kPvF16 || kPv == kPvBf16;  // V in 16-bit floats, read from the caller's tensor

// INT8 PV (kPvS8): P~ = exp2(s - m + log2 255) rounded to u8 against a reference max m that only takes integer values
// (the running max rounded up), V in s8 with per-channel scales, and O accumulated in the wgmma's s32 registers across
// the whole item. A new reference max 2^k times the old one rescales O by an arithmetic shift of k, so O never
// leaves the integer accumulator and the loop has no per-step conversion. The rounding up costs P~ half a bit on
// average (its max lies in (127.5, 255]). |O| and 127 l <= 255 * 127 * keys: the caller keeps the keys per call
// <= kMaxS8PvKeys (tile.cuh), kU8Offset = log2 255 (tile.cuh).
// The row sums l are one more wgmma per k32 chunk, N = 8, against bytes of 127 (SmemPlan::ones): 127 times the sum of
// the rounded P~ in s32, rescaled with O (l and O then weigh the same rounded P~, so out is a convex combination of V
// rows), with no FADD per key. The rescale is skipped on the steps where neither of a thread's rows moved its
// reference max (most of them past the first few). Measured against FADD sums and a shift on every step, kernel in the
// call on the H200 (bench/NOTES.md, "INT8 PV on wgmma"): D128 8K 793 -> 917 TOPS, 16K 837 -> 973, causal 16K 750 ->
// 907, D64 16K 470 -> 618; the skip alone gave 885 / 938 / 893 / 590.

// The same two steps for the e4m3 loop (the reference max rounded up with the skipped rescale, and row sums by a QGMMA
// n8 against e4m3 ones) were measured as A/B builds on the H100 and lost 3-5 % at D128 4K / 8K and D64 (bench/NOTES.md,
// "The e4m3 loop with the INT8 form's two steps: dropped"): its FMULs and FADDs cost less than the INT8 form's SHFs.

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

// Whether the single-level loop of PV type kPv takes ping-pong turns (the two-level loop always may). Off: turns cost
// the e4m3 loop 4-13 % (consumer_loop_single). SAGE_SM90_PV16_PINGPONG=1 turns them on for the 16-bit PV loop, whose
// tensor work is half again as long, for A/B builds (scripts/gpu_sm90_pv16_variants.sh): it lost 6-10 % there too
// (H100, bench/NOTES.md "The sm90 kernel with 16-bit PV").
template <int kPv>
inline constexpr bool kSingleLevelTurns =
#ifdef SAGE_SM90_PV16_PINGPONG
    kPvIs16<kPv> && SAGE_SM90_PV16_PINGPONG != 0;
#else
    false;
#endif

// Maximum of n bit patterns (common/int8_score.cuh) as a VIMNMX3 tree.
template <int N>
__device__ __forceinline__ int max_tree(const int (&e)[N]) {
  if constexpr (N == 1) {
    return e[0];
  } else if constexpr (N == 2) {
    return max(e[0], e[1]);
  } else {
    int p[(N + 2) / 3];
#pragma unroll
    for (int c = 0; c < N / 3; ++c) p[c] = __vimax3_s32(e[3 * c], e[3 * c + 1], e[3 * c + 2]);
    if constexpr (N % 3 == 1) p[N / 3] = e[N - 1];
    if constexpr (N % 3 == 2) p[N / 3] = max(e[N - 2], e[N - 1]);
    return max_tree(p);
  }
}

// Maximum of the scores a thread holds for row r (0: row g, 1: row g + 8) in segment h (elements
// [h * E, (h + 1) * E) of the accumulator), on their bit patterns (common/int8_score.cuh): a VIMNMX3
// tree instead of a dependent FMNMX chain. The 32-score case is hand-shaped (16 of depth 5): the
// generic tree (17 of depth 4) measured 2.6 % slower on the D64 single-level kernel (bench/NOTES.md).
template <int E, int NE>
__device__ __forceinline__ int row_max_bits(const float (&sf)[NE], int h, int r) {
  int e[E / 2];
#pragma unroll
  for (int j = 0; j < E / 2; ++j) e[j] = __float_as_int(sf[h * E + 4 * (j / 2) + 2 * r + (j & 1)]);
  if constexpr (E == 64) {
    int p[10];
#pragma unroll
    for (int c = 0; c < 10; ++c) p[c] = __vimax3_s32(e[3 * c], e[3 * c + 1], e[3 * c + 2]);
    const int q = __vimax3_s32(__vimax3_s32(p[0], p[1], p[2]), __vimax3_s32(p[3], p[4], p[5]),
                               __vimax3_s32(p[6], p[7], p[8]));
    return max(__vimax3_s32(q, p[9], e[30]), e[31]);
  } else {
    return max_tree(e);
  }
}

// Online-softmax step on one S tile of kSegments segments (segment h: keys key0 + h * kVBoxKeys +
// [0, kVBoxKeys), with its own K scale): masks, updates m and l, returns the O rescale factors and
// leaves P~ (fp32 bits) in s_acc.
// kLimitMask: the mask as one compare per element against a per-row limit (last visible key minus
// this thread's first column) instead of rebuilding key and row indices; used by the single-level
// loop, where registers are tight.
// kU8P (INT8 PV): P~'s offset is log2 255 (else log2 448); m is the reference max, rounded up to an integer, and
// alpha an exact power of two 2^-k (k <= 31); l is left alone (the loop sums the rows by wgmma).
template <typename T, bool CAUSAL, bool kLimitMask, bool kU8P = false>
__device__ __forceinline__ void softmax_tile(int32_t (&s_acc)[T::kScoreRegs], const float (&scale)[T::kSegments],
                                             bool need_mask, int key0, int row0, int t, const AttnParams& p,
                                             float (&m)[2], float (&l)[2], float (&alpha)[2]) {
  constexpr int NE = T::kScoreRegs, E = T::kSegElems, NSEG = T::kSegments;
  float sf[NE];  // kScoreMagic + S (common/int8_score.cuh): monotonic in S, masked = -inf
#pragma unroll
  for (int i = 0; i < NE; ++i) sf[i] = __int_as_float(s_acc[i]);
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
      for (int i = 0; i < NE; ++i) {
        if ((i / 4) * 8 + (i & 1) > lim[(i >> 1) & 1]) sf[i] = -INFINITY;
      }
    } else {
#pragma unroll
      for (int i = 0; i < NE; ++i) {
        const int key = key0 + (i / 4) * 8 + 2 * t + (i & 1);
        const int row = row0 + ((i & 2) ? 8 : 0);
        bool masked = key >= p.kv_len;
        if constexpr (CAUSAL) masked = masked || key > row + causal_off;
        if (masked) sf[i] = -INFINITY;
      }
    }
  }
  float shift[NSEG][2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    // Scale before the quad reduction: per-thread K scales differ across the quad's columns (and
    // the segments' scales differ). mx - kScoreMagic is exact (S's max); scale > 0 (clamped by the
    // caller), so -inf stays -inf.
    float tile_max = (__int_as_float(row_max_bits<E>(sf, 0, r)) - kScoreMagic) * scale[0];
#pragma unroll
    for (int h = 1; h < NSEG; ++h)
      tile_max = fmaxf(tile_max, (__int_as_float(row_max_bits<E>(sf, h, r)) - kScoreMagic) * scale[h]);
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
    float m_new = fmaxf(m[r], tile_max);
    if constexpr (kU8P) m_new = ceilf(m_new);  // -inf stays -inf
    const float m_use = m_new == -INFINITY ? 0.f : m_new;  // fully masked so far: keep exp2 finite
    if constexpr (kU8P) {
      // m[r] is integral (or -inf, when O is still zero and any shift will do).
      const int k = m[r] == -INFINITY ? 0 : min(__float2int_rz(m_new - m[r]), 31);
      alpha[r] = __int_as_float((127 - k) << 23);
    } else {
      alpha[r] = fast_exp2(m[r] - m_use);
    }
    constexpr float kOffset = kU8P ? kU8Offset : kFp8Offset;
#pragma unroll
    for (int h = 0; h < NSEG; ++h) {
      shift[h][r] = fmaf(kScoreMagic, scale[h], m_use - kOffset);  // for kScoreMagic + S
      if constexpr (kU8P) {
        // shift is rounded to its float, and so is m: at large scales (|Q| * |K| amax from ~600 at D128) their errors,
        // under 1.5 ulp of shift, exceed the top P~'s headroom (255.4375, kU8Top) and wrap its byte to 0 (a sharp row's
        // l with it). 4-8 ulp more shift past that headroom keep it under (from |shift| ~5 000 on; below, exactly 0).
        shift[h][r] += fmaxf(fmaf(fabsf(shift[h][r]), 0x1p-21f, kU8Offset - kU8Top), 0.f);
      }
    }
    m[r] = m_new;
  }
  float rs[2][2] = {{0.f, 0.f}, {0.f, 0.f}};  // two partial sums per row: shorter FADD chains
#pragma unroll
  for (int i = 0; i < NE; ++i) {
    const int r = (i >> 1) & 1, h = i / E;
    const float e = fast_exp2(fmaf(sf[i], scale[h], -shift[h][r]));  // masked: exp2(-inf) = 0
    s_acc[i] = __float_as_int(e);  // P~ (fp32 bits) reuses the accumulator registers
    rs[r][i & 1] += e;
  }
  if constexpr (!kU8P) {
    l[0] = l[0] * alpha[0] + (rs[0][0] + rs[0][1]);
    l[1] = l[1] * alpha[1] + (rs[1][0] + rs[1][1]);
  }
}

// P~ (fp32, accumulator layout) -> e4m3 A fragments; chunk c covers keys 32c..32c+31.
template <int NE>
__device__ __forceinline__ void pack_p(const int32_t (&f)[NE], uint32_t (&a)[NE / 16][4]) {
#pragma unroll
  for (int c = 0; c < NE / 16; ++c) {
    float x[16];
#pragma unroll
    for (int i = 0; i < 16; ++i) x[i] = __int_as_float(f[16 * c + i]);
    a[c][0] = pack_e4m3x2(x[0], x[1]) | (pack_e4m3x2(x[4], x[5]) << 16);
    a[c][1] = pack_e4m3x2(x[2], x[3]) | (pack_e4m3x2(x[6], x[7]) << 16);
    a[c][2] = pack_e4m3x2(x[8], x[9]) | (pack_e4m3x2(x[12], x[13]) << 16);
    a[c][3] = pack_e4m3x2(x[10], x[11]) | (pack_e4m3x2(x[14], x[15]) << 16);
  }
}

// PV for one step: the V^T entry's segments, kVBoxKeys / 32 k32 chunks each, into acc.
template <typename T, int D>
__device__ __forceinline__ void issue_pv_wgmmas(float (&acc)[D / 2], const uint32_t (&a)[T::kPChunks][4],
                                                const uint8_t* v_entry, bool accumulate_first) {
  constexpr int kChunksPerSeg = T::kVBoxKeys / 32;
#pragma unroll
  for (int h = 0; h < T::kSegments; ++h) {
    const uint64_t desc_v = smem_desc<T::kVRowBytes>(v_entry + h * T::kVBoxBytes);
#pragma unroll
    for (int c = 0; c < kChunksPerSeg; ++c) {
      const int accumulate = (h > 0 || c > 0 || accumulate_first) ? 1 : 0;
      if constexpr (D == 256) wgmma_m64n256k32_e4m3(acc, a[h * kChunksPerSeg + c], desc_v + 2 * c, accumulate);
      else if constexpr (D == 128) wgmma_m64n128k32_e4m3(acc, a[h * kChunksPerSeg + c], desc_v + 2 * c, accumulate);
      else wgmma_m64n64k32_e4m3(acc, a[h * kChunksPerSeg + c], desc_v + 2 * c, accumulate);
    }
  }
}

// P~ (fp32 in [0, 255], accumulator layout) -> u8 A fragments in pack_p's byte order. Two values at a time: packed to
// f16x2 (exact to 1/8 at 255), then 1024 added, which rounds each to an integer n in the low mantissa bits (1024 + n,
// ulp 1), whose low byte is the u8; one byte permute gathers four. Per four keys 2 F2FP + 2 HADD2 + 1 PRMT, against
// an FADD each and 3 PRMT through fp32, and the quarter-rate F2I.
__device__ __forceinline__ uint32_t u8_pair_bits(float lo, float hi) {
  const __half2 h = __hadd2(__floats2half2_rn(lo, hi), __half2(__half(1024.f), __half(1024.f)));
  return *reinterpret_cast<const uint32_t*>(&h);
}
template <int NE>
__device__ __forceinline__ void pack_pu8(const int32_t (&f)[NE], uint32_t (&a)[NE / 16][4]) {
#pragma unroll
  for (int c = 0; c < NE / 16; ++c) {
    uint32_t w[8];  // w[j]: keys of elements 2j, 2j + 1 in bytes 0 and 2
#pragma unroll
    for (int j = 0; j < 8; ++j)
      w[j] = u8_pair_bits(__int_as_float(f[16 * c + 2 * j]), __int_as_float(f[16 * c + 2 * j + 1]));
    a[c][0] = __byte_perm(w[0], w[2], 0x6420);  // elements 0, 1, 4, 5
    a[c][1] = __byte_perm(w[1], w[3], 0x6420);  // 2, 3, 6, 7
    a[c][2] = __byte_perm(w[4], w[6], 0x6420);  // 8, 9, 12, 13
    a[c][3] = __byte_perm(w[5], w[7], 0x6420);  // 10, 11, 14, 15
  }
}

// INT8 PV for one step: as issue_pv_wgmmas, u8 P~ times s8 V into the s32 O.
template <typename T, int D>
__device__ __forceinline__ void issue_pv_s8_wgmmas(int32_t (&acc)[D / 2], const uint32_t (&a)[T::kPChunks][4],
                                                   const uint8_t* v_entry) {
  constexpr int kChunksPerSeg = T::kVBoxKeys / 32;
#pragma unroll
  for (int h = 0; h < T::kSegments; ++h) {
    const uint64_t desc_v = smem_desc<T::kVRowBytes>(v_entry + h * T::kVBoxBytes);
#pragma unroll
    for (int c = 0; c < kChunksPerSeg; ++c) wgmma_pv_u8s8<D>(acc, a[h * kChunksPerSeg + c], desc_v + 2 * c, 1);
  }
}

// P~ (fp32, accumulator layout) -> 16-bit A fragments (kBf16: bf16, else f16); chunk c covers keys 16c..16c+15.
// For 16-bit wgmma the A fragment of a thread is its own accumulator elements in order (rows g / g+8, columns
// 2t, 2t+1 and 8+2t, 9+2t of the chunk), so no key permutation is needed: elements 8c..8c+7 make a[c][0..3].
template <bool kBf16, int NE>
__device__ __forceinline__ void pack_p16(const int32_t (&f)[NE], uint32_t (&a)[NE / 8][4]) {
#pragma unroll
  for (int c = 0; c < NE / 8; ++c) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const float lo = __int_as_float(f[8 * c + 2 * r]), hi = __int_as_float(f[8 * c + 2 * r + 1]);
      if constexpr (kBf16) {
        const __nv_bfloat162 h2 = __floats2bfloat162_rn(lo, hi);
        a[c][r] = *reinterpret_cast<const uint32_t*>(&h2);
      } else {
        const __half2 h2 = __floats2half2_rn(lo, hi);
        a[c][r] = *reinterpret_cast<const uint32_t*>(&h2);
      }
    }
  }
}

// 16-bit PV for one step: kStepKeys / 16 k16 chunks over the entry's kVBoxes 64-channel boxes (one MN-major B).
template <typename T, int D, bool kBf16>
__device__ __forceinline__ void issue_pv16_wgmmas(float (&acc)[D / 2], const uint32_t (&a)[T::kPChunks][4],
                                                  const uint8_t* v_entry) {
  const uint64_t desc_v = smem_desc_mn128<T::kVBoxBytes>(v_entry);
#pragma unroll
  for (int c = 0; c < T::kPChunks; ++c) wgmma_pv16<kBf16, D>(acc, a[c], desc_v + 128 * c, 1);
}

// Where the single-level loop keeps the item's Q (kQR): 0 in its shared-memory slot, read by every QK batch
// through a descriptor; 1 in registers: each warp loads its 16 rows once as wgmma A fragments and the QK batches
// read only K from shared memory (a fifth fewer bytes per batch at D64, no Q descriptor in the loop); 2 as 1,
// and the Q slot is released right after the load instead of after the loop, so the producer may refill it
// during the whole item. Measured in one process, kernel alone (bench/NOTES.md, "Q in registers"): D64
// non-causal mode 1 +0.8-1.4 % (H200), +2.3-2.5 % with the accumulator MOVs at the end of the step (H100; mode
// 2 -5 % at 2K); D64 causal mode 2 +0.7-1.7 % (mode 1 -0.3 %); D128 slower in every form (non-causal -3 to -7 %,
// causal -0.5 % at best), through ptxas' schedule of the unchanged softmax, although its loop is 14-20
// instructions shorter. So the choice is per instantiation; SAGE_SM90_Q_REGS overrides it.
template <int D, bool CAUSAL>
constexpr int default_q_regs_mode() {
#ifdef SAGE_SM90_Q_REGS
  return SAGE_SM90_Q_REGS;
#else
  return D == 64 ? (CAUSAL ? 2 : 1) : 0;
#endif
}
// The 16-bit PV loop's choice: Q in registers at D128 too (mode 1), where its shorter step (S 64 registers, not 96)
// leaves room. Kernel in the call on the H100, two rounds (bench/NOTES.md, "The sm90 kernel with 16-bit PV"): D128 8K
// +2.2 / +3.8 %, causal 16K +0.8 %. D64 keeps the e4m3 loop's choice (not measured with 16-bit PV).
template <int D, bool CAUSAL>
constexpr int default_q_regs_mode_pv16() {
#ifdef SAGE_SM90_Q_REGS
  return SAGE_SM90_Q_REGS;
#else
  return D == 128 ? 1 : default_q_regs_mode<D, CAUSAL>();
#endif
}
template <int D, int kQR>
inline constexpr bool kQInRegs = kQR != 0 && D <= 128;
template <int D, int kQR>
inline constexpr bool kQReleasedEarly = kQInRegs<D, kQR> && kQR == 2;

// This warp's arrival on its item's Q slot (one per consumer warp): it reads the slot no more. The single-level
// loop calls it right after loading Q into registers where kQReleasedEarly; the kernels otherwise call it once the
// item's loop has retired its last wgmma.
__device__ __forceinline__ void release_q_slot(uint64_t* q_empty, int lane) {
  __syncwarp();
  if (lane == 0) mbar_arrive(q_empty);
}

// The warp's 16 rows of the warpgroup's 64-row Q box (one swizzled row of D bytes each: 128B swizzle at
// D128, 64B at D64, as TMA wrote it) as D/32 m16n8k32 A fragments: ldmatrix matrix m of chunk kk is rows
// (m & 1) * 8 + 0..7, bytes kk * 32 + (m >> 1) * 16 + 0..15, which are a0..a3 of the fragment.
template <int D>
__device__ __forceinline__ void load_q_frags(const int8_t* wg_box, int warp, int lane, uint32_t (&qf)[D / 32][4]) {
  static_assert(D == 64 || D == 128, "one swizzled box per Q row");
  const int m = lane >> 3;
  const int r = warp * 16 + (m & 1) * 8 + (lane & 7);
  const int swz = D == 128 ? (r & 7) : ((r >> 1) & 3);  // 16-byte chunk XOR of the TMA swizzle
  const uint32_t row = smem_u32(wg_box) + static_cast<uint32_t>(r * D);
#pragma unroll
  for (int kk = 0; kk < D / 32; ++kk) {
    const int chunk = kk * 2 + (m >> 1);
    mma::ldsm_x4(qf[kk], row + static_cast<uint32_t>(((chunk ^ swz) << 4)));
  }
}

// What both consumer loops share: the warpgroup's view of one work item's steps in the ring. kMC: the ring is
// shared with the cluster's other CTA (kMulticastKernel).
template <typename T, int D, bool kMC = false>
struct ConsumerRing {
  const SmemPlan<T>& sm;
  const AttnParams& p;
  const float* k_scale_head;
  int j0, lane, t;
  uint32_t empty_cl;  // kMC: the shared::cluster address of empty[0] in this CTA (lane 0) or the peer (lane 1)

  __device__ __forceinline__ int slot(int it) const { return (j0 + it) % T::kStages; }
  // Step `it`'s K and V^T tiles have landed.
  __device__ __forceinline__ void wait(int it) const { mbar_wait(&sm.full[slot(it)], ((j0 + it) / T::kStages) & 1); }
  // After PV(it) has retired: one arrival per warp frees the entry.
  __device__ __forceinline__ void release(int it) const {
    __syncwarp();
    if constexpr (kMC) {  // lane 0 frees this CTA's entry and lane 1 the peer's (the peer refills ours too)
      if (lane < 2) mbar_arrive_cluster(empty_cl + 8u * static_cast<uint32_t>(slot(it)));
      return;
    }
    if (lane == 0) mbar_arrive(&sm.empty[slot(it)]);
  }
  __device__ __forceinline__ void issue_qk(int32_t (&s_acc)[T::kScoreRegs], uint64_t desc_q, int it) const {
    const uint64_t desc_k = smem_desc<T::kQKRowBytes>(sm.k + slot(it) * T::kKBytes);
    constexpr int kChunksPerBox = T::kQKRowBytes / 32;  // k32 chunks of one swizzled row
#pragma unroll
    for (int kk = 0; kk < D / 32; ++kk) {
      // Chunk kk lies in box kk / kChunksPerBox (the descriptors' address field counts 16 bytes).
      const int box = kk / kChunksPerBox, c = kk % kChunksPerBox;
      wgmma_s8<T::kStepKeys>(s_acc, desc_q + box * (T::kQBoxBytes >> 4) + 2 * c,
                             desc_k + box * (T::kKBoxBytes >> 4) + 2 * c, 1);
    }
    wgmma_commit();
  }
  __device__ __forceinline__ void issue_qk_rs(int32_t (&s_acc)[T::kScoreRegs], const uint32_t (&qf)[D / 32][4],
                                              int it) const {
    const uint64_t desc_k = smem_desc<T::kQKRowBytes>(sm.k + slot(it) * T::kKBytes);
#pragma unroll
    for (int kk = 0; kk < D / 32; ++kk) wgmma_s8_rs<T::kStepKeys>(s_acc, qf[kk], desc_k + 2 * kk, 1);
    wgmma_commit();
  }
  // The K scale of each segment of step `it` (128-key quantization blocks; a segment past the
  // padded keys, which is masked, takes the last block's). Loaded at the top of the step, before
  // the barrier waits, so the global latency hides behind them.
  __device__ __forceinline__ void load_k_scales(int it, float (&ks)[T::kSegments]) const {
    const int last_block = p.nk_pad / kCtaK - 1;
#pragma unroll
    for (int h = 0; h < T::kSegments; ++h) {
      const int block = min((it * T::kStepKeys + h * T::kVBoxKeys) / kCtaK, last_block);
      ks[h] = p.per_thread ? k_scale_head[block * 4 + t] : k_scale_head[block];
    }
  }
};

// Two-level consumer ("fp32+fp32"): iteration `it` issues QK(it) and PV(it-1) as one batch in this
// warpgroup's turn, then runs softmax(it) while PV(it-1) (and the other warpgroup's batch) occupy
// the tensor cores. O = O * alpha + PV with a fresh PV accumulator per tile.
template <int D, bool CAUSAL>
__device__ __forceinline__ void consumer_loop(const SmemPlan<TileTraits<D, true>>& sm, const AttnParams& p,
                                              const int8_t* q_tile, RowState<D>& st, int wg, int warp, int lane,
                                              int q0, int n_steps, float q_scale, const float* k_scale_head, int j0) {
  using T = TileTraits<D, true>;
  const ConsumerRing<T, D> ring{sm, p, k_scale_head, j0, lane, lane & 3, 0u};
  const int t = lane & 3;
  const int row0 = q0 + wg * 64 + warp * 16 + (lane >> 2);  // and row0 + 8
  const int warp_row0 = q0 + wg * 64 + warp * 16;
  const int causal_off = p.kv_len - p.qo_len;
  const uint64_t desc_q = smem_desc<T::kQKRowBytes>(q_tile + wg * 64 * T::kQKRowBytes);  // box 0's rows
  const int my_turn = wg == 0 ? kTurnWg0 : kTurnWg1;
  const int other_turn = wg == 0 ? kTurnWg1 : kTurnWg0;

#pragma unroll
  for (int i = 0; i < D / 2; ++i) st.o[i] = 0.f;
  st.m[0] = st.m[1] = -INFINITY;
  st.l[0] = st.l[1] = 0.f;

  int32_t s_acc[T::kScoreRegs];
  float pv[D / 2];
  uint32_t a[T::kPChunks][4];
#pragma unroll
  for (int i = 0; i < D / 2; ++i) pv[i] = 0.f;
#pragma unroll
  for (int c = 0; c < T::kPChunks; ++c) a[c][0] = a[c][1] = a[c][2] = a[c][3] = 0u;

  // The loop is peeled (QK only / QK+PV / PV only) so every wgmma wait has a fixed depth: ptxas
  // serializes wgmmas whose retirement it cannot prove on every path.
  auto issue_pv = [&](int it) {
    issue_pv_wgmmas<T, D>(pv, a, sm.v + ring.slot(it) * T::kVBytes, false);
    wgmma_commit();
  };
  // After QK(it) retired: free the K entry, softmax in place (P~ bits in s_acc).
  auto softmax = [&](int it, const float (&ks)[1], float (&alpha)[2]) {
    pin(s_acc);
    const int key0 = it * T::kStepKeys;
    const bool need_mask =
        key0 + T::kStepKeys > p.kv_len || (CAUSAL && key0 + T::kStepKeys - 1 > warp_row0 + causal_off);
    // Clamped away from 0 so a masked -inf score never meets 0 * inf (all-zero Q/K groups).
    const float scale[1] = {fmaxf(q_scale * ks[0], 1e-30f)};
    softmax_tile<T, CAUSAL, false>(s_acc, scale, need_mask, key0, row0, t, p, st.m, st.l, alpha);
  };
  // O = O * alpha(it) + PV(it): the rescale for tile `it` is deferred until PV(it) retires, so
  // the update is one FFMA per element.
  float alpha_prev[2] = {0.f, 0.f};
  auto accumulate_pv = [&](int it) {
    pin(pv);
    ring.release(it);
#pragma unroll
    for (int i = 0; i < D / 2; ++i) st.o[i] = fmaf(st.o[i], alpha_prev[(i >> 1) & 1], pv[i]);
  };
  auto rescale_and_pack = [&](const float (&alpha)[2]) {
    alpha_prev[0] = alpha[0];
    alpha_prev[1] = alpha[1];
    pack_p(s_acc, a);
  };

  if (n_steps > 0) {
    {  // tile 0: QK only
      float ks[1], alpha[2];
      trace_step(j0, kTrTop);
      ring.load_k_scales(0, ks);
      init_scores(s_acc);
      ring.wait(0);
      if (p.pingpong) named_sync(my_turn);
      trace_step(j0, kTrIssue);
      wgmma_fence();
      ring.issue_qk(s_acc, desc_q, 0);
      if (p.pingpong) named_arrive(other_turn);
      wgmma_wait<0>();
      trace_step(j0, kTrQk);
      softmax(0, ks, alpha);
      trace_step(j0, kTrSoftmax);
      rescale_and_pack(alpha);
      trace_step(j0, kTrEnd);
    }
    for (int it = 1; it < n_steps; ++it) {  // QK(it) and PV(it-1) in one turn
      float ks[1], alpha[2];
      trace_step(j0 + it, kTrTop);
      ring.load_k_scales(it, ks);
      init_scores(s_acc);  // P~(it-1) was packed at the end of the last iteration
      ring.wait(it);
      if (p.pingpong) named_sync(my_turn);
      trace_step(j0 + it, kTrIssue);
      wgmma_fence();
      ring.issue_qk(s_acc, desc_q, it);
      issue_pv(it - 1);
      if (p.pingpong) named_arrive(other_turn);
      wgmma_wait<1>();
      trace_step(j0 + it, kTrQk);
      softmax(it, ks, alpha);
      trace_step(j0 + it, kTrSoftmax);
      wgmma_wait<0>();
      trace_step(j0 + it, kTrPv);
      accumulate_pv(it - 1);
      rescale_and_pack(alpha);
      trace_step(j0 + it, kTrEnd);
    }
    {  // last PV
      if (p.pingpong) named_sync(my_turn);
      wgmma_fence();
      issue_pv(n_steps - 1);
      if (p.pingpong) named_arrive(other_turn);
      wgmma_wait<0>();
      accumulate_pv(n_steps - 1);
    }
  }
}

// Single-level consumer ("fp32"): PV accumulates straight into O (the wgmma's fp32 accumulator).
// The schedule is the two-level loop's without the ping-pong turns; the 64 registers of the
// per-tile PV accumulator go to a longer step instead (TileTraits::kStepKeys), which pays the
// per-step work over more keys. O is rescaled (FMUL) after PV(it-1) retires and before PV(it) is
// issued. Measured on the H200 (bench/NOTES.md, v12), kernel-only: ping-pong turns cost this loop
// 4-13 % (a warpgroup in a long softmax holds the other's next batch back), so the warpgroups
// issue freely.
// kPv: the PV operands' type, kPvE4m3 (V from quant_v_fp8_sm90), kPvF16 or kPvBf16 (V as the caller's tensor), kPvS8
// (V in s8 from the fused quantization; O in the s32 accumulator o_s8, rescaled by shifts, converted at the end).
template <int D, bool CAUSAL, bool kMC = false, int kQR = default_q_regs_mode<D, CAUSAL>(), int kPv = kPvE4m3>
__device__ __forceinline__ void consumer_loop_single(const SmemPlan<TileTraits<D, false, kPvIs16<kPv>>>& sm,
                                                     const AttnParams& p,
                                                     const int8_t* q_tile, RowState<D>& st, int wg, int warp,
                                                     int lane, int q0, int n_steps, float q_scale,
                                                     const float* k_scale_head, int j0, uint64_t* q_empty) {
  using T = TileTraits<D, false, kPvIs16<kPv>>;
  constexpr int NSEG = T::kSegments;
  constexpr bool kS8 = kPv == kPvS8;
  const uint32_t empty_cl = kMC ? cluster_smem_addr(&sm.empty[0], cluster_rank() ^ (lane == 1 ? 1u : 0u)) : 0u;
  const ConsumerRing<T, D, kMC> ring{sm, p, k_scale_head, j0, lane, lane & 3, empty_cl};
  const int t = lane & 3;
  const int row0 = q0 + wg * 64 + warp * 16 + (lane >> 2);
  const int warp_row0 = q0 + wg * 64 + warp * 16;
  const int causal_off = p.kv_len - p.qo_len;
  const uint64_t desc_q = smem_desc<T::kQKRowBytes>(q_tile + wg * 64 * T::kQKRowBytes);  // box 0's rows

#pragma unroll
  for (int i = 0; i < D / 2; ++i) st.o[i] = 0.f;
  st.m[0] = st.m[1] = -INFINITY;
  st.l[0] = st.l[1] = 0.f;
  uint32_t qf[kQInRegs<D, kQR> ? D / 32 : 1][4];
  if constexpr (kQInRegs<D, kQR>) {
    if (n_steps > 0) load_q_frags<D>(q_tile + wg * 64 * T::kQKRowBytes, warp, lane, qf);
    if constexpr (kQReleasedEarly<D, kQR>) release_q_slot(q_empty, lane);  // the slot's bytes are in registers now
  }
  if (n_steps == 0) return;

  int32_t s_acc[T::kScoreRegs];
  uint32_t a[T::kPChunks][4];
  int32_t o_s8[kS8 ? D / 2 : 1];
  int32_t l_s8[4] = {0, 0, 0, 0};  // kS8: 127 l of rows g (0, 1) and g + 8 (2, 3): each element the whole row's sum
  if constexpr (kS8) {
#pragma unroll
    for (int i = 0; i < D / 2; ++i) o_s8[i] = 0;
  }
  auto issue_qk = [&](int it) {
    if constexpr (kQInRegs<D, kQR>) ring.issue_qk_rs(s_acc, qf, it);
    else ring.issue_qk(s_acc, desc_q, it);
  };

  auto issue_pv = [&](int it) {
    if constexpr (kPv == kPvE4m3) issue_pv_wgmmas<T, D>(st.o, a, sm.v + ring.slot(it) * T::kVBytes, true);
    else if constexpr (kS8) issue_pv_s8_wgmmas<T, D>(o_s8, a, sm.v + ring.slot(it) * T::kVBytes);
    else issue_pv16_wgmmas<T, D, kPv == kPvBf16>(st.o, a, sm.v + ring.slot(it) * T::kVBytes);
    if constexpr (kS8) {
      const uint64_t desc_ones = smem_desc_flat(sm.ones);
#pragma unroll
      for (int c = 0; c < T::kPChunks; ++c) wgmma_pv_u8s8<8>(l_s8, a[c], desc_ones, 1);
    }
    wgmma_commit();
  };
  auto pack = [&]() {
    if constexpr (kPv == kPvE4m3) pack_p(s_acc, a);
    else if constexpr (kS8) pack_pu8(s_acc, a);
    else pack_p16<kPv == kPvBf16>(s_acc, a);
  };
  auto softmax = [&](int it, const float (&ks)[NSEG], float (&alpha)[2]) {
    pin(s_acc);
    const int key0 = it * T::kStepKeys;
    const bool need_mask =
        key0 + T::kStepKeys > p.kv_len || (CAUSAL && key0 + T::kStepKeys - 1 > warp_row0 + causal_off);
    float scale[NSEG];  // clamped away from 0 so a masked -inf score never meets 0 * inf
#pragma unroll
    for (int h = 0; h < NSEG; ++h) scale[h] = fmaxf(q_scale * ks[h], 1e-30f);
    softmax_tile<T, CAUSAL, true, kS8>(s_acc, scale, need_mask, key0, row0, t, p, st.m, st.l, alpha);
  };
  // O *= alpha once PV(it-1) retired; INT8 PV: alpha = 2^-k, an arithmetic shift of the integer O and 127 l (rounding
  // down: at most one unit of O, or 1/127 of a P~ unit of l, per rescale; rounding to nearest took the D256 loop's
  // registers past ptxas' budget).
  auto rescale_o = [&](const float (&alpha)[2]) {
    if constexpr (kS8) {
      const int k[2] = {127 - (__float_as_int(alpha[0]) >> 23), 127 - (__float_as_int(alpha[1]) >> 23)};
      if ((k[0] | k[1]) == 0) return;  // neither row's reference max moved: most steps
      pin(o_s8);
      pin(l_s8);
#pragma unroll
      for (int i = 0; i < D / 2; ++i) o_s8[i] >>= k[(i >> 1) & 1];
#pragma unroll
      for (int i = 0; i < 4; ++i) l_s8[i] >>= k[i >> 1];
    } else {
      pin(st.o);
#pragma unroll
      for (int i = 0; i < D / 2; ++i) st.o[i] *= alpha[(i >> 1) & 1];
    }
  };
  // Ping-pong turns around each batch (kSingleLevelTurns; the kernel opens and closes the alternation).
  constexpr bool kTurns = kSingleLevelTurns<kPv>;
  auto take_turn = [&]() {
    if constexpr (kTurns) {
      if (p.pingpong) named_sync(wg == 0 ? kTurnWg0 : kTurnWg1);
    }
  };
  auto hand_over = [&]() {
    if constexpr (kTurns) {
      if (p.pingpong) named_arrive(wg == 0 ? kTurnWg1 : kTurnWg0);
    }
  };
  // Keeps the accumulator set-up ahead of the wgmma fence: MOVs sunk between wgmmas make ptxas
  // insert a warpgroup.arrive there and serialize the batch (C7519/C7520).
  auto init_step = [&]() {
    init_scores(s_acc);
    pin(s_acc);
  };
  // Where those MOVs sit in the source (top of the step, or the end of the previous one, after the
  // pack) changes only ptxas' schedule of the loop, but by more than noise (kernel-only on the H200,
  // bench/NOTES.md "Schedule A/B"): at the end, D128 non-causal +1.6 % at 8K and +0.6 % at 16K, D128 causal
  // +0.7 % (since its step count is warp-uniform; -2 to -8 % before), D64 -2.7 % and causal D64 -8 %. With Q in
  // registers (H100, "Q in registers"): at the end, D64 non-causal +1.4-2.1 % more, D64 causal -8 %. So it is
  // chosen per instantiation; SAGE_SM90_INIT_AT_END overrides it.
#ifdef SAGE_SM90_INIT_AT_END
  constexpr bool kInitAtEnd = SAGE_SM90_INIT_AT_END;
#else
  constexpr bool kInitAtEnd = D == 128 || (!CAUSAL && kQInRegs<D, kQR>);
#endif

  {  // step 0: QK only (O is still zero: no rescale)
    float ks[NSEG], alpha[2];
    trace_step(j0, kTrTop);
    ring.load_k_scales(0, ks);
    init_step();
    ring.wait(0);
    take_turn();
    trace_step(j0, kTrIssue);
    wgmma_fence();
    issue_qk(0);
    hand_over();
    wgmma_wait<0>();
    trace_step(j0, kTrQk);
    softmax(0, ks, alpha);
    trace_step(j0, kTrSoftmax);
    pack();
    if constexpr (kInitAtEnd) init_step();
    trace_step(j0, kTrEnd);
  }
  for (int it = 1; it < n_steps; ++it) {  // QK(it) and PV(it-1) in one batch
    float ks[NSEG], alpha[2];
    trace_step(j0 + it, kTrTop);
    ring.load_k_scales(it, ks);
    if constexpr (!kInitAtEnd) init_step();  // P~(it-1) was packed at the end of the last step
    ring.wait(it);
    take_turn();
    trace_step(j0 + it, kTrIssue);
    wgmma_fence();
    issue_qk(it);
    issue_pv(it - 1);
    hand_over();
    wgmma_wait<1>();
    trace_step(j0 + it, kTrQk);
    softmax(it, ks, alpha);
    trace_step(j0 + it, kTrSoftmax);
    wgmma_wait<0>();
    trace_step(j0 + it, kTrPv);
    ring.release(it - 1);
    rescale_o(alpha);
    pack();
    if constexpr (kInitAtEnd) init_step();
    trace_step(j0 + it, kTrEnd);
  }
  {  // last PV
    take_turn();
    wgmma_fence();
    issue_pv(n_steps - 1);
    hand_over();
    wgmma_wait<0>();
    if constexpr (kS8) {
      pin(o_s8);
#pragma unroll
      for (int i = 0; i < D / 2; ++i) st.o[i] = static_cast<float>(o_s8[i]);
      // l / 127, a quarter in each thread: the epilogue sums l over the quad's four threads.
      pin(l_s8);
      st.l[0] = (0.25f / 127.f) * static_cast<float>(l_s8[0]);
      st.l[1] = (0.25f / 127.f) * static_cast<float>(l_s8[2]);
    }
    pin(st.o);
    ring.release(n_steps - 1);
  }
}

}  // namespace sage::sm90
