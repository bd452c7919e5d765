// Host steps shared by the sm90 ops: quant_qkv_sm90 (quant_qkv.cu) and qk_int8_pv_fp8_sm90
// (attn_op.cu) run one step each on tensors Python hands over; sageattn_sm90 (fused_op.cu) runs both
// on one scratch buffer, so that a call crosses the Python/dispatcher boundary once and allocates once.
// Each step is "check / plan" (shapes, errors naming the op) and "launch" (raw device pointers).
#pragma once

#include <array>
#include <cstdint>
#include <tuple>

#include "common/scratch_layout.h"
#include "common/stable_op.h"
#include "sm90/tile.cuh"

namespace sage::sm90 {

// --- quant_qkv_sm90 ---------------------------------------------------------------------------

// Checked inputs of one fused Q/K/V quantization, its output shapes and its cluster shape.
struct QkvPlan {
  Bhnd q, k, v;
  int64_t head_dim_padded, nq_pad, nk_pad;
  bool per_thread, smooth_k, smooth_v;
  bool with_v = true;  // false: Q and K only (16-bit PV reads the caller's V); no V outputs, no V heads in the launch
  bool v_s8 = false;   // V in s8 (scale absmax / 127) instead of e4m3 (absmax / 448): the INT8-PV kernel's
  int ctas, per_cta;  // thread-block cluster: CTAs per K/V head, chunks per CTA
  int64_t seqs;       // packed sequences (plan_quant_qkv_varlen): q/k/v are one batch, nq_pad / nk_pad tile
                      // every sequence (sm90/varlen.cuh); 0 for a batch

  // Scale groups (sageattention/kernels/sm90.py group_specs): Q 16/8/1 and K 128/8/2 per thread,
  // Q 16 and K 128 per warp.
  int64_t q_period() const { return per_thread ? 8 : 1; }
  int64_t k_period() const { return per_thread ? 8 : 1; }
  int64_t k_stride() const { return per_thread ? 2 : 1; }

  std::array<int64_t, 4> q_int8_shape() const { return {q.b, q.h, nq_pad, head_dim_padded}; }
  std::array<int64_t, 3> q_scale_shape() const { return {q.b, q.h, nq_pad / 16 * q_period()}; }
  std::array<int64_t, 4> k_int8_shape() const { return {k.b, k.h, nk_pad, head_dim_padded}; }
  std::array<int64_t, 3> k_scale_shape() const { return {k.b, k.h, nk_pad / kCtaK * (k_period() / k_stride())}; }
  // A pack's K is smoothed per sequence: k_mean [sequences, Hk, d], and the quantization's segment sums (scratch).
  std::array<int64_t, 3> k_mean_shape() const { return {smooth_k ? (seqs > 0 ? seqs : k.b) : 0, k.h, k.d}; }
  std::array<int64_t, 3> k_seg_sum_shape() const {
    return {seqs > 0 && smooth_k ? k.h : 0, nk_pad / kCtaK, head_dim_padded};
  }
  std::array<int64_t, 4> v_fp8_shape() const { return {with_v ? v.b : 0, v.h, head_dim_padded, nk_pad}; }
  std::array<int64_t, 3> v_scale_shape() const { return {with_v ? v.b : 0, v.h, head_dim_padded}; }
  std::array<int64_t, 3> v_mean_shape() const { return {smooth_v && with_v ? v.b : 0, v.h, v.d}; }
};

// Where quant_qkv writes (shapes: QkvPlan); k_mean / v_mean are written only when smoothing (else may be null).
struct QkvOutputs {
  void* q_int8;
  float* q_scale;
  void* k_int8;
  float* k_scale;
  float* k_mean;
  void* v_fp8;
  float* v_scale;
  float* v_mean;
  int* work_counter;  // sageattn_sm90: the attention launch's queue counter, cleared by the quantization (else null)
  float* k_seg_sum = nullptr;  // a pack with smooth_k: scratch of k_seg_sum_shape() (sm90/quant_qkv_kernel.cuh)
};

// Byte offsets of a fused op's quantized operands in its scratch buffer (the op's own pieces follow them).
struct QkvPieces {
  int64_t q8, qs, k8, ks, v8, vs, vm, counter;

  QkvPieces(const QkvPlan& p, ScratchLayout& layout)
      : q8(layout.take(p.q_int8_shape(), 1)),
        qs(layout.take(p.q_scale_shape(), sizeof(float))),
        k8(layout.take(p.k_int8_shape(), 1)),
        ks(layout.take(p.k_scale_shape(), sizeof(float))),
        v8(layout.take(p.v_fp8_shape(), 1)),
        vs(layout.take(p.v_scale_shape(), sizeof(float))),
        vm(layout.take(p.v_mean_shape(), sizeof(float))),  // no bytes without smooth_v
        counter(layout.take(std::array<int64_t, 1>{1}, sizeof(int))) {}

  // Where launch_quant_qkv writes, in the buffer at `base`; k_mean is the op's returned tensor.
  QkvOutputs in(char* base, const QkvPlan& p, float* k_mean) const {
    auto f32 = [base](int64_t offset) { return reinterpret_cast<float*>(base + offset); };
    return {base + q8, f32(qs), base + k8, f32(ks), k_mean, base + v8, f32(vs), p.smooth_v ? f32(vm) : nullptr,
            reinterpret_cast<int*>(base + counter)};
  }
};

// Checks q, k, v and picks the cluster shape; `op` names the caller in errors, which include keys per
// head that do not fit one cluster (quant_qkv_sm90_fits says so beforehand).
QkvPlan plan_quant_qkv(const Tensor& q, const Tensor& k, const Tensor& v, int64_t tensor_layout, bool qk_per_thread,
                       bool smooth_k, bool smooth_v, int64_t head_dim_padded, const char* op);

// GQA: q's heads must be a whole multiple of k's and v's (the plans check k against v); `op` names the caller.
inline void check_heads(const QkvPlan& plan, const char* op) {
  SAGE_CHECK(plan.k.h > 0 && plan.q.h % plan.k.h == 0, op, ": q's heads (", plan.q.h,
             ") must be a multiple of k's and v's (", plan.k.h, ")");
}

// Packed sequences: q, k, v [tokens, heads, head_dim] in `seqs` sequences (cu_seqlens read on the GPU only).
QkvPlan plan_quant_qkv_varlen(const Tensor& q, const Tensor& k, const Tensor& v, int64_t seqs, bool qk_per_thread,
                              bool smooth_k, bool smooth_v, int64_t head_dim_padded, const char* op);

// Where the sequences of a packed call are (device memory): cu_seqlens and the padded tiles' sequences
// (tile_seq_kernel, sm90/varlen.cuh).
struct VarlenTables {
  const int* cu_q;
  const int* cu_k;
  const int* q_tile_seq;  // [nq_pad / 128]
  const int* k_tile_seq;  // [nk_pad / 128]
};

// Enqueues the quantization on the current stream of q's device (the caller holds a DeviceGuard for it).
// `varlen` is required exactly for a plan of plan_quant_qkv_varlen.
void launch_quant_qkv(const QkvPlan& plan, const Tensor& q, const Tensor& k, const Tensor& v, const QkvOutputs& out,
                      const VarlenTables* varlen = nullptr);

// --- qk_int8_pv_fp8_sm90 ----------------------------------------------------------------------

// The quantized operands of one attention launch (layouts: registry.cpp, qk_int8_pv_fp8_sm90).
struct AttnOperands {
  const void* q_int8;
  const float* q_scale;
  const void* k_int8;
  const float* k_scale;
  const void* v_fp8;
  const float* v_scale;
  const float* v_mean;  // nullptr without V smoothing
  int64_t batch, hq, hkv, nq_pad, nk_pad, head_dim_padded;
  int* work_counter;  // 4 bytes of device memory: the persistent grid's queue counter
  // true: the kernel just before this launch on the stream is this call's quantization (launch_quant_qkv with
  // work_counter), which cleared the counter; the attention kernel then runs as its programmatic dependent.
  // false: the counter is cleared by a memset and the launch is ordinary.
  bool after_quant;
};

// Allocates out (q's shape and dtype, contiguous) and lse ([B, Hq, Nq] when return_lse, else [0, Hq, Nq])
// and enqueues the attention kernel on the current stream of q's device (the caller holds a DeviceGuard
// for it and has checked the operands against q).
// v16: 16-bit PV (single level, head dims up to 256) reading this tensor, the caller's V in q's dtype and
// tensor_layout, whose rows are 16-byte aligned (v16_map_ok); ops' V pointers are then unused. nullptr: e4m3 PV.
// pv_s8: INT8 PV (single level, at most kMaxS8PvKeys keys); ops' V is s8 (a plan with v_s8), else e4m3.
std::tuple<Tensor, Tensor> launch_attention(const Tensor& q, const AttnOperands& ops, int64_t tensor_layout,
                                            int64_t kv_len, bool is_causal, bool qk_per_thread, double sm_scale,
                                            bool return_lse, bool two_level, const Tensor* v16 = nullptr,
                                            bool pv_s8 = false);

// Whether TMA can read v (view s) in place for 16-bit PV: 16-byte aligned data and strides (dims of one excepted).
inline bool v16_map_ok(const Tensor& v, const Bhnd& s) {
  return s.sn % 8 == 0 && (s.h == 1 || s.sh % 8 == 0) && (s.b == 1 || s.sb % 8 == 0) &&
         reinterpret_cast<uintptr_t>(v.data_ptr()) % 16 == 0;
}

// Packed sequences: out (q's shape [total_q, Hq, d] and dtype, contiguous) and lse ([Hq, total_q] when return_lse,
// else [Hq, 0]); ops from a plan_quant_qkv_varlen quantization (batch 1, padded to every sequence's window).
std::tuple<Tensor, Tensor> launch_attention_varlen(const Tensor& q, const AttnOperands& ops,
                                                   const VarlenTables& tables, int64_t total_k, bool is_causal,
                                                   bool qk_per_thread, double sm_scale, bool return_lse);

}  // namespace sage::sm90
