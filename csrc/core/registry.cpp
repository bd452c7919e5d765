// The op contract of the sageattention namespace: every schema the core module defines.
// Kernel families in other modules add theirs with STABLE_TORCH_LIBRARY_FRAGMENT.
#include "common/stable_op.h"

SAGE_PYMODULE(_C)

STABLE_TORCH_LIBRARY(sageattention, m) {
  // Per-(batch, head, channel) mean over tokens, and max |x - mean| (centered) or max |x|.
  m.def("channel_stats(Tensor x, int tensor_layout, bool centered) -> (Tensor mean, Tensor absmax)");
  // Symmetric INT8 with fp32 scales. Tokens are split into blocks of block_size; inside a block,
  // token i belongs to scale group (i % group_period) / group_stride. Output is HND
  // [B, H, N_pad, head_dim_padded], zero-filled past N and D; `mean` ([B, H, D] fp32) is
  // subtracted first (smooth K).
  m.def(
      "quant_int8(Tensor x, int tensor_layout, int block_size, int group_period, int group_stride, "
      "int head_dim_padded, int pad_multiple, Tensor? mean) -> (Tensor x_int8, Tensor scale)");
  // Per-channel FP8 e4m3: scale = absmax / scale_max; output transposed to [B, H, head_dim_padded,
  // N_pad] (tokens contiguous, the K-major B operand of the PV MMA), zero-filled past N and D.
  m.def(
      "quant_v_fp8(Tensor v, int tensor_layout, int pad_multiple, int head_dim_padded, float scale_max, "
      "Tensor absmax, Tensor? mean) -> (Tensor v_fp8, Tensor scale)");
}
