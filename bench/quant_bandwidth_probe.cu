// What bandwidth the INT8 quantization pass's memory pattern can reach, and which structure reaches it. The paired
// Q/K launch of the mma families (quant_int8_pair_kernel) moves 16 KB of fp16 in and 8 KB of INT8 out per CTA and
// ran at ~40 % of the H200's copy bandwidth (bench/mma_notes.md, twenty-fourth session). The probe times the same
// bytes (one fp16 tensor of B*H*N rows of D = 64 -> INT8, 16-row scale groups kept simple) under several structures:
//   copy      one tile per CTA, no reduction: the pattern's ceiling for one-shot CTAs
//   oneshot   one tile per CTA with the real pass's phases (row max by shuffles, shared atomics, two barriers,
//             scales out, quantize from registers): the shipped structure
//   persist   a grid of (SMs x CTAs per SM), each CTA looping over tiles and issuing the next tile's loads into
//             registers before the current tile's barriers
//   async     the same loop with the next tiles staged by cp.async in shared memory (STAGES deep); each thread copies
//             and later reads only its own chunks, so no barrier guards the stage
//   readonly  one tile per CTA, loads and a sum only (the statistics pass's pattern)
//   smemtile  one tile per CTA copied whole into shared memory by cp.async and read from there by both passes: few
//             registers, so more CTAs (and more bytes in flight) per SM without a persistent loop
// plus a device-to-device cudaMemcpy of the input (bytes read + written) as the card's copy ceiling. Every
// structure that quantizes must write the same bytes as oneshot (checked). Prints one line per variant: microseconds
// (median of the timed runs), TB/s counting bytes read plus written.
//   nvcc -O3 -std=c++17 -arch=sm_90a -o /tmp/quant_bandwidth_probe bench/quant_bandwidth_probe.cu
//   /tmp/quant_bandwidth_probe [tokens=4096] [batch*heads=128]   (x2 tensors: Q and K of one paired launch)
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#define CHECK(call)                                                                              \
  do {                                                                                           \
    const cudaError_t err_ = (call);                                                             \
    if (err_ != cudaSuccess) {                                                                   \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(err_)); \
      std::exit(1);                                                                              \
    }                                                                                            \
  } while (0)

namespace {

constexpr int kThreads = 256;
constexpr int kChunksPerRow = 8;  // D = 64: 8 chunks of 8 halves
constexpr int kRowsPerGroup = 16;  // one scale per 16 rows (a warp block of Q)

enum Mode { kCopy, kOneshot, kPersist, kAsync, kReadonly, kSmemTile };

struct alignas(16) Chunk {
  uint4 bits;
};

__device__ __forceinline__ float chunk_amax(const Chunk& c) {
  const __half2* h = reinterpret_cast<const __half2*>(&c.bits);
  float m = 0.f;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __half22float2(h[i]);
    m = fmaxf(m, fmaxf(fabsf(f.x), fabsf(f.y)));
  }
  return m;
}

__device__ __forceinline__ uint2 chunk_s8(const Chunk& c, float inv) {
  const __half2* h = reinterpret_cast<const __half2*>(&c.bits);
  int w[8];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __half22float2(h[i]);
    w[2 * i] = __float_as_int(__fadd_rn(__fmul_rn(f.x, inv), 12582912.f));
    w[2 * i + 1] = __float_as_int(__fadd_rn(__fmul_rn(f.y, inv), 12582912.f));
  }
  const uint32_t lo = __byte_perm(__byte_perm(w[0], w[1], 0x0040), __byte_perm(w[2], w[3], 0x0040), 0x5410);
  const uint32_t hi = __byte_perm(__byte_perm(w[4], w[5], 0x0040), __byte_perm(w[6], w[7], 0x0040), 0x5410);
  return make_uint2(lo, hi);
}

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

// One tile's group maxima -> scales (written out) -> reciprocals in inv[]; amax[] is zeroed for the next tile.
// U chunks per thread, chunk i of the tile = threadIdx.x + u * kThreads, row = i / kChunksPerRow.
template <int U>
__device__ __forceinline__ void tile_scales(const Chunk (&raw)[U], float* amax, float* inv, float* scale_out) {
  constexpr int kGroups = U * kThreads / kChunksPerRow / kRowsPerGroup;
#pragma unroll
  for (int u = 0; u < U; ++u) {
    float m = chunk_amax(raw[u]);
#pragma unroll
    for (int w = 1; w < kChunksPerRow; w <<= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, w));
    const int row = (threadIdx.x + u * kThreads) / kChunksPerRow;
    if (threadIdx.x % kChunksPerRow == 0) atomicMax(reinterpret_cast<int*>(&amax[row / kRowsPerGroup]), __float_as_int(m));
  }
  __syncthreads();
  for (int g = threadIdx.x; g < kGroups; g += kThreads) {
    const float a = amax[g];
    scale_out[g] = a / 127.f;
    inv[g] = a > 0.f ? 127.f / a : 0.f;
    amax[g] = 0.f;
  }
  __syncthreads();
}

template <int U>
__device__ __forceinline__ void tile_store(const Chunk (&raw)[U], const float* inv, uint2* out) {
#pragma unroll
  for (int u = 0; u < U; ++u) {
    const int i = threadIdx.x + u * kThreads;
    out[i] = chunk_s8(raw[u], inv[i / kChunksPerRow / kRowsPerGroup]);
  }
}

template <int MODE, int U, int MIN_CTAS, int STAGES>
__global__ void __launch_bounds__(kThreads, MIN_CTAS)
    probe_kernel(const Chunk* __restrict__ x, uint2* __restrict__ out, float* __restrict__ scale, int tiles) {
  constexpr int kTileChunks = U * kThreads;
  constexpr int kGroups = kTileChunks / kChunksPerRow / kRowsPerGroup;
  __shared__ float amax[kGroups], inv[kGroups];
  for (int g = threadIdx.x; g < kGroups; g += kThreads) amax[g] = 0.f;
  __syncthreads();
  Chunk raw[U];
  const auto load = [&](int tile) {
#pragma unroll
    for (int u = 0; u < U; ++u) raw[u] = x[static_cast<int64_t>(tile) * kTileChunks + threadIdx.x + u * kThreads];
  };
  if constexpr (MODE == kCopy) {
    load(blockIdx.x);
#pragma unroll
    for (int u = 0; u < U; ++u) out[static_cast<int64_t>(blockIdx.x) * kTileChunks + threadIdx.x + u * kThreads] =
        chunk_s8(raw[u], 1.f);
  } else if constexpr (MODE == kOneshot) {
    load(blockIdx.x);
    tile_scales<U>(raw, amax, inv, scale + static_cast<int64_t>(blockIdx.x) * kGroups);
    tile_store<U>(raw, inv, out + static_cast<int64_t>(blockIdx.x) * kTileChunks);
  } else if constexpr (MODE == kReadonly) {
    load(blockIdx.x);
    float s = 0.f;
#pragma unroll
    for (int u = 0; u < U; ++u) s += chunk_amax(raw[u]);
    for (int w = 16; w > 0; w >>= 1) s += __shfl_xor_sync(0xffffffffu, s, w);
    if (threadIdx.x % 32 == 0) atomicAdd(&amax[0], s);
    __syncthreads();
    if (threadIdx.x == 0) scale[blockIdx.x] = amax[0];
  } else if constexpr (MODE == kPersist) {
    int tile = blockIdx.x;
    if (tile < tiles) load(tile);
    for (; tile < tiles; tile += gridDim.x) {
      Chunk cur[U];
#pragma unroll
      for (int u = 0; u < U; ++u) cur[u] = raw[u];
      if (tile + gridDim.x < tiles) load(tile + gridDim.x);  // in flight across this tile's barriers
      tile_scales<U>(cur, amax, inv, scale + static_cast<int64_t>(tile) * kGroups);
      tile_store<U>(cur, inv, out + static_cast<int64_t>(tile) * kTileChunks);
    }
  } else if constexpr (MODE == kSmemTile) {
    extern __shared__ Chunk tile_chunks[];  // [kTileChunks]
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int i = threadIdx.x + u * kThreads;
      cp_async16(&tile_chunks[i], &x[static_cast<int64_t>(blockIdx.x) * kTileChunks + i]);
    }
    cp_async_commit();
    cp_async_wait<0>();  // each thread reads back only its own chunks
#pragma unroll
    for (int u = 0; u < U; ++u) raw[u] = tile_chunks[threadIdx.x + u * kThreads];
    tile_scales<U>(raw, amax, inv, scale + static_cast<int64_t>(blockIdx.x) * kGroups);
#pragma unroll
    for (int u = 0; u < U; ++u) raw[u] = tile_chunks[threadIdx.x + u * kThreads];  // again, after the barriers
    tile_store<U>(raw, inv, out + static_cast<int64_t>(blockIdx.x) * kTileChunks);
  } else {  // kAsync
    extern __shared__ Chunk stage[];  // [STAGES][kTileChunks]
    const auto issue = [&](int tile, int slot) {
      if (tile < tiles) {
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const int i = threadIdx.x + u * kThreads;
          cp_async16(&stage[slot * kTileChunks + i], &x[static_cast<int64_t>(tile) * kTileChunks + i]);
        }
      }
      cp_async_commit();  // an empty group past the end keeps the wait count uniform
    };
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) issue(blockIdx.x + s * gridDim.x, s);
    int slot = 0;
    for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
      issue(tile + (STAGES - 1) * gridDim.x, (slot + STAGES - 1) % STAGES);
      cp_async_wait<STAGES - 1>();  // this thread's copies of `tile` have landed
#pragma unroll
      for (int u = 0; u < U; ++u) raw[u] = stage[slot * kTileChunks + threadIdx.x + u * kThreads];
      tile_scales<U>(raw, amax, inv, scale + static_cast<int64_t>(tile) * kGroups);
      tile_store<U>(raw, inv, out + static_cast<int64_t>(tile) * kTileChunks);
      slot = (slot + 1) % STAGES;
    }
    cp_async_wait<0>();
  }
}

__global__ void fill_kernel(__half* x, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ static_cast<uint32_t>(i >> 32) * 40503u;
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    x[i] = __float2half((static_cast<float>(h & 0xffff) / 65535.f - 0.5f) * 6.f);
  }
}

struct Buffers {
  const Chunk* x;
  uint2* out;
  float* scale;
  int tiles;  // of 1024 chunks
  int64_t bytes_in, bytes_out;
};

float median_us(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <typename Launch>
float time_us(Launch&& launch, int reps) {
  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 3; ++i) launch();
  CHECK(cudaGetLastError());
  std::vector<float> t;
  for (int i = 0; i < reps; ++i) {
    CHECK(cudaEventRecord(a));
    launch();
    CHECK(cudaEventRecord(b));
    CHECK(cudaEventSynchronize(b));
    float ms = 0.f;
    CHECK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms * 1000.f);
  }
  CHECK(cudaGetLastError());
  CHECK(cudaEventDestroy(a));
  CHECK(cudaEventDestroy(b));
  return median_us(t);
}

template <int MODE, int U, int MIN_CTAS, int STAGES = 1>
float run(const Buffers& buf, int sms, int reps, const char* label, const std::vector<uint8_t>* ref) {
  constexpr bool kQuantizes = MODE == kOneshot || MODE == kPersist || MODE == kAsync || MODE == kSmemTile;
  constexpr int kTileChunks = U * kThreads;
  const int tiles = static_cast<int>(static_cast<int64_t>(buf.tiles) * 1024 / kTileChunks);
  const size_t smem = MODE == kAsync      ? static_cast<size_t>(STAGES) * kTileChunks * sizeof(Chunk)
                      : MODE == kSmemTile ? static_cast<size_t>(kTileChunks) * sizeof(Chunk)
                                          : 0;
  auto kernel = probe_kernel<MODE, U, MIN_CTAS, STAGES>;
  // Raised whenever there is dynamic shared memory: the 48 KB default counts the kernel's static arrays too (3 stages
  // of 16 KB failed to launch at exactly 48 KB).
  if (smem > 0) CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  int per_sm = 0;
  CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, smem));
  const bool persistent = MODE == kPersist || MODE == kAsync;
  const int grid = persistent ? std::min(tiles, per_sm * sms) : tiles;
  CHECK(cudaMemset(buf.out, 0xa5, buf.bytes_out));
  const float us = time_us([&] { kernel<<<grid, kThreads, smem>>>(buf.x, buf.out, buf.scale, tiles); }, reps);
  const int64_t moved = buf.bytes_in + (MODE == kReadonly ? 0 : buf.bytes_out);
  const char* check = "";
  if (kQuantizes && ref) {
    std::vector<uint8_t> got(buf.bytes_out);
    CHECK(cudaMemcpy(got.data(), buf.out, buf.bytes_out, cudaMemcpyDeviceToHost));
    check = std::memcmp(got.data(), ref->data(), got.size()) == 0 ? "  same bytes as oneshot" : "  MISMATCH vs oneshot";
  }
  std::printf("%-34s %4d CTAs/SM  grid %6d  %8.1f us  %5.2f TB/s%s\n", label, per_sm, grid, us, moved / us * 1e-6, check);
  return us;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t tokens = argc > 1 ? std::atoll(argv[1]) : 4096;
  const int64_t heads = argc > 2 ? std::atoll(argv[2]) : 128;
  const int reps = 30;
  const int64_t elems = 2 * heads * tokens * 64;  // Q and K
  if (elems % (8 * 2048) != 0) {
    std::fprintf(stderr, "2 * heads * tokens * 64 must be a multiple of %d\n", 8 * 2048);
    return 1;
  }
  cudaDeviceProp prop{};
  CHECK(cudaGetDeviceProperties(&prop, 0));
  int driver = 0;
  CHECK(cudaDriverGetVersion(&driver));
  std::printf("%s, %d SMs, driver API %d; Q+K of %lld heads x %lld tokens x D64 fp16 (%.1f MB in, %.1f MB out)\n",
              prop.name, prop.multiProcessorCount, driver, static_cast<long long>(heads),
              static_cast<long long>(tokens), elems * 2 / 1e6, elems / 1e6);
  __half* x = nullptr;
  uint2* out = nullptr;
  float* scale = nullptr;
  CHECK(cudaMalloc(&x, elems * 2));
  CHECK(cudaMalloc(&out, elems));
  CHECK(cudaMalloc(&scale, elems / 64));
  fill_kernel<<<1024, 256>>>(x, elems);
  CHECK(cudaGetLastError());
  const Buffers buf{reinterpret_cast<const Chunk*>(x), out, scale, static_cast<int>(elems / 8 / 1024), elems * 2, elems};
  const int sms = prop.multiProcessorCount;

  void* copy_dst = nullptr;
  CHECK(cudaMalloc(&copy_dst, elems * 2));
  const float copy_us = time_us([&] { CHECK(cudaMemcpyAsync(copy_dst, x, elems * 2, cudaMemcpyDeviceToDevice)); }, reps);
  std::printf("%-34s %31s %8.1f us  %5.2f TB/s\n", "cudaMemcpy D2D (same input)", "", copy_us, 2.0 * elems * 2 / copy_us * 1e-6);
  CHECK(cudaFree(copy_dst));

  // oneshot U=4 is the shipped structure and the reference bytes.
  run<kOneshot, 4, 4>(buf, sms, reps, "oneshot 4 chunks/thread", nullptr);
  std::vector<uint8_t> ref(buf.bytes_out);
  CHECK(cudaMemcpy(ref.data(), out, ref.size(), cudaMemcpyDeviceToHost));
  run<kCopy, 4, 4>(buf, sms, reps, "copy 4 chunks/thread", &ref);
  run<kCopy, 2, 8>(buf, sms, reps, "copy 2 chunks/thread", &ref);
  run<kCopy, 8, 2>(buf, sms, reps, "copy 8 chunks/thread", &ref);
  run<kReadonly, 4, 4>(buf, sms, reps, "readonly 4 chunks/thread", &ref);
  run<kOneshot, 2, 8>(buf, sms, reps, "oneshot 2 chunks/thread", &ref);
  run<kPersist, 4, 4>(buf, sms, reps, "persist 4 chunks/thread", &ref);
  run<kPersist, 2, 6>(buf, sms, reps, "persist 2 chunks/thread", &ref);
  run<kAsync, 4, 4, 2>(buf, sms, reps, "async 4 chunks/thread, 2 stages", &ref);
  run<kAsync, 4, 4, 3>(buf, sms, reps, "async 4 chunks/thread, 3 stages", &ref);
  run<kAsync, 2, 6, 3>(buf, sms, reps, "async 2 chunks/thread, 3 stages", &ref);
  run<kSmemTile, 4, 6>(buf, sms, reps, "smemtile 4 chunks/thread", &ref);
  run<kSmemTile, 4, 8>(buf, sms, reps, "smemtile 4 chunks/thread, 8 CTAs", &ref);
  run<kOneshot, 4, 4>(buf, sms, reps, "oneshot 4 chunks/thread (again)", &ref);
  CHECK(cudaFree(x));
  CHECK(cudaFree(out));
  CHECK(cudaFree(scale));
  return 0;
}
