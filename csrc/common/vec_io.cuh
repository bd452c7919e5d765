// Device helpers: load 8 consecutive elements of a row as fp32, with bounds and alignment handled.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace sage {

__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_float(float x) { return x; }

// Loads x[c0 .. c0+7] of one row into v (zeros past `valid`). VEC: 16-byte aligned full chunks.
template <typename T, bool VEC>
__device__ __forceinline__ void load8(const T* row, int c0, int valid, float v[8]) {
  if constexpr (VEC && sizeof(T) == 2) {
    if (c0 + 8 <= valid) {
      uint4 raw = *reinterpret_cast<const uint4*>(row + c0);
      const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
      for (int i = 0; i < 8; ++i) v[i] = to_float(e[i]);
      return;
    }
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = (c0 + i < valid) ? to_float(row[c0 + i]) : 0.f;
}

}  // namespace sage
