// Map a runtime ScalarType to a CUDA element type for a templated launch.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "common/stable_op.h"

// One case of a dispatch switch: scalar_t is `type` inside the lambda.
#define SAGE_DISPATCH_CASE_(scalar_type, type, ...) \
  case scalar_type: {                               \
    using scalar_t = type;                          \
    return __VA_ARGS__();                           \
  }

#define SAGE_DISPATCH_FLOATING(stype, name, ...)                                 \
  [&] {                                                                          \
    switch (stype) {                                                             \
      SAGE_DISPATCH_CASE_(sage::ScalarType::Half, __half, __VA_ARGS__)           \
      SAGE_DISPATCH_CASE_(sage::ScalarType::BFloat16, __nv_bfloat16, __VA_ARGS__) \
      SAGE_DISPATCH_CASE_(sage::ScalarType::Float, float, __VA_ARGS__)           \
      default:                                                                   \
        SAGE_CHECK(false, name, " must be float16, bfloat16 or float32");          \
    }                                                                            \
  }()

// fp16 and bf16 only: the fused attention ops take what sageattn runs, so their modules instantiate
// no float32 quantization kernels.
#define SAGE_DISPATCH_HALF(stype, name, ...)                                     \
  [&] {                                                                          \
    switch (stype) {                                                             \
      SAGE_DISPATCH_CASE_(sage::ScalarType::Half, __half, __VA_ARGS__)           \
      SAGE_DISPATCH_CASE_(sage::ScalarType::BFloat16, __nv_bfloat16, __VA_ARGS__) \
      default:                                                                   \
        SAGE_CHECK(false, name, " must be float16 or bfloat16");                 \
    }                                                                            \
  }()
