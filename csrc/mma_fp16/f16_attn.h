// FP16-PV steps shared by qk_int8_sv_f16_attn (attn_op.cu) and sageattn_mma_f16 (fused_op.cu): the
// accumulation choice, the checks of the V the kernel reads directly, and the launch.
#pragma once

#include <cstdint>

#include "common/mma/attn_host.h"
#include "common/stable_op.h"

namespace sage::mma {

inline void check_f16_pv_accum(int64_t pv_accum) {
  SAGE_CHECK(pv_accum >= 0 && pv_accum <= 2, "pv_accum must be 0 (fp32), 1 (fp16+fp32) or 2 (fp16), got ",
             pv_accum);
}

// Checks that the kernel can read v as it is: fp16 [B, Hkv, kv_len, Dv] in the layout, Dv a multiple of 8
// in [head_dim, d_pad], 16-byte aligned rows; puts it into p.
// The checks of set_f16_v for v's (B, H, N, D) view `vs` (a pack: one batch), shape checked by the caller.
inline void set_f16_v_view(AttnParams& p, const Tensor& v, const Bhnd& vs, int64_t head_dim, int64_t d_pad) {
  SAGE_CHECK(v.scalar_type() == ScalarType::Half, "v must be float16 for the FP16-PV kernel");
  SAGE_CHECK(vs.d >= head_dim && vs.d <= d_pad && vs.d % 8 == 0, "v's head dim (", vs.d,
             ") must be a multiple of 8 in [head_dim, ", d_pad, "]; pad it");
  SAGE_CHECK(vs.sb % 8 == 0 && vs.sh % 8 == 0 && vs.sn % 8 == 0 && reinterpret_cast<uintptr_t>(v.data_ptr()) % 16 == 0,
             "v's strides must be multiples of 8 elements and its data 16-byte aligned");
  p.v = v.data_ptr();
  p.v_sb = vs.sb, p.v_sh = vs.sh, p.v_sn = vs.sn;
  p.v_dim = static_cast<int>(vs.d);
}

inline void set_f16_v(AttnParams& p, const Tensor& v, int64_t tensor_layout, int64_t batch, int64_t hkv,
                      int64_t kv_len, int64_t head_dim, int64_t d_pad) {
  check_cuda(v, "v");
  const Bhnd vs = bhnd(v, tensor_layout, "v");
  SAGE_CHECK(vs.b == batch && vs.h == hkv && vs.n == kv_len, "v must be [B, Hkv, kv_len, Dv] in the layout");
  set_f16_v_view(p, v, vs, head_dim, d_pad);
}

// Enqueues the attention kernel of this accumulation on `stream` (the caller holds the DeviceGuard).
inline void launch_f16_attn(const AttnCall& c, bool is_causal, int64_t pv_accum, cudaStream_t stream) {
  switch (pv_accum) {
    case 0: dispatch_attn<static_cast<int>(PvAccum::kF16F32)>(c, is_causal, stream); break;
    case 1: dispatch_attn<static_cast<int>(PvAccum::kF16F16F32)>(c, is_causal, stream); break;
    default: dispatch_attn<static_cast<int>(PvAccum::kF16F16)>(c, is_causal, stream); break;
  }
}

}  // namespace sage::mma
