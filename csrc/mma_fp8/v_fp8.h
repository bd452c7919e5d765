// The FP8 V of the fused FP8-PV ops (sageattn_mma_f8: fused_op.cu; sageattn_mma_f8_varlen: varlen_op.cu), as
// quant.quant_v_fp8 makes it: per-channel statistics (centered for smooth V), then e4m3 padded like K, in pieces of
// the op's scratch buffer.
#pragma once

#include <array>
#include <cstdint>

#include "common/channel_stats_kernel.cuh"
#include "common/dtype_dispatch.h"
#include "common/quant_v_tile.cuh"
#include "common/scratch_layout.h"
#include "common/stable_op.h"
#include "common/varlen.cuh"

namespace sage::mma {

// Where V's quantization writes: e4m3 V and its scales (the kernel's operands), V's mean and absmax, and the
// partials of its statistics.
struct VFp8Buffers {
  uint8_t* fp8;
  float* scale;
  float* mean;
  float* amax;
  float* partial;
};

// The plans of V's two steps and the byte offsets of their outputs in the scratch buffer.
struct VFp8Pieces {
  ChannelStatsPlan stats;
  QuantVPlan quant;
  int64_t fp8 = 0, scale = 0, mean = 0, amax = 0, partial = 0;

  VFp8Pieces(const ChannelStatsPlan& stats_, const QuantVPlan& quant_) : stats(stats_), quant(quant_) {}
  // The partials are V's own (not K's reused): the paired launch computes both at once.
  void take(ScratchLayout& layout) {
    fp8 = layout.take(quant.out_shape(), 1);
    scale = layout.take(quant.scale_shape(), sizeof(float));
    mean = layout.take(stats.stat_shape(), sizeof(float));
    amax = layout.take(stats.stat_shape(), sizeof(float));
    partial = layout.take(std::array<int64_t, 1>{stats.partial_elems()}, sizeof(float));
  }
  VFp8Buffers in(char* base) const {
    auto f32 = [base](int64_t offset) { return reinterpret_cast<float*>(base + offset); };
    return {reinterpret_cast<uint8_t*>(base + fp8), f32(scale), f32(mean), f32(amax), f32(partial)};
  }
  // Whether the paired launches (launch_qk_quant_paired, launch_v_fp8_quant) may take V.
  bool pairable() const { return stats.vec && quant.vec; }
};

// V's e4m3 quantization from its finalized statistics (b.amax; b.mean for smooth V).
template <typename T, bool PACKED>
void launch_v_fp8_tiles(const VFp8Pieces& v_plan, const T* v, bool smooth_v, const VFp8Buffers& b,
                        cudaStream_t stream, const VarlenRows& rows = {}) {
  if (v_plan.quant.empty()) return;
  launch_quant_v_fp8_tile<T, NaturalTokenOrder, false, PACKED>(v, v_plan.quant.args, v_plan.quant.vec, b.amax,
                                                               smooth_v ? b.mean : nullptr, b.fp8, b.scale, stream,
                                                               rows);
  check_launch("quant_v_fp8");
}

// V's e4m3 quantization once its statistics' partials are in b.partial (launch_qk_quant_paired): heads of few slices
// finalize them inside the quantization (QuantVFold), others through the finalize launch first.
template <typename T>
void launch_v_fp8_quant(const VFp8Pieces& v_plan, const T* v, bool smooth_v, const VFp8Buffers& b,
                        cudaStream_t stream) {
  if (v_plan.quant.empty()) return;
  if (!v_plan.stats.foldable()) {
    launch_channel_finalize(v_plan.stats, b.partial, /*centered=*/smooth_v, b.mean, b.amax, stream);
    launch_v_fp8_tiles<T, false>(v_plan, v, smooth_v, b, stream);
    return;
  }
  QuantVFold fold;
  fold.partial = b.partial;
  fold.slices = static_cast<int>(v_plan.stats.slices);
  fold.centered = smooth_v;
  fold.mean_out = b.mean;
  launch_quant_v_fp8_tile<T, NaturalTokenOrder, false, false, true>(v, v_plan.quant.args, v_plan.quant.vec, nullptr,
                                                                    nullptr, b.fp8, b.scale, stream, {}, fold);
  check_launch("quant_v_fp8 (statistics folded in)");
}

// Enqueues V's statistics (into b.partial) and its e4m3 quantization on `stream`. PACKED: plans of a pack, `rows` =
// v's rows (common/varlen.cuh).
template <bool PACKED = false>
void launch_v_fp8(const VFp8Pieces& v_plan, const Tensor& v, bool smooth_v, const VFp8Buffers& b, cudaStream_t stream,
                  const VarlenRows& rows = {}) {
  SAGE_DISPATCH_HALF(v.scalar_type(), "v", [&] {
    const auto* vp = reinterpret_cast<const scalar_t*>(v.data_ptr());
    launch_channel_stats(v_plan.stats, vp, /*centered=*/smooth_v, b.partial, b.mean, b.amax, stream);
    launch_v_fp8_tiles<scalar_t, PACKED>(v_plan, vp, smooth_v, b, stream, rows);
  });
}

}  // namespace sage::mma
