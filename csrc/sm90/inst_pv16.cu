// Instantiations of the sm_90a attention kernel with 16-bit PV (head dims 64, 128 and 256, causal or not, f16 or bf16:
// PV runs in the output's type). One file: twelve kernels plus the D128 non-causal multicast pair.
#include "sm90/kernel.cuh"

namespace sage::sm90 {
#define SAGE_INST_PV16(D, CAUSAL, OUT)                                                                             \
  template void launch_attn_pv16<D, CAUSAL, OUT>(const CUtensorMap&, const CUtensorMap&, const CUtensorMap&, \
                                                 const AttnParams&, int, bool, cudaStream_t);
SAGE_INST_PV16(64, false, __half)
SAGE_INST_PV16(64, true, __half)
SAGE_INST_PV16(64, false, __nv_bfloat16)
SAGE_INST_PV16(64, true, __nv_bfloat16)
SAGE_INST_PV16(128, false, __half)
SAGE_INST_PV16(128, true, __half)
SAGE_INST_PV16(128, false, __nv_bfloat16)
SAGE_INST_PV16(128, true, __nv_bfloat16)
SAGE_INST_PV16(256, false, __half)
SAGE_INST_PV16(256, true, __half)
SAGE_INST_PV16(256, false, __nv_bfloat16)
SAGE_INST_PV16(256, true, __nv_bfloat16)
#undef SAGE_INST_PV16
}  // namespace sage::sm90
