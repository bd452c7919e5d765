// Instantiations of the sm_90a attention kernel for head dim 64.
#include "sm90/kernel.cuh"

namespace sage::sm90 {
template void launch_attn<64, false, __half, true>(const CUtensorMap&, const CUtensorMap&, const CUtensorMap&,
                                    const AttnParams&, int, bool, cudaStream_t);
template void launch_attn<64, false, __half, false>(const CUtensorMap&, const CUtensorMap&, const CUtensorMap&,
                                    const AttnParams&, int, bool, cudaStream_t);
template void launch_attn<64, false, __nv_bfloat16, true>(const CUtensorMap&, const CUtensorMap&, const CUtensorMap&,
                                    const AttnParams&, int, bool, cudaStream_t);
template void launch_attn<64, false, __nv_bfloat16, false>(const CUtensorMap&, const CUtensorMap&, const CUtensorMap&,
                                    const AttnParams&, int, bool, cudaStream_t);
template void launch_attn<64, true, __half, true>(const CUtensorMap&, const CUtensorMap&, const CUtensorMap&,
                                    const AttnParams&, int, bool, cudaStream_t);
template void launch_attn<64, true, __half, false>(const CUtensorMap&, const CUtensorMap&, const CUtensorMap&,
                                    const AttnParams&, int, bool, cudaStream_t);
template void launch_attn<64, true, __nv_bfloat16, true>(const CUtensorMap&, const CUtensorMap&, const CUtensorMap&,
                                    const AttnParams&, int, bool, cudaStream_t);
template void launch_attn<64, true, __nv_bfloat16, false>(const CUtensorMap&, const CUtensorMap&, const CUtensorMap&,
                                    const AttnParams&, int, bool, cudaStream_t);
}  // namespace sage::sm90
