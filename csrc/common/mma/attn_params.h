// The one argument struct of the mma.sync attention kernels (passed as a __grid_constant__).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace sage::mma {

struct AttnParams {
  const int8_t* q;        // [B, Hq, nq_pad, D] INT8, contiguous (quant_int8 output)
  const int8_t* k;        // [B, Hkv, nk_pad, D] INT8, contiguous, smooth-K applied
  const void* v;          // FP16 PV: fp16 [B, Hkv, kv_len, v_dim] with strides v_s*; FP8 PV: e4m3 [B, Hkv, D, nk_pad]
  const float* q_scale;   // [B, Hq, q_scales_per_head]
  const float* k_scale;   // [B, Hkv, k_scales_per_head]
  const float* v_scale;   // FP8 PV: [B, Hkv, D] per-channel scale; else null
  const float* v_mean;    // smooth V: [B, Hkv, head_dim] added back in the epilogue; else null
  void* out;              // fp16/bf16, row (b, h, i) at b*o_sb + h*o_sh + i*o_sn, head_dim elements
  float* lse;             // [B, Hq, qo_len] natural log, or null
  int64_t v_sb, v_sh, v_sn;  // FP16 V strides in elements
  int64_t o_sb, o_sh, o_sn;  // output strides in elements
  int qo_len, kv_len, nq_pad, nk_pad;
  int head_dim;           // original head dim (output columns)
  int v_dim;              // FP16 V columns present in memory (multiple of 8, <= D); the rest are zeros
  int batch, hq, hkv;
  int q_scales_per_head, k_scales_per_head;
  float score_scale;      // sm_scale * log2(e): base-2 logits
  bool q_per_thread, k_per_thread, out_bf16;
  // Packed sequences (attn_varlen_kernel; common/varlen.cuh): batch 1, the quantized Q/K (and FP8 V) hold every
  // sequence in a window of padded 128-row tiles; FP16 V and out are the packs themselves.
  const int* cu_q;        // [seqs + 1] token offsets in q / out
  const int* cu_k;        // [seqs + 1] token offsets in k / v
  const int* q_tile_seq;  // [nq_pad / 128] the sequence of each padded Q window tile, -1 for none
  int total_q, total_k;   // tokens of the packs (cu values are clamped into [0, total])
  int64_t lse_sh;         // lse [Hq, total_q]: the stride of a head
};

// Implemented by explicit instantiations in csrc/mma_fp16/attn_*.cu and csrc/mma_fp8/attn_*.cu.
template <int D, bool CAUSAL, int PV>
void launch_attn(const AttnParams& p, cudaStream_t stream);
template <int D, bool CAUSAL, int PV>
void launch_attn_varlen(const AttnParams& p, cudaStream_t stream);

}  // namespace sage::mma
