// Instantiations of the sm_90a attention kernel with INT8 PV (head dims 64, 128 and 256, causal or not, f16 or bf16
// out). One file: twelve kernels plus the D128 non-causal multicast pairs.
#include "sm90/kernel.cuh"

namespace sage::sm90 {
#define SAGE_INST_PVS8(D, CAUSAL, OUT)                                                                           \
  template void launch_attn_s8<D, CAUSAL, OUT>(const CUtensorMap&, const CUtensorMap&, const CUtensorMap&, \
                                               const AttnParams&, int, bool, cudaStream_t);
SAGE_INST_PVS8(64, false, __half)
SAGE_INST_PVS8(64, true, __half)
SAGE_INST_PVS8(64, false, __nv_bfloat16)
SAGE_INST_PVS8(64, true, __nv_bfloat16)
SAGE_INST_PVS8(128, false, __half)
SAGE_INST_PVS8(128, true, __half)
SAGE_INST_PVS8(128, false, __nv_bfloat16)
SAGE_INST_PVS8(128, true, __nv_bfloat16)
SAGE_INST_PVS8(256, false, __half)
SAGE_INST_PVS8(256, true, __half)
SAGE_INST_PVS8(256, false, __nv_bfloat16)
SAGE_INST_PVS8(256, true, __nv_bfloat16)
#undef SAGE_INST_PVS8
}  // namespace sage::sm90
