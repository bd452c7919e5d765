// FP8-PV steps shared by qk_int8_sv_f8_attn (attn_op.cu) and sageattn_mma_f8 (fused_op.cu): the
// accumulation choice and the launch.
#pragma once

#include <cstdint>

#include "common/mma/attn_host.h"
#include "common/stable_op.h"

namespace sage::mma {

inline void check_f8_pv_accum(int64_t pv_accum) {
  SAGE_CHECK(pv_accum >= 0 && pv_accum <= 2, "pv_accum must be 0 (fp32), 1 (fp32+fp32) or 2 (fp32+fp16), got ",
             pv_accum);
  SAGE_CHECK(pv_accum != 2 || SAGE_FP8_F16_ACCUM,
             "pv_accum 'fp32+fp16' needs the f16-accumulating FP8 MMA, which this build lacks (nvcc < 12.8)");
}

// Enqueues the attention kernel of this accumulation on `stream` (the caller holds the DeviceGuard).
inline void launch_f8_attn(const AttnCall& c, bool is_causal, int64_t pv_accum, cudaStream_t stream) {
  switch (pv_accum) {
    case 0: dispatch_attn<static_cast<int>(PvAccum::kF8F32)>(c, is_causal, stream); break;
    case 1: dispatch_attn<static_cast<int>(PvAccum::kF8F32F32)>(c, is_causal, stream); break;
#if SAGE_FP8_F16_ACCUM
    default: dispatch_attn<static_cast<int>(PvAccum::kF8F32F16)>(c, is_causal, stream); break;
#else
    default: break;  // refused by check_f8_pv_accum
#endif
  }
}

}  // namespace sage::mma
