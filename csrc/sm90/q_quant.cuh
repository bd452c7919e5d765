// In-kernel Q quantization (AttnParams::fused_q): warps 1-3 of the producer warpgroup turn each work item's fp16/bf16
// Q tile into the INT8 Q slot and its scales, so `sageattn` needs no Q pass (issue #4).
//
// Roles in the producer warpgroup: thread 0 takes the work items and streams K/V as before, but no longer loads Q nor
// waits for the Q slot; it posts each item in a one-entry mailbox (mail_full / mail_empty). The 96 quantizer threads
// walk the same items: TMA of kQStageRows rows of the caller's q (a 4-D map, zero-filled past qo_len and past the head
// dim) into the 16 KB staging buffer, INT8 into the slot (the 128B / 64B swizzle the wgmma descriptors expect), scales
// beside it, fence.proxy.async, a named barrier among themselves, one arrival on q_full (rows 0-63) / q_full_hi (rows
// 64-127). At D128 the tile is two staging loads; the first is issued as soon as the item arrives, before the slot
// is free, so only the second load's latency falls into the consumers' epilogue.
//
// The values are those of quantize_int8_chunk (quant_qkv_kernel.cuh) without a mean: amax = max |x| over the group,
// scale = amax / 127, q = rn(x * (amax > 0 ? 127 / amax : 0)) in the same float operations, so the output is bit for
// bit that of the pre-quantized path.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "sm90/mainloop.cuh"
#include "sm90/scheduler.cuh"

namespace sage::sm90 {

constexpr int kQuantBarrier = 3;       // named barrier of the quantizer warps (1, 2: consumer turns)
constexpr int kQuantThreads = 96;      // warps 1-3 of the producer warpgroup
constexpr int kQuantElected = 32;      // warp 1, lane 0: issues the staging loads and the arrivals

__device__ __forceinline__ void quant_sync() {
  asm volatile("bar.sync %0, %1;" ::"n"(kQuantBarrier), "n"(kQuantThreads) : "memory");
}

template <typename E>
__device__ __forceinline__ void to_float8(const uint4& raw, float (&x)[8]) {
  const uint32_t w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    if constexpr (std::is_same_v<E, __half>) {
      const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&w[i]));
      x[2 * i] = f.x;
      x[2 * i + 1] = f.y;
    } else {
      const float2 f = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&w[i]));
      x[2 * i] = f.x;
      x[2 * i + 1] = f.y;
    }
  }
}

__device__ __forceinline__ uint32_t pack_int8x4(int a, int b, int c, int d) {
  return __byte_perm(__byte_perm(a, b, 0x0040), __byte_perm(c, d, 0x0040), 0x5410);
}

// Byte offset of (row, byte) of an INT8 Q tile as TMA writes it with the 128B (D128) / 64B (D64) swizzle: bits 4-6
// (4-5) of the offset XOR bits 7-9 (7-8). The slot is 1024-byte aligned, so the pattern starts at offset 0.
template <int D>
__device__ __forceinline__ int swizzled_q_offset(int row, int byte) {
  const int off = row * D + byte;
  constexpr int kMask = D == 128 ? 7 : 3;
  return off ^ (((off >> 7) & kMask) << 4);
}

// Shared-memory accesses by 32-bit address: the quantizer runs in the producer's 32 registers, where 64-bit generic
// pointers spilled. Volatile, so that they stay between the barrier waits and arrivals around them.
__device__ __forceinline__ uint4 lds128(uint32_t addr) {
  uint4 v;
  asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(addr));
  return v;
}
__device__ __forceinline__ void sts64(uint32_t addr, uint32_t lo, uint32_t hi) {
  asm volatile("st.shared.v2.u32 [%0], {%1, %2};" ::"r"(addr), "r"(lo), "r"(hi) : "memory");
}
__device__ __forceinline__ void sts_f32(uint32_t addr, float v) {
  asm volatile("st.shared.f32 [%0], %1;" ::"r"(addr), "f"(v) : "memory");
}

// One 16-row scale block of the staging buffer (staging row s0) -> Q slot rows r0.. and the slot's scales of block
// `blk` (0-7). A lane holds 8 channels of row g or g + 8 (pair g: the rows of one per-thread group); D / 4 lanes
// cover a pair, 128 / D pairs per pass, 8 pairs in D / 16 passes. Passes go in batches of 4: their loads and shuffle
// chains are independent, so the latencies overlap, and 4 maxima fit the producer's 32 registers (8 spilled). Per
// warp, the block's maximum comes first, from one more read of the staging buffer.
template <int D, typename E>
__device__ __forceinline__ void quantize_q_block(uint32_t stage, int s0, uint32_t slot, int r0, uint32_t scales,
                                                 int blk, bool per_thread, int lane) {
  constexpr int kLanesPerPair = D / 4;
  constexpr int kPairsPerPass = 32 / kLanesPerPair;
  constexpr int kPasses = 8 / kPairsPerPass;
  constexpr int kBatch = kPasses < 4 ? kPasses : 4;
  constexpr int kPassBytes = kPairsPerPass * D * 2;
  const int within = lane % kLanesPerPair;
  const int ch = (within % (D / 8)) * 8;
  const int row0 = lane / kLanesPerPair + 8 * (within / (D / 8));  // row of pass 0 in the block
  const uint32_t src = stage + ((s0 + row0) * D + ch) * 2;
  auto lane_max = [&](int i) {
    float x[8], m = 0.f;
    to_float8<E>(lds128(src + i * kPassBytes), x);
#pragma unroll
    for (int e = 0; e < 8; ++e) m = fmaxf(m, fabsf(x[e]));
    return m;
  };
  float block_amax = 0.f;
  if (!per_thread) {
#pragma unroll
    for (int i = 0; i < kPasses; ++i) block_amax = fmaxf(block_amax, lane_max(i));
#pragma unroll
    for (int w = 1; w < 32; w <<= 1) block_amax = fmaxf(block_amax, __shfl_xor_sync(0xffffffffu, block_amax, w));
    if (lane == 0) sts_f32(scales + 4 * blk * 8, block_amax / 127.f);
  }
#pragma unroll
  for (int i0 = 0; i0 < kPasses; i0 += kBatch) {
    float amax[kBatch];
#pragma unroll
    for (int j = 0; j < kBatch; ++j) amax[j] = per_thread ? lane_max(i0 + j) : block_amax;
    if (per_thread) {
#pragma unroll
      for (int w = 1; w < kLanesPerPair; w <<= 1) {
#pragma unroll
        for (int j = 0; j < kBatch; ++j) amax[j] = fmaxf(amax[j], __shfl_xor_sync(0xffffffffu, amax[j], w));
      }
      if (within == 0) {
#pragma unroll
        for (int j = 0; j < kBatch; ++j)
          sts_f32(scales + 4 * (blk * 8 + (i0 + j) * kPairsPerPass + lane / kLanesPerPair), amax[j] / 127.f);
      }
    }
#pragma unroll
    for (int j = 0; j < kBatch; ++j) {
      const float inv = amax[j] > 0.f ? 127.f / amax[j] : 0.f;
      float x[8];
      to_float8<E>(lds128(src + (i0 + j) * kPassBytes), x);
      int q[8];
#pragma unroll
      for (int e = 0; e < 8; ++e) q[e] = __float2int_rn(x[e] * inv);
      sts64(slot + swizzled_q_offset<D>(r0 + row0 + (i0 + j) * kPairsPerPass, ch), pack_int8x4(q[0], q[1], q[2], q[3]),
            pack_int8x4(q[4], q[5], q[6], q[7]));
    }
  }
}

// Elected thread: staging load `half` of work item `item`'s Q tile from the caller's q.
template <typename T, bool CAUSAL>
__device__ __forceinline__ void load_q_stage(const SmemPlan<T>& sm, const CUtensorMap* tm_qx, const AttnParams& p,
                                             int item, int half) {
  const TileCoord tc = tile_of_item<CAUSAL>(item, p);
  mbar_arrive_expect_tx(sm.stage_full, T::kQStageBytes);
  const int row = tc.q_tile * kCtaQ + half * T::kQStageRows;
  if (p.q_heads_inner) tma_load_4d(sm.q_stage, tm_qx, sm.stage_full, 0, tc.h, row, tc.b);
  else tma_load_4d(sm.q_stage, tm_qx, sm.stage_full, 0, row, tc.h, tc.b);
}

// The quantizer warps' walk over the items thread 0 posts (kernel.cuh). Barrier protocol and why it cannot deadlock:
// bench/NOTES.md "In-kernel Q".
template <typename T, int D, bool CAUSAL, typename E>
__device__ __forceinline__ void quantize_q_walk(uint8_t* smem_raw, const CUtensorMap* tm_qx, const AttnParams& p,
                                                int items) {
  const int per_thread = p.per_thread;
  constexpr int kHalves = kCtaQ / T::kQStageRows;
  constexpr int kBlocks = T::kQStageRows / 16;
  constexpr int kWg0Half = (64 + T::kQStageRows - 1) / T::kQStageRows - 1;  // the load that completes rows 0-63
  const int qwarp = threadIdx.x / 32 - 1, lane = threadIdx.x % 32;
  const bool elected = threadIdx.x == kQuantElected;
  if (elected) tma_prefetch_map(tm_qx);
  for (int n = 0;; ++n) {
    // The plan's pointers are recomputed every item (a few instructions) instead of being held across the walk in
    // the producer's 32 registers, where they spilled.
    uint8_t* raw;
    asm volatile("mov.b64 %0, %1;" : "=l"(raw) : "l"(smem_raw));
    const SmemPlan<T> sm(raw);
    mbar_wait(sm.mail_full, n & 1);
    const int item = *reinterpret_cast<volatile int*>(sm.mail);
    __syncwarp();
    if (lane == 0) mbar_arrive(sm.mail_empty);
    const int qs = n % T::kQSlots;
    // The staging buffer is free (the previous item ended with quant_sync): load ahead of the slot.
    if (elected && item < items) load_q_stage<T, CAUSAL>(sm, tm_qx, p, item, 0);
    if (n >= T::kQSlots) mbar_wait(&sm.q_empty[qs], (n / T::kQSlots - 1) & 1);  // slot's last item done
    if (item >= items) {
      if (elected) {
        sm.item[qs] = item;
        mbar_arrive(&sm.q_full[qs]);
        mbar_arrive(&sm.q_full_hi[qs]);
      }
      break;
    }
    const uint32_t slot = smem_u32(sm.q + qs * T::kQBytes);
    const uint32_t scales = smem_u32(sm.q_scale + qs * T::kQScalesPerSlot);
#pragma unroll 1
    for (int h = 0; h < kHalves; ++h) {
      if (h > 0 && elected) load_q_stage<T, CAUSAL>(sm, tm_qx, p, item, h);
      mbar_wait(sm.stage_full, (n * kHalves + h) & 1);  // every item before the end marker took kHalves loads
#pragma unroll 1
      for (int b = qwarp; b < kBlocks; b += kQuantThreads / 32) {
        quantize_q_block<D, E>(smem_u32(sm.q_stage), 16 * b, slot, h * T::kQStageRows + 16 * b, scales,
                               (h * T::kQStageRows) / 16 + b, per_thread != 0, lane);
      }
      fence_proxy_async_smem();  // the slot bytes are read by wgmma (async proxy)
      quant_sync();              // staging read by all, slot rows and scales written
      if (elected) {
        if (h == 0) sm.item[qs] = item;
        if (h == kWg0Half) mbar_arrive(&sm.q_full[qs]);
        if (h == kHalves - 1) mbar_arrive(&sm.q_full_hi[qs]);
      }
    }
  }
}

}  // namespace sage::sm90
