// The per-warp steps of one KV tile: S = Q.K^T (INT8 MMA), scale/mask, online softmax (base 2),
// P packing, and PV (FP16 or FP8 MMA) under each accumulation policy.
#pragma once

#include <cmath>

#include "common/int8_score.cuh"
#include "common/mma/ptx.cuh"
#include "common/mma/tile.cuh"

namespace sage::mma {

constexpr float kFp8Offset = 8.807354922057604f;  // log2(448): P~ = exp2(s - m + log2 448) <= 448
// f16 accumulators ("fp16+fp32", "fp16") take p / 64 = exp2(s - m - 6). "fp16+fp32" sums at most 64 keys in f16, so
// its sum of p * v then stays within max|V| <= 65504 for every f16 V, where p <= 1 overflowed once 64 * max|V| >
// 65504 (near-uniform attention over |V| > 1023); "fp16" (O itself in f16) gets 64x more room: kv_len * max|V| up to
// 64 * 65504. A power of two changes no rounding of a normal f16 value; only p < 2^-8 (a logit 8 below the row max)
// lands among the f16 subnormals, whose step (2^-24, 2^-18 in units of p) is far under the f16 step of the row sum
// l >= 1 that divides it.
constexpr float kF16AccumLog2Scale = -6.f;

template <int D, PvAccum PV>
struct WarpTile {
  using Tile = MmaTile<D>;
  static constexpr int kMT = Tile::kMT;
  static constexpr bool kFp8 = pv_is_fp8(PV);
  // Keys per shared-memory K/V tile (one barrier each). D=256 takes 32, one sub-tile: with 64, the FP16-PV kernel's Q
  // and two stages needed 119 808 B, over the 101 376 a block gets on sm_86, sm_89 and sm_12x, and one CTA filled an
  // SM of sm_80/sm_90; with 32, 68 608 B, and two CTAs (2 x 128 threads x 255 registers) fit those SMs. ptxas (nvcc
  // 13.0) also stopped spilling: FP16 PV 8-48 B -> 0, FP8 PV 356-572 B -> 0 (sm_89 and sm_90a). K's quantization
  // block and padding stay Tile::kCtaK (64 keys), which such tiles halve.
  static constexpr int kCtaK = D == 256 ? 32 : Tile::kCtaK;
  static_assert(Tile::kCtaK % kCtaK == 0, "a K/V tile lies in one K quantization block");
  // Keys computed and soft-maxed at a time (the sub-tile). FP16 PV at D <= 128 takes the whole
  // 64-key tile: one max/shuffle/alpha/vote chain per tile instead of two, and Q fragments loaded
  // once per tile (S is 64 registers; at D=128 the P fragments reuse S's registers as they are
  // packed, so 254 registers and no spill). Measured on the H200 (bench/mma_notes.md, v8-v9):
  // +7.5-11 % at D=64, +9.4 % at D=128. FP8 PV took 32 keys until its spills fell (K in S-column order and the rest);
  // with 64 its kernels spill less still at D=128 (sm_90a "fp32+fp32" 136 -> 76 B) and ran 0.4-24 % faster on the H100
  // (bench/NOTES.md, "FP8 PV takes 64-key softmax sub-tiles"; "fp32+fp16", sm_89's default, +12-24 %). D=256: 32.
  static constexpr int kSubK = D <= 128 ? 64 : 32;
  static constexpr int kNS = kSubK / 8;  // S n8 tiles per warp row tile
  // Whether the next K/V tile's copies go after the first sub-tile's QK MMAs rather than right after the barrier,
  // so that the tensor pipe starts ~80 instructions earlier. FP16 PV at D=128: +2.7 % alone, +3.8 % on top of the
  // 64-key sub-tile (H200, v9). At D=64 it was neutral to -1 % with padded tiles; with the swizzled ones, whose copy
  // bursts are ~3x cheaper, the fp32-O batch kernel gained 1.3-2.7 % non-causal and lost 2.3 % causal (H100,
  // bench/mma_notes.md, "Thirty-fourth session"), so D=64 takes it there only. The other D=64 kernels keep the early
  // copies, measured ("Thirty-fifth session", H100): the packed-sequence ones lost 0.2-5 %, "fp16" was even and
  // "fp16+fp32" gained 1.4-1.7 % alone but was mixed end to end (-2.3 to +1.8 %, within that lease's spread).
  static constexpr bool load_late(bool causal, bool varlen) {
    return !kFp8 && (D == 128 || (D == 64 && PV == PvAccum::kF16F32 && !causal && !varlen));
  }
  static constexpr int kNO = D / 8;      // O n8 tiles
  // Swizzled, unpadded shared-memory tiles (SmemTile): FP16 PV at D <= 128, where they were measured
  // (bench/mma_notes.md, "Thirty-fourth session"). FP8 PV lost 2-7 % with them (more spills; "Thirty-fifth").
  static constexpr bool kSwizzle = !kFp8 && D <= 128;
  // Whether K is stored in S-column order (col_order_row, tile.cuh), which frees the FP8-PV kernel's K ldmatrix
  // phases of two-way bank conflicts. H100, kernel alone, B4 H32, 4K and 16K (bench/mma_notes.md, "Thirty-fifth
  // session"): "fp32+fp32" and "fp32+fp16" +1.5-3.2 % at D=64, +1.6-2.0 % at D=128; "fp32" +3.1 % at D=64 and
  // +13.6-13.9 % at D=128 (its spills fell from 440 to 148 B); packed sequences +0.1-2.8 % (H200). Where ptxas
  // spilled far more with it the kernel lost, and those keep key order: causal D=128 batch "fp32" and "fp32+fp32"
  // (-0.4 to -8 %; spills 132 / 88 -> 444 / 468 B) and causal D=64 batch "fp32+fp16" (-2.1 %). D=256 (not
  // measured; its copy step is 8 rows) keeps key order too. On sm_89 (ptxas only) the chosen kernels spill less than
  // in key order, 8 of 9.
  static constexpr bool k_col_order(bool causal, bool varlen) {
    if (!kFp8 || D > 128) return false;
    if (!causal || varlen) return true;
    return D == 128 ? PV == PvAccum::kF8F32F16 : PV != PvAccum::kF8F32F16;
  }
  using QTile = SmemTile<Tile::kCtaQ, D, kSwizzle>;
  using KTile = SmemTile<kCtaK, D, kSwizzle>;
  using VTile = typename std::conditional<kFp8, SmemTile<D, kCtaK>, SmemTile<kCtaK, 2 * D, kSwizzle>>::type;
  // Packed P A-fragments per sub-tile: FP16 -> kSubK / 16 k16 steps; FP8 -> kSubK / 32 k32 steps.
  static constexpr int kPSteps = kFp8 ? kSubK / 32 : kSubK / 16;
  static constexpr bool kOHalf = PV == PvAccum::kF16F16;
  // log2 of the factor P carries into the PV MMA (and the row sums l): it cancels in O / l, and the epilogue takes it
  // out of the LSE. FP8: P~ in (0, 448]; f16 accumulators: p / 64 (kF16AccumLog2Scale); fp32 O: p itself.
  static constexpr float kPLog2Scale = kFp8 ? kFp8Offset : (PV == PvAccum::kF16F32 ? 0.f : kF16AccumLog2Scale);
  // FP16 PV, D <= 128: the row sums l come from the tensor cores (P . ones: 1/8 resp. 1/16 more PV
  // MMAs) instead of 2 FADD per score; measured +10 % at D=64 and +6 % at D=128 on H100
  // (bench/mma_notes.md). l then sums the f16 p that the MMA uses (the reference sums fp32 p).
  static constexpr bool kLByMma = !kFp8 && D <= 128;
  // Lazy max (SAGE_MMA_LAZY_MAX, tile.cuh): fp32 O only. p = exp2(logit - m_old) <= 2^kLazyT stays exact in f16
  // (<= 2^15) and harmless in the fp32 O and l; an f16 O or per-tile f16 accumulator ("fp16", "fp16+fp32") could
  // overflow at 64 * 2^T * |V| > 65504 and keeps the exact max, as does FP8 PV (P~ scaled to 448 by the max).
  // D = 64 only: at D = 128 (254 registers) it spilled 48/76 B (12 LDL, 4 STL in the loop), at D = 256 its
  // causal kernel 20/36 B (base 12/12).
  static constexpr int kLazyMax = PV == PvAccum::kF16F32 && D == 64 ? SAGE_MMA_LAZY_MAX : 0;
  static constexpr float kLazyT = SAGE_MMA_LAZY_T;
  static_assert(SAGE_MMA_LAZY_T >= 0 && SAGE_MMA_LAZY_T <= 15, "f16 P must stay finite: 2^T <= 2^15");
  // CTAs per SM the registers are budgeted for (__launch_bounds__). The fp32-O kernel at D = 64 is also built for 2
  // (255 registers; it takes 205-215; 3 gives it 168 and 8 B of stack): on the H200 that build is 1.6-4.7 % faster
  // on long grids (B4 H32 N=16K) but 8-29 % slower where the grid is a few waves (SDXL's 4K and 1K levels), so
  // launch_attn picks it for long grids only (bench/mma_notes.md, "Twenty-third session"). FP8 PV lost 8 % at 2;
  // "fp16" / "fp16+fp32" were not measured there.
  static constexpr int kMinBlocks = Tile::kMinBlocks;
  static constexpr int kWideMinBlocks = PV == PvAccum::kF16F32 && D == 64 ? 2 : 0;  // 0: no such build
};

template <int D, PvAccum PV>
__device__ __forceinline__ void load_q_frag(uint32_t (&a)[4], uint32_t sQ, int warp_row0, int mt, int ks, int lane) {
  using W = WarpTile<D, PV>;
  ldsm_x4(a, W::QTile::at(sQ, warp_row0 + mt * 16 + (lane % 8) + ((lane / 8) % 2) * 8, ks * 32 + (lane / 16) * 16));
}

// S[mt][j] = Q rows (warp row tile mt) . K keys key0 + key_of_col(j, *), exact int32, returned as
// the bit pattern of the float kScoreMagic + S. K_COL_ORDER: the K tile is stored in S-column order.
template <int D, PvAccum PV, bool K_COL_ORDER>
__device__ __forceinline__ void qk_int8(uint32_t sQ, uint32_t sK, int key0, int warp_row0,
                                        int lane, int (&s)[WarpTile<D, PV>::kMT][WarpTile<D, PV>::kNS][4]) {
  using W = WarpTile<D, PV>;
  // The accumulator starts at kScoreMagicBits (common/int8_score.cuh): the result is already a float.
#pragma unroll
  for (int mt = 0; mt < W::kMT; ++mt)
#pragma unroll
    for (int j = 0; j < W::kNS; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[mt][j][e] = kScoreMagicBits;
#pragma unroll
  for (int ks = 0; ks < D / 32; ++ks) {  // one k32 step of channels: A fragments of every row tile
    uint32_t a[W::kMT][4];
#pragma unroll
    for (int mt = 0; mt < W::kMT; ++mt) load_q_frag<D, PV>(a[mt], sQ, warp_row0, mt, ks, lane);
#pragma unroll
    for (int j = 0; j < W::kNS; j += 2) {
      uint32_t b[4];  // b[0], b[1]: n8 tile j; b[2], b[3]: tile j + 1
      const int row = key0 + key_of_col<W::kFp8 && !K_COL_ORDER>(j + lane / 16, lane % 8);
      ldsm_x4(b, W::KTile::at(sK, row, ks * 32 + ((lane / 8) % 2) * 16));
#pragma unroll
      for (int mt = 0; mt < W::kMT; ++mt) {
        mma_s8_16832(s[mt][j], a[mt], b[0], b[1]);
        mma_s8_16832(s[mt][j + 1], a[mt], b[2], b[3]);
      }
    }
  }
}

// Maximum of a lane's 2*NS raw scores of row half r in one sub-tile, on their bit patterns
// (common/int8_score.cuh): for 32 keys 4 instructions of depth 2 instead of a chain of 8 FMNMX.
template <int NS>
__device__ __forceinline__ float row_max(const float (&x)[NS][4], int r) {
  static_assert(NS == 4 || NS == 8, "32- or 64-key sub-tiles");
  int e[2 * NS];
#pragma unroll
  for (int j = 0; j < NS; ++j) {
    e[2 * j] = __float_as_int(x[j][2 * r]);
    e[2 * j + 1] = __float_as_int(x[j][2 * r + 1]);
  }
  if constexpr (NS == 4) {
    return __int_as_float(__vimax3_s32(__vimax3_s32(e[0], e[1], e[2]), __vimax3_s32(e[3], e[4], e[5]), max(e[6], e[7])));
  } else {
    const int a = __vimax3_s32(__vimax3_s32(e[0], e[1], e[2]), __vimax3_s32(e[3], e[4], e[5]),
                               __vimax3_s32(e[6], e[7], e[8]));
    const int b = __vimax3_s32(__vimax3_s32(e[9], e[10], e[11]), __vimax3_s32(e[12], e[13], e[14]), e[15]);
    return __int_as_float(max(a, b));
  }
}

// Online softmax over one sub-tile (kSubK keys). raw holds kScoreMagic + S as floats (masked = -inf);
// the base-2 logit is raw * mult + bias (mult > 0 and bias = -kScoreMagic * mult are this lane's:
// q_scale * k_scale * sm_scale * log2 e). The max is taken on raw (monotonic in the logit), scaled,
// then reduced over the row's 4 lanes. Updates the running max m, the row sums l (fp32) and
// rescales O by exp2(m_old - m_new); then p = exp2(logit - m_new + W::kPLog2Scale) in one FFMA + ex2:
//  - FP16 PV: p is rounded to f16 straight into the A fragments pa (ex2.approx.f16x2 was tried: on
//    sm_90 it is two scalar MUFU ops plus repacking, no gain);
//  - FP8 PV: p is left in raw (fp32; l sums p before the e4m3 rounding) for pack_p.
template <int D, PvAccum PV, typename OAcc>
__device__ __forceinline__ void online_softmax(float (&x)[WarpTile<D, PV>::kMT][WarpTile<D, PV>::kNS][4],
                                               float mult, float bias, float (&m)[WarpTile<D, PV>::kMT][2],
                                               float (&l)[WarpTile<D, PV>::kMT][2], OAcc& o,
                                               uint32_t (&pa)[WarpTile<D, PV>::kMT][WarpTile<D, PV>::kPSteps][4]) {
  using W = WarpTile<D, PV>;
  // The kMT*2 row halves are independent: all their maxima, shuffles and alphas first, then every
  // p, and only then the vote/branch of each O rescale. One row half at a time, each half's chain
  // (max -> 2 shuffles -> ex2(alpha) -> vote -> branch, ~100 clocks) ended a basic block and ptxas
  // serialized kMT*2 of them per sub-tile. Measured on the H200 (bench/mma_notes.md): FP16-PV
  // +4.6 % at D=128 N=16K, +4.5 % at 4K, +5 % causal; D=64 +0.8 % / +5 % at 16K / 4K.
  float mx[W::kMT][2], alpha[W::kMT][2], c[W::kMT][2];
#pragma unroll
  for (int mt = 0; mt < W::kMT; ++mt)
#pragma unroll
    for (int r = 0; r < 2; ++r) mx[mt][r] = fmaf(row_max(x[mt], r), mult, bias);  // -inf stays -inf
#pragma unroll
  for (int sh = 1; sh <= 2; sh *= 2)
#pragma unroll
    for (int mt = 0; mt < W::kMT; ++mt)
#pragma unroll
      for (int r = 0; r < 2; ++r) mx[mt][r] = fmaxf(mx[mt][r], __shfl_xor_sync(0xffffffffu, mx[mt][r], sh));
#pragma unroll
  for (int mt = 0; mt < W::kMT; ++mt)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float m_new = fmaxf(m[mt][r], mx[mt][r]);
      const float m_use = m_new == -INFINITY ? 0.f : m_new;  // fully masked so far: p = 0, no NaN
      alpha[mt][r] = ex2(m[mt][r] - m_use);
      m[mt][r] = m_new;
      c[mt][r] = bias - (m_use - W::kPLog2Scale);
    }
#pragma unroll
  for (int mt = 0; mt < W::kMT; ++mt) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float sum = 0.f;
#pragma unroll
      for (int j = 0; j < W::kNS; ++j) {
        const float p0 = ex2(fmaf(x[mt][j][2 * r], mult, c[mt][r]));
        const float p1 = ex2(fmaf(x[mt][j][2 * r + 1], mult, c[mt][r]));
        if constexpr (W::kFp8) {
          x[mt][j][2 * r] = p0, x[mt][j][2 * r + 1] = p1;
        } else {
          pa[mt][j / 2][(j % 2) * 2 + r] = pack_half2(p0, p1);  // S tile j, half r -> A reg of k16 step j/2
        }
        if constexpr (!W::kLByMma) sum += p0 + p1;
      }
      l[mt][r] = l[mt][r] * alpha[mt][r] + sum;  // kLByMma: l is the MMA accumulator (sum == 0 here)
    }
  }
  // Rescaling O costs kNO*2 multiplies per row half; skip it when no row of the warp changed its max.
#pragma unroll
  for (int mt = 0; mt < W::kMT; ++mt)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      if (__any_sync(0xffffffffu, alpha[mt][r] != 1.f)) {
        if constexpr (W::kOHalf) {
          const __half2 a2 = __float2half2_rn(alpha[mt][r]);
#pragma unroll
          for (int nt = 0; nt < W::kNO; ++nt) {
            __half2* hp = reinterpret_cast<__half2*>(&o[mt][nt][r]);
            *hp = __hmul2(*hp, a2);
          }
        } else {
#pragma unroll
          for (int nt = 0; nt < W::kNO; ++nt) {
            o[mt][nt][2 * r] *= alpha[mt][r];
            o[mt][nt][2 * r + 1] *= alpha[mt][r];
          }
        }
      }
    }
}

// FP16 PV: the B fragments of V for keys [key0 + 16 ks, +16) and head-dim columns [16 np, +16) (two n8 tiles).
template <int D, PvAccum PV>
__device__ __forceinline__ void load_v_f16(uint32_t (&b)[4], uint32_t sV, int key0, int ks, int np, int lane) {
  ldsm_x4_trans(b, WarpTile<D, PV>::VTile::at(sV, key0 + ks * 16 + (lane % 8) + ((lane / 8) % 2) * 8,
                                              (np * 16 + (lane / 16) * 8) * 2));
}

// Lazy max: whether a logit of this lane exceeds its row's running max m by more than kLazyT (always true for a
// row's first visible score, m = -inf; never for a masked -inf score). Lane-local maxima only: the exact path after
// a warp vote does the shuffles, so the common case keeps them and the alpha ex2 off the exponentials' path.
template <int D, PvAccum PV>
__device__ __forceinline__ bool lazy_over(const float (&x)[WarpTile<D, PV>::kMT][WarpTile<D, PV>::kNS][4],
                                          float mult, float bias, const float (&m)[WarpTile<D, PV>::kMT][2]) {
  using W = WarpTile<D, PV>;
  bool over = false;
#pragma unroll
  for (int mt = 0; mt < W::kMT; ++mt)
#pragma unroll
    for (int r = 0; r < 2; ++r) over |= fmaf(row_max(x[mt], r), mult, bias) > m[mt][r] + W::kLazyT;
  return over;
}

// Lazy max, no row over its threshold anywhere in the warp: p = exp2(logit - m) against the unchanged running max
// (m = -inf: the row's scores are all masked so far, p = 0), so m, l and O need no rescale. The exponentials of
// each k16 step go straight into its row-sum and PV MMAs in one basic block, where ptxas can overlap the MUFU
// queue with the tensor pipe (the exact path ends its exponentials in the rescale branches before the first PV MMA).
template <int D, PvAccum PV>
__device__ __forceinline__ void lazy_p_pv(const float (&x)[WarpTile<D, PV>::kMT][WarpTile<D, PV>::kNS][4],
                                          float mult, float bias, const float (&m)[WarpTile<D, PV>::kMT][2],
                                          float (&l)[WarpTile<D, PV>::kMT][2], uint32_t sV, int key0, int lane,
                                          float (&o)[WarpTile<D, PV>::kMT][WarpTile<D, PV>::kNO][4]) {
  using W = WarpTile<D, PV>;
  static_assert(PV == PvAccum::kF16F32, "fp32 O only");
  constexpr uint32_t kOnes = 0x3C003C00u;  // half2(1, 1)
  float c[W::kMT][2], lacc[W::kMT][4];
#pragma unroll
  for (int mt = 0; mt < W::kMT; ++mt) {
#pragma unroll
    for (int r = 0; r < 2; ++r) c[mt][r] = bias - (m[mt][r] == -INFINITY ? 0.f : m[mt][r]);
    lacc[mt][0] = lacc[mt][1] = l[mt][0];
    lacc[mt][2] = lacc[mt][3] = l[mt][1];
  }
#pragma unroll
  for (int ks = 0; ks < W::kPSteps; ++ks) {
    uint32_t pa[W::kMT][4];
#pragma unroll
    for (int mt = 0; mt < W::kMT; ++mt)
#pragma unroll
      for (int jj = 0; jj < 2; ++jj)
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          const int j = 2 * ks + jj;
          const float p0 = ex2(fmaf(x[mt][j][2 * r], mult, c[mt][r]));
          const float p1 = ex2(fmaf(x[mt][j][2 * r + 1], mult, c[mt][r]));
          pa[mt][jj * 2 + r] = pack_half2(p0, p1);
          if constexpr (!W::kLByMma) lacc[mt][2 * r] += p0 + p1;
        }
#pragma unroll
    for (int mt = 0; mt < W::kMT; ++mt) {
      if constexpr (W::kLByMma) mma_f16_16816_f32(lacc[mt], pa[mt], kOnes, kOnes);
    }
#pragma unroll
    for (int np = 0; np < W::kNO / 2; ++np) {
      uint32_t b[4];
      load_v_f16<D, PV>(b, sV, key0, ks, np, lane);
#pragma unroll
      for (int mt = 0; mt < W::kMT; ++mt) {
        mma_f16_16816_f32(o[mt][2 * np], pa[mt], b[0], b[1]);
        mma_f16_16816_f32(o[mt][2 * np + 1], pa[mt], b[2], b[3]);
      }
    }
  }
#pragma unroll
  for (int mt = 0; mt < W::kMT; ++mt) l[mt][0] = lacc[mt][0], l[mt][1] = lacc[mt][2];
}

// FP8 PV: P (fp32, S fragment layout) -> e4m3 quads of the m16n8k32 A fragments.
template <int D, PvAccum PV>
__device__ __forceinline__ void pack_p(const float (&sf)[WarpTile<D, PV>::kMT][WarpTile<D, PV>::kNS][4],
                                       uint32_t (&pa)[WarpTile<D, PV>::kMT][WarpTile<D, PV>::kPSteps][4]) {
  using W = WarpTile<D, PV>;
#pragma unroll
  for (int mt = 0; mt < W::kMT; ++mt) {
#pragma unroll
    for (int ks = 0; ks < W::kPSteps; ++ks) {
      if constexpr (W::kFp8) {
        const int j = 4 * ks;  // S tiles j..j+3 hold keys 32ks + [0, 32) (see key_of_col)
        pa[mt][ks][0] = pack_e4m3x4(sf[mt][j][0], sf[mt][j][1], sf[mt][j + 1][0], sf[mt][j + 1][1]);
        pa[mt][ks][1] = pack_e4m3x4(sf[mt][j][2], sf[mt][j][3], sf[mt][j + 1][2], sf[mt][j + 1][3]);
        pa[mt][ks][2] = pack_e4m3x4(sf[mt][j + 2][0], sf[mt][j + 2][1], sf[mt][j + 3][0], sf[mt][j + 3][1]);
        pa[mt][ks][3] = pack_e4m3x4(sf[mt][j + 2][2], sf[mt][j + 2][3], sf[mt][j + 3][2], sf[mt][j + 3][3]);
      } else {
        const int j = 2 * ks;
        pa[mt][ks][0] = pack_half2(sf[mt][j][0], sf[mt][j][1]);
        pa[mt][ks][1] = pack_half2(sf[mt][j][2], sf[mt][j][3]);
        pa[mt][ks][2] = pack_half2(sf[mt][j + 1][0], sf[mt][j + 1][1]);
        pa[mt][ks][3] = pack_half2(sf[mt][j + 1][2], sf[mt][j + 1][3]);
      }
    }
  }
}

// kLByMma: l[mt][r] += row sums of this sub-tile's f16 P, as P . ones on the tensor cores.
template <int D, PvAccum PV>
__device__ __forceinline__ void row_sums_mma(const uint32_t (&pa)[WarpTile<D, PV>::kMT][WarpTile<D, PV>::kPSteps][4],
                                             float (&l)[WarpTile<D, PV>::kMT][2]) {
  using W = WarpTile<D, PV>;
  constexpr uint32_t kOnes = 0x3C003C00u;  // half2(1, 1)
#pragma unroll
  for (int mt = 0; mt < W::kMT; ++mt) {
    float acc[4] = {l[mt][0], l[mt][0], l[mt][1], l[mt][1]};
#pragma unroll
    for (int ks = 0; ks < W::kPSteps; ++ks) mma_f16_16816_f32(acc, pa[mt][ks], kOnes, kOnes);
    l[mt][0] = acc[0];
    l[mt][1] = acc[2];
  }
}

__device__ __forceinline__ void add_half2_into(float (&o)[4], const uint32_t (&h)[2]) {
  const float2 a = unpack_half2(h[0]), b = unpack_half2(h[1]);
  o[0] += a.x;
  o[1] += a.y;
  o[2] += b.x;
  o[3] += b.y;
}

// O += P . V for one KV tile under the accumulation policy PV.
template <int D, PvAccum PV, typename OAcc>
__device__ __forceinline__ void pv_mma(uint32_t sV, int key0, int lane,
                                       const uint32_t (&pa)[WarpTile<D, PV>::kMT][WarpTile<D, PV>::kPSteps][4],
                                       OAcc& o) {
  using W = WarpTile<D, PV>;
  if constexpr (W::kFp8) {
    // V^T tile [D][keys]: one ldmatrix.x4 gives the B fragments of 32 keys (k32 step ks: key0 + 32 ks + [0, 32)) of
    // two n8 tiles. Both k32 steps of a 64-key sub-tile go into one accumulator ("fp32+fp32", "fp32+fp16": one fresh
    // accumulator per sub-tile, 448 * 2.25 * 64 < 65504 for the f16 one).
#pragma unroll
    for (int nt = 0; nt < W::kNO; nt += 2) {
      uint32_t b[W::kPSteps][4];
#pragma unroll
      for (int ks = 0; ks < W::kPSteps; ++ks) {
        ldsm_x4(b[ks], W::VTile::at(sV, nt * 8 + (lane / 16) * 8 + (lane % 8), key0 + 32 * ks + ((lane / 8) % 2) * 16));
      }
#pragma unroll
      for (int mt = 0; mt < W::kMT; ++mt) {
#pragma unroll
        for (int x = 0; x < 2; ++x) {
          if constexpr (PV == PvAccum::kF8F32) {
#pragma unroll
            for (int ks = 0; ks < W::kPSteps; ++ks) {
              mma_e4m3_16832_f32(o[mt][nt + x], pa[mt][ks], b[ks][2 * x], b[ks][2 * x + 1]);
            }
          } else if constexpr (PV == PvAccum::kF8F32F32) {
            float t[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
            for (int ks = 0; ks < W::kPSteps; ++ks) mma_e4m3_16832_f32(t, pa[mt][ks], b[ks][2 * x], b[ks][2 * x + 1]);
#pragma unroll
            for (int e = 0; e < 4; ++e) o[mt][nt + x][e] += t[e];
          } else {
#if SAGE_FP8_F16_ACCUM
            uint32_t t[2] = {0u, 0u};
#pragma unroll
            for (int ks = 0; ks < W::kPSteps; ++ks) mma_e4m3_16832_f16(t, pa[mt][ks], b[ks][2 * x], b[ks][2 * x + 1]);
            add_half2_into(o[mt][nt + x], t);
#endif
          }
        }
      }
    }
  } else if constexpr (PV == PvAccum::kF16F16F32) {
    // n-outer so the fresh f16 accumulator lives in 2 registers per row tile.
#pragma unroll
    for (int np = 0; np < W::kNO / 2; ++np) {
      uint32_t t[W::kMT][2][2];
#pragma unroll
      for (int mt = 0; mt < W::kMT; ++mt)
#pragma unroll
        for (int x = 0; x < 2; ++x) t[mt][x][0] = t[mt][x][1] = 0u;
#pragma unroll
      for (int ks = 0; ks < W::kPSteps; ++ks) {
        uint32_t b[4];
        load_v_f16<D, PV>(b, sV, key0, ks, np, lane);
#pragma unroll
        for (int mt = 0; mt < W::kMT; ++mt) {
          mma_f16_16816_f16(t[mt][0], pa[mt][ks], b[0], b[1]);
          mma_f16_16816_f16(t[mt][1], pa[mt][ks], b[2], b[3]);
        }
      }
#pragma unroll
      for (int mt = 0; mt < W::kMT; ++mt) {
        add_half2_into(o[mt][2 * np], t[mt][0]);
        add_half2_into(o[mt][2 * np + 1], t[mt][1]);
      }
    }
  } else {
#pragma unroll
    for (int np = 0; np < W::kNO / 2; ++np) {
#pragma unroll
      for (int ks = 0; ks < W::kPSteps; ++ks) {
        uint32_t b[4];
        load_v_f16<D, PV>(b, sV, key0, ks, np, lane);
#pragma unroll
        for (int mt = 0; mt < W::kMT; ++mt) {
          if constexpr (PV == PvAccum::kF16F16) {
            mma_f16_16816_f16(o[mt][2 * np], pa[mt][ks], b[0], b[1]);
            mma_f16_16816_f16(o[mt][2 * np + 1], pa[mt][ks], b[2], b[3]);
          } else {
            mma_f16_16816_f32(o[mt][2 * np], pa[mt][ks], b[0], b[1]);
            mma_f16_16816_f32(o[mt][2 * np + 1], pa[mt][ks], b[2], b[3]);
          }
        }
      }
    }
  }
}

}  // namespace sage::mma
