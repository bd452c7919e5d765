// Explicit instantiations: FP8-PV attention, head dim 256 (all accumulation policies, causal or not).
#include "common/mma/attn_kernel.cuh"

namespace sage::mma {
SAGE_MMA_INSTANTIATE(256, PvAccum::kF8F32)
SAGE_MMA_INSTANTIATE(256, PvAccum::kF8F32F32)
#if SAGE_FP8_F16_ACCUM
SAGE_MMA_INSTANTIATE(256, PvAccum::kF8F32F16)
#endif
}  // namespace sage::mma
