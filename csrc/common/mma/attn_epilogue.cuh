// Epilogue of the mma.sync attention kernels: O / l, per-channel V scale (FP8), + mean V (smooth V),
// store in the output dtype; LSE in natural log. Rows with no visible key get O = 0, lse = -inf.
#pragma once

#include <cmath>

#include "common/mma/attn_params.h"
#include "common/mma/ptx.cuh"

namespace sage::mma {

template <typename T>
__device__ __forceinline__ void store_out(void* base, int64_t idx, float a, float b, bool pair, bool second_ok) {
  T* p = static_cast<T*>(base) + idx;
  if (pair) {
    if constexpr (std::is_same<T, __half>::value) {
      *reinterpret_cast<__half2*>(p) = __floats2half2_rn(a, b);
    } else {
      *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(a, b);
    }
  } else {
    p[0] = static_cast<T>(a);
    if (second_ok) p[1] = static_cast<T>(b);
  }
}

// o: fp32 view of one row tile row pair; called per (row tile, row half r). l_lane is the lane's
// partial row sum (summed over the row's 4 lanes here), or the full sum when L_FULL. p_log2_scale: log2 of the factor
// the kernel's P carried (WarpTile::kPLog2Scale), which l holds too and the LSE must not.
// VARLEN: out and lse point at the sequence's first token; lse is [Hq, total_q], a head every p.lse_sh floats.
template <int NO, bool FP8, bool L_FULL, bool VARLEN = false>
__device__ __forceinline__ void store_row(const AttnParams& p, int b, int h, int hk, int row, int t, float m,
                                          float l_lane, const float (&o)[NO][4], int r, float p_log2_scale) {
  float l = l_lane;
  if constexpr (!L_FULL) {
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
  }
  if (row >= p.qo_len) return;
  const bool visible = l > 0.f;
  const float inv = visible ? 1.f / l : 0.f;
  const int64_t bhk = static_cast<int64_t>(b) * p.hkv + hk;
  const float* vs = FP8 ? p.v_scale + bhk * (NO * 8) : nullptr;
  const float* vm = p.v_mean ? p.v_mean + bhk * p.head_dim : nullptr;
  const int64_t orow = static_cast<int64_t>(b) * p.o_sb + static_cast<int64_t>(h) * p.o_sh +
                       static_cast<int64_t>(row) * p.o_sn;
  const bool pair = (p.head_dim % 2) == 0;
  // V scales loaded together before the first use: one memory round trip instead of one per
  // column pair behind the branches below (the sm90 epilogue measured ~10k SM clocks per D128 tile
  // the other way; bench/NOTES.md, v13).
  float2 vsc[NO];
#pragma unroll
  for (int nt = 0; nt < NO; ++nt) {
    vsc[nt] = FP8 ? *reinterpret_cast<const float2*>(vs + nt * 8 + 2 * t) : make_float2(1.f, 1.f);  // 8-byte aligned
  }
#pragma unroll
  for (int nt = 0; nt < NO; ++nt) {
    const int col = nt * 8 + 2 * t;
    if (col >= p.head_dim) continue;
    const bool second = col + 1 < p.head_dim;
    float x0 = o[nt][2 * r] * inv, x1 = o[nt][2 * r + 1] * inv;
    if constexpr (FP8) {
      x0 *= vsc[nt].x;
      x1 *= vsc[nt].y;
    }
    if (vm != nullptr && visible) {
      x0 += vm[col];
      if (second) x1 += vm[col + 1];
    }
    if (p.out_bf16) {
      store_out<__nv_bfloat16>(p.out, orow + col, x0, x1, pair, second);
    } else {
      store_out<__half>(p.out, orow + col, x0, x1, pair, second);
    }
  }
  if (p.lse != nullptr && t == 0) {
    const float lse2 = m + log2f(visible ? l : 1.f) - p_log2_scale;
    const int64_t head = VARLEN ? h * p.lse_sh : (static_cast<int64_t>(b) * p.hq + h) * p.qo_len;
    p.lse[head + row] = visible ? lse2 * 0.69314718055994531f : -INFINITY;
  }
}

}  // namespace sage::mma
