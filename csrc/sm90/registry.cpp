// Op schemas of the sm90 kernel family (module sageattention._C_sm90).
#include "common/stable_op.h"

SAGE_PYMODULE(_C_sm90)

STABLE_TORCH_LIBRARY_FRAGMENT(sageattention, m) {
  // Per-channel FP8 e4m3 V for the sm_90a kernel: like quant_v_fp8 (scale = absmax / 448, output
  // [B, H, head_dim_padded, N_pad], tokens contiguous), but inside every 32 tokens token
  // 16h + 8b + 2t + e is stored at position 16h + 4t + 2b + e, the order in which the PV wgmma's
  // register A fragment consumes the softmax accumulator (see csrc/sm90/mainloop.cuh).
  m.def(
      "quant_v_fp8_sm90(Tensor v, int tensor_layout, int pad_multiple, int head_dim_padded, Tensor absmax, "
      "Tensor? mean) -> (Tensor v_fp8, Tensor scale)");
  // Q, K and V in the forms the sm_90a kernel reads, in one launch that reads each input once: Q/K
  // as quant_int8 with the kernel's scale groups (see qk_int8_pv_fp8_sm90), K smoothed when
  // smooth_k; V as quant_v_fp8_sm90 with its per-channel statistics. k_mean / v_mean are [B, H, D]
  // when smoothing and [0, H, D] otherwise. One thread-block cluster takes each K/V head:
  // quant_qkv_sm90_fits(kv_len, head_dim_padded, device) says whether the GPU can run it (else use
  // the separate passes).
  m.def(
      "quant_qkv_sm90(Tensor q, Tensor k, Tensor v, int tensor_layout, bool qk_per_thread, bool smooth_k, "
      "bool smooth_v, int head_dim_padded) -> (Tensor q_int8, Tensor q_scale, Tensor k_int8, Tensor k_scale, "
      "Tensor k_mean, Tensor v_fp8, Tensor v_scale, Tensor v_mean)");
  m.def("quant_qkv_sm90_fits(int kv_len, int head_dim_padded, int device) -> bool");
  // Attention on quantized operands (INT8 Q/K HND [B, H, N_pad, D_pad], V from quant_v_fp8_sm90).
  // q is the caller's original query tensor (dtype, shape and layout of the output). qk_per_thread:
  // Q scales GroupSpec(16, 8, 1) and K GroupSpec(128, 8, 2); else Q GroupSpec(16), K GroupSpec(128).
  // lse (natural log, without the smooth-K correction) is [B, Hq, Nq] when return_lse, else empty.
  // two_level: "fp32+fp32" (a fresh PV accumulator per 128-key step, added into fp32 O); False:
  // "fp32" (PV accumulates in O directly; the freed registers buy longer softmax steps, sm90_kv_block).
  m.def(
      "qk_int8_pv_fp8_sm90(Tensor q, Tensor q_int8, Tensor q_scale, Tensor k_int8, Tensor k_scale, Tensor v_fp8, "
      "Tensor v_scale, Tensor? v_mean, int tensor_layout, int kv_len, bool is_causal, bool qk_per_thread, "
      "float sm_scale, bool return_lse, bool two_level=True) -> (Tensor out, Tensor lse)");
  // Keys per online-softmax step of qk_int8_pv_fp8_sm90 (the block over which one running max
  // rescales P~ before its e4m3 rounding): what a reference must use to reproduce it.
  // pv16: the 16-bit PV kernel's step (single level; sageattn_sm90_pv16).
  m.def("sm90_kv_block(int head_dim_padded, bool two_level, bool pv16=False) -> int");
  // quant_qkv_sm90 then qk_int8_pv_fp8_sm90 in one op, the quantized operands kept in one scratch buffer
  // inside it: one op call and few allocations, for the host time of small calls. Head dims up to 256
  // (padded to 64, 128 or 256; 256 with two_level false only). Needs the fused quantization: an error unless
  // quant_qkv_sm90_fits(kv_len, head_dim_padded, device) (else the separate passes and qk_int8_pv_fp8_sm90). out and lse as
  // qk_int8_pv_fp8_sm90 (lse without the smooth-K correction); k_mean as quant_qkv_sm90, which that
  // correction needs.
  m.def(
      "sageattn_sm90(Tensor q, Tensor k, Tensor v, int tensor_layout, bool is_causal, bool qk_per_thread, "
      "bool smooth_k, bool smooth_v, float sm_scale, bool return_lse, bool two_level) -> (Tensor out, Tensor lse, "
      "Tensor k_mean)");
  // The same algorithm with PV in 16-bit floats (q's dtype; wgmma f16 / bf16, fp32 accumulation): rel. L1 of the
  // INT8 QK alone, at the cost of half-rate PV MMAs. Q and K are quantized as in sageattn_sm90; V is read in place
  // by the kernel (16-byte aligned rows: v16_map_ok). Single level, head dims up to 128, no V smoothing (it only
  // serves e4m3's range). out, lse and k_mean as sageattn_sm90.
  m.def(
      "sageattn_sm90_pv16(Tensor q, Tensor k, Tensor v, int tensor_layout, bool is_causal, bool qk_per_thread, "
      "bool smooth_k, float sm_scale, bool return_lse) -> (Tensor out, Tensor lse, Tensor k_mean)");
  // INT8 PV: Q and K as in sageattn_sm90, V per channel in s8 (scale absmax / 127; smooth_v subtracts the channel
  // means first), P~ in u8 against a reference max rounded up to an integer, O in the wgmma's s32 accumulator
  // (rescaled by shifts). Single level, head dims up to 256, at most 65 536 keys. out, lse and k_mean as sageattn_sm90.
  m.def(
      "sageattn_sm90_pv_int8(Tensor q, Tensor k, Tensor v, int tensor_layout, bool is_causal, bool qk_per_thread, "
      "bool smooth_k, bool smooth_v, float sm_scale, bool return_lse) -> (Tensor out, Tensor lse, Tensor k_mean)");
  // Packed sequences: q [total_q, Hq, d], k / v [total_k, Hkv, d], cu_seqlens_q / cu_seqlens_k int32 [S + 1] on
  // the GPU (never read on the host). Each sequence attends to its own keys (causal: bottom-right aligned per
  // sequence); K is smoothed per sequence, V's statistics span the pack. out [total_q, Hq, d]; lse [Hq, total_q]
  // (natural log, without the smooth-K correction) when return_lse, else [Hq, 0]; k_mean [S, Hkv, d] when smooth_k.
  // Single level ("fp32" accumulation), head dims up to 256.
  m.def(
      "sageattn_sm90_varlen(Tensor q, Tensor k, Tensor v, Tensor cu_seqlens_q, Tensor cu_seqlens_k, bool is_causal, "
      "bool qk_per_thread, bool smooth_k, bool smooth_v, float sm_scale, bool return_lse) -> (Tensor out, "
      "Tensor lse, Tensor k_mean)");
}
