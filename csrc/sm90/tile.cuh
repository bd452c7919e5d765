// Tile geometry, shared-memory plan and kernel arguments of the sm_90a attention kernel.
//
// One CTA = 3 warpgroups: warpgroup 0 is the producer (one thread issues TMA), warpgroups 1 and 2
// are consumers, each owning 64 query rows (wgmma's M). A KV tile is 128 keys.
#pragma once

#include <cstdint>

namespace sage::sm90 {

constexpr int kCtaQ = 128;  // query rows per CTA: 2 consumer warpgroups x 64
constexpr int kCtaK = 128;  // keys per KV tile (N of the QK wgmma, K of the PV wgmma)
constexpr int kConsumerWarpgroups = 2;
constexpr int kThreads = 128 * (1 + kConsumerWarpgroups);
constexpr int kProducerRegs = 24;   // setmaxnreg budgets: 24*128 + 240*256 <= 64K registers
constexpr int kConsumerRegs = 240;
// ptxas compiles each role's branch against its setmaxnreg budget (the kernel reports the entry cap,
// 65536 / 384 -> 168, but the consumer branch may use up to kConsumerRegs): a 288-thread variant
// with a producer warp and no setmaxnreg was tried and spilled ~3 KB at the 168 cap.
constexpr float kFp8Offset = 8.807354922057604f;  // log2(448): P~ = exp2(s - m + log2 448) in (0, 448]

// Per-head-dim knobs. Rows of Q/K tiles are D bytes (int8); V^T tile rows are kCtaK bytes (e4m3).
template <int D>
struct TileTraits {
  static_assert(D == 64 || D == 128, "sm90 kernel: head dim 64 or 128");
  static constexpr int kStages = D == 64 ? 4 : 3;  // KV pipeline depth
  static constexpr int kQBytes = kCtaQ * D;
  static constexpr int kKBytes = kCtaK * D;
  static constexpr int kVBytes = D * kCtaK;
  static constexpr int kQKRowBytes = D;       // 128 -> 128B swizzle, 64 -> 64B swizzle
  static constexpr int kVRowBytes = kCtaK;    // always 128B swizzle
  static constexpr int kBarriers = 2 + 4 * kStages;  // q_full, q_empty, then k/v full/empty rings
  static constexpr int kSmemBytes = 1024 /*alignment slack*/ + kQBytes + kStages * (kKBytes + kVBytes) + 8 * kBarriers + 16;
  static_assert(kSmemBytes <= 227 * 1024, "shared memory plan exceeds the sm_90 per-block limit");
  static_assert(kQBytes % 1024 == 0 && kKBytes % 1024 == 0 && kVBytes % 1024 == 0,
                "tiles must keep 1024-byte alignment for the swizzle atoms");
};

// Plain kernel arguments (the tensor maps travel as separate __grid_constant__ parameters).
struct AttnParams {
  const float* q_scale;  // [B, Hq, groups(Nq_pad)]
  const float* k_scale;  // [B, Hkv, groups(Nk_pad)]
  const float* v_scale;  // [B, Hkv, D_pad]
  const float* v_mean;   // [B, Hkv, d] or nullptr (smooth V)
  void* out;             // q's dtype, caller layout
  float* lse;            // [B, Hq, qo_len] or nullptr
  int64_t out_sb, out_sh, out_sn;
  int qo_len, kv_len, nq_pad, nk_pad;
  int hq, hkv, group;  // group = hq / hkv
  int head_dim;        // real head dim (<= D_pad)
  int per_thread;      // 1: per-thread Q/K scale groups, 0: per-warp Q / per-tile K
  int num_q_tiles;
  int batch;
  int* next_item;  // work-queue counter, zero at launch: items gridDim.x, gridDim.x + 1, ... go to
                   // whichever CTA asks first
  int pingpong;  // 1: consumer warpgroups take turns issuing wgmmas (named barriers)
  float sm_scale_log2;  // sm_scale * log2(e)
};

}  // namespace sage::sm90
