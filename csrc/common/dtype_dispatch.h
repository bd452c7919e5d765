// Map a runtime ScalarType to a CUDA element type for a templated launch.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "common/stable_op.h"

#define SAGE_DISPATCH_FLOATING(stype, name, ...)                                   \
  [&] {                                                                            \
    switch (stype) {                                                               \
      case sage::ScalarType::Half: {                                               \
        using scalar_t = __half;                                                   \
        return __VA_ARGS__();                                                      \
      }                                                                            \
      case sage::ScalarType::BFloat16: {                                           \
        using scalar_t = __nv_bfloat16;                                            \
        return __VA_ARGS__();                                                      \
      }                                                                            \
      case sage::ScalarType::Float: {                                              \
        using scalar_t = float;                                                    \
        return __VA_ARGS__();                                                      \
      }                                                                            \
      default:                                                                     \
        SAGE_CHECK(false, name, " must be float16, bfloat16 or float32");             \
    }                                                                              \
  }()

// fp16 and bf16 only: the fused attention ops take what sageattn runs, so their modules instantiate
// no float32 quantization kernels.
#define SAGE_DISPATCH_HALF(stype, name, ...)                                       \
  [&] {                                                                            \
    switch (stype) {                                                               \
      case sage::ScalarType::Half: {                                               \
        using scalar_t = __half;                                                   \
        return __VA_ARGS__();                                                      \
      }                                                                            \
      case sage::ScalarType::BFloat16: {                                           \
        using scalar_t = __nv_bfloat16;                                            \
        return __VA_ARGS__();                                                      \
      }                                                                            \
      default:                                                                     \
        SAGE_CHECK(false, name, " must be float16 or bfloat16");                   \
    }                                                                              \
  }()
