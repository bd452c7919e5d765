// Shared memory of the mma.sync attention kernel: Q once and two K/V tile stages (attn_kernel.cuh). Its own header so
// that the ops can report it (mma_f16_attn_smem / mma_f8_attn_smem) without including the kernels.
#pragma once

#include <cstdint>

#include "common/mma/attn_mainloop.cuh"
#include "common/stable_op.h"

namespace sage::mma {

template <int D, PvAccum PV>
constexpr int attn_smem_bytes() {
  using W = WarpTile<D, PV>;
  return W::QTile::kBytes + 2 * (W::KTile::kBytes + W::VTile::kBytes);
}

// The tiles depend on the head dim and on whether PV is FP8, not on the accumulation: one size per (D, PV type).
template <int D>
constexpr bool smem_same_for_every_accum() {
  return attn_smem_bytes<D, PvAccum::kF16F32>() == attn_smem_bytes<D, PvAccum::kF16F16F32>() &&
         attn_smem_bytes<D, PvAccum::kF16F32>() == attn_smem_bytes<D, PvAccum::kF16F16>() &&
         attn_smem_bytes<D, PvAccum::kF8F32>() == attn_smem_bytes<D, PvAccum::kF8F32F32>() &&
         attn_smem_bytes<D, PvAccum::kF8F32>() == attn_smem_bytes<D, PvAccum::kF8F32F16>();
}
static_assert(smem_same_for_every_accum<64>() && smem_same_for_every_accum<128>() && smem_same_for_every_accum<256>());

// attn_smem_bytes for a padded head dim known at run time: what the ops mma_f16_attn_smem / mma_f8_attn_smem report,
// so that Python can decline a call whose kernel needs more shared memory than the GPU gives one block (99 KB on
// sm_86, sm_89 and sm_12x; the largest kernel, FP16 PV at head dim 256, takes 67 KB).
template <bool FP8>
int64_t attn_smem_bytes_of(int64_t head_dim_padded) {
  constexpr PvAccum kPv = FP8 ? PvAccum::kF8F32 : PvAccum::kF16F32;
  switch (head_dim_padded) {
    case 64: return attn_smem_bytes<64, kPv>();
    case 128: return attn_smem_bytes<128, kPv>();
    case 256: return attn_smem_bytes<256, kPv>();
    default: SAGE_CHECK(false, "head_dim_padded must be 64, 128 or 256, got ", head_dim_padded);
  }
  return 0;
}

}  // namespace sage::mma
