// Host-side interface between the op (attn_op.cu) and the explicitly instantiated kernels
// (inst_hdim*.cu): one launch_attn per head dim x causal x output dtype.
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include "sm90/tile.cuh"

namespace sage::sm90 {

template <int D, bool CAUSAL, typename OutT>
void launch_attn(const CUtensorMap& tm_q, const CUtensorMap& tm_k, const CUtensorMap& tm_v, const AttnParams& p,
                 int batch, cudaStream_t stream);

}  // namespace sage::sm90
