// Instantiations of the sm_90a attention kernel for head dim 256: single level only (TileTraits).
#include "sm90/kernel.cuh"

namespace sage::sm90 {
template void launch_attn<256, false, __half, false>(const CUtensorMap&, const CUtensorMap&, const CUtensorMap&,
                                    const AttnParams&, int, bool, cudaStream_t);
template void launch_attn<256, false, __nv_bfloat16, false>(const CUtensorMap&, const CUtensorMap&, const CUtensorMap&,
                                    const AttnParams&, int, bool, cudaStream_t);
template void launch_attn<256, true, __half, false>(const CUtensorMap&, const CUtensorMap&, const CUtensorMap&,
                                    const AttnParams&, int, bool, cudaStream_t);
template void launch_attn<256, true, __nv_bfloat16, false>(const CUtensorMap&, const CUtensorMap&, const CUtensorMap&,
                                    const AttnParams&, int, bool, cudaStream_t);
}  // namespace sage::sm90
