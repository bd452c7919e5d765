// Explicit instantiations: FP16-PV attention, head dim 256 (all accumulation policies, causal or not).
#include "common/mma/attn_kernel.cuh"

namespace sage::mma {
SAGE_MMA_INSTANTIATE(256, PvAccum::kF16F32)
SAGE_MMA_INSTANTIATE(256, PvAccum::kF16F16F32)
SAGE_MMA_INSTANTIATE(256, PvAccum::kF16F16)
}  // namespace sage::mma
