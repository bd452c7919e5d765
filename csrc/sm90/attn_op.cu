// Host side of qk_int8_pv_fp8_sm90: argument checks, TMA tensor maps, dispatch to the instantiated
// kernels (head dim x causal x output dtype). launch_attention (sm90/host_ops.h), everything after the
// checks, is shared with sageattn_sm90 (fused_op.cu).
#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cudaTypedefs.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <tuple>
#include <type_traits>

#include "common/stable_op.h"
#include "sm90/host_ops.h"
#include "sm90/launch.h"

namespace sage::sm90 {
namespace {

// cuTensorMapEncodeTiled is a driver API; reach it through the runtime so no -lcuda link is needed.
PFN_cuTensorMapEncodeTiled_v12000 encode_tiled() {
  static PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* ptr = nullptr;
    cudaDriverEntryPointQueryResult status{};
#if CUDART_VERSION >= 12050
    cudaError_t err = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &ptr, 12000, cudaEnableDefault, &status);
#else
    cudaError_t err = cudaGetDriverEntryPoint("cuTensorMapEncodeTiled", &ptr, cudaEnableDefault, &status);
#endif
    SAGE_CHECK(err == cudaSuccess && status == cudaDriverEntryPointSuccess && ptr != nullptr,
               "could not resolve cuTensorMapEncodeTiled from the CUDA driver (driver too old for sm_90 TMA?)");
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(ptr);
  }();
  return fn;
}

constexpr const char* kNoTwoLevel256 =
    "the sm90 kernel runs head dim 256 with pv_accum_dtype=\"fp32\" only (a second fp32 accumulator of 256 columns "
    "does not fit in registers); pass pv_accum_dtype=\"fp32\"";

// A 2-D byte tensor map: `rows` rows of `inner` bytes, `row_stride` bytes apart; box inner x rows.
CUtensorMap byte_map(const void* base, uint64_t inner, uint64_t rows, uint64_t row_stride, uint32_t box_inner,
                     uint32_t box_rows, CUtensorMapSwizzle swizzle) {
  CUtensorMap map;
  const cuuint64_t dims[2] = {inner, rows};
  const cuuint64_t strides[1] = {row_stride};
  const cuuint32_t box[2] = {box_inner, box_rows};
  const cuuint32_t elem_strides[2] = {1, 1};
  CUresult r = encode_tiled()(&map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, const_cast<void*>(base), dims, strides, box,
                              elem_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle,
                              CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  SAGE_CHECK(r == CUDA_SUCCESS, "cuTensorMapEncodeTiled failed with CUresult ", static_cast<int>(r));
  return map;
}

void check_tensor(const Tensor& t, ScalarType type, int64_t dim, const char* name) {
  SAGE_CHECK(t.is_cuda(), name, " must be a CUDA tensor");
  SAGE_CHECK(t.scalar_type() == type, name, " has the wrong dtype");
  SAGE_CHECK(t.dim() == dim, name, " must be ", dim, "-D");
  SAGE_CHECK(t.is_contiguous(), name, " must be contiguous");
}

// The tensor maps of one kernel configuration: Q tiles of kCtaQ rows; K steps of kStepKeys rows;
// V^T boxes of kVBoxKeys key bytes (one swizzle row) by D rows.
struct OperandMaps {
  const void* q;
  const void* k;
  const void* v;
  int64_t bhq, bhk, nq_pad, nk_pad;  // B * Hq, B * Hkv, padded lengths
};

CUtensorMapSwizzle swizzle_for(int64_t row_bytes) {
  return row_bytes == 128 ? CU_TENSOR_MAP_SWIZZLE_128B : CU_TENSOR_MAP_SWIZZLE_64B;
}

struct KernelMaps {
  CUtensorMap q, k, v;
};

// The INT8 Q and K maps of configuration T (TileTraits); the caller adds V's, whose form depends on the PV type.
template <int D, typename T>
KernelMaps qk_maps(const OperandMaps& m) {
  constexpr int kBox = T::kQKRowBytes;  // D256: two boxes per row (TileTraits::kQKBoxes)
  KernelMaps t{};
  t.q = byte_map(m.q, D, m.bhq * m.nq_pad, D, kBox, kCtaQ, swizzle_for(kBox));
  t.k = byte_map(m.k, D, m.bhk * m.nk_pad, D, kBox, T::kStepKeys, swizzle_for(kBox));
  return t;
}

template <int D, bool kTwoLevel>
KernelMaps kernel_maps(const OperandMaps& m) {
  using T = TileTraits<D, kTwoLevel>;
  KernelMaps t = qk_maps<D, T>(m);
  t.v = byte_map(m.v, m.nk_pad, m.bhk * D, m.nk_pad, T::kVBoxKeys, D, swizzle_for(T::kVBoxKeys));
  return t;
}

// 16-bit PV: the caller's V (view s, q's dtype) as a 4-D map (channel, key, head, batch) of boxes of 64 channels x
// kStepKeys keys, 128B swizzle (one key per swizzle row, as smem_desc_mn128 reads it). Channels past the head dim and
// keys past kv_len read as zeros. A dim of size one may have any stride (torch leaves such strides arbitrary). The
// caller (sageattn_sm90_pv16) has checked v16_map_ok.
template <int D>
CUtensorMap v16_map(const Tensor& v, const Bhnd& s, bool bf16) {
  using T = TileTraits<D, false, true>;
  auto stride = [](int64_t size, int64_t elems) { return static_cast<cuuint64_t>(size == 1 ? 16 : elems * 2); };
  CUtensorMap map;
  const cuuint64_t dims[4] = {static_cast<cuuint64_t>(s.d), static_cast<cuuint64_t>(s.n), static_cast<cuuint64_t>(s.h),
                              static_cast<cuuint64_t>(s.b)};
  const cuuint64_t strides[3] = {stride(s.n, s.sn), stride(s.h, s.sh), stride(s.b, s.sb)};
  const cuuint32_t box[4] = {64, static_cast<cuuint32_t>(T::kStepKeys), 1, 1};
  const cuuint32_t elem_strides[4] = {1, 1, 1, 1};
  CUresult r = encode_tiled()(&map, bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 4,
                              v.data_ptr(), dims, strides, box, elem_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                              CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                              CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  SAGE_CHECK(r == CUDA_SUCCESS, "cuTensorMapEncodeTiled (16-bit V) failed with CUresult ", static_cast<int>(r));
  return map;
}

template <int D>
KernelMaps pv16_maps(const OperandMaps& m, const Tensor& v, const Bhnd& s, bool bf16) {
  KernelMaps t = qk_maps<D, TileTraits<D, false, true>>(m);
  t.v = v16_map<D>(v, s, bf16);
  return t;
}

// Calls fn(std::integral_constant<int, D>{}, OutT{}) for the padded head dim and the output dtype (q's).
template <typename Fn>
void with_dim_and_dtype(int64_t head_dim_padded, bool half, Fn&& fn) {
  if (head_dim_padded == 256) {
    if (half) fn(std::integral_constant<int, 256>{}, __half{});
    else fn(std::integral_constant<int, 256>{}, __nv_bfloat16{});
  } else if (head_dim_padded == 128) {
    if (half) fn(std::integral_constant<int, 128>{}, __half{});
    else fn(std::integral_constant<int, 128>{}, __nv_bfloat16{});
  } else {
    if (half) fn(std::integral_constant<int, 64>{}, __half{});
    else fn(std::integral_constant<int, 64>{}, __nv_bfloat16{});
  }
}

template <int D, typename OutT, bool kTwoLevel>
void launch_config(bool causal, const OperandMaps& m, const AttnParams& p, int sm_count, bool persistent,
                   cudaStream_t stream) {
  const KernelMaps t = kernel_maps<D, kTwoLevel>(m);
  if (causal) launch_attn<D, true, OutT, kTwoLevel>(t.q, t.k, t.v, p, sm_count, persistent, stream);
  else launch_attn<D, false, OutT, kTwoLevel>(t.q, t.k, t.v, p, sm_count, persistent, stream);
}

template <int D, typename OutT>
void dispatch(bool causal, bool two_level, const OperandMaps& m, const AttnParams& p, int sm_count, bool persistent,
              cudaStream_t stream) {
  if constexpr (D == 256) {  // no two-level kernel (TileTraits): checked by the caller
    launch_config<D, OutT, false>(causal, m, p, sm_count, persistent, stream);
  } else {
    if (two_level) launch_config<D, OutT, true>(causal, m, p, sm_count, persistent, stream);
    else launch_config<D, OutT, false>(causal, m, p, sm_count, persistent, stream);
  }
}

// The parameters both launches fill alike: the operands' scales, the sizes, and the work queue's counter (cleared
// by the quantization kernel before this launch, which then runs as its programmatic dependent, when after_quant:
// that saves a memset and lets its set-up overlap the quantization's tail; SAGEATTENTION_SM90_PDL=0 launches it
// the ordinary way for A/B runs; else cleared by a memset ordered on the stream before it).
AttnParams operand_params(const AttnOperands& ops, void* out, float* lse, int64_t head_dim, bool qk_per_thread,
                          double sm_scale, int device) {
  AttnParams p{};
  p.q_scale = ops.q_scale;
  p.k_scale = ops.k_scale;
  p.v_scale = ops.v_scale;
  p.v_mean = ops.v_mean;
  p.out = out;
  p.lse = lse;
  p.nq_pad = static_cast<int>(ops.nq_pad);
  p.nk_pad = static_cast<int>(ops.nk_pad);
  p.hq = static_cast<int>(ops.hq);
  p.hkv = static_cast<int>(ops.hkv);
  p.group = static_cast<int>(ops.hq / ops.hkv);
  p.head_dim = static_cast<int>(head_dim);
  p.per_thread = qk_per_thread ? 1 : 0;
  p.sm_scale_log2 = static_cast<float>(sm_scale * 1.4426950408889634);
  p.next_item = ops.work_counter;
  p.dependent = ops.after_quant && env_int("SAGEATTENTION_SM90_PDL", 1, 0, 1) == 1;
  if (!ops.after_quant) {
    SAGE_CHECK(cudaMemsetAsync(p.next_item, 0, sizeof(int), current_stream(device)) == cudaSuccess,
               "cannot clear the sm90 work-queue counter");
  }
  SAGE_CHECK(ops.batch * ops.hq * ops.nq_pad < (int64_t{1} << 31) && ops.batch * ops.hkv * ops.nk_pad < (int64_t{1} << 31),
             "tensor too large for 32-bit TMA row coordinates");
  return p;
}

// The GPU's SM count, or the test knob SAGEATTENTION_SM90_CTAS=n (a persistent grid of n CTAs, so that a few CTAs
// walk many work items; the tests compare it bit for bit with the default grid).
int grid_ctas(int device, bool* knob_set) {
  const int n = env_int("SAGEATTENTION_SM90_CTAS", 0, 1, std::numeric_limits<int>::max());
  if (knob_set) *knob_set = n > 0;
  return n > 0 ? n : multiprocessor_count(device);
}

std::tuple<Tensor, Tensor> qk_int8_pv_fp8_sm90(Tensor q, Tensor q_int8, Tensor q_scale, Tensor k_int8, Tensor k_scale,
                                                Tensor v_fp8, Tensor v_scale, std::optional<Tensor> v_mean,
                                                int64_t tensor_layout, int64_t kv_len, bool is_causal,
                                                bool qk_per_thread, double sm_scale, bool return_lse,
                                                bool two_level) {
  check_cuda(q, "q");
  SAGE_CHECK(is_half_like(q.scalar_type()), "q must be float16 or bfloat16");
  const Bhnd s = bhnd(q, tensor_layout, "q");
  check_tensor(q_int8, ScalarType::Char, 4, "q_int8");
  check_tensor(k_int8, ScalarType::Char, 4, "k_int8");
  check_tensor(v_fp8, ScalarType::Float8_e4m3fn, 4, "v_fp8");
  check_tensor(q_scale, ScalarType::Float, 3, "q_scale");
  check_tensor(k_scale, ScalarType::Float, 3, "k_scale");
  check_tensor(v_scale, ScalarType::Float, 3, "v_scale");
  const int64_t B = q_int8.size(0), hq = q_int8.size(1), nq_pad = q_int8.size(2), dp = q_int8.size(3);
  const int64_t hkv = k_int8.size(1), nk_pad = k_int8.size(2);
  SAGE_CHECK(dp == 64 || dp == 128 || dp == 256, "the sm90 kernel runs head dims padded to 64, 128 or 256, got ", dp);
  SAGE_CHECK(B == s.b && hq == s.h && nq_pad >= s.n && nq_pad % kCtaQ == 0 && s.d <= dp,
             "q_int8 must be [B, Hq, Nq padded to ", kCtaQ, ", D_pad] for q");
  SAGE_CHECK(k_int8.size(0) == B && hkv > 0 && hq % hkv == 0 && k_int8.size(3) == dp && nk_pad % kCtaK == 0 &&
                 kv_len > 0 && kv_len <= nk_pad,
             "k_int8 must be [B, Hkv, Nk padded to ", kCtaK, ", D_pad] with Hq % Hkv == 0 and 0 < kv_len <= Nk_pad");
  SAGE_CHECK(v_fp8.size(0) == B && v_fp8.size(1) == hkv && v_fp8.size(2) == dp && v_fp8.size(3) == nk_pad,
             "v_fp8 must be [B, Hkv, D_pad, Nk_pad]");
  const int64_t qg = qk_per_thread ? 8 : 1, kg = qk_per_thread ? 4 : 1;
  SAGE_CHECK(q_scale.size(0) == B && q_scale.size(1) == hq && q_scale.size(2) == nq_pad / 16 * qg,
             "q_scale does not match the chosen granularity");
  SAGE_CHECK(k_scale.size(0) == B && k_scale.size(1) == hkv && k_scale.size(2) == nk_pad / kCtaK * kg,
             "k_scale does not match the chosen granularity");
  SAGE_CHECK(v_scale.size(0) == B && v_scale.size(1) == hkv && v_scale.size(2) == dp, "v_scale must be [B, Hkv, D_pad]");
  const float* vmean = nullptr;
  if (v_mean.has_value()) {
    check_tensor(*v_mean, ScalarType::Float, 3, "v_mean");
    SAGE_CHECK(v_mean->size(0) == B && v_mean->size(1) == hkv && v_mean->size(2) == s.d, "v_mean must be [B, Hkv, d]");
    vmean = reinterpret_cast<const float*>(v_mean->data_ptr());
  }

  torch::stable::accelerator::DeviceGuard guard(q.get_device_index());
  Tensor work_counter = torch::stable::new_empty(q, {1}, ScalarType::Int);
  const AttnOperands ops{q_int8.data_ptr(), reinterpret_cast<const float*>(q_scale.data_ptr()), k_int8.data_ptr(),
                         reinterpret_cast<const float*>(k_scale.data_ptr()), v_fp8.data_ptr(),
                         reinterpret_cast<const float*>(v_scale.data_ptr()), vmean, B, hq, hkv, nq_pad, nk_pad, dp,
                         reinterpret_cast<int*>(work_counter.data_ptr()), false};
  return launch_attention(q, ops, tensor_layout, kv_len, is_causal, qk_per_thread, sm_scale, return_lse, two_level);
}

int64_t sm90_kv_block(int64_t head_dim_padded, bool two_level, bool pv16) {
  SAGE_CHECK(head_dim_padded == 64 || head_dim_padded == 128 || head_dim_padded == 256,
             "head_dim_padded must be 64, 128 or 256, got ", head_dim_padded);
  SAGE_CHECK(!(head_dim_padded == 256 && two_level), kNoTwoLevel256);
  if (pv16) {
    SAGE_CHECK(!two_level, "the 16-bit PV kernel runs single level");
    if (head_dim_padded == 256) return TileTraits<256, false, true>::kStepKeys;
    return head_dim_padded == 128 ? TileTraits<128, false, true>::kStepKeys : TileTraits<64, false, true>::kStepKeys;
  }
  if (head_dim_padded == 256) return TileTraits<256, false>::kStepKeys;
  if (head_dim_padded == 128) return two_level ? TileTraits<128, true>::kStepKeys : TileTraits<128, false>::kStepKeys;
  return two_level ? TileTraits<64, true>::kStepKeys : TileTraits<64, false>::kStepKeys;
}

}  // namespace

std::tuple<Tensor, Tensor> launch_attention(const Tensor& q, const AttnOperands& ops, int64_t tensor_layout,
                                            int64_t kv_len, bool is_causal, bool qk_per_thread, double sm_scale,
                                            bool return_lse, bool two_level, const Tensor* v16, bool pv_s8) {
  const Bhnd s = bhnd(q, tensor_layout, "q");
  const int64_t B = ops.batch, hq = ops.hq, hkv = ops.hkv, nq_pad = ops.nq_pad, nk_pad = ops.nk_pad;
  Tensor out = torch::stable::new_empty(q, {q.size(0), q.size(1), q.size(2), q.size(3)});
  Tensor lse = torch::stable::new_empty(q, {return_lse ? B : 0, hq, s.n}, ScalarType::Float);
  if (s.n == 0 || B == 0 || hq == 0) return {out, lse};
  const Bhnd o = bhnd(out, tensor_layout, "out");

  AttnParams p = operand_params(ops, out.data_ptr(), return_lse ? reinterpret_cast<float*>(lse.data_ptr()) : nullptr,
                                s.d, qk_per_thread, sm_scale, q.get_device_index());
  p.out_sb = o.sb;
  p.out_sh = o.sh;
  p.out_sn = o.sn;
  p.qo_len = static_cast<int>(s.n);
  p.kv_len = static_cast<int>(kv_len);
  p.num_q_tiles = static_cast<int>((s.n + kCtaQ - 1) / kCtaQ);
  p.batch = static_cast<int>(B);
  // Tuning knob for A/B runs: SAGEATTENTION_SM90_PINGPONG=0 lets both warpgroups issue freely.
  const char* pingpong = std::getenv("SAGEATTENTION_SM90_PINGPONG");
  p.pingpong = (pingpong && std::strcmp(pingpong, "0") == 0) ? 0 : 1;
  // Grid: one CTA per SM, each taking work items from a queue (bench/results/sm90_h100_persistent_ab.log);
  // SAGEATTENTION_SM90_PERSISTENT=0 launches one CTA per item instead (each then finds the queue
  // empty after its first item).
  const char* persistent_env = std::getenv("SAGEATTENTION_SM90_PERSISTENT");
  bool persistent = !(persistent_env && std::strcmp(persistent_env, "0") == 0);
  bool ctas_knob = false;
  const int sm_count = grid_ctas(q.get_device_index(), &ctas_knob);
  persistent = persistent || ctas_knob;  // the knob runs the persistent grid (causal too)
  SAGE_CHECK(static_cast<int64_t>(p.num_q_tiles) * hq * B < (int64_t{1} << 30), "too many query tiles for the grid");
  // Paired q tiles share their K/V loads (kMulticastKernel decides which kernels) when the persistent grid
  // runs and every head has an even number of q tiles; SAGEATTENTION_SM90_MULTICAST=0 turns it off.
  const char* multicast_env = std::getenv("SAGEATTENTION_SM90_MULTICAST");
  p.multicast = persistent && p.num_q_tiles % 2 == 0 && !(multicast_env && std::strcmp(multicast_env, "0") == 0);

  const OperandMaps maps{ops.q_int8, ops.k_int8, ops.v_fp8, B * hq, B * hkv, nq_pad, nk_pad};
  cudaStream_t stream = current_stream(q.get_device_index());
  SAGE_CHECK(!(ops.head_dim_padded == 256 && two_level), kNoTwoLevel256);
  if (v16 != nullptr) {
    SAGE_CHECK(!two_level, "the sm90 kernel runs 16-bit PV single level");
    const Bhnd vs = bhnd(*v16, tensor_layout, "v");  // checked against q and k by the op (sageattn_sm90_pv16)
    const bool half = q.scalar_type() == ScalarType::Half;
    with_dim_and_dtype(ops.head_dim_padded, half, [&](auto d_tag, auto out_tag) {
      constexpr int D = decltype(d_tag)::value;
      using OutT = decltype(out_tag);
      const KernelMaps t = pv16_maps<D>(maps, *v16, vs, !half);
      if (is_causal) launch_attn_pv16<D, true, OutT>(t.q, t.k, t.v, p, sm_count, persistent, stream);
      else launch_attn_pv16<D, false, OutT>(t.q, t.k, t.v, p, sm_count, persistent, stream);
    });
    check_launch("sageattn_sm90_pv16");
    return {out, lse};
  }
  if (pv_s8) {
    SAGE_CHECK(!two_level, "the sm90 kernel runs INT8 PV single level");  // the key bound: sageattn_sm90_pv_int8
    with_dim_and_dtype(ops.head_dim_padded, q.scalar_type() == ScalarType::Half, [&](auto d_tag, auto out_tag) {
      constexpr int D = decltype(d_tag)::value;
      using OutT = decltype(out_tag);
      const KernelMaps t = kernel_maps<D, false>(maps);  // s8 V has the e4m3 V's byte layout
      if (is_causal) launch_attn_s8<D, true, OutT>(t.q, t.k, t.v, p, sm_count, persistent, stream);
      else launch_attn_s8<D, false, OutT>(t.q, t.k, t.v, p, sm_count, persistent, stream);
    });
    check_launch("sageattn_sm90_pv_int8");
    return {out, lse};
  }
  with_dim_and_dtype(ops.head_dim_padded, q.scalar_type() == ScalarType::Half, [&](auto d_tag, auto out_tag) {
    dispatch<decltype(d_tag)::value, decltype(out_tag)>(is_causal, two_level, maps, p, sm_count, persistent, stream);
  });
  check_launch("qk_int8_pv_fp8_sm90");
  return {out, lse};
}

std::tuple<Tensor, Tensor> launch_attention_varlen(const Tensor& q, const AttnOperands& ops,
                                                   const VarlenTables& tables, int64_t total_k, bool is_causal,
                                                   bool qk_per_thread, double sm_scale, bool return_lse) {
  const int64_t total_q = q.size(0), hq = ops.hq, hkv = ops.hkv, nq_pad = ops.nq_pad, nk_pad = ops.nk_pad;
  Tensor out = torch::stable::new_empty(q, {q.size(0), q.size(1), q.size(2)});
  Tensor lse = torch::stable::new_empty(q, {hq, return_lse ? total_q : 0}, ScalarType::Float);
  AttnParams p = operand_params(ops, out.data_ptr(), return_lse ? reinterpret_cast<float*>(lse.data_ptr()) : nullptr,
                                q.size(2), qk_per_thread, sm_scale, q.get_device_index());
  p.out_sb = 0;
  p.out_sh = out.stride(1);
  p.out_sn = out.stride(0);
  p.qo_len = 0;  // per sequence: the kernel reads them from cu_q / cu_k
  p.kv_len = 0;
  p.num_q_tiles = static_cast<int>(nq_pad / kCtaQ);
  p.batch = 1;
  p.pingpong = 0;
  p.multicast = 0;
  p.cu_q = tables.cu_q;
  p.cu_k = tables.cu_k;
  p.q_tile_seq = tables.q_tile_seq;
  p.total_q = static_cast<int>(total_q);
  p.total_k = static_cast<int>(total_k);
  p.lse_sh = total_q;
  const int sm_count = grid_ctas(q.get_device_index(), nullptr);
  SAGE_CHECK(static_cast<int64_t>(p.num_q_tiles) * hq < (int64_t{1} << 30), "too many query tiles for the grid");
  cudaStream_t stream = current_stream(q.get_device_index());
  const OperandMaps maps{ops.q_int8, ops.k_int8, ops.v_fp8, hq, hkv, nq_pad, nk_pad};  // one batch
  with_dim_and_dtype(ops.head_dim_padded, q.scalar_type() == ScalarType::Half, [&](auto d_tag, auto out_tag) {
    constexpr int D = decltype(d_tag)::value;
    using OutT = decltype(out_tag);
    const KernelMaps t = kernel_maps<D, false>(maps);
    if (is_causal) launch_attn_varlen<D, true, OutT>(t.q, t.k, t.v, p, sm_count, stream);
    else launch_attn_varlen<D, false, OutT>(t.q, t.k, t.v, p, sm_count, stream);
  });
  check_launch("sageattn_sm90_varlen");
  return {out, lse};
}

}  // namespace sage::sm90

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("qk_int8_pv_fp8_sm90", TORCH_BOX(&sage::sm90::qk_int8_pv_fp8_sm90));
}

// No tensor arguments: registered for every backend (a property of the compiled kernels).
STABLE_TORCH_LIBRARY_IMPL(sageattention, CompositeExplicitAutograd, m) {
  m.impl("sm90_kv_block", TORCH_BOX(&sage::sm90::sm90_kv_block));
}
