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
constexpr int kTraceSteps = 512, kTraceItems = 64;

#ifdef SAGE_SM90_TRACE
namespace {
__device__ uint32_t g_trace_steps[2][kTraceSteps][kTrStepEvents];
__device__ uint32_t g_trace_items[2][kTraceItems][kTrItemEvents];
}  // namespace

__device__ __forceinline__ uint32_t trace_clock() {
  uint32_t t;
  asm volatile("mov.u32 %0, %%clock;" : "=r"(t));
  return t;
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
}
// Appends the stamps of the launch just made (steps, then items, little-endian uint32).
inline void trace_dump(cudaStream_t stream) {
  const char* path = std::getenv("SAGE_SM90_TRACE_FILE");
  if (!path) return;
  static uint32_t steps[2 * kTraceSteps * kTrStepEvents], items[2 * kTraceItems * kTrItemEvents];
  cudaStreamSynchronize(stream);
  cudaMemcpyFromSymbol(steps, g_trace_steps, sizeof(steps));
  cudaMemcpyFromSymbol(items, g_trace_items, sizeof(items));
  if (FILE* f = std::fopen(path, "ab")) {
    std::fwrite(steps, sizeof(steps), 1, f);
    std::fwrite(items, sizeof(items), 1, f);
    std::fclose(f);
  }
}
#else
__device__ __forceinline__ void trace_step(int, int) {}
__device__ __forceinline__ void trace_item(int, int) {}
inline void trace_reset() {}
inline void trace_dump(cudaStream_t) {}
#endif

}  // namespace sage::sm90
