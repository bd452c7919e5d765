// The sm_90a attention kernel: composes the producer/consumer mainloop, the epilogue and the tile
// scheduler; and its launch template (one instantiation per head dim x causal x output dtype x accumulation,
// in inst_hdim*.cu; the D128 non-causal single-level one also instantiates the multicast kernel).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <type_traits>

#include "common/smem_opt_in.h"
#include "common/stable_op.h"
#include "sm90/epilogue.cuh"
#include "sm90/mainloop.cuh"
#include "sm90/scheduler.cuh"

namespace sage::sm90 {

// Varlen kernels, producer: the walk of varlen_walk below, skipping items whose tile holds no query row. Each
// published item's Q tile and K/V steps are those of its sequence's window in the padded operands.
template <int D, bool CAUSAL, typename T>
__device__ __forceinline__ void varlen_producer(const SmemPlan<T>& sm, const CUtensorMap* tm_q, const CUtensorMap* tm_k,
                                                const CUtensorMap* tm_v, const AttnParams& p) {
  const int items = num_work_items(p);
  int j0 = 0, n = 0;
  for (int taken = 0;; ++taken) {
    const int item = next_item(taken, p);
    VarlenItem vi{};
    if (item < items) {
      vi = varlen_item(tile_of_item<CAUSAL>(item, p).q_tile, p);
      if (vi.q0 < 0) continue;
    }
    const int qs = n % T::kQSlots;
    if (n >= T::kQSlots) mbar_wait(&sm.q_empty[qs], (n / T::kQSlots - 1) & 1);  // slot's last item done
    sm.item[qs] = item;
    if (item >= items) {
      mbar_arrive(&sm.q_full[qs]);
      return;
    }
    store_varlen_item(sm.seq + 2 * qs, vi);
    const TileCoord tc = tile_of_item<CAUSAL>(item, p);
    const int hk = tc.h / p.group;
    const int n_steps = kv_steps_for<T, CAUSAL>(vi.q0, vi.qo_len, vi.kv_len);
    producer_loop<T>(sm, tm_q, tm_k, tm_v, qs, tc.h * p.nq_pad + tc.q_tile * kCtaQ, hk * p.nk_pad + vi.k_tile0 * kCtaK,
                     hk * D, n_steps, j0, -1, vi.k_tile0 * kCtaK);
    j0 += n_steps;
    ++n;
  }
}

// Varlen kernels, consumer: one item of the sequence's rows, as the batch kernels' loop sees a call of one
// sequence (the same AttnParams with the sequence's lengths, its first token's out / lse, and the K scales and
// padded keys from its window on). Returns the item's step count.
template <int D, bool CAUSAL, typename OutT, typename T>
__device__ __forceinline__ int consume_varlen_item(const SmemPlan<T>& sm, const AttnParams& p, int qs, int item,
                                                   int wg, int warp, int lane, int j0) {
  const VarlenItem vi = load_varlen_item(sm.seq + 2 * qs);
  const TileCoord tc = tile_of_item<CAUSAL>(item, p);
  const int hk = tc.h / p.group;
  AttnParams pi = p;
  pi.qo_len = vi.qo_len;
  pi.kv_len = vi.kv_len;
  pi.nk_pad = p.nk_pad - vi.k_tile0 * kCtaK;  // K scale blocks left in the head from the window on
  pi.out = static_cast<OutT*>(p.out) + static_cast<int64_t>(vi.q_tok0) * p.out_sn;
  pi.lse = p.lse ? p.lse + vi.q_tok0 : nullptr;
  const int n_steps = kv_steps_for<T, CAUSAL>(vi.q0, pi);
  const int warp_row0 = vi.q0 + wg * 64 + warp * 16;
  const int padded_row0 = tc.q_tile * kCtaQ + wg * 64 + warp * 16;  // the warp's rows in the quantized Q
  float q_scale;
  const float* k_scale_head;
  if (p.per_thread) {
    q_scale = p.q_scale[static_cast<int64_t>(tc.h) * (p.nq_pad / 16 * 8) + padded_row0 / 16 * 8 + (lane >> 2)];
    k_scale_head = p.k_scale + static_cast<int64_t>(hk) * (p.nk_pad / kCtaK * 4) + vi.k_tile0 * 4;
  } else {
    q_scale = p.q_scale[static_cast<int64_t>(tc.h) * (p.nq_pad / 16) + padded_row0 / 16];
    k_scale_head = p.k_scale + static_cast<int64_t>(hk) * (p.nk_pad / kCtaK) + vi.k_tile0;
  }
  RowState<D> st;
  consumer_loop_single<D, CAUSAL, false>(sm, pi, sm.q + qs * T::kQBytes, st, wg, warp, lane, vi.q0, n_steps,
                                         q_scale * p.sm_scale_log2, k_scale_head, j0, &sm.q_empty[qs]);
  if constexpr (!kQReleasedEarly<D, default_q_regs_mode<D, CAUSAL>()>) release_q_slot(&sm.q_empty[qs], lane);
  store_output<D, OutT, true>(pi, st, 0, tc.h, hk, warp_row0 + (lane >> 2), lane);
  return n_steps;
}

// kMC (kMulticastKernel): launched as 2-CTA clusters whose CTAs share each K/V tile load.
// kVarlen: packed sequences (AttnParams' varlen fields; single level only, never multicast).
// kQR: where the single-level loop keeps Q (default_q_regs_mode, mainloop.cuh); a template argument so that an
// A/B build (SAGE_SM90_Q_REGS_AB) holds every mode's kernel and launch_attn picks one per call.
// kPv: PV in e4m3 (kPvE4m3: V quantized and transposed by the quantization pass), in OutT (kPvF16 / kPvBf16: V
// read from the caller's tensor through a 4-D map; single level, batch kernels, no V scale or mean) or in u8 x s8
// (kPvS8: V as for e4m3 but in s8; single level, batch kernels).
template <int D, bool CAUSAL, typename OutT, bool kTwoLevel, bool kMC = false, bool kVarlen = false,
          int kQR = default_q_regs_mode<D, CAUSAL>(), int kPv = kPvE4m3>
__global__ void __launch_bounds__(kThreads, 1)
    attn_fwd_kernel(const __grid_constant__ CUtensorMap tm_q, const __grid_constant__ CUtensorMap tm_k,
                    const __grid_constant__ CUtensorMap tm_v, const AttnParams p) {
  static_assert(!kVarlen || (!kTwoLevel && !kMC), "varlen kernels are single level and take one CTA per item");
  static_assert(kPv == kPvE4m3 || (!kTwoLevel && !kVarlen), "16-bit and INT8 PV: single-level batch kernels only");
  static_assert(!kPvIs16<kPv> || std::is_same_v<OutT, __nv_bfloat16> == (kPv == kPvBf16), "16-bit PV runs in OutT");
  constexpr bool kPv16 = kPvIs16<kPv>;
  using T = TileTraits<D, kTwoLevel, kPv16>;
  extern __shared__ uint8_t smem_raw[];
  const SmemPlan<T> sm(smem_raw);
  const int warpgroup = threadIdx.x / 128;
  const int items = num_work_items(p);

  if (threadIdx.x == 0) {
#pragma unroll
    for (int s = 0; s < T::kQSlots; ++s) {
      mbar_init(&sm.q_full[s], 1);
      mbar_init(&sm.q_empty[s], 4 * kConsumerWarpgroups);  // one arrival per consumer warp
    }
#pragma unroll
    for (int s = 0; s < T::kStages; ++s) {
      mbar_init(&sm.full[s], 1);
      mbar_init(&sm.empty[s], 4 * kConsumerWarpgroups * (kMC ? 2 : 1));  // multicast: both CTAs' consumers
    }
    if (kMC) {
      for (int h = 0; h < 2; ++h) {
        mbar_init(&sm.pair_full[h], 1);
        mbar_init(&sm.pair_empty[h], 1);
      }
    }
    fence_barrier_init();
  }
  if constexpr (kPv == kPvS8) {  // INT8 PV's row-sum operand (bytes of 127), for the consumers' wgmmas (async proxy)
    if (threadIdx.x < 64) reinterpret_cast<uint32_t*>(sm.ones)[threadIdx.x] = 0x7F7F7F7Fu;
    fence_proxy_async_smem();
  }
  __syncthreads();
  if (kMC) {  // the peer's barriers are initialised before its first multicast lands here
    cluster_arrive();
    cluster_wait();
  }
  // Launched as a programmatic dependent of the quantization (sageattn_sm90), the set-up above overlapped
  // its tail; from here on every thread may read what it wrote (and the work counter it cleared).
  grid_dependency_wait();

  // The producer takes work items — blockIdx.x first, then the next free index of the launch's
  // counter (multicast kernels: pairs of items per cluster, scheduler.cuh) — and hands item n to the
  // consumers through Q slot n % T::kQSlots: sm.item[slot] with the Q load's q_full phase; an index
  // past the end, published with a plain arrive, ends both walks. With two slots the producer runs up
  // to one item ahead: item n+1's Q and first K/V steps load while the consumers finish item n. Both
  // roles count the same KV steps (j0), so their views of the ring's barrier phases agree.
  if (warpgroup == 0) {
    regs_dealloc<kProducerRegs>();
    if (kVarlen && threadIdx.x == 0) {
      tma_prefetch_map(&tm_q);
      tma_prefetch_map(&tm_k);
      tma_prefetch_map(&tm_v);
      varlen_producer<D, CAUSAL>(sm, &tm_q, &tm_k, &tm_v, p);
    } else if (threadIdx.x == 0) {
      tma_prefetch_map(&tm_q);
      tma_prefetch_map(&tm_k);
      tma_prefetch_map(&tm_v);
      int j0 = 0;
      for (int n = 0;; ++n) {
        const int item = kMC ? next_pair_item(sm, n, p) : next_item(n, p);
        const int qs = n % T::kQSlots;
        if (n >= T::kQSlots) mbar_wait(&sm.q_empty[qs], (n / T::kQSlots - 1) & 1);  // slot's last item done
        sm.item[qs] = item;
        if (item >= items) {
          mbar_arrive(&sm.q_full[qs]);
          if (kMC) {
            producer_drain(sm, j0);
            pair_walk_end(sm, n);
          }
          break;
        }
        const TileCoord tc = tile_of_item<CAUSAL>(item, p);
        const int q0 = tc.q_tile * kCtaQ;
        const int n_steps = kv_steps_for<T, CAUSAL>(q0, p);
        const int64_t bhq = static_cast<int64_t>(tc.b) * p.hq + tc.h;
        const int64_t bhk = static_cast<int64_t>(tc.b) * p.hkv + tc.h / p.group;
        producer_loop<T>(sm, &tm_q, &tm_k, &tm_v, qs, static_cast<int>(bhq * p.nq_pad + q0),
                         static_cast<int>(bhk * p.nk_pad), kPv16 ? tc.h / p.group : static_cast<int>(bhk * D), n_steps,
                         j0, kMC ? static_cast<int>(cluster_rank()) : -1, 0, kPv16 ? tc.b : 0);
        j0 += n_steps;
      }
    }
  } else {
    regs_alloc<kConsumerRegs>();
    const int wg = warpgroup - 1;
    const int tid = threadIdx.x - 128 * warpgroup;
    const int warp = tid / 32, lane = tid % 32;
    const bool pingpong = (kTwoLevel || kSingleLevelTurns<kPv>) && p.pingpong;  // kSingleLevelTurns: mainloop.cuh
    if (pingpong && wg == 1) named_arrive(kTurnWg0);  // warpgroup 0 takes the first turn
    trace_cta_begin();
    int j0 = 0;
    for (int n = 0;; ++n) {
      const int qs = n % T::kQSlots;
      mbar_wait(&sm.q_full[qs], (n / T::kQSlots) & 1);
      int item = *reinterpret_cast<volatile int*>(&sm.item[qs]);
      // Causal: the item decides the step count, and a value loaded from shared memory is not known to be
      // warp-uniform; through a shuffle it is, and ptxas keeps the loop's ring slots and wgmma descriptors in
      // uniform registers (D128 loop 953 -> 916 instructions, 28 -> 8 R2UR per step; kernel +4 % at D128 16K,
      // +7 % at D64 8K). Non-causal step counts come from the arguments alone; there the shuffle only moved
      // ptxas' schedule, -2 to -3 % (bench/NOTES.md, "A warp-uniform step count").
      if constexpr (CAUSAL) item = __shfl_sync(0xffffffffu, item, 0);
      if (item >= items) {
        trace_cta_end(n, j0);
        break;
      }
      trace_item(n, kTrItemStart);
      if constexpr (kVarlen) {
        j0 += consume_varlen_item<D, CAUSAL, OutT>(sm, p, qs, item, wg, warp, lane, j0);
        continue;
      }
      const TileCoord tc = tile_of_item<CAUSAL>(item, p);
      const int q0 = tc.q_tile * kCtaQ;
      const int hk = tc.h / p.group;
      const int n_steps = kv_steps_for<T, CAUSAL>(q0, p);
      const int warp_row0 = q0 + wg * 64 + warp * 16;  // 16-row block of this warp
      const int64_t bhq = static_cast<int64_t>(tc.b) * p.hq + tc.h;
      const int64_t bhk = static_cast<int64_t>(tc.b) * p.hkv + hk;
      float q_scale;
      const float* k_scale_head;
      if (p.per_thread) {  // Q groups: 8 per 16 rows (row % 8); K groups: 4 per 128 keys ((key % 8) / 2)
        q_scale = p.q_scale[bhq * (p.nq_pad / 16 * 8) + warp_row0 / 16 * 8 + (lane >> 2)];
        k_scale_head = p.k_scale + bhk * (p.nk_pad / kCtaK * 4);
      } else {  // Q: one scale per 16-row warp block; K: one per 128-key tile
        q_scale = p.q_scale[bhq * (p.nq_pad / 16) + warp_row0 / 16];
        k_scale_head = p.k_scale + bhk * (p.nk_pad / kCtaK);
      }
      RowState<D> st;
      if constexpr (kTwoLevel) {
        consumer_loop<D, CAUSAL>(sm, p, sm.q + qs * T::kQBytes, st, wg, warp, lane, q0, n_steps,
                                 q_scale * p.sm_scale_log2, k_scale_head, j0);
      } else {
        consumer_loop_single<D, CAUSAL, kMC, kQR, kPv>(sm, p, sm.q + qs * T::kQBytes, st, wg, warp, lane, q0,
                                                       n_steps, q_scale * p.sm_scale_log2, k_scale_head, j0,
                                                       &sm.q_empty[qs]);
      }
      trace_item(n, kTrItemLoopEnd);
      // Every wgmma of this item has retired and the slot was read: the producer may move on.
      if constexpr (kTwoLevel || !kQReleasedEarly<D, kQR>) release_q_slot(&sm.q_empty[qs], lane);
      store_output<D, OutT, false, !kPv16>(p, st, tc.b, tc.h, hk, warp_row0 + (lane >> 2), lane,
                                           kPv == kPvS8 ? kU8Offset : kFp8Offset);
      trace_item(n, kTrItemStored);
      j0 += n_steps;
    }
    if (pingpong && wg == 0) named_sync(kTurnWg0);  // consume warpgroup 1's last hand-over
  }
}

// Programmatic dependent launch (p.dependent): the kernel may be scheduled before the kernel ahead of it on the
// stream has finished, and waits for it in grid_dependency_wait. Returns how many attributes it filled in (0 or 1).
inline int add_dependent_attr(cudaLaunchAttribute& attr, const AttnParams& p) {
  if (!p.dependent) return 0;
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  return 1;
}

// How many clusters of `cfg` fit on the current GPU at once (the GPCs' SM counts decide, not just SMs / 2);
// 0 when none can be placed. Asked once per kernel and GPU, not on every call: the answer depends on nothing
// else, and the query is host work on each attention call's path. `cached`: the kernel's own per-GPU answers
// (zero-initialised: not asked yet; otherwise the answer + 1).
constexpr int kCachedDevices = 64;
template <typename Kernel>
int clusters_that_fit(Kernel kernel, const cudaLaunchConfig_t& cfg, std::atomic<int> (&cached)[kCachedDevices]) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) device = -1;
  const bool cacheable = device >= 0 && device < kCachedDevices;
  if (cacheable) {
    if (const int c = cached[device].load(std::memory_order_relaxed)) return c - 1;
  }
  int clusters = 0;
  if (cudaOccupancyMaxActiveClusters(&clusters, kernel, &cfg) != cudaSuccess || clusters < 0) {
    (void)cudaGetLastError();  // not sticky: clear it so that the launch check sees only the launch
    return 0;                  // not cached: a later call asks again
  }
  if (cacheable) cached[device].store(clusters + 1, std::memory_order_relaxed);
  return clusters;
}

// The multicast kernel's grid: as many 2-CTA clusters as fit at once, at most sm_count / 2 (the test knob's
// CTA count) and one per pair. False when the runtime cannot place a cluster: the caller launches the one-CTA
// kernel instead.
template <int D, typename OutT, int kQR, int kPv = kPvE4m3>
bool launch_multicast(const CUtensorMap& tm_q, const CUtensorMap& tm_k, const CUtensorMap& tm_v, const AttnParams& p,
                      int sm_count, cudaStream_t stream) {
  auto kernel = attn_fwd_kernel<D, false, OutT, false, true, false, kQR, kPv>;
  constexpr int smem = TileTraits<D, false, kPvIs16<kPv>>::kSmemBytes;
  opt_in_dynamic_smem(reinterpret_cast<const void*>(kernel), smem);
  cudaLaunchAttribute attr[2];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = 2;
  attr[0].val.clusterDim.y = 1;
  attr[0].val.clusterDim.z = 1;
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(2);
  cfg.blockDim = dim3(kThreads);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  static std::atomic<int> fit_per_gpu[kCachedDevices];  // one table per multicast kernel (this instantiation)
  const int fit = clusters_that_fit(kernel, cfg, fit_per_gpu);
  if (fit < 1) return false;
  const int clusters = std::min({fit, std::max(1, sm_count / 2), num_work_items(p) / 2});
  cfg.gridDim = dim3(static_cast<unsigned>(2 * clusters));
  cfg.numAttrs += add_dependent_attr(attr[1], p);
  cudaLaunchKernelEx(&cfg, kernel, tm_q, tm_k, tm_v, p);
  return true;
}

// A launch of CTAs without clusters (a programmatic dependent when p.dependent).
template <typename Kernel>
void launch_one_cta_grid(Kernel kernel, int smem, dim3 grid, const CUtensorMap& tm_q, const CUtensorMap& tm_k,
                         const CUtensorMap& tm_v, const AttnParams& p, cudaStream_t stream) {
  opt_in_dynamic_smem(reinterpret_cast<const void*>(kernel), smem);
  cudaLaunchAttribute attr[1];
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = dim3(kThreads);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = add_dependent_attr(attr[0], p);
  cudaLaunchKernelEx(&cfg, kernel, tm_q, tm_k, tm_v, p);
}

template <int D, bool CAUSAL, typename OutT, bool kTwoLevel, int kQR, int kPv = kPvE4m3>
void launch_attn_mode(const CUtensorMap& tm_q, const CUtensorMap& tm_k, const CUtensorMap& tm_v, const AttnParams& p,
                      int sm_count, bool persistent, cudaStream_t stream) {
  trace_reset();
  if constexpr (kMulticastKernel<D, CAUSAL, kTwoLevel>) {
    if (p.multicast && launch_multicast<D, OutT, kQR, kPv>(tm_q, tm_k, tm_v, p, sm_count, stream)) {
      trace_dump(stream);
      return;
    }
  }
  launch_one_cta_grid(attn_fwd_kernel<D, CAUSAL, OutT, kTwoLevel, false, false, kQR, kPv>,
                      TileTraits<D, kTwoLevel, kPvIs16<kPv>>::kSmemBytes, grid_shape(p, sm_count, persistent), tm_q,
                      tm_k, tm_v, p, stream);
  trace_dump(stream);
}

template <int D, bool CAUSAL, typename OutT, bool kTwoLevel>
void launch_attn(const CUtensorMap& tm_q, const CUtensorMap& tm_k, const CUtensorMap& tm_v, const AttnParams& p,
                 int sm_count, bool persistent, cudaStream_t stream) {
#ifdef SAGE_SM90_Q_REGS_AB
  // A/B builds only (bench/knob_ab.py): SAGEATTENTION_SM90_Q_REGS=0/1/2 picks the kernel of that Q mode for this
  // call; any other value is an error, as for the other knobs (env_int), not a silent fall-back to the default.
  if constexpr (!kTwoLevel && D <= 128) {
    switch (env_int("SAGEATTENTION_SM90_Q_REGS", -1, 0, 2)) {
      case 0: return launch_attn_mode<D, CAUSAL, OutT, kTwoLevel, 0>(tm_q, tm_k, tm_v, p, sm_count, persistent, stream);
      case 1: return launch_attn_mode<D, CAUSAL, OutT, kTwoLevel, 1>(tm_q, tm_k, tm_v, p, sm_count, persistent, stream);
      case 2: return launch_attn_mode<D, CAUSAL, OutT, kTwoLevel, 2>(tm_q, tm_k, tm_v, p, sm_count, persistent, stream);
      default: break;  // unset: the instantiation's default
    }
  }
#endif
  launch_attn_mode<D, CAUSAL, OutT, kTwoLevel, default_q_regs_mode<D, CAUSAL>()>(tm_q, tm_k, tm_v, p, sm_count,
                                                                                 persistent, stream);
}

// 16-bit PV (single level): V is the caller's tensor in OutT, tm_v its 4-D map (attn_op.cu, v16_map).
template <int D, bool CAUSAL, typename OutT>
void launch_attn_pv16(const CUtensorMap& tm_q, const CUtensorMap& tm_k, const CUtensorMap& tm_v, const AttnParams& p,
                      int sm_count, bool persistent, cudaStream_t stream) {
  constexpr int kPv = std::is_same_v<OutT, __nv_bfloat16> ? kPvBf16 : kPvF16;
  constexpr int kQR = default_q_regs_mode_pv16<D, CAUSAL>();
  launch_attn_mode<D, CAUSAL, OutT, false, kQR, kPv>(tm_q, tm_k, tm_v, p, sm_count, persistent, stream);
}

// INT8 PV (single level): V in s8 from the fused quantization, in the e4m3 V's layout; Q where the e4m3 loop keeps it.
template <int D, bool CAUSAL, typename OutT>
void launch_attn_s8(const CUtensorMap& tm_q, const CUtensorMap& tm_k, const CUtensorMap& tm_v, const AttnParams& p,
                    int sm_count, bool persistent, cudaStream_t stream) {
  launch_attn_mode<D, CAUSAL, OutT, false, default_q_regs_mode<D, CAUSAL>(), kPvS8>(tm_q, tm_k, tm_v, p, sm_count,
                                                                                    persistent, stream);
}

// Packed sequences: the persistent grid of the single-level varlen kernel (one CTA per item at most).
template <int D, bool CAUSAL, typename OutT>
void launch_attn_varlen(const CUtensorMap& tm_q, const CUtensorMap& tm_k, const CUtensorMap& tm_v, const AttnParams& p,
                        int sm_count, cudaStream_t stream) {
  launch_one_cta_grid(attn_fwd_kernel<D, CAUSAL, OutT, false, false, true>, TileTraits<D, false>::kSmemBytes,
                      grid_shape(p, sm_count, true), tm_q, tm_k, tm_v, p, stream);
}

}  // namespace sage::sm90
