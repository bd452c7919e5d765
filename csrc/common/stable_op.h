// Host-side helpers for ops written against the LibTorch stable ABI (torch >= 2.10 floor):
// argument checks that name the argument, the current CUDA stream, layout decoding.
#pragma once

#include <torch/csrc/inductor/aoti_torch/c/shim.h>
#include <torch/csrc/stable/accelerator.h>
#include <torch/csrc/stable/library.h>
#include <torch/csrc/stable/ops.h>
#include <torch/csrc/stable/tensor.h>
#include <torch/headeronly/core/ScalarType.h>

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>

namespace sage {

using torch::stable::Tensor;
using ScalarType = torch::headeronly::ScalarType;

// Layout codes shared with sageattention/_layout.py.
enum class Layout : int64_t { HND = 0, NHD = 1 };

namespace detail {
// Error text is assembled with std::string/std::to_string, not iostreams: a std::ostringstream
// built inside this module crashed (SIGSEGV in ostream::_M_insert<long>) on the GPU host's torch
// 2.11 when a check failed, so an argument error killed the process instead of raising.
inline void append(std::string& s, const char* v) { s += v; }
inline void append(std::string& s, const std::string& v) { s += v; }
inline void append(std::string& s, char v) { s += v; }
inline void append(std::string& s, bool v) { s += v ? "true" : "false"; }
template <typename T>
inline void append(std::string& s, T v) {
  s += std::to_string(v);
}
template <typename... Args>
[[noreturn]] inline void fail(const char* file, int line, const Args&... args) {
  std::string msg = "sageattention: ";
  (append(msg, args), ...);
  msg += " (";
  msg += file;
  msg += ":";
  msg += std::to_string(line);
  msg += ")";
  throw std::runtime_error(msg);
}
}  // namespace detail

#define SAGE_CHECK(cond, ...)                                     \
  do {                                                            \
    if (!(cond)) ::sage::detail::fail(__FILE__, __LINE__, __VA_ARGS__); \
  } while (0)

inline cudaStream_t current_stream(int32_t device_index) {
  void* stream = nullptr;
  TORCH_ERROR_CODE_CHECK(aoti_torch_get_current_cuda_stream(device_index, &stream));
  return static_cast<cudaStream_t>(stream);
}

// The number of SMs of `device` (grid sizing: persistent grids, a kernel build chosen by waves).
inline int multiprocessor_count(int device) {
  int n = 0;
  SAGE_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device) == cudaSuccess,
             "cannot read the GPU's multiprocessor count");
  return n;
}

// The same for the current device.
inline int current_multiprocessor_count() {
  int device = 0;
  SAGE_CHECK(cudaGetDevice(&device) == cudaSuccess, "could not read the current CUDA device");
  return multiprocessor_count(device);
}

inline void check_launch(const char* kernel) {
  cudaError_t err = cudaGetLastError();
  SAGE_CHECK(err == cudaSuccess, kernel, " launch failed: ", cudaGetErrorString(err));
}

// (B, H, N, D) view of a 4-D attention tensor in either layout; strides in elements.
struct Bhnd {
  int64_t b, h, n, d;
  int64_t sb, sh, sn;
};

inline Bhnd bhnd(const Tensor& x, int64_t layout, const char* name) {
  SAGE_CHECK(x.dim() == 4, name, " must be 4-D, got ", x.dim(), "-D");
  SAGE_CHECK(layout == 0 || layout == 1, "tensor_layout code must be 0 (HND) or 1 (NHD), got ", layout);
  SAGE_CHECK(x.stride(3) == 1, name, " must be contiguous in its last (head) dim; call .contiguous()");
  if (layout == 0) return {x.size(0), x.size(1), x.size(2), x.size(3), x.stride(0), x.stride(1), x.stride(2)};
  return {x.size(0), x.size(2), x.size(1), x.size(3), x.stride(0), x.stride(2), x.stride(1)};
}

// True when every row of a 16-bit tensor starts 16-byte aligned and D is a multiple of 8, so a thread
// can load 8 elements with one 16-byte access (load8<T, true>).
inline bool rows_16b_aligned(const Tensor& x, const Bhnd& s) {
  return s.d % 8 == 0 && s.sn % 8 == 0 && s.sh % 8 == 0 && s.sb % 8 == 0 &&
         reinterpret_cast<uintptr_t>(x.data_ptr()) % 16 == 0;
}

// The largest head dim any attention kernel runs (the fused ops' checks, the shared-memory arrays sized by it).
constexpr int kMaxHeadDim = 256;

// The head dim a kernel runs for a head dim of d (1..kMaxHeadDim): 64, 128 or 256, zero-padded
// (sageattention/_layout.py padded_head_dim).
inline int64_t padded_head_dim(int64_t d) { return d <= 64 ? 64 : d <= 128 ? 128 : kMaxHeadDim; }

inline void check_cuda(const Tensor& x, const char* name) {
  SAGE_CHECK(x.is_cuda(), name, " must be a CUDA tensor");
}

inline bool is_half_like(ScalarType t) { return t == ScalarType::Half || t == ScalarType::BFloat16; }

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// An integer A/B knob from the environment: `unset` when the variable is not set; an error naming it unless its
// whole value is an integer in [lo, hi] (atoi would take "4x" as 4 and "four" as 0).
inline int env_int(const char* name, int unset, int lo, int hi) {
  const char* env = std::getenv(name);
  if (env == nullptr) return unset;
  char* end = nullptr;
  const long n = std::strtol(env, &end, 10);
  SAGE_CHECK(end != env && *end == '\0' && n >= lo && n <= hi, name, " must be an integer in ", lo, "..", hi,
             ", got '", env, "'");
  return static_cast<int>(n);
}

// log2(v) when v is a power of two, else -1: group arithmetic by shifts instead of divisions.
inline int log2_if_pow2(int64_t v) {
  if (v <= 0 || (v & (v - 1)) != 0) return -1;
  int k = 0;
  while ((int64_t{1} << k) < v) ++k;
  return k;
}

}  // namespace sage

// Every extension module needs a PyInit_ so `import sageattention._C…` runs its static op
// registrations; the module itself is empty (no pybind11, so the .so stays abi3).
#include <Python.h>
#define SAGE_PYMODULE(name)                                                              \
  extern "C" PyObject* PyInit_##name(void) {                                             \
    static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, #name, nullptr, -1, nullptr}; \
    return PyModule_Create(&def);                                                        \
  }
