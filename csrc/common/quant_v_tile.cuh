// V -> per-channel FP8 e4m3, transposed to [B, H, D_pad, N_pad] (tokens contiguous, the K-major
// operand the FP8 PV MMA reads). One kernel template for both token orders the kernels consume:
// the natural order (mma.sync kernels, core's quant_v_fp8) and the sm90 wgmma fragment order
// (quant_v_fp8_sm90); `Order::pos(t)` is where token t of a 64-token tile lands.
#pragma once

#include <cuda_fp8.h>

#include <array>
#include <cstdint>
#include <optional>
#include <tuple>
#include <type_traits>

#include "common/channel_stats_kernel.cuh"
#include "common/stable_op.h"
#include "common/varlen.cuh"
#include "common/vec_io.cuh"

namespace sage {

constexpr float kE4m3Max = 448.f;  // largest finite e4m3: a channel's absmax maps here
constexpr int kQuantVThreads = 256;
constexpr int kQuantVTokens = 64;  // tokens per CTA: 16 four-byte words per channel row
constexpr int kQuantVMaxDim = kMaxHeadDim;  // the shared-memory tile holds this many channels
// CTAs per SM the kernel over 16-bit inputs is register-budgeted for: 4 (64 registers; with 8 KB of loads per CTA at
// D = 64, 32 KB in flight per SM). At 3 (72 registers) the FP8-PV ops' quantization at B4 H32 took 3-4 % longer in
// all (N4K D64: 255.7 vs 246.6 us, H100; bench/mma_notes.md, twenty-sixth session). fp32 inputs keep 3 (at 64
// registers they spill 60-136 bytes). For A/B builds: NVCC_APPEND_FLAGS=-DSAGE_QUANT_V_MIN_CTAS=N.
#ifndef SAGE_QUANT_V_MIN_CTAS
#define SAGE_QUANT_V_MIN_CTAS 4
#endif
template <typename T>
constexpr int kQuantVMinCtas = sizeof(T) < 4 ? SAGE_QUANT_V_MIN_CTAS : 3;
// At head_dim_padded 64 (16-bit inputs, 16-byte loads, not packed) a CTA may take two 64-token tiles, 1 024 chunks:
// 4 loads in flight per thread instead of 2 (16 KB per CTA, as the INT8 tile and V at D = 128 have). The shared tile
// holds 256 channel rows, so both tiles' 64 rows fit, and one barrier serves both. The V kernel at B4 H32 D64, always
// paired (H100, bench/mma_notes.md, twenty-seventh session): N4K 60 -> 51 us, N1K 21 -> 17.6 us.
template <typename T, bool VEC, int CHUNKS, bool VARLEN>
constexpr bool kQuantVPairable = sizeof(T) < 4 && VEC && CHUNKS == 8 && !VARLEN;

// Tiles per CTA for a pairable kernel whose one-tile grid has `ctas` CTAs: two where the paired grid keeps at least
// 2 CTAs per SM, else one. Measured ends: SDXL 32x32 (640 one-tile CTAs on 132 SMs) gained 8.0 -> 6.9 us paired, its
// cross-attention (2 tiles per head x 20 heads: 40) lost 3.5 -> 4.1 us (half the CTAs, each twice as long).
inline int quant_v_tiles_per_cta(int64_t ctas) {
  return ctas >= 4 * static_cast<int64_t>(current_multiprocessor_count()) ? 2 : 1;
}

struct NaturalTokenOrder {
  __host__ __device__ static constexpr int pos(int t) { return t; }
};

// Inside every 32 tokens, token 16h + 8b + 2t + e goes to 16h + 4t + 2b + e: the order in which
// the sm90 PV wgmma's register A fragment holds the softmax accumulator (csrc/sm90/mainloop.cuh).
struct WgmmaFragmentTokenOrder {
  __host__ __device__ static constexpr int pos(int t) {
    const int p = t & 31;
    const int half = p >> 4, b = (p >> 3) & 1, q = (p >> 1) & 3, e = p & 1;
    return (t & ~31) + half * 16 + q * 4 + b * 2 + e;
  }
};

struct QuantVArgs {
  Bhnd s;
  int d_pad;
  int64_t n_pad;
  float scale_max;
  int tiles_per_cta = 1;  // 64-token tiles of a CTA: 2 only for kQuantVPairable kernels (quant_v_tiles_per_cta)
};

// Where the 4-byte word `w` of channel row `c` lives in the shared tile (16 words per row): XOR-
// swizzled by the channel's 8-group, so the 16 lanes that hold channels c, c+8, ..., c+120 of one
// token store into 16 different banks (unswizzled rows of 64 bytes would put them all in one).
__device__ __forceinline__ int quant_v_tile_word(int c, int w) { return c * (kQuantVTokens / 4) + (w ^ ((c >> 3) & 15)); }

// One CTA per 64 tokens of one (batch, head), or per 128 where a.tiles_per_cta is 2 (kQuantVPairable); CTAs with
// blockIdx.x == 0 also write the scales, so the launch has at least one CTA per head even when there are no tokens.
// Loads are coalesced (a warp reads whole token rows, 8 channels per lane); values are transposed
// through a swizzled shared tile [channel][token] and written out as token-contiguous words.
// CHUNKS = d_pad / 8 (8, 16 or 32) fixes each thread's 8 channels for the whole tile (kQuantVThreads
// is a multiple), so their multipliers and means are loaded once; 0 means any d_pad.
// VARLEN: v is a pack (one batch) and the tokens are padded window tiles (common/varlen.cuh, `vr`).
// FOLD: amax and mean are not given; each CTA finalizes its head's channel statistics from the partials of
// channel_stats' first pass itself (finalize_channel, so the same bits as the finalize launch it replaces), and the
// CTAs of blockIdx.x == 0 write the mean for the attention kernel when the fold subtracts it.
struct QuantVFold {
  const float* partial = nullptr;  // [B*H, slices, 3, D]
  int slices = 0;
  bool centered = false;      // smooth V: subtract the mean, absmax of x - mean
  float* mean_out = nullptr;  // centered: [B, H, D]
};

template <typename T, bool VEC, typename Order, int CHUNKS, bool VARLEN = false, bool FOLD = false>
__global__ void __launch_bounds__(kQuantVThreads, kQuantVMinCtas<T>) quant_v_fp8_tile_kernel(
    const T* __restrict__ v, QuantVArgs a, const float* __restrict__ amax, const float* __restrict__ mean,
    uint8_t* __restrict__ out, float* __restrict__ scale, VarlenRows vr, QuantVFold fold) {
  constexpr int kUnroll = 4;  // loads in flight per thread
  constexpr int kRowWords = kQuantVTokens / 4;
  constexpr bool kPairable = kQuantVPairable<T, VEC, CHUNKS, VARLEN>;
  static_assert(!kPairable || CHUNKS * 8 * 2 <= kQuantVMaxDim, "two tiles' channel rows must fit the shared tile");
  // A choice between two constants, so the compiler still sees one round of loads (work <= kUnroll * kQuantVThreads).
  const bool paired = kPairable && a.tiles_per_cta > 1;
  const int cta_tokens = paired ? 2 * kQuantVTokens : kQuantVTokens;
  __shared__ uint32_t tile_words[kQuantVMaxDim * kRowWords];
  uint8_t* tile = reinterpret_cast<uint8_t*>(tile_words);
  const Bhnd& s = a.s;
  const int64_t bh = static_cast<int64_t>(blockIdx.z) * s.h + blockIdx.y;
  const T* src = v + blockIdx.z * s.sb + blockIdx.y * s.sh;
  const float* am;
  const float* mu;
  if constexpr (FOLD) {
    static_assert(!VARLEN, "packs keep the finalize launch");
    __shared__ float fold_stats[2][kQuantVMaxDim];  // amax, mean
    for (int c = threadIdx.x; c < s.d; c += kQuantVThreads) {
      const ChannelFinal f = finalize_channel<true>(fold.partial + bh * fold.slices * 3 * s.d, fold.slices,
                                                    static_cast<int>(s.d), c, s.n, fold.centered);
      fold_stats[0][c] = f.amax;
      fold_stats[1][c] = f.mean;
      if (fold.centered && blockIdx.x == 0) fold.mean_out[bh * s.d + c] = f.mean;
    }
    __syncthreads();
    am = fold_stats[0];
    mu = fold.centered ? fold_stats[1] : nullptr;
  } else {
    am = amax + bh * s.d;
    mu = mean ? mean + bh * s.d : nullptr;
  }
  if (blockIdx.x == 0) {
    for (int c = threadIdx.x; c < a.d_pad; c += kQuantVThreads) {
      scale[bh * a.d_pad + c] = c < s.d ? am[c] / a.scale_max : 0.f;
    }
  }
  const int64_t tok0 = static_cast<int64_t>(blockIdx.x) * cta_tokens;
  if (tok0 >= a.n_pad) return;
  const int chunks = CHUNKS ? CHUNKS : a.d_pad / 8;
  const int work = cta_tokens * chunks;
  int valid_rows = static_cast<int>(min(static_cast<int64_t>(cta_tokens), s.n - tok0));
  int64_t src_tok0 = tok0;  // the token of the tile's first row
  if constexpr (VARLEN) {
    static_assert(kVarlenTile % kQuantVTokens == 0, "a V tile must lie in one window tile");
    const WindowRows w = window_rows(vr, tok0, kQuantVTokens);
    src_tok0 = w.tok0;
    valid_rows = w.valid;
  }

  // Per channel: x -> clamp((x - mean) * 448 / amax); channels past the head dim or with amax 0 -> 0.
  auto multiplier = [&](int c) { return (c < s.d && am[c] > 0.f) ? a.scale_max / am[c] : 0.f; };
  auto offset = [&](int c) { return (mu && c < s.d) ? mu[c] : 0.f; };
  float my_mult[8], my_mean[8];
  if constexpr (CHUNKS > 0) {
    const int c0 = (threadIdx.x % CHUNKS) * 8;
#pragma unroll
    for (int i = 0; i < 8; ++i) { my_mult[i] = multiplier(c0 + i); my_mean[i] = offset(c0 + i); }
  }

  for (int base = threadIdx.x; base < work; base += kUnroll * kQuantVThreads) {
    Chunk8<T> raw[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int idx = base + u * kQuantVThreads;
      const int row = idx / chunks;
      if (idx < work && row < valid_rows) {
        raw[u] = load_chunk8<T, VEC>(src + (src_tok0 + row) * s.sn, (idx % chunks) * 8, static_cast<int>(s.d));
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int idx = base + u * kQuantVThreads;
      if (idx >= work) break;
      const int row = idx / chunks, c0 = (idx % chunks) * 8;
      float x[8];
      if (row < valid_rows) {
        chunk_to_float(raw[u], x);
      } else {
#pragma unroll
        for (int i = 0; i < 8; ++i) x[i] = 0.f;
      }
      // Two tiles per CTA: the second tile's channel rows follow the first's in the shared tile.
      const int pos = Order::pos(kPairable ? row % kQuantVTokens : row);
      const int crow0 = kPairable ? (row / kQuantVTokens) * CHUNKS * 8 : 0;
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const float mult = CHUNKS > 0 ? my_mult[i] : multiplier(c0 + i);
        const float centered = x[i] - (CHUNKS > 0 ? my_mean[i] : offset(c0 + i));
        const float q = row < valid_rows ? fminf(fmaxf(centered * mult, -kE4m3Max), kE4m3Max) : 0.f;
        tile[quant_v_tile_word(crow0 + c0 + i, pos >> 2) * 4 + (pos & 3)] = __nv_fp8_e4m3(q).__x;
      }
    }
  }
  __syncthreads();
  uint8_t* dst = out + bh * a.d_pad * a.n_pad + tok0;
  if constexpr (!kPairable) {
    for (int idx = threadIdx.x; idx < a.d_pad * kRowWords; idx += kQuantVThreads) {
      const int c = idx / kRowWords, w = idx % kRowWords;
      *reinterpret_cast<uint32_t*>(dst + c * a.n_pad + w * 4) = tile_words[quant_v_tile_word(c, w)];
    }
  } else {
    constexpr int kDim = CHUNKS * 8;
    // n_pad is a multiple of 64: the second tile is either whole or past the end (an odd number of tiles).
    const int tiles_here = paired && tok0 + kQuantVTokens < a.n_pad ? 2 : 1;
    for (int idx = threadIdx.x; idx < tiles_here * kDim * kRowWords; idx += kQuantVThreads) {
      const int crow = idx / kRowWords, w = idx % kRowWords;
      const int sub = crow / kDim, c = crow % kDim;
      *reinterpret_cast<uint32_t*>(dst + sub * kQuantVTokens + c * a.n_pad + w * 4) =
          tile_words[quant_v_tile_word(crow, w)];
    }
  }
}

// Host side: grid and launch for either order. n_pad must be a multiple of kQuantVTokens. ANY_PAD = false:
// only d_pad 64, 128 and 256, so a module that needs no other does not compile the generic kernels.
// VARLEN: a plan_quant_v_fp8_view plan of a pack's padded window tiles, rows from `vr`.
// FOLD: amax and mean are null and `fold` says where the statistics' partials are (see QuantVFold).
template <typename T, typename Order, bool ANY_PAD = true, bool VARLEN = false, bool FOLD = false>
void launch_quant_v_fp8_tile(const T* v, const QuantVArgs& a, bool vec, const float* amax, const float* mean,
                             uint8_t* out, float* scale, cudaStream_t stream, const VarlenRows& vr = {},
                             const QuantVFold& fold = {}) {
  const int64_t tiles = a.n_pad / kQuantVTokens;
  SAGE_CHECK(tiles < 2147483647 && a.s.h <= 65535 && a.s.b <= 65535, "v is too large for the grid");
  dim3 grid(static_cast<unsigned>(tiles > 0 ? tiles : 1), static_cast<unsigned>(a.s.h), static_cast<unsigned>(a.s.b));
  auto go = [&](auto chunks_tag) {
    constexpr int C = decltype(chunks_tag)::value;
    if (vec) {
      dim3 g = grid;
      QuantVArgs ka = a;
      if constexpr (kQuantVPairable<T, true, C, VARLEN>) {
        ka.tiles_per_cta = quant_v_tiles_per_cta(static_cast<int64_t>(g.x) * g.y * g.z);
        g.x = static_cast<unsigned>((g.x + ka.tiles_per_cta - 1) / ka.tiles_per_cta);
      }
      quant_v_fp8_tile_kernel<T, true, Order, C, VARLEN, FOLD><<<g, kQuantVThreads, 0, stream>>>(
          v, ka, amax, mean, out, scale, vr, fold);
    } else if constexpr (VARLEN || FOLD) {  // packs and folds are planned with 16-byte loads only
      SAGE_CHECK(false, "quant_v_fp8: a packed operand or a folded finalize needs 16-byte aligned rows");
    } else {
      quant_v_fp8_tile_kernel<T, false, Order, C, VARLEN><<<grid, kQuantVThreads, 0, stream>>>(v, a, amax, mean, out,
                                                                                              scale, vr, fold);
    }
  };
  switch (a.d_pad / 8) {
    case 8: go(std::integral_constant<int, 8>{}); break;
    case 16: go(std::integral_constant<int, 16>{}); break;
    case 32: go(std::integral_constant<int, 32>{}); break;
    default:
      if constexpr (ANY_PAD) {
        go(std::integral_constant<int, 0>{});
      } else {
        SAGE_CHECK(false, "head_dim_padded must be 64, 128 or 256 here, got ", a.d_pad);
      }
  }
}

// One checked V quantization: the kernel's arguments and the output shapes.
struct QuantVPlan {
  QuantVArgs args;
  bool vec;  // 16-byte loads: every row of v is 16-byte aligned (rows_16b_aligned)

  std::array<int64_t, 4> out_shape() const { return {args.s.b, args.s.h, args.d_pad, args.n_pad}; }  // e4m3
  std::array<int64_t, 3> scale_shape() const { return {args.s.b, args.s.h, args.d_pad}; }           // fp32
  bool empty() const { return args.s.b * args.s.h * args.d_pad == 0; }  // nothing to launch
};

// Checks head_dim_padded (<= max_dim) and pad_multiple for v's (B, H, N, D) view `s` (vec: rows_16b_aligned),
// `rows` tokens per head padded (s.n for a batch, a pack's padded window tiles); the statistics are the
// caller's to check.
inline QuantVPlan plan_quant_v_fp8_view(const Bhnd& s, bool vec, int64_t rows, int64_t pad_multiple,
                                        int64_t head_dim_padded, int64_t max_dim, float scale_max) {
  SAGE_CHECK(head_dim_padded >= s.d && head_dim_padded % 16 == 0 && head_dim_padded <= max_dim,
             "head_dim_padded must be >= head dim ", s.d, ", a multiple of 16 and <= ", max_dim, "; got ",
             head_dim_padded);
  SAGE_CHECK(pad_multiple > 0 && pad_multiple % kQuantVTokens == 0, "pad_multiple must be a multiple of ",
             kQuantVTokens, ", got ", pad_multiple);
  return {QuantVArgs{s, static_cast<int>(head_dim_padded), round_up(rows, pad_multiple), scale_max}, vec};
}

// Checks v's layout, head_dim_padded (<= max_dim) and pad_multiple; the statistics are the caller's to check.
inline QuantVPlan plan_quant_v_fp8(const Tensor& v, int64_t tensor_layout, int64_t pad_multiple,
                                   int64_t head_dim_padded, int64_t max_dim, float scale_max) {
  const Bhnd s = bhnd(v, tensor_layout, "v");
  return plan_quant_v_fp8_view(s, rows_16b_aligned(v, s), s.n, pad_multiple, head_dim_padded, max_dim, scale_max);
}

// Host side of both ops: argument checks, the outputs, and the launch. `dispatch(launch)` calls
// `launch(const T* v)` with v's element type; each op brings its own dispatch (core: fp16, bf16,
// fp32; sm90: fp16, bf16), so a module instantiates only the kernels it can reach.
template <typename Order, typename Dispatch>
std::tuple<Tensor, Tensor> quant_v_fp8_transposed(const Tensor& v, int64_t tensor_layout, int64_t pad_multiple,
                                                  int64_t head_dim_padded, int64_t max_dim, float scale_max,
                                                  const Tensor& absmax, const std::optional<Tensor>& mean,
                                                  const char* op_name, Dispatch&& dispatch) {
  const QuantVPlan plan = plan_quant_v_fp8(v, tensor_layout, pad_multiple, head_dim_padded, max_dim, scale_max);
  const Bhnd& s = plan.args.s;
  auto check_stat = [&](const Tensor& t, const char* name) {
    SAGE_CHECK(t.scalar_type() == ScalarType::Float && t.dim() == 3 && t.size(0) == s.b && t.size(1) == s.h &&
                   t.size(2) == s.d && t.is_contiguous(),
               name, " must be a contiguous float32 [B, H, D] tensor matching v");
  };
  check_stat(absmax, "absmax");
  const float* mean_ptr = nullptr;
  if (mean.has_value()) {
    check_stat(*mean, "mean");
    mean_ptr = reinterpret_cast<const float*>(mean->data_ptr());
  }
  torch::stable::accelerator::DeviceGuard guard(v.get_device_index());
  Tensor out = torch::stable::new_empty(v, plan.out_shape(), ScalarType::Float8_e4m3fn);
  Tensor scale = torch::stable::new_empty(v, plan.scale_shape(), ScalarType::Float);
  if (plan.empty()) return {out, scale};
  cudaStream_t stream = current_stream(v.get_device_index());
  const auto* amax_ptr = reinterpret_cast<const float*>(absmax.data_ptr());
  auto* out_ptr = reinterpret_cast<uint8_t*>(out.data_ptr());
  auto* scale_ptr = reinterpret_cast<float*>(scale.data_ptr());
  dispatch([&](const auto* typed_v) {
    using T = std::remove_cv_t<std::remove_pointer_t<decltype(typed_v)>>;
    launch_quant_v_fp8_tile<T, Order>(typed_v, plan.args, plan.vec, amax_ptr, mean_ptr, out_ptr, scale_ptr, stream);
  });
  check_launch(op_name);
  return {out, scale};
}

}  // namespace sage
