// Timeline probes for A/B builds (off unless compiled with -DSAGE_SM90_TRACE): the first thread of
// each consumer warpgroup of CTA 0 stamps the 32-bit SM clock at fixed points of every KV step and work item,
// and the launcher writes the stamps to $SAGE_SM90_TRACE_FILE after the launch (bench/sm90_trace.py
// reads them). The SM clock is one counter per SM, so the two warpgroups' stamps compare directly.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace sage::sm90 {

// Step events: top of the step, barriers passed (batch issued next), QK retired, softmax done,
// PV retired, step end. Item events: Q landed, last PV retired, output stored.
enum TraceStep : int { kTrTop, kTrIssue, kTrQk, kTrSoftmax, kTrPv, kTrEnd, kTrStepEvents };
enum TraceItem : int { kTrItemStart, kTrItemLoopEnd, kTrItemStored, kTrItemEvents };
// Per CTA (consumer warpgroup 0's first thread): global time (ns) and SM clock at the start and the end of
// its walk, its work items and KV steps: whether every CTA runs like CTA 0, at which clock, and the tail.
enum TraceCta : int { kTrCtaT0, kTrCtaT1, kTrCtaC0, kTrCtaC1, kTrCtaItems, kTrCtaSteps, kTrCtaFields };
constexpr int kTraceSteps = 512, kTraceItems = 64, kTraceCtas = 1024;

#ifdef SAGE_SM90_TRACE
namespace {
__device__ uint32_t g_trace_steps[2][kTraceSteps][kTrStepEvents];
__device__ uint32_t g_trace_items[2][kTraceItems][kTrItemEvents];
__device__ uint64_t g_trace_cta[kTraceCtas][kTrCtaFields];
}  // namespace

__device__ __forceinline__ uint32_t trace_clock() {
  uint32_t t;
  asm volatile("mov.u32 %0, %%clock;" : "=r"(t));
  return t;
}
__device__ __forceinline__ uint64_t trace_ns() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}
__device__ __forceinline__ uint64_t trace_clock64() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%clock64;" : "=l"(t));
  return t;
}
// Called by every consumer thread; the first thread of warpgroup 1 (consumer 0) writes.
__device__ __forceinline__ void trace_cta_begin() {
  if (threadIdx.x == 128 && blockIdx.x < kTraceCtas) {
    g_trace_cta[blockIdx.x][kTrCtaT0] = trace_ns();
    g_trace_cta[blockIdx.x][kTrCtaC0] = trace_clock64();
  }
}
__device__ __forceinline__ void trace_cta_end(int items, int steps) {
  if (threadIdx.x == 128 && blockIdx.x < kTraceCtas) {
    g_trace_cta[blockIdx.x][kTrCtaT1] = trace_ns();
    g_trace_cta[blockIdx.x][kTrCtaC1] = trace_clock64();
    g_trace_cta[blockIdx.x][kTrCtaItems] = static_cast<uint64_t>(items);
    g_trace_cta[blockIdx.x][kTrCtaSteps] = static_cast<uint64_t>(steps);
  }
}
__device__ __forceinline__ bool trace_lead() { return blockIdx.x == 0 && threadIdx.x % 128 == 0 && threadIdx.x >= 128; }
__device__ __forceinline__ void trace_step(int g, int ev) {
  if (trace_lead() && g < kTraceSteps) g_trace_steps[threadIdx.x / 128 - 1][g][ev] = trace_clock();
}
__device__ __forceinline__ void trace_item(int n, int ev) {
  if (trace_lead() && n < kTraceItems) g_trace_items[threadIdx.x / 128 - 1][n][ev] = trace_clock();
}

inline void trace_reset() {
  static uint32_t zeros[2 * kTraceSteps * kTrStepEvents] = {};
  cudaMemcpyToSymbol(g_trace_steps, zeros, sizeof(g_trace_steps));
  cudaMemcpyToSymbol(g_trace_items, zeros, sizeof(g_trace_items));
  static uint64_t cta_zeros[kTraceCtas * kTrCtaFields] = {};
  cudaMemcpyToSymbol(g_trace_cta, cta_zeros, sizeof(g_trace_cta));
}
// Appends the stamps of the launch just made (steps, then items, little-endian uint32; then the per-CTA
// records, uint64).
inline void trace_dump(cudaStream_t stream) {
  const char* path = std::getenv("SAGE_SM90_TRACE_FILE");
  if (!path) return;
  static uint32_t steps[2 * kTraceSteps * kTrStepEvents], items[2 * kTraceItems * kTrItemEvents];
  static uint64_t ctas[kTraceCtas * kTrCtaFields];
  cudaStreamSynchronize(stream);
  cudaMemcpyFromSymbol(steps, g_trace_steps, sizeof(steps));
  cudaMemcpyFromSymbol(items, g_trace_items, sizeof(items));
  cudaMemcpyFromSymbol(ctas, g_trace_cta, sizeof(ctas));
  if (FILE* f = std::fopen(path, "ab")) {
    std::fwrite(steps, sizeof(steps), 1, f);
    std::fwrite(items, sizeof(items), 1, f);
    std::fwrite(ctas, sizeof(ctas), 1, f);
    std::fclose(f);
  }
}
#else
__device__ __forceinline__ void trace_cta_begin() {}
__device__ __forceinline__ void trace_cta_end(int, int) {}
__device__ __forceinline__ void trace_step(int, int) {}
__device__ __forceinline__ void trace_item(int, int) {}
inline void trace_reset() {}
inline void trace_dump(cudaStream_t) {}
#endif

}  // namespace sage::sm90
