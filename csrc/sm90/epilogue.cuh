// Epilogue: O / l * v_scale (+ mean_v) in the caller's dtype and layout, and the LSE.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "common/vec_io.cuh"  // sage::from_float
#include "sm90/mainloop.cuh"

namespace sage::sm90 {

// kVarlen: out and lse point at the sequence's first token (lse [Hq, total_q], a head every p.lse_sh floats).
// kVScaled: V was quantized with per-channel scales p.v_scale (e4m3 or s8 PV); false for 16-bit PV (the caller's V).
// p_offset: log2 of P~'s value at the reference max (kFp8Offset; INT8 PV kU8Offset), taken out of the LSE.
template <int D, typename OutT, bool kVarlen = false, bool kVScaled = true>
__device__ __forceinline__ void store_output(const AttnParams& p, RowState<D>& st, int b, int h, int hk, int row0,
                                             int lane, float p_offset = kFp8Offset) {
  constexpr int kPairs = D / 8;  // column pairs of a thread: {jb * 8 + 2t, jb * 8 + 2t + 1}
  const int t = lane & 3;
  float inv[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    st.l[r] += __shfl_xor_sync(0xffffffffu, st.l[r], 1);
    st.l[r] += __shfl_xor_sync(0xffffffffu, st.l[r], 2);
    inv[r] = st.l[r] > 0.f ? 1.f / st.l[r] : 0.f;  // a row that saw no key writes 0
  }
  const int64_t bhk = static_cast<int64_t>(b) * p.hkv + hk;
  const float* vm = p.v_mean ? p.v_mean + bhk * p.head_dim : nullptr;
  // The thread's V scales (and V means) are all loaded before the first use: issued together they
  // cost one memory round trip. Loaded next to each use, behind the per-column branches, they cost
  // one round trip per column pair: ~10k SM clocks per D128 work item, three KV steps' worth
  // (bench/sm90_trace.py; bench/NOTES.md, v13). At D256 O holds 128 registers, so they come in batches of
  // kLoadPairs (32 registers), the later batches reloaded where they are used. The reload repeats this loop
  // rather than share it: a lambda or a helper for both moved ptxas' schedule of the D128 varlen or causal kernels.
  constexpr int kLoadPairs = D > 128 ? 8 : kPairs;
  float2 vs[kLoadPairs];
  float2 vmean[kLoadPairs];
#pragma unroll
  for (int jb = 0; jb < kLoadPairs; ++jb) {
    const int col = jb * 8 + 2 * t;
    if constexpr (kVScaled) vs[jb] = *reinterpret_cast<const float2*>(p.v_scale + bhk * D + col);  // [B, Hkv, D_pad]
    else vs[jb] = make_float2(1.f, 1.f);
    vmean[jb].x = (vm && col < p.head_dim) ? vm[col] : 0.f;
    vmean[jb].y = (vm && col + 1 < p.head_dim) ? vm[col + 1] : 0.f;
  }
  OutT* out = static_cast<OutT*>(p.out) + b * p.out_sb + h * p.out_sh;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = row0 + 8 * r;
    if (row >= p.qo_len) continue;
    OutT* orow = out + row * p.out_sn;
    const bool visible = st.l[r] > 0.f;
#pragma unroll
    for (int jb = 0; jb < kPairs; ++jb) {
      if constexpr (kLoadPairs != kPairs) {
        if (jb % kLoadPairs == 0 && (r > 0 || jb > 0)) {
#pragma unroll
          for (int j = 0; j < kLoadPairs; ++j) {
            const int col = (jb + j) * 8 + 2 * t;
            if constexpr (kVScaled) vs[j] = *reinterpret_cast<const float2*>(p.v_scale + bhk * D + col);
            else vs[j] = make_float2(1.f, 1.f);  // unscaled V (16-bit PV) has no scales: p.v_scale is null
            vmean[j].x = (vm && col < p.head_dim) ? vm[col] : 0.f;
            vmean[j].y = (vm && col + 1 < p.head_dim) ? vm[col + 1] : 0.f;
          }
        }
      }
      const int j = jb % kLoadPairs;
      const int col = jb * 8 + 2 * t;
      float x[2] = {st.o[jb * 4 + 2 * r] * inv[r] * vs[j].x, st.o[jb * 4 + 2 * r + 1] * inv[r] * vs[j].y};
      if (visible) {
        x[0] += vmean[j].x;
        x[1] += vmean[j].y;
      }
      if (col + 1 < p.head_dim && (p.head_dim & 1) == 0) {
        if constexpr (sizeof(OutT) == 2) {
          OutT pair[2] = {from_float<OutT>(x[0]), from_float<OutT>(x[1])};
          *reinterpret_cast<uint32_t*>(orow + col) = *reinterpret_cast<const uint32_t*>(pair);
        }
      } else {
        if (col < p.head_dim) orow[col] = from_float<OutT>(x[0]);
        if (col + 1 < p.head_dim) orow[col + 1] = from_float<OutT>(x[1]);
      }
    }
    if (p.lse && t == 0) {
      const int64_t head = kVarlen ? h * p.lse_sh : (static_cast<int64_t>(b) * p.hq + h) * p.qo_len;
      p.lse[head + row] =
          visible ? (st.m[r] + log2f(st.l[r]) - p_offset) * 0.6931471805599453f : -INFINITY;
    }
  }
}

}  // namespace sage::sm90
