// Hopper (sm_90a) primitives as inline PTX: mbarriers, TMA tile loads, register reallocation,
// thread-block clusters (barrier, distributed shared memory), wgmma and its descriptors. Written from the PTX ISA's instruction semantics; no library dependency.
#pragma once

#include <cuda.h>  // CUtensorMap (type only; the driver is reached through the runtime at launch)

#include <cstdint>
#include <type_traits>

namespace sage::sm90 {

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// ---- programmatic dependent launch -----------------------------------------------------------
// A kernel launched with cudaLaunchAttributeProgrammaticStreamSerialization may start before the
// previous kernel on its stream has finished: it must wait here before touching any memory that kernel
// (or anything earlier) writes or reads. Without that attribute the wait returns at once.
__device__ __forceinline__ void grid_dependency_wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }
// Lets such a dependent grid be scheduled once every CTA of this grid has issued this or exited (one
// thread per CTA is enough). It says nothing about this grid's writes: the dependent's wait covers them.
__device__ __forceinline__ void allow_dependent_launch() { asm volatile("griddepcontrol.launch_dependents;" :::); }

// ---- mbarrier -------------------------------------------------------------------------------
__device__ __forceinline__ void mbar_init(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_u32(bar)), "r"(count) : "memory");
}
// Makes the initialised barriers visible to the async (TMA) proxy.
__device__ __forceinline__ void fence_barrier_init() {
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
}
__device__ __forceinline__ void mbar_arrive_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_u32(bar)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_u32(bar)) : "memory");
}
// The try_wait spin loop on the mbarrier at %0 for the phase of parity %1; SEM: the wait's memory semantics
// ("" = acquire at CTA scope).
#define SAGE_MBAR_WAIT_LOOP(SEM)                                   \
  "{\n.reg .pred done;\n"                                         \
  "SAGE_MBAR_WAIT_%=:\n"                                          \
  "mbarrier.try_wait.parity" SEM ".shared::cta.b64 done, [%0], %1;\n" \
  "@!done bra SAGE_MBAR_WAIT_%=;\n}\n"
// Spins until the phase with the given parity has completed.
__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
  asm volatile(SAGE_MBAR_WAIT_LOOP("") ::"r"(smem_u32(bar)), "r"(parity) : "memory");
}

// ---- TMA --------------------------------------------------------------------------------------
__device__ __forceinline__ void tma_prefetch_map(const CUtensorMap* map) {
  asm volatile("prefetch.tensormap [%0];" ::"l"(reinterpret_cast<uint64_t>(map)) : "memory");
}
// Loads the box at element coordinates (c0 = inner, c1 = row) into smem; completes on `bar`.
__device__ __forceinline__ void tma_load_2d(void* dst, const CUtensorMap* map, uint64_t* bar, int c0, int c1) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];" ::
          "r"(smem_u32(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(smem_u32(bar))
      : "memory");
}

// The box lands at dst's offset in the shared memory of every CTA in cta_mask and completes on the mbarrier at
// bar's offset in each of them.
__device__ __forceinline__ void tma_load_2d_multicast(void* dst, const CUtensorMap* map, uint64_t* bar, int c0, int c1,
                                                      uint16_t cta_mask) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.multicast::cluster"
      " [%0], [%1, {%2, %3}], [%4], %5;" ::"r"(smem_u32(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(smem_u32(bar)), "h"(cta_mask)
      : "memory");
}

// A box of a 4-D tensor map at element coordinates (c0 innermost); completes on `bar`. The 16-bit PV kernels read V
// this way straight from the caller's tensor: (channel, token, head, batch), strides of multiples of 16 bytes.
__device__ __forceinline__ void tma_load_4d(void* dst, const CUtensorMap* map, uint64_t* bar, int c0, int c1, int c2,
                                            int c3) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, %5}],"
      " [%6];" ::"r"(smem_u32(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(smem_u32(bar))
      : "memory");
}
__device__ __forceinline__ void tma_load_4d_multicast(void* dst, const CUtensorMap* map, uint64_t* bar, int c0, int c1,
                                                      int c2, int c3, uint16_t cta_mask) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.multicast::cluster"
      " [%0], [%1, {%2, %3, %4, %5}], [%6], %7;" ::"r"(smem_u32(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(smem_u32(bar)), "h"(cta_mask)
      : "memory");
}

// ---- register budget per warpgroup role --------------------------------------------------------
template <int N>
__device__ __forceinline__ void regs_dealloc() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(N));
}
template <int N>
__device__ __forceinline__ void regs_alloc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(N));
}

// ---- thread-block cluster ------------------------------------------------------------------------
__device__ __forceinline__ uint32_t cluster_rank() {
  uint32_t r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
  return r;
}
__device__ __forceinline__ uint32_t cluster_size() {
  uint32_t n;
  asm volatile("mov.u32 %0, %%cluster_nctarank;" : "=r"(n));
  return n;
}
// Arrive with release semantics: this CTA's shared-memory writes are visible to the cluster after
// the matching wait.
__device__ __forceinline__ void cluster_arrive() { asm volatile("barrier.cluster.arrive.release.aligned;" ::: "memory"); }
// Arrive without ordering: for signalling that this CTA is done reading the others' shared memory
// (values already consumed), so they may exit.
__device__ __forceinline__ void cluster_arrive_relaxed() {
  asm volatile("barrier.cluster.arrive.relaxed.aligned;" ::: "memory");
}
__device__ __forceinline__ void cluster_wait() { asm volatile("barrier.cluster.wait.acquire.aligned;" ::: "memory"); }
// The shared::cluster address of p's offset in the shared memory of cluster CTA `rank` (this CTA's own included).
__device__ __forceinline__ uint32_t cluster_smem_addr(const void* p, uint32_t rank) {
  uint32_t addr;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(addr) : "r"(smem_u32(p)), "r"(rank));
  return addr;
}
// One arrival on the mbarrier at a shared::cluster address. Default semantics (release at CTA scope): the arrival
// only says that this warp's wgmma reads of the entry have retired, nothing it wrote; `.release.cluster` compiles
// to MEMBAR.ALL.GPU before every arrival, which made the first version of this path 35 % slower.
__device__ __forceinline__ void mbar_arrive_cluster(uint32_t addr) {
  asm volatile("mbarrier.arrive.shared::cluster.b64 _, [%0];" ::"r"(addr) : "memory");
}
// The cluster's work-queue hand-over (once per item): a store into the peer's shared memory, an arrival that
// releases it to the peer at cluster scope, and the wait that acquires it there.
__device__ __forceinline__ void st_cluster_s32(uint32_t addr, int v) {
  asm volatile("st.shared::cluster.s32 [%0], %1;" ::"r"(addr), "r"(v) : "memory");
}
__device__ __forceinline__ void mbar_arrive_release_cluster(uint32_t addr) {
  asm volatile("mbarrier.arrive.release.cluster.shared::cluster.b64 _, [%0];" ::"r"(addr) : "memory");
}
__device__ __forceinline__ void mbar_wait_acquire_cluster(uint64_t* bar, uint32_t parity) {
  asm volatile(SAGE_MBAR_WAIT_LOOP(".acquire.cluster") ::"r"(smem_u32(bar)), "r"(parity) : "memory");
}
// The float at `local`'s offset in the shared memory of cluster CTA `rank` (distributed shared memory).
__device__ __forceinline__ float ld_cluster(const float* local, uint32_t rank) {
  float v;
  asm volatile("ld.shared::cluster.f32 %0, [%1];" : "=f"(v) : "r"(cluster_smem_addr(local, rank)) : "memory");
  return v;
}

// ---- wgmma --------------------------------------------------------------------------------------
// Shared-memory matrix descriptor for a K-major tile stored as rows of `kRowBytes` bytes, written by
// TMA with the matching swizzle (128 B rows -> 128B swizzle, 64 B rows -> 64B swizzle). Groups of 8
// rows are kRowBytes * 8 apart (stride byte offset); the leading byte offset is unused for swizzled
// K-major layouts. Advancing K by 32 bytes inside a row is +2 on the address field.
template <int kRowBytes>
__device__ __forceinline__ uint64_t smem_desc(const void* tile) {
  static_assert(kRowBytes == 128 || kRowBytes == 64, "rows must be 64 or 128 bytes");
  constexpr uint64_t kSwizzle = kRowBytes == 128 ? 1 : 2;  // 1: 128B, 2: 64B
  constexpr uint64_t kSbo = (kRowBytes * 8) >> 4;
  const uint64_t addr = (smem_u32(tile) & 0x3FFFF) >> 4;
  return addr | (uint64_t{1} << 16) | (kSbo << 32) | (kSwizzle << 62);
}

// Descriptor of an MN-major tile of 16-bit elements in 128B-swizzled rows: each row is one k (a key) holding 64
// consecutive MN elements (channels), as TMA writes a box of 64 channels x keys. Groups of 8 k rows are 1024 bytes
// apart (stride byte offset); the next 64 MN elements lie kMnAtomBytes further on (leading byte offset: the next
// box). Advancing K by 16 rows is +128 on the address field.
template <int kMnAtomBytes>
__device__ __forceinline__ uint64_t smem_desc_mn128(const void* tile) {
  static_assert(kMnAtomBytes % 1024 == 0 && (kMnAtomBytes >> 4) < (1 << 14), "MN atoms 1024-byte aligned, in range");
  constexpr uint64_t kLbo = kMnAtomBytes >> 4;
  constexpr uint64_t kSbo = 1024 >> 4;
  const uint64_t addr = (smem_u32(tile) & 0x3FFFF) >> 4;
  return addr | (kLbo << 16) | (kSbo << 32) | (uint64_t{1} << 62);
}

// Descriptor of a K-major tile without swizzle whose core matrices (8 rows x 16 bytes) lie 128 bytes apart in both
// directions: for a tile that holds one value everywhere (INT8 PV's row-sum operand), any reading stays in its bytes.
__device__ __forceinline__ uint64_t smem_desc_flat(const void* tile) {
  const uint64_t addr = (smem_u32(tile) & 0x3FFFF) >> 4;
  return addr | (uint64_t{128 >> 4} << 16) | (uint64_t{128 >> 4} << 32);
}
__device__ __forceinline__ void fence_proxy_async_smem() {
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(N) : "memory");
}
// Keeps the compiler from moving reads/writes of an accumulator across wgmma issue/wait points.
template <typename T, int N>
__device__ __forceinline__ void pin(T (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) {
    if constexpr (std::is_same_v<T, float>) asm volatile("" : "+f"(r[i])::"memory");
    else asm volatile("" : "+r"(r[i])::"memory");
  }
}

// Operand lists of the wgmma wrappers below, written once: SAGE_WGMMA_ACCn(c, d) is the n accumulator operands
// c(d[0]), ..., c(d[n - 1]) (c: "+r" for s32, "+f" for f32) and SAGE_WGMMA_PHn their placeholders "%0, ..., %n-1" in
// the PTX string; each wrapper spells out the operands numbered after them. #undef'd at the end of this header.
#define SAGE_WGMMA_ACC8(c, d, i) \
  c(d[i]), c(d[i + 1]), c(d[i + 2]), c(d[i + 3]), c(d[i + 4]), c(d[i + 5]), c(d[i + 6]), c(d[i + 7])
#define SAGE_WGMMA_ACC32_AT(c, d, i) \
  SAGE_WGMMA_ACC8(c, d, i), SAGE_WGMMA_ACC8(c, d, i + 8), SAGE_WGMMA_ACC8(c, d, i + 16), SAGE_WGMMA_ACC8(c, d, i + 24)
#define SAGE_WGMMA_ACC32(c, d) SAGE_WGMMA_ACC32_AT(c, d, 0)
#define SAGE_WGMMA_ACC64(c, d) SAGE_WGMMA_ACC32(c, d), SAGE_WGMMA_ACC32_AT(c, d, 32)
#define SAGE_WGMMA_ACC96(c, d) SAGE_WGMMA_ACC64(c, d), SAGE_WGMMA_ACC32_AT(c, d, 64)
#define SAGE_WGMMA_ACC128(c, d) SAGE_WGMMA_ACC96(c, d), SAGE_WGMMA_ACC32_AT(c, d, 96)
#define SAGE_WGMMA_PH32 \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
#define SAGE_WGMMA_PH64 \
  SAGE_WGMMA_PH32 ", %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
#define SAGE_WGMMA_PH96 \
  SAGE_WGMMA_PH64 ", %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, " \
  "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95"
#define SAGE_WGMMA_PH128 \
  SAGE_WGMMA_PH96 ", %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, " \
  "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"

// One wgmma's asm, for the wrappers below: R accumulator registers per thread in d (constraint c: "+r" s32, "+f"
// f32) numbered %0..%R-1, then A (SS: A's descriptor desc_a; RS: A's four registers a[4]), B's descriptor desc_b and
// the scale-d flag accumulate (0: D = A * B, else D += A * B) as a predicate. instr: "m64nNkK.dtype.atype.btype";
// flags: the immediates after the predicate (scale-a/b and, for 16-bit types, B's transpose), "" for integer types.
// The operand numbers after the accumulators depend on R, hence the _OPS / _PRED strings per R.
#define SAGE_WGMMA_SS_OPS32 "%32, %33, p"
#define SAGE_WGMMA_SS_OPS64 "%64, %65, p"
#define SAGE_WGMMA_SS_OPS96 "%96, %97, p"
#define SAGE_WGMMA_SS_OPS128 "%128, %129, p"
#define SAGE_WGMMA_SS_PRED32 "%34"
#define SAGE_WGMMA_SS_PRED64 "%66"
#define SAGE_WGMMA_SS_PRED96 "%98"
#define SAGE_WGMMA_SS_PRED128 "%130"
#define SAGE_WGMMA_RS_OPS32 "{%32, %33, %34, %35}, %36, p"
#define SAGE_WGMMA_RS_OPS64 "{%64, %65, %66, %67}, %68, p"
#define SAGE_WGMMA_RS_OPS96 "{%96, %97, %98, %99}, %100, p"
#define SAGE_WGMMA_RS_OPS128 "{%128, %129, %130, %131}, %132, p"
#define SAGE_WGMMA_RS_PRED32 "%37"
#define SAGE_WGMMA_RS_PRED64 "%69"
#define SAGE_WGMMA_RS_PRED96 "%101"
#define SAGE_WGMMA_RS_PRED128 "%133"
#define SAGE_WGMMA_ASM(form, R, instr, flags, c, ...)                                                          \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " SAGE_WGMMA_##form##_PRED##R ", 0;\n"                       \
               "wgmma.mma_async.sync.aligned." instr " {" SAGE_WGMMA_PH##R "}, " SAGE_WGMMA_##form##_OPS##R     \
               flags ";\n}\n"                                                                                  \
               : SAGE_WGMMA_ACC##R(c, d)                                                                      \
               : __VA_ARGS__, "l"(desc_b), "r"(accumulate))
#define SAGE_WGMMA_SS(R, instr, c) SAGE_WGMMA_ASM(SS, R, instr, "", c, "l"(desc_a))
#define SAGE_WGMMA_RS(R, instr, flags, c) \
  SAGE_WGMMA_ASM(RS, R, instr, flags, c, "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]))

// D[64xN] (s32) (+)= A[64x32] (s8, smem) * B[32xN] (s8, smem), both K-major; N keys of one softmax
// step (64 at D256; 128, 192 or 256), N/2 accumulator registers per thread.
template <int N>
__device__ __forceinline__ void wgmma_s8(int32_t (&d)[N / 2], uint64_t desc_a, uint64_t desc_b, int accumulate);
template <>
__device__ __forceinline__ void wgmma_s8<64>(int32_t (&d)[32], uint64_t desc_a, uint64_t desc_b, int accumulate) {
  SAGE_WGMMA_SS(32, "m64n64k32.s32.s8.s8", "+r");
}
template <>
__device__ __forceinline__ void wgmma_s8<128>(int32_t (&d)[64], uint64_t desc_a, uint64_t desc_b, int accumulate) {
  SAGE_WGMMA_SS(64, "m64n128k32.s32.s8.s8", "+r");
}
template <>
__device__ __forceinline__ void wgmma_s8<192>(int32_t (&d)[96], uint64_t desc_a, uint64_t desc_b, int accumulate) {
  SAGE_WGMMA_SS(96, "m64n192k32.s32.s8.s8", "+r");
}
template <>
__device__ __forceinline__ void wgmma_s8<256>(int32_t (&d)[128], uint64_t desc_a, uint64_t desc_b, int accumulate) {
  SAGE_WGMMA_SS(128, "m64n256k32.s32.s8.s8", "+r");
}

// D[64xN] (s32) (+)= A[64x32] (s8, registers: the m16n8k32 A fragment of each warp's 16 rows) * B[32xN] (s8,
// smem, K-major): the QK batch of a loop that holds Q in registers (default_q_regs_mode, mainloop.cuh).
template <int N>
__device__ __forceinline__ void wgmma_s8_rs(int32_t (&d)[N / 2],
                                            const uint32_t (&a)[4], uint64_t desc_b, int accumulate);
template <>
__device__ __forceinline__ void wgmma_s8_rs<128>(int32_t (&d)[64],
                                                 const uint32_t (&a)[4], uint64_t desc_b, int accumulate) {
  SAGE_WGMMA_RS(64, "m64n128k32.s32.s8.s8", "", "+r");
}
template <>
__device__ __forceinline__ void wgmma_s8_rs<192>(int32_t (&d)[96],
                                                 const uint32_t (&a)[4], uint64_t desc_b, int accumulate) {
  SAGE_WGMMA_RS(96, "m64n192k32.s32.s8.s8", "", "+r");
}
template <>
__device__ __forceinline__ void wgmma_s8_rs<256>(int32_t (&d)[128],
                                                 const uint32_t (&a)[4], uint64_t desc_b, int accumulate) {
  SAGE_WGMMA_RS(128, "m64n256k32.s32.s8.s8", "", "+r");
}

// D[64xN] (f32) (+)= A[64x32] (e4m3, registers) * B[32xN] (e4m3, smem, K-major). N = 64, 128 or 256 channels.
__device__ __forceinline__ void wgmma_m64n128k32_e4m3(float (&d)[64],
                                                      const uint32_t (&a)[4], uint64_t desc_b, int accumulate) {
  SAGE_WGMMA_RS(64, "m64n128k32.f32.e4m3.e4m3", ", 1, 1", "+f");
}
__device__ __forceinline__ void wgmma_m64n64k32_e4m3(float (&d)[32],
                                                     const uint32_t (&a)[4], uint64_t desc_b, int accumulate) {
  SAGE_WGMMA_RS(32, "m64n64k32.f32.e4m3.e4m3", ", 1, 1", "+f");
}
__device__ __forceinline__ void wgmma_m64n256k32_e4m3(float (&d)[128],
                                                      const uint32_t (&a)[4], uint64_t desc_b, int accumulate) {
  SAGE_WGMMA_RS(128, "m64n256k32.f32.e4m3.e4m3", ", 1, 1", "+f");
}

// D[64xN] (s32) (+)= A[64x32] (u8, registers: P~ in the e4m3 fragment order) * B[32xN] (s8, smem, K-major): the PV
// batch of the INT8-PV kernel (kPvS8, mainloop.cuh). N = 64, 128 or 256 channels.
template <int N>
__device__ __forceinline__ void wgmma_pv_u8s8(int32_t (&d)[N / 2], const uint32_t (&a)[4], uint64_t desc_b,
                                              int accumulate);
template <>
__device__ __forceinline__ void wgmma_pv_u8s8<8>(int32_t (&d)[4], const uint32_t (&a)[4], uint64_t desc_b,
                                                 int accumulate) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %9, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n8k32.s32.u8.s8 {%0, %1, %2, %3}, {%4, %5, %6, %7}, %8, p;\n}\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(accumulate));
}
template <>
__device__ __forceinline__ void wgmma_pv_u8s8<64>(int32_t (&d)[32], const uint32_t (&a)[4], uint64_t desc_b,
                                                  int accumulate) {
  SAGE_WGMMA_RS(32, "m64n64k32.s32.u8.s8", "", "+r");
}
template <>
__device__ __forceinline__ void wgmma_pv_u8s8<128>(int32_t (&d)[64], const uint32_t (&a)[4], uint64_t desc_b,
                                                   int accumulate) {
  SAGE_WGMMA_RS(64, "m64n128k32.s32.u8.s8", "", "+r");
}
template <>
__device__ __forceinline__ void wgmma_pv_u8s8<256>(int32_t (&d)[128], const uint32_t (&a)[4], uint64_t desc_b,
                                                   int accumulate) {
  SAGE_WGMMA_RS(128, "m64n256k32.s32.u8.s8", "", "+r");
}

// D[64xN] (f32) (+)= A[64x16] (f16 or bf16 per kBf16; registers: S's accumulator layout, two keys a register) *
// B[16xN] (same type, smem, MN-major: imm-trans-b = 1). N = 64, 128 or 256 channels (the head dim).
template <bool kBf16, int N>
__device__ __forceinline__ void wgmma_pv16(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t desc_b, int accumulate);
// The explicit specializations, one per type and N (R = N / 2 accumulator registers).
#define SAGE_WGMMA_PV16(kBf16, N, R, type)                                                                    \
  template <>                                                                                                 \
  __device__ __forceinline__ void wgmma_pv16<kBf16, N>(float (&d)[R], const uint32_t (&a)[4], uint64_t desc_b, \
                                                       int accumulate) {                                      \
    SAGE_WGMMA_RS(R, "m64n" #N "k16.f32." type "." type, ", 1, 1, 1", "+f");                                  \
  }
SAGE_WGMMA_PV16(false, 64, 32, "f16")
SAGE_WGMMA_PV16(true, 64, 32, "bf16")
SAGE_WGMMA_PV16(false, 128, 64, "f16")
SAGE_WGMMA_PV16(true, 128, 64, "bf16")
SAGE_WGMMA_PV16(false, 256, 128, "f16")
SAGE_WGMMA_PV16(true, 256, 128, "bf16")
#undef SAGE_WGMMA_PV16
}  // namespace sage::sm90

#undef SAGE_WGMMA_ACC8
#undef SAGE_WGMMA_ACC32_AT
#undef SAGE_WGMMA_ACC32
#undef SAGE_WGMMA_ACC64
#undef SAGE_WGMMA_ACC96
#undef SAGE_WGMMA_ACC128
#undef SAGE_WGMMA_PH32
#undef SAGE_WGMMA_PH64
#undef SAGE_WGMMA_PH96
#undef SAGE_WGMMA_PH128
#undef SAGE_WGMMA_SS_OPS32
#undef SAGE_WGMMA_SS_OPS64
#undef SAGE_WGMMA_SS_OPS96
#undef SAGE_WGMMA_SS_OPS128
#undef SAGE_WGMMA_SS_PRED32
#undef SAGE_WGMMA_SS_PRED64
#undef SAGE_WGMMA_SS_PRED96
#undef SAGE_WGMMA_SS_PRED128
#undef SAGE_WGMMA_RS_OPS32
#undef SAGE_WGMMA_RS_OPS64
#undef SAGE_WGMMA_RS_OPS96
#undef SAGE_WGMMA_RS_OPS128
#undef SAGE_WGMMA_RS_PRED32
#undef SAGE_WGMMA_RS_PRED64
#undef SAGE_WGMMA_RS_PRED96
#undef SAGE_WGMMA_RS_PRED128
#undef SAGE_WGMMA_ASM
#undef SAGE_WGMMA_SS
#undef SAGE_WGMMA_RS
