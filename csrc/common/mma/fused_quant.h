// Host side shared by the fused mma ops (sageattn_mma_f16: csrc/mma_fp16/fused_op.cu; sageattn_mma_f8:
// csrc/mma_fp8/fused_op.cu): the Q and K quantization that sageattention/kernels/mma.py's quantize runs as
// separate ops (quant_int8 for Q; channel_stats then quant_int8 for smoothed K), here writing pieces of one
// scratch buffer, and the attention call that reads them. Same kernels, same arguments: same bits.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

#include "common/channel_stats_kernel.cuh"
#include "common/dtype_dispatch.h"
#include "common/mma/attn_host.h"
#include "common/mma/quant_pair_kernels.cuh"
#include "common/quant_int8_kernel.cuh"
#include "common/scratch_layout.h"
#include "common/stable_op.h"
#include "common/varlen_k_mean.cuh"

namespace sage::mma {

// Checked q, k (and v's shape) of one fused call and the plans of the Q/K quantization.
struct QkPlan {
  AttnShape shape;
  HostTile tile;
  bool per_thread, smooth_k;
  QuantInt8Plan q, k;
  ChannelStatsPlan k_stats;  // a batch's K statistics
  int64_t seqs = 0;          // plan_qk_packed: the pack's sequences, each smoothed with its own K mean

  // The returned k_mean: [B, Hkv, D] (a pack: [S, Hkv, D]) when smoothing K, else [0, Hkv, D].
  std::array<int64_t, 3> k_mean_shape() const {
    return {smooth_k ? (seqs > 0 ? seqs : shape.batch) : 0, shape.hkv, shape.head_dim};
  }
  // fp32 partials of K's statistics (smooth K).
  int64_t k_partial_elems() const {
    if (!smooth_k) return 0;
    return seqs > 0 ? shape.hkv * varlen_stats_slots(shape.kv_len, seqs) * shape.head_dim : k_stats.partial_elems();
  }
};

// The checks shared by batches and packs, on the (B, H, N, D) views qs, ks, vs of q, k, v (v: k's shape; its dtype
// and alignment are the family's to check).
inline void check_qkv_views(const Tensor& q, const Tensor& k, const Tensor& v, const Bhnd& qs, const Bhnd& ks,
                            const Bhnd& vs, const char* op) {
  SAGE_CHECK(k.get_device_index() == q.get_device_index() && v.get_device_index() == q.get_device_index(), op,
             ": q, k and v must be on one device");
  SAGE_CHECK(is_half_like(q.scalar_type()) && is_half_like(k.scalar_type()), op,
             ": q and k must be float16 or bfloat16");
  SAGE_CHECK(vs.b == ks.b && vs.h == ks.h && vs.n == ks.n && vs.d == ks.d, op, ": v must have k's shape");
  SAGE_CHECK(qs.b == ks.b && qs.d == ks.d, op, ": q and k must have the same batch size and head dim");
  SAGE_CHECK(qs.d >= 1 && qs.d <= kMaxHeadDim, op, ": head dim must be in [1, ", kMaxHeadDim, "], got ", qs.d);
}

// The Q/K quantization plans of checked views with the scale groups of q_spec / k_spec in kernels/mma.py: Q in
// blocks of WARP_Q rows padded to CTA_Q, 8 groups per block per thread (a lane owns rows g, g+8); K in blocks of 64
// keys, 4 groups per block per thread: keys 2t, 2t+1 of every 8 (FP16 PV) or 4t..4t+3 of every 16
// (fp8_key_order). rows_q / rows_k rows per head are padded (a batch: its lengths; a pack: its window tiles, where
// `packed` keeps each CTA tile inside one window).
inline QkPlan plan_qk_views(const Bhnd& qs, const Bhnd& ks, bool q_vec, bool k_vec, int64_t rows_q, int64_t rows_k,
                            bool packed, bool per_thread, bool smooth_k, bool fp8_key_order) {
  const int64_t d_pad = padded_head_dim(qs.d);
  QkPlan p;
  p.tile = host_tile(d_pad);
  p.per_thread = per_thread;
  p.smooth_k = smooth_k;
  p.q = plan_quant_int8_view(qs, q_vec, rows_q, packed, p.tile.warp_q, per_thread ? 8 : 1, 1, d_pad, p.tile.cta_q);
  const int64_t k_period = per_thread ? (fp8_key_order ? 16 : 8) : 1;
  const int64_t k_stride = per_thread ? (fp8_key_order ? 4 : 2) : 1;
  p.k = plan_quant_int8_view(ks, k_vec, rows_k, packed, p.tile.cta_k, k_period, k_stride, d_pad, p.tile.cta_k);
  p.k_stats = plan_channel_stats_view(ks, k_vec);
  p.shape = AttnShape{qs.b, qs.h, ks.h, p.q.args.n_pad, p.k.args.n_pad, d_pad, qs.n, ks.n, qs.d};
  check_attn_shape(p.shape);
  return p;
}

// Checks q, k and v in tensor_layout and plans their Q/K quantization (plan_qk_views).
inline QkPlan plan_qk(const Tensor& q, const Tensor& k, const Tensor& v, int64_t tensor_layout, bool per_thread,
                      bool smooth_k, bool fp8_key_order, const char* op) {
  check_cuda(q, "q");
  check_cuda(k, "k");
  check_cuda(v, "v");
  const Bhnd qs = bhnd(q, tensor_layout, "q"), ks = bhnd(k, tensor_layout, "k"), vs = bhnd(v, tensor_layout, "v");
  check_qkv_views(q, k, v, qs, ks, vs, op);
  return plan_qk_views(qs, ks, rows_16b_aligned(q, qs), rows_16b_aligned(k, ks), qs.n, ks.n, false, per_thread,
                       smooth_k, fp8_key_order);
}

// plan_qk for packs of `seqs` sequences (common/varlen.cuh): Q and K quantized into padded window tiles, K smoothed
// per sequence (common/varlen_k_mean.cuh); the attention shape is a batch of one (qo_len / kv_len: the packs' tokens).
inline QkPlan plan_qk_packed(const Tensor& q, const Tensor& k, const Tensor& v, int64_t seqs, bool per_thread,
                             bool smooth_k, bool fp8_key_order, const char* op) {
  const Bhnd qs = packed_view(q, "q", op), ks = packed_view(k, "k", op), vs = packed_view(v, "v", op);
  check_qkv_views(q, k, v, qs, ks, vs, op);
  // Only the 16-byte-load kernels are compiled for packs (sageattn_varlen routes other inputs to its runs path).
  SAGE_CHECK(rows_16b_aligned(q, qs) && rows_16b_aligned(k, ks) && rows_16b_aligned(v, vs), op,
             ": q, k and v need a head dim that is a multiple of 8, strides of multiples of 8 elements and 16-byte "
             "aligned data; call .contiguous() (and pad the head dim)");
  SAGE_CHECK(seqs > 0 && seqs < (int64_t{1} << 24), op, ": cu_seqlens must hold 1 to 2^24 - 1 sequences");
  SAGE_CHECK(qs.n > 0 && ks.n > 0 && qs.n < (int64_t{1} << 30) && ks.n < (int64_t{1} << 30), op,
             ": packs need 1 to 2^30 - 1 tokens");
  QkPlan p = plan_qk_views(qs, ks, true, true, varlen_tiles(qs.n, seqs) * kVarlenTile,
                           varlen_tiles(ks.n, seqs) * kVarlenTile, true, per_thread, smooth_k, fp8_key_order);
  p.seqs = seqs;
  return p;
}

// Where the Q/K quantization writes.
struct QkBuffers {
  int8_t* q_int8;
  float* q_scale;
  int8_t* k_int8;
  float* k_scale;
  float* stats_partial;  // channel_stats' partials of K (smooth K)
  float* k_amax;         // channel_stats' absmax of K, which nothing reads (a batch's only)
  float* k_mean;         // smooth K: the returned k_mean tensor; else null
};

// Byte offsets of the Q/K pieces in the scratch buffer.
struct QkPieces {
  int64_t q_int8, q_scale, k_int8, k_scale, stats_partial, k_amax;

  QkBuffers in(char* base, const QkPlan& p, const Tensor& k_mean) const {
    auto f32 = [base](int64_t offset) { return reinterpret_cast<float*>(base + offset); };
    return {reinterpret_cast<int8_t*>(base + q_int8), f32(q_scale), reinterpret_cast<int8_t*>(base + k_int8),
            f32(k_scale), f32(stats_partial), f32(k_amax),
            p.smooth_k ? reinterpret_cast<float*>(k_mean.data_ptr()) : nullptr};
  }
};

// Lays out the Q/K pieces (K statistics' partials: K's own; FP8 PV's V statistics have theirs, v_fp8.h).
inline QkPieces take_qk_pieces(const QkPlan& p, ScratchLayout& layout) {
  QkPieces at;
  at.q_int8 = layout.take(p.q.out_shape(), 1);
  at.q_scale = layout.take(p.q.scale_shape(), sizeof(float));
  at.k_int8 = layout.take(p.k.out_shape(), 1);
  at.k_scale = layout.take(p.k.scale_shape(), sizeof(float));
  at.stats_partial = layout.take(std::array<int64_t, 1>{p.k_partial_elems()}, sizeof(float));
  at.k_amax = layout.take(p.smooth_k && p.seqs == 0 ? p.k_stats.stat_shape() : std::array<int64_t, 3>{}, sizeof(float));
  return at;
}

// Whether a batch's Q/K quantization takes the paired launches (common/mma/quant_pair_kernels.cuh): q and k of one
// dtype with 16-byte aligned rows, unless SAGEATTENTION_MMA_PAIRED_QUANT=0 (the separate launches, kept for A/B
// runs). The default since the H200 A/B of the twenty-third session (bench/mma_notes.md): faster in timeline and
// graph replay at 12 of 14 shapes, e.g. SDXL's cross-attention -8.5 / -15 us (FP16 / FP8 PV) of 49 / 62.
// The variable is read first, so a bad value is an error whatever the inputs.
inline bool qk_pairable(const QkPlan& p, const Tensor& q, const Tensor& k) {
  const bool wanted = env_int("SAGEATTENTION_MMA_PAIRED_QUANT", 1, 0, 1) == 1;
  return wanted && p.q.vec && p.k.vec && q.scalar_type() == k.scalar_type();
}

// FP8 PV's V statistics, run in the launch of K's (launch_qk_quant_paired).
template <typename T>
struct PairedVStats {
  const T* v;
  const ChannelStatsPlan* plan;
  float* partial;  // plan->partial_elems() floats of V's own
};

// launch_qk_quant for a qk_pairable batch: K's (and `v`'s) statistics partials in one launch; K's finalize folded
// into its quantization when its heads have few slices (else a finalize launch); Q's and K's INT8 in one launch.
// Same outputs as the separate launches, bit for bit, except k_amax, which nothing reads and a fold leaves unset.
template <typename T>
void launch_qk_quant_paired(const QkPlan& p, const T* q, const T* k, const QkBuffers& b, cudaStream_t stream,
                            const PairedVStats<T>* v = nullptr) {
  // An empty K quantization (no tokens) has no CTA to write k_mean from: the finalize launch does.
  const bool fold = p.smooth_k && p.k_stats.foldable() && !p.k.empty();
  StatsJob<T> k_stats, v_stats;
  if (p.smooth_k) k_stats = stats_job(p.k_stats, k, b.stats_partial);
  if (v != nullptr) v_stats = stats_job(*v->plan, v->v, v->partial);
  launch_channel_partial_pair(k_stats, v_stats, stream);
  if (p.smooth_k && !fold) launch_channel_finalize(p.k_stats, b.stats_partial, false, b.k_mean, b.k_amax, stream);
  QuantInt8Job<T> qj = quant_int8_job(p.q, q, b.q_int8, b.q_scale);
  QuantInt8Job<T> kj = quant_int8_job(p.k, k, b.k_int8, b.k_scale);
  if (fold) {
    SAGE_CHECK(p.shape.head_dim <= kMaxHeadDim, "head dim ", p.shape.head_dim, " is larger than ", kMaxHeadDim);
    kj.partial = b.stats_partial;
    kj.slices = static_cast<int>(p.k_stats.slices);
    kj.mean_out = b.k_mean;
  } else if (p.smooth_k) {
    kj.mean = b.k_mean;
  }
  launch_quant_int8_pair(qj, kj, stream);
}

// Enqueues Q's quantization, then K's statistics (smooth K) and quantization, on `stream`. PACKED: a plan of
// plan_qk_packed, `rows` = {q's, k's} (a template parameter, so that each op's file compiles only its own
// quantization kernels). `paired`: the batch's qk_pairable, which the op reads once per call (packs: false); such a
// batch takes launch_qk_quant_paired.
template <bool PACKED = false>
void launch_qk_quant(const QkPlan& p, const Tensor& q, const Tensor& k, const QkBuffers& b, cudaStream_t stream,
                     bool paired, const VarlenRows* rows = nullptr) {
  SAGE_CHECK(!(PACKED && paired), "launch_qk_quant: packs have no paired launches");
  if constexpr (!PACKED) {
    if (paired) {
      SAGE_DISPATCH_HALF(q.scalar_type(), "q", [&] {
        launch_qk_quant_paired<scalar_t>(p, reinterpret_cast<const scalar_t*>(q.data_ptr()),
                                         reinterpret_cast<const scalar_t*>(k.data_ptr()), b, stream);
      });
      return;
    }
  }
  SAGE_DISPATCH_HALF(q.scalar_type(), "q", [&] {
    const auto* qp = reinterpret_cast<const scalar_t*>(q.data_ptr());
    launch_quant_int8<scalar_t, false, PACKED>(p.q, qp, nullptr, b.q_int8, b.q_scale, stream,
                                               PACKED ? rows[0] : VarlenRows{});
  });
  SAGE_DISPATCH_HALF(k.scalar_type(), "k", [&] {
    const auto* kp = reinterpret_cast<const scalar_t*>(k.data_ptr());
    if (p.smooth_k) {
      if constexpr (PACKED) {
        launch_varlen_k_mean(p.k_stats.s, kp, rows[1].cu, p.seqs, b.stats_partial, b.k_mean, stream);
      } else {
        launch_channel_stats(p.k_stats, kp, /*centered=*/false, b.stats_partial, b.k_mean, b.k_amax, stream);
      }
    }
    launch_quant_int8<scalar_t, false, PACKED>(p.k, kp, b.k_mean, b.k_int8, b.k_scale, stream,
                                               PACKED ? rows[1] : VarlenRows{});
  });
}

// The attention call on the quantized Q/K (out: q's dtype and layout); V is the family's to set.
inline AttnCall qk_attn_call(const Tensor& q, const QkPlan& p, const QkBuffers& b, const float* v_mean,
                             int64_t tensor_layout, double sm_scale, bool return_lse) {
  const QkOperands qk{b.q_int8, b.k_int8, b.q_scale, b.k_scale};
  const int64_t out_dtype = q.scalar_type() == ScalarType::BFloat16 ? 1 : 0;
  return make_attn_call(q, p.shape, p.tile, qk, v_mean, tensor_layout, out_dtype, p.per_thread, p.per_thread,
                        sm_scale, return_lse);
}

}  // namespace sage::mma
