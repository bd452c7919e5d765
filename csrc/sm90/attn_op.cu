// Host side of qk_int8_pv_fp8_sm90: argument checks, TMA tensor maps, dispatch to the instantiated
// kernels (head dim x causal x output dtype).
#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cudaTypedefs.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <tuple>

#include "common/stable_op.h"
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

// The caller's fp16/bf16 q as a 4-D tensor map for the in-kernel Q quantization: boxes of `box_rows` rows of the
// padded head dim, unswizzled; TMA zero-fills rows past n and channels past d. The dimensions go in the order of
// their strides, (d, h, n, b) when the heads are inner (NHD) and (d, n, h, b) otherwise (heads_inner tells the
// kernel), so each stride covers the dimensions inside it as the driver's encoding expects.
CUtensorMap q_input_map(const void* base, const Bhnd& s, bool half, uint32_t box_d, uint32_t box_rows,
                        bool heads_inner) {
  CUtensorMap map;
  const cuuint64_t n = static_cast<cuuint64_t>(s.n), h = static_cast<cuuint64_t>(s.h);
  const cuuint64_t dims[4] = {static_cast<cuuint64_t>(s.d), heads_inner ? h : n, heads_inner ? n : h,
                              static_cast<cuuint64_t>(s.b)};
  const int64_t elem_strides_in[3] = {heads_inner ? s.sh : s.sn, heads_inner ? s.sn : s.sh, s.sb};
  cuuint64_t strides[3];
  cuuint64_t span = dims[0] * 2;  // bytes covered by the dimensions inside the current one
  for (int i = 0; i < 3; ++i) {
    // A dimension of extent 1 is never stepped along (its stride may be anything, even 0): give it the span.
    strides[i] = dims[i + 1] == 1 ? span : static_cast<cuuint64_t>(elem_strides_in[i]) * 2;
    span = strides[i] * dims[i + 1];
  }
  const cuuint32_t box[4] = {box_d, heads_inner ? 1u : box_rows, heads_inner ? box_rows : 1u, 1};
  const cuuint32_t elem_strides[4] = {1, 1, 1, 1};
  CUresult r = encode_tiled()(&map, half ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4,
                              const_cast<void*>(base), dims, strides, box, elem_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                              CU_TENSOR_MAP_SWIZZLE_NONE, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                              CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  SAGE_CHECK(r == CUDA_SUCCESS, "cuTensorMapEncodeTiled (fp16 q) failed with CUresult ", static_cast<int>(r));
  return map;
}

// SAGEATTENTION_SM90_FUSED_Q=0 keeps Q quantization in the separate pass (A/B runs); sm90_fused_q_supported
// tells the Python side, which then passes pre-quantized Q.
bool fused_q_enabled() {
  const char* env = std::getenv("SAGEATTENTION_SM90_FUSED_Q");
  return !(env && std::strcmp(env, "0") == 0);
}

// What the 4-D map needs: 16-byte aligned base and strides (sageattention/kernels/sm90.py checks the same before
// leaving Q unquantized), positive strides along dimensions that are stepped, the batch outermost.
bool fused_q_eligible(const Tensor& q, const Bhnd& s) {
  return is_half_like(q.scalar_type()) && rows_16b_aligned(q, s) && (s.n == 1 || s.sn > 0) && (s.h == 1 || s.sh > 0) &&
         (s.b == 1 || (s.sb >= s.sn && s.sb >= s.sh));
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
  const void* q;  // INT8 Q, or nullptr with fused_q
  const void* k;
  const void* v;
  int64_t bhq, bhk, nq_pad, nk_pad;  // B * Hq, B * Hkv, padded lengths
  const void* q_input;  // the caller's q (read by the kernel when fused_q)
  Bhnd q_shape;
  bool q_half;
};

CUtensorMapSwizzle swizzle_for(int64_t row_bytes) {
  return row_bytes == 128 ? CU_TENSOR_MAP_SWIZZLE_128B : CU_TENSOR_MAP_SWIZZLE_64B;
}

template <int D, typename OutT, bool kTwoLevel>
void launch_config(bool causal, const OperandMaps& m, const AttnParams& p, int sm_count, bool persistent,
                   cudaStream_t stream) {
  using T = TileTraits<D, kTwoLevel>;
  CUtensorMap tq{}, tqx{};  // only the map of the chosen Q path is encoded
  if (p.fused_q) tqx = q_input_map(m.q_input, m.q_shape, m.q_half, D, T::kQStageRows, p.q_heads_inner != 0);
  else tq = byte_map(m.q, D, m.bhq * m.nq_pad, D, D, kCtaQ, swizzle_for(D));
  const CUtensorMap tk = byte_map(m.k, D, m.bhk * m.nk_pad, D, D, T::kStepKeys, swizzle_for(D));
  const CUtensorMap tv = byte_map(m.v, m.nk_pad, m.bhk * D, m.nk_pad, T::kVBoxKeys, D, swizzle_for(T::kVBoxKeys));
  if (causal) launch_attn<D, true, OutT, kTwoLevel>(tq, tk, tv, tqx, p, sm_count, persistent, stream);
  else launch_attn<D, false, OutT, kTwoLevel>(tq, tk, tv, tqx, p, sm_count, persistent, stream);
}

template <int D, typename OutT>
void dispatch(bool causal, bool two_level, const OperandMaps& m, const AttnParams& p, int sm_count, bool persistent,
              cudaStream_t stream) {
  if (two_level) launch_config<D, OutT, true>(causal, m, p, sm_count, persistent, stream);
  else launch_config<D, OutT, false>(causal, m, p, sm_count, persistent, stream);
}

std::tuple<Tensor, Tensor> qk_int8_pv_fp8_sm90(Tensor q, Tensor q_int8, Tensor q_scale, Tensor k_int8, Tensor k_scale,
                                                Tensor v_fp8, Tensor v_scale, std::optional<Tensor> v_mean,
                                                int64_t tensor_layout, int64_t kv_len, bool is_causal,
                                                bool qk_per_thread, double sm_scale, bool return_lse,
                                                bool two_level) {
  check_cuda(q, "q");
  SAGE_CHECK(is_half_like(q.scalar_type()), "q must be float16 or bfloat16");
  const Bhnd s = bhnd(q, tensor_layout, "q");
  // q_int8 / q_scale without rows for a q with rows: Q is quantized inside the kernel, from q.
  const bool fused_q = s.n > 0 && q_int8.dim() == 4 && q_int8.size(2) == 0 && q_scale.dim() == 3 && q_scale.size(2) == 0;
  if (fused_q) {
    SAGE_CHECK(fused_q_enabled(), "q_int8 without rows (in-kernel Q quantization) but SAGEATTENTION_SM90_FUSED_Q=0");
    SAGE_CHECK(fused_q_eligible(q, s), "in-kernel Q quantization needs q with 16-byte aligned data and strides; "
               "pass pre-quantized q_int8 / q_scale instead");
  } else {
    check_tensor(q_int8, ScalarType::Char, 4, "q_int8");
    check_tensor(q_scale, ScalarType::Float, 3, "q_scale");
  }
  check_tensor(k_int8, ScalarType::Char, 4, "k_int8");
  check_tensor(v_fp8, ScalarType::Float8_e4m3fn, 4, "v_fp8");
  check_tensor(k_scale, ScalarType::Float, 3, "k_scale");
  check_tensor(v_scale, ScalarType::Float, 3, "v_scale");
  const int64_t B = s.b, hq = s.h, dp = k_int8.size(3);
  const int64_t nq_pad = fused_q ? (s.n + kCtaQ - 1) / kCtaQ * kCtaQ : q_int8.size(2);
  const int64_t hkv = k_int8.size(1), nk_pad = k_int8.size(2);
  SAGE_CHECK(dp == 64 || dp == 128, "the sm90 kernel runs head dims padded to 64 or 128, got ", dp);
  SAGE_CHECK(fused_q || (q_int8.size(0) == B && q_int8.size(1) == hq && nq_pad >= s.n && nq_pad % kCtaQ == 0 &&
                         q_int8.size(3) == dp),
             "q_int8 must be [B, Hq, Nq padded to ", kCtaQ, ", D_pad] for q");
  SAGE_CHECK(s.d <= dp, "q's head dim ", s.d, " exceeds the padded head dim ", dp);
  SAGE_CHECK(k_int8.size(0) == B && hkv > 0 && hq % hkv == 0 && k_int8.size(3) == dp && nk_pad % kCtaK == 0 &&
                 kv_len > 0 && kv_len <= nk_pad,
             "k_int8 must be [B, Hkv, Nk padded to ", kCtaK, ", D_pad] with Hq % Hkv == 0 and 0 < kv_len <= Nk_pad");
  SAGE_CHECK(v_fp8.size(0) == B && v_fp8.size(1) == hkv && v_fp8.size(2) == dp && v_fp8.size(3) == nk_pad,
             "v_fp8 must be [B, Hkv, D_pad, Nk_pad]");
  const int64_t qg = qk_per_thread ? 8 : 1, kg = qk_per_thread ? 4 : 1;
  SAGE_CHECK(fused_q || (q_scale.size(0) == B && q_scale.size(1) == hq && q_scale.size(2) == nq_pad / 16 * qg),
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
  Tensor out = torch::stable::new_empty(q, {q.size(0), q.size(1), q.size(2), q.size(3)});
  Tensor lse = torch::stable::new_empty(q, {return_lse ? B : 0, hq, s.n}, ScalarType::Float);
  if (s.n == 0 || B == 0 || hq == 0) return {out, lse};
  const Bhnd o = bhnd(out, tensor_layout, "out");

  AttnParams p{};
  p.q_scale = fused_q ? nullptr : reinterpret_cast<const float*>(q_scale.data_ptr());
  p.fused_q = fused_q ? 1 : 0;
  p.q_heads_inner = (s.h > 1 && s.sh < s.sn) ? 1 : 0;
  p.k_scale = reinterpret_cast<const float*>(k_scale.data_ptr());
  p.v_scale = reinterpret_cast<const float*>(v_scale.data_ptr());
  p.v_mean = vmean;
  p.out = out.data_ptr();
  p.lse = return_lse ? reinterpret_cast<float*>(lse.data_ptr()) : nullptr;
  p.out_sb = o.sb;
  p.out_sh = o.sh;
  p.out_sn = o.sn;
  p.qo_len = static_cast<int>(s.n);
  p.kv_len = static_cast<int>(kv_len);
  p.nq_pad = static_cast<int>(nq_pad);
  p.nk_pad = static_cast<int>(nk_pad);
  p.hq = static_cast<int>(hq);
  p.hkv = static_cast<int>(hkv);
  p.group = static_cast<int>(hq / hkv);
  p.head_dim = static_cast<int>(s.d);
  p.per_thread = qk_per_thread ? 1 : 0;
  p.num_q_tiles = static_cast<int>((s.n + kCtaQ - 1) / kCtaQ);
  p.batch = static_cast<int>(B);
  p.sm_scale_log2 = static_cast<float>(sm_scale * 1.4426950408889634);
  // Tuning knob for A/B runs: SAGEATTENTION_SM90_PINGPONG=0 lets both warpgroups issue freely.
  const char* pingpong = std::getenv("SAGEATTENTION_SM90_PINGPONG");
  p.pingpong = (pingpong && std::strcmp(pingpong, "0") == 0) ? 0 : 1;
  // Grid: one CTA per SM, each taking work items from a queue (bench/results/sm90_h100_persistent_ab.log);
  // SAGEATTENTION_SM90_PERSISTENT=0 launches one CTA per item instead (each then finds the queue
  // empty after its first item).
  const char* persistent_env = std::getenv("SAGEATTENTION_SM90_PERSISTENT");
  bool persistent = !(persistent_env && std::strcmp(persistent_env, "0") == 0);
  int sm_count = 0;
  SAGE_CHECK(cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, q.get_device_index()) == cudaSuccess,
             "cannot read the GPU's multiprocessor count");
  // Test knob: SAGEATTENTION_SM90_CTAS=n runs the persistent grid (causal too) with n CTAs, so a few
  // CTAs walk many work items (the tests compare it bit for bit with the default grid).
  if (const char* ctas = std::getenv("SAGEATTENTION_SM90_CTAS")) {
    const int n = std::atoi(ctas);
    SAGE_CHECK(n > 0, "SAGEATTENTION_SM90_CTAS must be a positive integer, got '", ctas, "'");
    sm_count = n;
    persistent = true;
  }
  SAGE_CHECK(static_cast<int64_t>(p.num_q_tiles) * hq * B < (int64_t{1} << 30), "too many query tiles for the grid");
  // The work queue's counter starts at zero on every launch (ordered on the stream before it).
  Tensor next_item = torch::stable::new_empty(q, {1}, ScalarType::Int);
  p.next_item = reinterpret_cast<int*>(next_item.data_ptr());
  SAGE_CHECK(cudaMemsetAsync(p.next_item, 0, sizeof(int), current_stream(q.get_device_index())) == cudaSuccess,
             "cannot clear the sm90 work-queue counter");
  SAGE_CHECK(B * hq * nq_pad < (int64_t{1} << 31) && B * hkv * nk_pad < (int64_t{1} << 31),
             "tensor too large for 32-bit TMA row coordinates");

  const OperandMaps maps{fused_q ? nullptr : q_int8.data_ptr(), k_int8.data_ptr(), v_fp8.data_ptr(), B * hq, B * hkv,
                         nq_pad, nk_pad, q.data_ptr(), s, q.scalar_type() == ScalarType::Half};
  cudaStream_t stream = current_stream(q.get_device_index());
  const bool half = q.scalar_type() == ScalarType::Half;
  if (dp == 128) {
    if (half) dispatch<128, __half>(is_causal, two_level, maps, p, sm_count, persistent, stream);
    else dispatch<128, __nv_bfloat16>(is_causal, two_level, maps, p, sm_count, persistent, stream);
  } else {
    if (half) dispatch<64, __half>(is_causal, two_level, maps, p, sm_count, persistent, stream);
    else dispatch<64, __nv_bfloat16>(is_causal, two_level, maps, p, sm_count, persistent, stream);
  }
  check_launch("qk_int8_pv_fp8_sm90");
  return {out, lse};
}

int64_t sm90_kv_block(int64_t head_dim_padded, bool two_level) {
  SAGE_CHECK(head_dim_padded == 64 || head_dim_padded == 128, "head_dim_padded must be 64 or 128, got ",
             head_dim_padded);
  if (head_dim_padded == 128) return two_level ? TileTraits<128, true>::kStepKeys : TileTraits<128, false>::kStepKeys;
  return two_level ? TileTraits<64, true>::kStepKeys : TileTraits<64, false>::kStepKeys;
}

bool sm90_fused_q_supported() { return fused_q_enabled(); }

}  // namespace
}  // namespace sage::sm90

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("qk_int8_pv_fp8_sm90", TORCH_BOX(&sage::sm90::qk_int8_pv_fp8_sm90));
}

// No tensor arguments: registered for every backend (a property of the compiled kernels).
STABLE_TORCH_LIBRARY_IMPL(sageattention, CompositeExplicitAutograd, m) {
  m.impl("sm90_kv_block", TORCH_BOX(&sage::sm90::sm90_kv_block));
  m.impl("sm90_fused_q_supported", TORCH_BOX(&sage::sm90::sm90_fused_q_supported));
}
