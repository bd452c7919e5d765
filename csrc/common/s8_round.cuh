// Float -> int8 bits without F2I (a quarter-rate instruction on sm_80..sm_90), shared by the quantization kernels.
#pragma once

#include <cstdint>

#include "common/int8_score.cuh"  // kScoreMagic = 1.5 * 2^23

namespace sage {

// The low byte of the result is __float2int_rn(x * inv)'s for |x * inv| < 2^22: adding 1.5 * 2^23 rounds to an
// integer (half to even) in the low mantissa bits. The product must be rounded on its own (no fma contraction).
__device__ __forceinline__ int round_s8_bits(float x, float inv) {
  return __float_as_int(__fadd_rn(__fmul_rn(x, inv), kScoreMagic));
}

// Bytes 0 of a, b, c, d as one word (a lowest).
__device__ __forceinline__ uint32_t pack_s8x4(int a, int b, int c, int d) {
  return __byte_perm(__byte_perm(a, b, 0x0040), __byte_perm(c, d, 0x0040), 0x5410);
}

}  // namespace sage
