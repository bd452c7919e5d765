// Host side shared by the mma_fp16 and mma_fp8 ops: argument checks, output allocation and the
// AttnParams fill. The family op files add their V checks and the template dispatch.
#pragma once

#include <cmath>

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

// Checks the quantized Q/K and their scales, allocates out (q's layout, head_dim columns) and lse.
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
  const int64_t B = q.size(0), hq = q.size(1), nq_pad = q.size(2), d_pad = q.size(3);
  const int64_t hkv = k.size(1), nk_pad = k.size(2);
  const HostTile tile = host_tile(d_pad);
  SAGE_CHECK(k.size(0) == B && k.size(3) == d_pad, "k must be [B, Hkv, N_pad, ", d_pad, "]");
  SAGE_CHECK(hkv > 0 && hq % hkv == 0, "q heads (", hq, ") must be a multiple of kv heads (", hkv, ")");
  SAGE_CHECK(qo_len >= 0 && qo_len <= nq_pad && nq_pad % tile.cta_q == 0, "q must be padded to a multiple of ",
             tile.cta_q, " rows covering qo_len");
  SAGE_CHECK(kv_len >= 0 && kv_len <= nk_pad && nk_pad % tile.cta_k == 0, "k must be padded to a multiple of ",
             tile.cta_k, " rows covering kv_len");
  SAGE_CHECK(head_dim > 0 && head_dim <= d_pad, "head_dim must be in [1, ", d_pad, "]");
  SAGE_CHECK(nq_pad < (int64_t(1) << 31) && nk_pad < (int64_t(1) << 31), "sequence too long");
  const int64_t qs_per_head = nq_pad / tile.warp_q * (q_per_thread ? 8 : 1);
  const int64_t ks_per_head = nk_pad / tile.cta_k * (k_per_thread ? 4 : 1);
  auto check_scale = [](const Tensor& s, int64_t b, int64_t h, int64_t n, const char* name) {
    SAGE_CHECK(s.scalar_type() == ScalarType::Float && s.dim() == 3 && s.size(0) == b && s.size(1) == h &&
                   s.size(2) == n && s.is_contiguous(),
               name, " must be a contiguous float32 [", b, ", ", h, ", ", n,
               "] tensor (the scale groups must match the kernel's tile and granularity)");
  };
  check_scale(q_scale, B, hq, qs_per_head, "q_scale");
  check_scale(k_scale, B, hkv, ks_per_head, "k_scale");
  if (v_mean.has_value()) check_scale(*v_mean, B, hkv, head_dim, "v_mean");

  AttnCall c;
  c.d_pad = d_pad;
  const ScalarType odt = out_dtype == 1 ? ScalarType::BFloat16 : ScalarType::Half;
  c.out = tensor_layout == 0 ? torch::stable::new_empty(q, {B, hq, qo_len, head_dim}, odt)
                             : torch::stable::new_empty(q, {B, qo_len, hq, head_dim}, odt);
  c.lse = return_lse ? torch::stable::new_empty(q, {B, hq, qo_len}, ScalarType::Float)
                     : torch::stable::new_empty(q, {0}, ScalarType::Float);
  AttnParams& p = c.p;
  p = AttnParams{};
  p.q = reinterpret_cast<const int8_t*>(q.data_ptr());
  p.k = reinterpret_cast<const int8_t*>(k.data_ptr());
  p.q_scale = reinterpret_cast<const float*>(q_scale.data_ptr());
  p.k_scale = reinterpret_cast<const float*>(k_scale.data_ptr());
  p.v_mean = v_mean.has_value() ? reinterpret_cast<const float*>(v_mean->data_ptr()) : nullptr;
  p.out = c.out.data_ptr();
  p.lse = return_lse ? reinterpret_cast<float*>(c.lse.data_ptr()) : nullptr;
  if (tensor_layout == 0) {
    p.o_sb = hq * qo_len * head_dim, p.o_sh = qo_len * head_dim, p.o_sn = head_dim;
  } else {
    p.o_sb = qo_len * hq * head_dim, p.o_sh = head_dim, p.o_sn = hq * head_dim;
  }
  p.qo_len = static_cast<int>(qo_len);
  p.kv_len = static_cast<int>(kv_len);
  p.nq_pad = static_cast<int>(nq_pad);
  p.nk_pad = static_cast<int>(nk_pad);
  p.head_dim = static_cast<int>(head_dim);
  p.v_dim = static_cast<int>(d_pad);
  p.batch = static_cast<int>(B);
  p.hq = static_cast<int>(hq);
  p.hkv = static_cast<int>(hkv);
  p.q_scales_per_head = static_cast<int>(qs_per_head);
  p.k_scales_per_head = static_cast<int>(ks_per_head);
  p.score_scale = static_cast<float>(sm_scale * 1.4426950408889634);
  p.q_per_thread = q_per_thread;
  p.k_per_thread = k_per_thread;
  p.out_bf16 = out_dtype == 1;
  SAGE_CHECK(B <= 65535 && hq <= 65535, "batch and heads must be <= 65535");
  return c;
}

// Calls launch_attn<D, causal, PV> for the runtime head dim and causal flag.
template <int PV>
void dispatch_attn(const AttnCall& c, bool causal, cudaStream_t stream) {
  auto go = [&](auto d_tag) {
    constexpr int D = decltype(d_tag)::value;
    if (causal) launch_attn<D, true, PV>(c.p, stream);
    else launch_attn<D, false, PV>(c.p, stream);
  };
  switch (c.d_pad) {
    case 64: go(std::integral_constant<int, 64>{}); break;
    case 128: go(std::integral_constant<int, 128>{}); break;
    default: go(std::integral_constant<int, 256>{}); break;
  }
}

}  // namespace sage::mma
