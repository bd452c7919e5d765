// Epilogue: O / l * v_scale (+ mean_v) in the caller's dtype and layout, and the LSE.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "common/vec_io.cuh"  // sage::from_float
#include "sm90/mainloop.cuh"

namespace sage::sm90 {

template <int D, typename OutT>
__device__ __forceinline__ void store_output(const AttnParams& p, RowState<D>& st, int b, int h, int hk, int row0,
                                             int lane) {
  const int t = lane & 3;
  float inv[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    st.l[r] += __shfl_xor_sync(0xffffffffu, st.l[r], 1);
    st.l[r] += __shfl_xor_sync(0xffffffffu, st.l[r], 2);
    inv[r] = st.l[r] > 0.f ? 1.f / st.l[r] : 0.f;  // a row that saw no key writes 0
  }
  const int64_t bhk = static_cast<int64_t>(b) * p.hkv + hk;
  const float* vs = p.v_scale + bhk * D;
  const float* vm = p.v_mean ? p.v_mean + bhk * p.head_dim : nullptr;
  OutT* out = static_cast<OutT*>(p.out) + b * p.out_sb + h * p.out_sh;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = row0 + 8 * r;
    if (row >= p.qo_len) continue;
    OutT* orow = out + row * p.out_sn;
    const bool visible = st.l[r] > 0.f;
#pragma unroll
    for (int jb = 0; jb < D / 8; ++jb) {
      const int col = jb * 8 + 2 * t;
      float x[2];
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int c = min(col + e, D - 1);
        x[e] = st.o[jb * 4 + 2 * r + e] * inv[r] * vs[c];
        if (vm && visible && col + e < p.head_dim) x[e] += vm[col + e];
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
      p.lse[(static_cast<int64_t>(b) * p.hq + h) * p.qo_len + row] =
          visible ? (st.m[r] + log2f(st.l[r]) - kFp8Offset) * 0.6931471805599453f : -INFINITY;
    }
  }
}

}  // namespace sage::sm90
