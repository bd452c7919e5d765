// Kernel attributes (dynamic shared memory above 48 KB, non-portable cluster sizes) need a per-kernel opt-in
// (cudaFuncSetAttribute). It persists in the device's context, so each is asked once per kernel, device and value:
// on every call it was ~1 us of the host time of a short attention call (bench/results/op_host_profile_h200_s18.log).
#pragma once

#include <cuda_runtime.h>

#include <mutex>
#include <set>
#include <tuple>

namespace sage {

// Sets `attr` of `kernel` to `value` on the current device unless done before: cudaSuccess, or the runtime's error
// (not remembered, so a later call asks again).
inline cudaError_t set_kernel_attribute_once(const void* kernel, cudaFuncAttribute attr, int value) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) device = -1;
  static std::mutex mu;
  static std::set<std::tuple<const void*, int, int, int>> done;
  std::lock_guard<std::mutex> lock(mu);
  const auto key = std::make_tuple(kernel, device, static_cast<int>(attr), value);
  if (device >= 0 && done.count(key)) return cudaSuccess;
  const cudaError_t err = cudaFuncSetAttribute(kernel, attr, value);
  if (err == cudaSuccess && device >= 0) done.insert(key);
  return err;
}

inline cudaError_t opt_in_dynamic_smem(const void* kernel, int smem_bytes) {
  return set_kernel_attribute_once(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem_bytes);
}

}  // namespace sage
