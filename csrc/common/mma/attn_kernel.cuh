// The mma.sync attention kernel (FlashAttention-2 dataflow, SageAttention quantization) and its
// launcher. Include only from the explicit-instantiation files (csrc/mma_fp*/attn_d*.cu).
//
// One CTA = kCtaQ query rows of one (batch, q-head); 4 warps, each owning kWarpQ rows. Per KV tile of 64 keys
// (32 at D=256): S = Q.K^T on INT8 MMAs (exact int32), s = S * q_scale * k_scale * sm_scale*log2 e,
// mask, online softmax in base 2, P -> f16 or e4m3, O += P.V, computed kSubK keys at a time. Shared memory holds Q
// once and two K/V tile stages: cp.async brings tile i+1 while tile i is computed; one __syncthreads per tile.
#pragma once

#include <cmath>

#include "common/mma/attn_epilogue.cuh"
#include "common/mma/attn_mainloop.cuh"
#include "common/mma/attn_params.h"
#include "common/mma/attn_smem.cuh"
#include "common/smem_opt_in.h"
#include "common/stable_op.h"
#include "common/varlen.cuh"

namespace sage::mma {

// Which rows a CTA computes. A batch: q tile `qtile` of (b, h), whose first row is q0 = qtile * kCtaQ. A pack
// (attn_varlen_kernel): padded q tile `qtile` of head h (its Q rows and scales), holding rows q0.. of its sequence
// (the lengths and output rows are the sequence's, in the AttnParams the body gets); the sequence's keys start at
// padded key row k_row0 of the head, and (FP16 PV) at token v_tok0 of V.
struct CtaRows {
  int qtile, q0, h, b;
  int q_row0;  // the tile's first row in the quantized Q: q0 for a batch, qtile * kCtaQ for a pack
  int64_t k_row0, v_tok0;
};

template <int D, bool CAUSAL, PvAccum PV, bool VARLEN = false>
__device__ __forceinline__ void attn_body(const AttnParams& p, const CtaRows& cta) {
  using Tile = MmaTile<D>;
  using W = WarpTile<D, PV>;
  constexpr int kThreads = Tile::kThreads, kCtaQ = Tile::kCtaQ, kCtaK = W::kCtaK, kMT = W::kMT;
  constexpr int kTilesPerKBlock = Tile::kCtaK / kCtaK;  // K/V tiles per K quantization block (its scales)
  constexpr bool kLoadLate = W::load_late(CAUSAL, VARLEN);
  constexpr bool kKColOrder = W::k_col_order(CAUSAL, VARLEN);
  extern __shared__ __align__(128) unsigned char smem[];
  const uint32_t sQ = smem_addr(smem);
  constexpr int kStage = W::KTile::kBytes + W::VTile::kBytes;  // stage s: K at sK0 + s*kStage, V after it
  const uint32_t sK0 = sQ + W::QTile::kBytes;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int qtile = cta.qtile;
  const int h = cta.h, b = cta.b, hk = h / (p.hq / p.hkv);
  const int q0 = cta.q0;
  const int warp_row0 = warp * Tile::kWarpQ;  // within the CTA
  const int diag = p.kv_len - p.qo_len;       // bottom-right causal: row i sees keys j <= i + diag

  int n_tiles = (p.kv_len + kCtaK - 1) / kCtaK;
  if (CAUSAL) {
    const int last_key = q0 + kCtaQ - 1 + diag;
    n_tiles = last_key < 0 ? 0 : min(n_tiles, last_key / kCtaK + 1);
  }
  // Tiles from here on need the causal mask for some row of this CTA (keys beyond q0 + diag).
  const int first_masked = CAUSAL ? max(0, (q0 + diag + 1) / kCtaK) : n_tiles;
  const int kv_full_tiles = p.kv_len / kCtaK;  // tiles with no out-of-range key

  const int64_t bh = static_cast<int64_t>(b) * p.hq + h;
  const int64_t bhk = static_cast<int64_t>(b) * p.hkv + hk;
  const char* gQ = reinterpret_cast<const char*>(p.q) + (bh * p.nq_pad + cta.q_row0) * D;
  const char* gK = reinterpret_cast<const char*>(p.k) + (bhk * p.nk_pad + cta.k_row0) * D;
  const char* gV;
  if constexpr (W::kFp8) {
    gV = static_cast<const char*>(p.v) + bhk * D * p.nk_pad + cta.k_row0;
  } else {
    gV = static_cast<const char*>(p.v) + (b * p.v_sb + hk * p.v_sh + cta.v_tok0 * p.v_sn) * 2;
  }
  auto load_kv = [&](int tile) {
    const uint32_t sK = sK0 + (tile % 2) * kStage, sV = sK + W::KTile::kBytes;
    // FP16 PV, every K row (padded to kCtaK) and every V row and byte valid: unrolled unpredicated
    // copies (SmemTile::load_full). The branch is CTA-uniform. Tail tiles and FP8 PV keep the
    // rolled, predicated loops (unrolled, the FP8-PV kernel spilled 368 B at D=128).
    if constexpr (!W::kFp8) {
      if (tile < kv_full_tiles && p.v_dim == D) {
        W::KTile::template load_full<kThreads>(sK, gK + static_cast<int64_t>(tile) * kCtaK * D, D);
        W::VTile::template load_full<kThreads>(sV, gV + static_cast<int64_t>(tile) * kCtaK * p.v_sn * 2, p.v_sn * 2);
        return;
      }
    }
    W::KTile::template load<kThreads, kKColOrder>(sK, gK + static_cast<int64_t>(tile) * kCtaK * D, D, kCtaK, D);
    if constexpr (W::kFp8) {
      W::VTile::template load<kThreads>(sV, gV + static_cast<int64_t>(tile) * kCtaK, p.nk_pad, D, kCtaK);
    } else {
      W::VTile::template load<kThreads>(sV, gV + static_cast<int64_t>(tile) * kCtaK * p.v_sn * 2, p.v_sn * 2,
                                        p.kv_len - tile * kCtaK, p.v_dim * 2);
    }
  };

  W::QTile::template load<kThreads>(sQ, gQ, D, kCtaQ, D);
  if (n_tiles > 0) load_kv(0);
  cp_async_commit();

  const float* qs_head = p.q_scale + bh * p.q_scales_per_head;
  const int qblock = qtile * Tile::kWarps + warp;
  const float q_scale = p.q_per_thread ? qs_head[qblock * 8 + g] : qs_head[qblock];
  const float* ks_head =
      p.k_scale + bhk * p.k_scales_per_head + cta.k_row0 / Tile::kCtaK * (p.k_per_thread ? 4 : 1);
  auto k_scale_of = [&](int tile) {
    const int block = tile / kTilesPerKBlock;
    return p.k_per_thread ? ks_head[block * 4 + t] : ks_head[block];
  };

  using OAcc = typename std::conditional<W::kOHalf, uint32_t[kMT][W::kNO][2], float[kMT][W::kNO][4]>::type;
  OAcc o;
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
    for (int nt = 0; nt < W::kNO; ++nt) {
      if constexpr (W::kOHalf) {
        o[mt][nt][0] = o[mt][nt][1] = 0u;
      } else {
#pragma unroll
        for (int e = 0; e < 4; ++e) o[mt][nt][e] = 0.f;
      }
    }
  float m[kMT][2], l[kMT][2];
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt) m[mt][0] = m[mt][1] = -INFINITY, l[mt][0] = l[mt][1] = 0.f;

  float ks_next = 0.f;
  if (n_tiles > 0) ks_next = k_scale_of(0);
  for (int tile = 0; tile < n_tiles; ++tile) {
    // This tile's K scale was fetched one iteration ahead (its global latency is off the path).
    const float ks = ks_next;
    if (tile + 1 < n_tiles) ks_next = k_scale_of(tile + 1);
    cp_async_wait<0>();  // Q and tile `tile` have landed (the only group in flight)
    // One barrier per tile: it publishes tile `tile` to all warps and proves every warp is done
    // with tile - 1, whose stage the next load then refills while this tile is computed.
    __syncthreads();
    if constexpr (!kLoadLate) {
      if (tile + 1 < n_tiles) load_kv(tile + 1);
      cp_async_commit();
    }
    const uint32_t sK = sK0 + (tile % 2) * kStage, sV = sK + W::KTile::kBytes;
    // > 0 so that -inf * mult stays -inf for an all-zero (scale 0) row or tile.
    const float mult = fmaxf(q_scale * ks * p.score_scale, 1e-30f);
    // Base-2 logit = (kScoreMagic + S) * mult + bias (see qk_int8); bias's rounding shifts all of a
    // lane's logits alike by <= 2^-24 * kScoreMagic * mult, under 1 unit of S's quantization step.
    const float bias = -kScoreMagic * mult;
    const bool need_mask = tile >= kv_full_tiles || tile >= first_masked;
#pragma unroll
    for (int sub = 0; sub < kCtaK / W::kSubK; ++sub) {
      const int key0 = sub * W::kSubK;
      int s[kMT][W::kNS][4];
      qk_int8<D, PV, kKColOrder>(sQ, sK, key0, warp_row0, lane, s);
      if (kLoadLate && sub == 0) {  // the stage of tile - 1: free since the barrier
        if (tile + 1 < n_tiles) load_kv(tile + 1);
        cp_async_commit();
      }
      float sf[kMT][W::kNS][4];
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
        for (int j = 0; j < W::kNS; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e) sf[mt][j][e] = __int_as_float(s[mt][j][e]);
      if (need_mask) {
        const int tile_key0 = tile * kCtaK + key0;
#pragma unroll
        for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
          for (int j = 0; j < W::kNS; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              const int key = tile_key0 + key_of_col<W::kFp8>(j, 2 * t + (e % 2));
              const int row = q0 + warp_row0 + mt * 16 + g + (e / 2) * 8;
              if (key >= p.kv_len || (CAUSAL && key > row + diag)) sf[mt][j][e] = -INFINITY;
            }
      }
      if constexpr (W::kLazyMax != 0) {
        // Lazy max: only a vote on lane-local maxima before the exponentials (bench/mma_notes.md, round 5).
        if (!__any_sync(0xffffffffu, lazy_over<D, PV>(sf, mult, bias, m))) {
          lazy_p_pv<D, PV>(sf, mult, bias, m, l, sV, key0, lane, o);
          continue;
        }
      }
      uint32_t pa[kMT][W::kPSteps][4];
      online_softmax<D, PV>(sf, mult, bias, m, l, o, pa);
      if constexpr (W::kFp8) pack_p<D, PV>(sf, pa);
      if constexpr (W::kLByMma) row_sums_mma<D, PV>(pa, l);
      pv_mma<D, PV>(sV, key0, lane, pa, o);
    }
  }
  cp_async_wait<0>();

#pragma unroll
  for (int mt = 0; mt < kMT; ++mt) {
    float of[W::kNO][4];
#pragma unroll
    for (int nt = 0; nt < W::kNO; ++nt) {
      if constexpr (W::kOHalf) {
        const float2 a = unpack_half2(o[mt][nt][0]), c = unpack_half2(o[mt][nt][1]);
        of[nt][0] = a.x, of[nt][1] = a.y, of[nt][2] = c.x, of[nt][3] = c.y;
      } else {
#pragma unroll
        for (int e = 0; e < 4; ++e) of[nt][e] = o[mt][nt][e];
      }
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int row = q0 + warp_row0 + mt * 16 + g + r * 8;
      store_row<W::kNO, W::kFp8, W::kLByMma, VARLEN>(p, b, h, hk, row, t, m[mt][r], l[mt][r], of, r,
                                                      W::kPLog2Scale);
    }
  }
}

template <int D, bool CAUSAL, PvAccum PV, int MIN_BLOCKS = WarpTile<D, PV>::kMinBlocks>
__global__ void __launch_bounds__(MmaTile<D>::kThreads, MIN_BLOCKS) attn_kernel(const __grid_constant__ AttnParams p) {
  // Causal: the longest CTAs (last query tiles) start first.
  const int qtile = CAUSAL ? static_cast<int>(gridDim.x - 1 - blockIdx.x) : static_cast<int>(blockIdx.x);
  const int q0 = qtile * MmaTile<D>::kCtaQ;
  attn_body<D, CAUSAL, PV>(p, CtaRows{qtile, q0, static_cast<int>(blockIdx.y), static_cast<int>(blockIdx.z), q0, 0, 0});
}

// Packed sequences: CTA (x, h) takes padded q tile x of head h (common/varlen.cuh); a tile between windows, or
// past its sequence's rows, exits at once. The body sees the sequence as a batch of one: its lengths, its first
// token's output rows (lse [Hq, total_q]: a head every p.lse_sh floats), its keys from its window on.
template <int D, bool CAUSAL, PvAccum PV, int MIN_BLOCKS = WarpTile<D, PV>::kMinBlocks>
__global__ void __launch_bounds__(MmaTile<D>::kThreads, MIN_BLOCKS)
    attn_varlen_kernel(const __grid_constant__ AttnParams p) {
  constexpr int kCtaQ = MmaTile<D>::kCtaQ;
  static_assert(kVarlenTile % kCtaQ == 0 && kVarlenTile % MmaTile<D>::kCtaK == 0, "tiles must fit the windows");
  const int qtile = CAUSAL ? static_cast<int>(gridDim.x - 1 - blockIdx.x) : static_cast<int>(blockIdx.x);
  const int s = __ldg(p.q_tile_seq + qtile * kCtaQ / kVarlenTile);
  if (s < 0) return;
  const VarlenSeq sq = varlen_seq(p.cu_q, s, p.total_q);
  const int q0 = qtile * kCtaQ - sq.tile0 * kVarlenTile;
  if (q0 >= sq.len) return;
  const VarlenSeq sk = varlen_seq(p.cu_k, s, p.total_k);
  AttnParams ps = p;
  ps.qo_len = sq.len;
  ps.kv_len = sk.len;
  ps.out = static_cast<char*>(p.out) + static_cast<int64_t>(sq.tok0) * p.o_sn * 2;  // fp16 / bf16 elements
  ps.lse = p.lse ? p.lse + sq.tok0 : nullptr;
  attn_body<D, CAUSAL, PV, true>(ps, CtaRows{qtile, q0, static_cast<int>(blockIdx.y), 0, qtile * kCtaQ,
                                             static_cast<int64_t>(sk.tile0) * kVarlenTile, sk.tok0});
}

// Launches one of the attention kernels of (D, PV) with its shared memory.
template <int D, PvAccum PV, typename Kernel>
void launch_with_smem(Kernel kernel, dim3 grid, const AttnParams& p, cudaStream_t stream, const char* what) {
  constexpr int smem = attn_smem_bytes<D, PV>();
  if (smem > 48 * 1024) {
    const cudaError_t err = opt_in_dynamic_smem(reinterpret_cast<const void*>(kernel), smem);
    if (err != cudaSuccess) {
      int device = 0, limit = 0;
      cudaGetDevice(&device);
      cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
      SAGE_CHECK(false, what, " at head dim ", D, " needs ", smem, " bytes of shared memory per block; this GPU allows ",
                 limit, " (", cudaGetErrorString(err), "). sageattn() gives such calls to SDPA");
    }
  }
  kernel<<<grid, MmaTile<D>::kThreads, smem, stream>>>(p);
  check_launch(what);
}

// SAGEATTENTION_MMA_D64_CTAS: 2 or 3 picks one build of the kernels that have two (tests, A/B runs); 0 or unset, the
// grid does. Read on every launch, so that a bad value is an error whichever kernel the call takes.
inline int d64_ctas_knob() {
  const int forced = env_int("SAGEATTENTION_MMA_D64_CTAS", 0, 0, 3);
  SAGE_CHECK(forced != 1, "SAGEATTENTION_MMA_D64_CTAS must be 0 (by the grid), 2 or 3; got 1");
  return forced;
}

// Whether a grid of `ctas` takes the build for WarpTile::kWideMinBlocks CTAs per SM (false where there is none): from
// kWideMinWaves waves of the kMinBlocks build on, where the rounding of the last wave costs little.
constexpr int kWideMinWaves = 16;
template <int D, PvAccum PV>
bool use_wide_build(int64_t ctas) {
  const int forced = d64_ctas_knob();
  if constexpr (WarpTile<D, PV>::kWideMinBlocks == 0) {
    return false;
  } else {
    if (forced != 0) return forced == WarpTile<D, PV>::kWideMinBlocks;
    return ctas >= static_cast<int64_t>(kWideMinWaves) * WarpTile<D, PV>::kMinBlocks * current_multiprocessor_count();
  }
}

// The CTA budget of (D, PV)'s second build, or its only one's: the MIN_BLOCKS a launch names for its wide kernel.
template <int D, PvAccum PV>
constexpr int kWideOrOnlyBlocks =
    WarpTile<D, PV>::kWideMinBlocks != 0 ? WarpTile<D, PV>::kWideMinBlocks : WarpTile<D, PV>::kMinBlocks;

// Launches `wide` (the kWideMinBlocks build) where use_wide_build says so, else `narrow`.
template <int D, PvAccum PV, typename Kernel>
void launch_budgeted(Kernel narrow, Kernel wide, dim3 grid, const AttnParams& p, cudaStream_t stream,
                     const char* what) {
  const bool use_wide = use_wide_build<D, PV>(static_cast<int64_t>(grid.x) * grid.y * grid.z);
  launch_with_smem<D, PV>(use_wide ? wide : narrow, grid, p, stream, what);
}

template <int D, bool CAUSAL, int PV>
void launch_attn(const AttnParams& p, cudaStream_t stream) {
  constexpr PvAccum kPv = static_cast<PvAccum>(PV);
  const dim3 grid((p.qo_len + MmaTile<D>::kCtaQ - 1) / MmaTile<D>::kCtaQ, p.hq, p.batch);
  launch_budgeted<D, kPv>(attn_kernel<D, CAUSAL, kPv>, attn_kernel<D, CAUSAL, kPv, kWideOrOnlyBlocks<D, kPv>>, grid,
                          p, stream, "sageattention mma attention");
}

// Packed sequences: one CTA per padded q tile and head (p.nq_pad rows per head, batch 1).
template <int D, bool CAUSAL, int PV>
void launch_attn_varlen(const AttnParams& p, cudaStream_t stream) {
  constexpr PvAccum kPv = static_cast<PvAccum>(PV);
  const dim3 grid(p.nq_pad / MmaTile<D>::kCtaQ, p.hq, 1);
  launch_budgeted<D, kPv>(attn_varlen_kernel<D, CAUSAL, kPv>,
                          attn_varlen_kernel<D, CAUSAL, kPv, kWideOrOnlyBlocks<D, kPv>>, grid, p, stream,
                          "sageattention mma attention (varlen)");
}

// One line per (head dim, accumulation policy) that packed sequences run: both causal variants.
#define SAGE_MMA_INSTANTIATE_VARLEN(D, PV)                                                   \
  template void launch_attn_varlen<D, false, static_cast<int>(PV)>(const AttnParams&, cudaStream_t); \
  template void launch_attn_varlen<D, true, static_cast<int>(PV)>(const AttnParams&, cudaStream_t);

// One line per (head dim, accumulation policy): both causal variants.
#define SAGE_MMA_INSTANTIATE(D, PV)                                                   \
  template void launch_attn<D, false, static_cast<int>(PV)>(const AttnParams&, cudaStream_t); \
  template void launch_attn<D, true, static_cast<int>(PV)>(const AttnParams&, cudaStream_t);

}  // namespace sage::mma
