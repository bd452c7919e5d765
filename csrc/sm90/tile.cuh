// Tile geometry, shared-memory plan and kernel arguments of the sm_90a attention kernel.
//
// One CTA = 3 warpgroups: warpgroup 0 is the producer (one thread issues TMA), warpgroups 1 and 2
// are consumers, each owning 64 query rows (wgmma's M). K is quantized in blocks of kCtaK keys; the
// keys of one softmax step depend on the configuration (TileTraits).
#pragma once

#include <cstdint>

namespace sage::sm90 {

constexpr int kCtaQ = 128;  // query rows per CTA: 2 consumer warpgroups x 64
constexpr int kCtaK = 128;  // keys per K quantization block (scale groups; K and V are padded to it)
constexpr int kConsumerWarpgroups = 2;
constexpr int kThreads = 128 * (1 + kConsumerWarpgroups);
// setmaxnreg budgets. The CTA launches with 168 registers per thread (65536 / 384, rounded down to 8), and
// setmaxnreg only moves registers between its warps: 24*128 + 240*256 = 64512 = 384*168 exactly. A producer above
// 24 leaves the consumers' setmaxnreg.inc waiting for registers that never come (the in-kernel Q attempt with 32
// stalled on the GPU: bench/NOTES.md "In-kernel Q").
constexpr int kProducerRegs = 24;
constexpr int kConsumerRegs = 240;
constexpr int kLaunchRegs = 65536 / kThreads / 8 * 8;  // per thread, what __launch_bounds__(kThreads, 1) grants
static_assert(128 * kProducerRegs + 128 * kConsumerWarpgroups * kConsumerRegs <= kThreads * kLaunchRegs,
              "setmaxnreg budgets exceed the CTA's registers: the consumers' setmaxnreg.inc would wait forever");
// ptxas compiles each role's branch against its setmaxnreg budget (the kernel reports the entry cap,
// 65536 / 384 -> 168, but the consumer branch may use up to kConsumerRegs): a 288-thread variant
// with a producer warp and no setmaxnreg was tried and spilled ~3 KB at the 168 cap.
constexpr float kFp8Offset = 8.807354922057604f;  // log2(448): P~ = exp2(s - m + log2 448) in (0, 448]
constexpr float kU8Offset = 7.994353436858858f;   // log2(255): INT8 PV's P~ = exp2(s - m + log2 255) in (0, 255]
// The largest exponent whose P~ still packs to 255: up to 255.4375 (f16 255.375, + 1024 -> 1279); log2(255.4375 / 255)
// is 0.00247, less a margin for ex2.approx.
constexpr float kU8Top = kU8Offset + 0.0024f;
constexpr int kMaxS8PvKeys = 65536;  // INT8 PV: |O|, 127 l <= 255 * 127 * keys stay below 2^31 (mainloop.cuh, kPvS8)

// Geometry of one kernel configuration (head dim x accumulation). A step is one ring entry: the
// keys that one QK wgmma batch, one online-softmax update and one PV batch cover.
//  - kStepKeys: 128 for the two-level loop (its per-tile PV accumulator leaves no registers for
//    more); the single-level loop spends those registers on a longer step, which pays the per-step
//    work (barrier waits, row-max reduction and shuffles, O rescale) over more keys: 256 at D64
//    (S 128 + P 32 + O 32 registers), 192 at D128 (S 96 + P 24 + O 64). Kernel-only on the H200,
//    N=16K (bench/NOTES.md, v12): D64 128 / 192 / 256 keys 480 / 564 / 605 TOPS; D128 762 / 815 /
//    661 (256 keys spill and serialize the wgmmas). SAGE_SM90_SINGLE_STEP_KEYS overrides it for
//    such A/B builds.
//  - The K tile of a step is one TMA box (kStepKeys rows of D bytes). The V^T tile is
//    kStepKeys / kVBoxKeys boxes of D rows x kVBoxKeys key bytes (one swizzle row each: 128B
//    swizzle for 128 keys, 64B for 64), side by side in shared memory.
//  - Segments: keys [h * kVBoxKeys, (h + 1) * kVBoxKeys) of a step lie in one 128-key K
//    quantization block (kCtaK), so each segment has one K scale per thread.
//  - D256 (single level only: O alone is 128 registers, so a per-tile PV accumulator cannot fit) takes 128-key
//    steps (S 64 + P 16 + O 128 registers; 3 ring entries of 64 KB). Kernel-only on the H200 (bench/NOTES.md,
//    "Head dim 256"): 128-key steps 1 056-1 149 TOPS non-causal, 64-key steps 902-956 (and their causal kernels
//    spill in the producer). Q and K rows of 256 bytes are two 128-byte swizzled boxes side by side in shared
//    memory (kQKBoxes), each the K-major tile of half the head dim.
//  - kPv16Bit (single level): PV in 16-bit floats (the output's type: f16 or bf16) instead of e4m3. P~ takes two
//    bytes a key, so the step is 128 keys at D64 / D128 (S 64 + P 32 + O 64 registers at D128) and 64 at D256, where O
//    alone is 128 (S 32 + P 16 + O 128; 128 keys would need 224 before any address or row statistic). V is the
//    caller's own tensor, read by TMA through a 4-D map in 64-channel boxes of kStepKeys rows (one 128-byte
//    swizzle row per key) and fed to the wgmma as an MN-major B operand: no V pass, no V scale.
template <int D, bool kTwoLevel, bool kPv16Bit = false>
struct TileTraits {
  static_assert(D == 64 || D == 128 || D == 256, "sm90 kernel: head dim 64, 128 or 256");
  static_assert(D != 256 || !kTwoLevel, "sm90 kernel: head dim 256 runs the single-level loop only");
  static_assert(!kPv16Bit || !kTwoLevel, "sm90 kernel: 16-bit PV runs single level");
  static constexpr bool kPv16 = kPv16Bit;
#ifdef SAGE_SM90_SINGLE_STEP_KEYS
  static constexpr int kSingleStepKeys = SAGE_SM90_SINGLE_STEP_KEYS;
#else
  static constexpr int kSingleStepKeys = D == 64 ? 256 : D == 128 ? 192 : 128;
#endif
#ifdef SAGE_SM90_F16_STEP_KEYS
  static constexpr int kF16StepKeys = SAGE_SM90_F16_STEP_KEYS;
#else
  static constexpr int kF16StepKeys = D == 256 ? 64 : 128;
#endif
  static constexpr int kStepKeys = kTwoLevel ? kCtaK : kPv16Bit ? kF16StepKeys : kSingleStepKeys;
  static constexpr int kVBoxKeys = kStepKeys % 128 == 0 ? 128 : 64;
  static constexpr int kSegments = kStepKeys / kVBoxKeys;
  static constexpr int kSegElems = kVBoxKeys / 2;  // S accumulator elements per thread and segment
  static constexpr int kScoreRegs = kStepKeys / 2;  // S accumulator registers per thread
  static constexpr int kPChunks = kStepKeys / (kPv16Bit ? 16 : 32);  // A fragments of P~ per step (k32 e4m3, k16 f16)
  static constexpr int kQBytes = kCtaQ * D;
  // Q tile slots. With two, the producer loads the next work item's Q and streams its first K/V
  // steps while the consumers still work on the current item. Kernel-only on the H200
  // (bench/NOTES.md, v13): D64 single level +2 % at 16K and +7 % at 4K; D128 -1 to -4 %, so D128
  // keeps one slot. SAGE_SM90_Q_SLOTS overrides it for A/B builds.
#ifdef SAGE_SM90_Q_SLOTS
  static constexpr int kQSlots = SAGE_SM90_Q_SLOTS;
#else
  static constexpr int kQSlots = D == 64 ? 2 : 1;
#endif
  static constexpr int kKBytes = kStepKeys * D;
  static constexpr int kVBytes = D * kStepKeys * (kPv16Bit ? 2 : 1);
  // Ring entries: a step holds its own entry and the previous step's (whose V its PV batch reads);
  // the rest keep the loads ahead. Deeper rings measured flat (bench/NOTES.md), so: what fits, at
  // most 4 (D128) / 6 (D64) for the long single-level steps.
  static constexpr int kStagesFit = (227 * 1024 - 2048 - kQSlots * kQBytes) / (kKBytes + kVBytes);
  static constexpr int kStagesWanted = kStepKeys == 128 ? (D == 64 ? 4 : 3) : (D == 64 ? 6 : 4);
  static constexpr int kStages = kStagesWanted < kStagesFit ? kStagesWanted : kStagesFit;
  // e4m3: a V^T box is D rows of kVBoxKeys key bytes; 16-bit: kStepKeys rows (keys) of 64 channels (kVBoxes of them).
  static constexpr int kVBoxBytes = kPv16Bit ? kStepKeys * 128 : D * kVBoxKeys;
  static constexpr int kVBoxes = kPv16Bit ? D / 64 : kSegments;
  static constexpr int kQKRowBytes = D > 128 ? 128 : D;  // 128 -> 128B swizzle, 64 -> 64B swizzle
  static constexpr int kQKBoxes = D / kQKRowBytes;        // boxes per Q / K tile row (2 at D256)
  static constexpr int kQBoxBytes = kCtaQ * kQKRowBytes;
  static constexpr int kKBoxBytes = kStepKeys * kQKRowBytes;
  static constexpr int kVRowBytes = kVBoxKeys;   // 128 -> 128B swizzle, 64 -> 64B swizzle
  static constexpr int kBarriers = 2 * (kQSlots + kStages);  // q_full, q_empty per Q slot; full, empty per entry
  static constexpr int kSmemBytes =
      1024 /*alignment slack*/ + kQSlots * kQBytes + kStages * (kKBytes + kVBytes) + 8 * kBarriers + 4 * kQSlots +
      8 + 8 * 4 + 4 * 2 +  // the cluster's hand-over (SmemPlan): alignment, pair_full/pair_empty, pair
      16 + 32 * kQSlots +  // varlen kernels: each Q slot's resolved item (SmemPlan::seq)
      256;                 // INT8 PV's row-sum operand (SmemPlan::ones)
  static_assert(kSmemBytes <= 227 * 1024, "shared memory plan exceeds the sm_90 per-block limit");
  static_assert(kQBoxBytes % 1024 == 0 && kKBoxBytes % 1024 == 0 && kVBoxBytes % 1024 == 0,
                "tiles must keep 1024-byte alignment for the swizzle atoms");
  static_assert(kStepKeys % kVBoxKeys == 0 && kCtaK % kVBoxKeys == 0, "a segment must lie in one K scale block");
  static_assert(kStepKeys <= 256, "one TMA box (and one wgmma N) per K step");
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
  int multicast;  // 1: launch as 2-CTA clusters on paired q tiles that share each K/V load (kMulticastKernel)
  int dependent;  // 1: launch as a programmatic dependent of the kernel before it on the stream (host only)
  // Packed sequences (kVarlen kernels only; sm90/varlen.cuh): batch is 1 and the quantized operands hold every
  // sequence in its own window of 128-row tiles; work item (h, t) is padded Q tile t of head h.
  const int* cu_q;        // [seqs + 1] token offsets of the sequences in q / out
  const int* cu_k;        // [seqs + 1] ... in k / v
  const int* q_tile_seq;  // [num_q_tiles] the sequence of each padded Q tile, -1 for none
  int total_q, total_k;   // tokens of the packs: every cu value is clamped into [0, total]
  int64_t lse_sh;         // lse [Hq, total_q]: the stride of a head
};

// Which kernels may run as 2-CTA clusters whose CTAs take the two q tiles of a pair (same head, so the
// same K/V steps) and load each K/V tile once for both (TMA multicast; rank 0 the K tile, rank 1 the V^T
// boxes): single level, non-causal (both tiles take the same number of steps), head dim 128. Measured on
// the H200 against the one-CTA kernel (bench/NOTES.md, "K/V multicast"): D128 +2 % at 4K, +3 % at 8K and
// 16K, from the clock the halved L2->SM traffic buys under the 700 W cap; D64 -2 % (not power capped).
template <int D, bool CAUSAL, bool kTwoLevel>
inline constexpr bool kMulticastKernel = D == 128 && !CAUSAL && !kTwoLevel;

}  // namespace sage::sm90
