// Instantiations of the sm_90a varlen attention kernel (packed sequences) for head dim 256: a file of their own so
// the build compiles them beside the batch kernels.
#include "sm90/kernel.cuh"

namespace sage::sm90 {
template void launch_attn_varlen<256, false, __half>(const CUtensorMap&, const CUtensorMap&, const CUtensorMap&,
                                                   const AttnParams&, int, cudaStream_t);
template void launch_attn_varlen<256, false, __nv_bfloat16>(const CUtensorMap&, const CUtensorMap&,
                                                          const CUtensorMap&, const AttnParams&, int, cudaStream_t);
template void launch_attn_varlen<256, true, __half>(const CUtensorMap&, const CUtensorMap&, const CUtensorMap&,
                                                  const AttnParams&, int, cudaStream_t);
template void launch_attn_varlen<256, true, __nv_bfloat16>(const CUtensorMap&, const CUtensorMap&,
                                                         const CUtensorMap&, const AttnParams&, int, cudaStream_t);
}  // namespace sage::sm90
