// Host-side interface between the op (attn_op.cu) and the explicitly instantiated kernels
// (inst_hdim*.cu): one launch_attn per head dim x causal x output dtype x accumulation mode
// (kTwoLevel: "fp32+fp32", a fresh PV accumulator per tile; else "fp32", PV straight into O).
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include "sm90/tile.cuh"

namespace sage::sm90 {

template <int D, bool CAUSAL, typename OutT, bool kTwoLevel>
void launch_attn(const CUtensorMap& tm_q, const CUtensorMap& tm_k, const CUtensorMap& tm_v, const AttnParams& p,
                 int sm_count, bool persistent, cudaStream_t stream);

// 16-bit PV in OutT (single level, head dims 64, 128 and 256; inst_pv16.cu): tm_v maps the caller's V (attn_op.cu).
template <int D, bool CAUSAL, typename OutT>
void launch_attn_pv16(const CUtensorMap& tm_q, const CUtensorMap& tm_k, const CUtensorMap& tm_v, const AttnParams& p,
                      int sm_count, bool persistent, cudaStream_t stream);

// INT8 PV (single level, head dims 64, 128 and 256; inst_pvs8.cu): tm_v maps the s8 V, laid out as the e4m3 one.
template <int D, bool CAUSAL, typename OutT>
void launch_attn_s8(const CUtensorMap& tm_q, const CUtensorMap& tm_k, const CUtensorMap& tm_v, const AttnParams& p,
                    int sm_count, bool persistent, cudaStream_t stream);

// Packed sequences (single level; inst_hdim*.cu instantiate it per causal x output dtype).
template <int D, bool CAUSAL, typename OutT>
void launch_attn_varlen(const CUtensorMap& tm_q, const CUtensorMap& tm_k, const CUtensorMap& tm_v, const AttnParams& p,
                        int sm_count, cudaStream_t stream);

}  // namespace sage::sm90
