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

namespace sage {

template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ __half from_float<__half>(float x) { return __float2half(x); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16(x); }
template <>
__device__ __forceinline__ float from_float<float>(float x) { return x; }

// Eight consecutive elements of a row kept in their storage type: half the registers of fp32 for
// 16-bit inputs, so a thread can hold more loads in flight before it needs the values.
template <typename T>
struct alignas(sizeof(T) * 8) Chunk8 {
  T e[8];
};

// x[c0 .. c0+7] (zeros past `valid`) as one or two vector loads when VEC and the chunk is whole.
template <typename T, bool VEC>
__device__ __forceinline__ Chunk8<T> load_chunk8(const T* row, int c0, int valid) {
  Chunk8<T> c;
  if constexpr (VEC) {
    if (c0 + 8 <= valid) {
      const uint4* src = reinterpret_cast<const uint4*>(row + c0);
      uint4* dst = reinterpret_cast<uint4*>(&c);
#pragma unroll
      for (int i = 0; i < static_cast<int>(sizeof(Chunk8<T>) / 16); ++i) dst[i] = src[i];
      return c;
    }
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) c.e[i] = (c0 + i < valid) ? row[c0 + i] : from_float<T>(0.f);
  return c;
}

template <typename T>
__device__ __forceinline__ void chunk_to_float(const Chunk8<T>& c, float v[8]) {
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = to_float(c.e[i]);
}

}  // namespace sage
