// Host side shared by the mma_fp16 and mma_fp8 ops: argument checks, output allocation and the
// AttnParams fill, from tensors (prepare_attn: the attention ops) or raw pointers (make_attn_call: also the
// fused ops). The family headers add their V checks and the template dispatch.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <type_traits>

#include "common/mma/attn_params.h"
#include "common/mma/tile.cuh"
#include "common/stable_op.h"

namespace sage::mma {

struct HostTile {
  int warp_q, cta_q, cta_k;
};

inline HostTile host_tile(int64_t d_pad) {
  switch (d_pad) {
    case 64: return {MmaTile<64>::kWarpQ, MmaTile<64>::kCtaQ, MmaTile<64>::kCtaK};
    case 128: return {MmaTile<128>::kWarpQ, MmaTile<128>::kCtaQ, MmaTile<128>::kCtaK};
    case 256: return {MmaTile<256>::kWarpQ, MmaTile<256>::kCtaQ, MmaTile<256>::kCtaK};
    default: SAGE_CHECK(false, "padded head dim must be 64, 128 or 256, got ", d_pad);
  }
  return {};
}

struct AttnCall {
  Tensor out, lse;
  AttnParams p;
  int64_t d_pad;
};

// Sizes of one attention launch: the quantized operands' (INT8 Q [batch, hq, nq_pad, d_pad], K [batch, hkv,
// nk_pad, d_pad]) and the call's lengths and original head dim.
struct AttnShape {
  int64_t batch, hq, hkv, nq_pad, nk_pad, d_pad;
  int64_t qo_len, kv_len, head_dim;
};

// Scale groups per head that the kernel reads: Q one per WARP_Q rows (per warp) or 8 (per thread); K one
// per 64-key tile (per warp) or 4 (per thread).
inline int64_t q_scales_per_head(const AttnShape& g, const HostTile& tile, bool per_thread) {
  return g.nq_pad / tile.warp_q * (per_thread ? 8 : 1);
}
inline int64_t k_scales_per_head(const AttnShape& g, const HostTile& tile, bool per_thread) {
  return g.nk_pad / tile.cta_k * (per_thread ? 4 : 1);
}

// Checks the sizes against the tile of the padded head dim; returns that tile.
inline HostTile check_attn_shape(const AttnShape& g) {
  const HostTile tile = host_tile(g.d_pad);
  SAGE_CHECK(g.hkv > 0 && g.hq % g.hkv == 0, "q heads (", g.hq, ") must be a multiple of kv heads (", g.hkv, ")");
  SAGE_CHECK(g.qo_len >= 0 && g.qo_len <= g.nq_pad && g.nq_pad % tile.cta_q == 0,
             "q must be padded to a multiple of ", tile.cta_q, " rows covering qo_len");
  SAGE_CHECK(g.kv_len >= 0 && g.kv_len <= g.nk_pad && g.nk_pad % tile.cta_k == 0,
             "k must be padded to a multiple of ", tile.cta_k, " rows covering kv_len");
  SAGE_CHECK(g.head_dim > 0 && g.head_dim <= g.d_pad, "head_dim must be in [1, ", g.d_pad, "]");
  SAGE_CHECK(g.nq_pad < (int64_t(1) << 31) && g.nk_pad < (int64_t(1) << 31), "sequence too long");
  SAGE_CHECK(g.batch <= 65535 && g.hq <= 65535, "batch and heads must be <= 65535");
  return tile;
}

// Device pointers of the quantized Q and K (shapes: AttnShape) and their scales (q/k_scales_per_head).
struct QkOperands {
  const int8_t* q;
  const int8_t* k;
  const float* q_scale;
  const float* k_scale;
};

// Allocates out (`like`'s device; [B, Hq, qo_len, head_dim] for tensor_layout 0, [B, qo_len, Hq, head_dim]
// for 1) and lse ([B, Hq, qo_len], or [0] without return_lse) and fills the AttnParams of everything but V.
// v_mean: [B, Hkv, head_dim] fp32 (smooth V), or null.
inline AttnCall make_attn_call(const Tensor& like, const AttnShape& g, const HostTile& tile, const QkOperands& qk,
                               const float* v_mean, int64_t tensor_layout, int64_t out_dtype, bool q_per_thread,
                               bool k_per_thread, double sm_scale, bool return_lse) {
  const int64_t B = g.batch, hq = g.hq, qo_len = g.qo_len, head_dim = g.head_dim;
  AttnCall c;
  c.d_pad = g.d_pad;
  const ScalarType odt = out_dtype == 1 ? ScalarType::BFloat16 : ScalarType::Half;
  c.out = tensor_layout == 0 ? torch::stable::new_empty(like, {B, hq, qo_len, head_dim}, odt)
                             : torch::stable::new_empty(like, {B, qo_len, hq, head_dim}, odt);
  c.lse = return_lse ? torch::stable::new_empty(like, {B, hq, qo_len}, ScalarType::Float)
                     : torch::stable::new_empty(like, {0}, ScalarType::Float);
  AttnParams& p = c.p;
  p = AttnParams{};
  p.q = qk.q;
  p.k = qk.k;
  p.q_scale = qk.q_scale;
  p.k_scale = qk.k_scale;
  p.v_mean = v_mean;
  p.out = c.out.data_ptr();
  p.lse = return_lse ? reinterpret_cast<float*>(c.lse.data_ptr()) : nullptr;
  if (tensor_layout == 0) {
    p.o_sb = hq * qo_len * head_dim, p.o_sh = qo_len * head_dim, p.o_sn = head_dim;
  } else {
    p.o_sb = qo_len * hq * head_dim, p.o_sh = head_dim, p.o_sn = hq * head_dim;
  }
  p.qo_len = static_cast<int>(qo_len);
  p.kv_len = static_cast<int>(g.kv_len);
  p.nq_pad = static_cast<int>(g.nq_pad);
  p.nk_pad = static_cast<int>(g.nk_pad);
  p.head_dim = static_cast<int>(head_dim);
  p.v_dim = static_cast<int>(g.d_pad);
  p.batch = static_cast<int>(B);
  p.hq = static_cast<int>(hq);
  p.hkv = static_cast<int>(g.hkv);
  p.q_scales_per_head = static_cast<int>(q_scales_per_head(g, tile, q_per_thread));
  p.k_scales_per_head = static_cast<int>(k_scales_per_head(g, tile, k_per_thread));
  p.score_scale = static_cast<float>(sm_scale * 1.4426950408889634);
  p.q_per_thread = q_per_thread;
  p.k_per_thread = k_per_thread;
  p.out_bf16 = out_dtype == 1;
  return c;
}

// True when the call has no output row to compute (the kernels are not launched).
inline bool attn_is_empty(const AttnCall& c) { return c.p.qo_len == 0 || c.p.batch == 0 || c.p.hq == 0; }

// Checks the quantized Q/K tensors and their scales, allocates out (q's layout, head_dim columns) and lse.
// K scale groups per 64-key tile: 1 (per warp) or 4 (per thread).
inline AttnCall prepare_attn(const Tensor& q, const Tensor& k, const Tensor& q_scale, const Tensor& k_scale,
                             const std::optional<Tensor>& v_mean, int64_t tensor_layout, int64_t qo_len,
                             int64_t kv_len, int64_t head_dim, int64_t out_dtype, bool q_per_thread,
                             bool k_per_thread, double sm_scale, bool return_lse) {
  check_cuda(q, "q");
  check_cuda(k, "k");
  SAGE_CHECK(q.scalar_type() == ScalarType::Char && k.scalar_type() == ScalarType::Char,
             "q and k must be the INT8 outputs of quant_int8");
  SAGE_CHECK(q.dim() == 4 && k.dim() == 4 && q.is_contiguous() && k.is_contiguous(),
             "q and k must be contiguous 4-D HND INT8 tensors");
  SAGE_CHECK(tensor_layout == 0 || tensor_layout == 1, "tensor_layout must be 0 (HND) or 1 (NHD)");
  SAGE_CHECK(out_dtype == 0 || out_dtype == 1, "out_dtype must be 0 (float16) or 1 (bfloat16)");
  const AttnShape g{q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3), qo_len, kv_len, head_dim};
  SAGE_CHECK(k.size(0) == g.batch && k.size(3) == g.d_pad, "k must be [B, Hkv, N_pad, ", g.d_pad, "]");
  const HostTile tile = check_attn_shape(g);
  auto check_scale = [](const Tensor& s, int64_t b, int64_t h, int64_t n, const char* name) {
    SAGE_CHECK(s.scalar_type() == ScalarType::Float && s.dim() == 3 && s.size(0) == b && s.size(1) == h &&
                   s.size(2) == n && s.is_contiguous(),
               name, " must be a contiguous float32 [", b, ", ", h, ", ", n,
               "] tensor (the scale groups must match the kernel's tile and granularity)");
  };
  check_scale(q_scale, g.batch, g.hq, q_scales_per_head(g, tile, q_per_thread), "q_scale");
  check_scale(k_scale, g.batch, g.hkv, k_scales_per_head(g, tile, k_per_thread), "k_scale");
  if (v_mean.has_value()) check_scale(*v_mean, g.batch, g.hkv, head_dim, "v_mean");
  const QkOperands qk{reinterpret_cast<const int8_t*>(q.data_ptr()), reinterpret_cast<const int8_t*>(k.data_ptr()),
                      reinterpret_cast<const float*>(q_scale.data_ptr()),
                      reinterpret_cast<const float*>(k_scale.data_ptr())};
  const float* v_mean_ptr = v_mean.has_value() ? reinterpret_cast<const float*>(v_mean->data_ptr()) : nullptr;
  return make_attn_call(q, g, tile, qk, v_mean_ptr, tensor_layout, out_dtype, q_per_thread, k_per_thread, sm_scale,
                        return_lse);
}

// Calls launch_attn<D, causal, PV> (VARLEN: launch_attn_varlen, a pack's call) for the runtime head dim and
// causal flag.
template <int PV, bool VARLEN = false>
void dispatch_attn(const AttnCall& c, bool causal, cudaStream_t stream) {
  auto go = [&](auto d_tag) {
    constexpr int D = decltype(d_tag)::value;
    auto launch = [&](auto causal_tag) {
      constexpr bool C = decltype(causal_tag)::value;
      if constexpr (VARLEN) launch_attn_varlen<D, C, PV>(c.p, stream);
      else launch_attn<D, C, PV>(c.p, stream);
    };
    if (causal) launch(std::true_type{});
    else launch(std::false_type{});
  };
  switch (c.d_pad) {
    case 64: go(std::integral_constant<int, 64>{}); break;
    case 128: go(std::integral_constant<int, 128>{}); break;
    default: go(std::integral_constant<int, 256>{}); break;
  }
}

}  // namespace sage::mma
