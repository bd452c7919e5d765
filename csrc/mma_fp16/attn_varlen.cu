// Explicit instantiations: FP16-PV attention on packed sequences ("fp32" accumulation, every head dim).
#include "common/mma/attn_kernel.cuh"

namespace sage::mma {
SAGE_MMA_INSTANTIATE_VARLEN(64, PvAccum::kF16F32)
SAGE_MMA_INSTANTIATE_VARLEN(128, PvAccum::kF16F32)
SAGE_MMA_INSTANTIATE_VARLEN(256, PvAccum::kF16F32)
}  // namespace sage::mma
