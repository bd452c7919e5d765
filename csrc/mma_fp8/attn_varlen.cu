// Explicit instantiations: FP8-PV attention on packed sequences (the build's default accumulation, every head
// dim; sageattn_mma_f8_varlen in varlen_op.cu).
#include "common/mma/attn_kernel.cuh"

namespace sage::mma {
#if SAGE_FP8_F16_ACCUM
SAGE_MMA_INSTANTIATE_VARLEN(64, PvAccum::kF8F32F16)
SAGE_MMA_INSTANTIATE_VARLEN(128, PvAccum::kF8F32F16)
SAGE_MMA_INSTANTIATE_VARLEN(256, PvAccum::kF8F32F16)
#else
SAGE_MMA_INSTANTIATE_VARLEN(64, PvAccum::kF8F32F32)
SAGE_MMA_INSTANTIATE_VARLEN(128, PvAccum::kF8F32F32)
SAGE_MMA_INSTANTIATE_VARLEN(256, PvAccum::kF8F32F32)
#endif
}  // namespace sage::mma
