// Dynamic shared memory above 48 KB needs a per-kernel opt-in (cudaFuncSetAttribute). It persists in the
// device's context, so it is asked once per kernel, device and size: on every call it was ~1 us of the host time
// of a short attention call (bench/results/op_host_profile_h200_s18.log).
#pragma once

#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <tuple>

namespace sage {

// cudaSuccess, or the runtime's error (not remembered, so a later call asks again).
inline cudaError_t opt_in_dynamic_smem(const void* kernel, int smem_bytes) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) device = -1;
  static std::mutex mu;
  static std::map<std::tuple<const void*, int, int>, bool> done;
  std::lock_guard<std::mutex> lock(mu);
  const auto key = std::make_tuple(kernel, device, smem_bytes);
  if (device >= 0 && done.count(key)) return cudaSuccess;
  const cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem_bytes);
  if (err == cudaSuccess && device >= 0) done[key] = true;
  return err;
}

}  // namespace sage
