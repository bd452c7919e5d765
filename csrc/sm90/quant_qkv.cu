// Host side of quant_qkv_sm90: checks, outputs, the cluster shape (C CTAs of m chunks per K/V
// head; sm90/quant_qkv_kernel.cuh explains the kernel) and quant_qkv_sm90_fits, which tells the
// caller whether a key length fits or needs the separate passes. plan_quant_qkv / launch_quant_qkv
// (sm90/host_ops.h) are the op's two steps, which sageattn_sm90 (fused_op.cu) runs as well.
#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>
#include <type_traits>

#include "common/smem_opt_in.h"
#include "sm90/host_ops.h"
#include "sm90/quant_qkv_kernel.cuh"

namespace sage::sm90 {

// QkvPlan's shapes count K scale blocks in kCtaK keys and pad lengths to what the attention kernel tiles.
static_assert(kQkvRows == kCtaK && kQkvRows % kCtaQ == 0, "a quantization chunk must be one K block / whole Q tiles");

namespace {

int log2_exact(int64_t v, const char* what) {
  const int k = log2_if_pow2(v);
  SAGE_CHECK(k >= 0, what, " must be a power of two, got ", v);
  return k;
}

// Opt one kernel instantiation into the device's whole shared memory and 16-CTA clusters (once per kernel and
// device: common/smem_opt_in.h). `device` is the current device (the callers' DeviceGuard).
void configure(const void* kernel, int device) {
  int smem_limit = 0;
  SAGE_CHECK(cudaDeviceGetAttribute(&smem_limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) == cudaSuccess,
             "cannot read the GPU's shared memory size");
  SAGE_CHECK(opt_in_dynamic_smem(kernel, smem_limit) == cudaSuccess &&
                 set_kernel_attribute_once(kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1) == cudaSuccess,
             "cannot configure quant_qkv_sm90 (shared memory / cluster size)");
}

// A launch of quant_qkv_kernel in clusters of `ctas` CTAs: the occupancy query and the launch use
// the same configuration.
template <int D_PAD>
struct ClusterLaunch {
  cudaLaunchAttribute attr{};
  cudaLaunchConfig_t cfg{};
  ClusterLaunch(int ctas, int64_t grid, cudaStream_t stream) {
    attr.id = cudaLaunchAttributeClusterDimension;
    attr.val.clusterDim.x = static_cast<unsigned>(ctas);
    attr.val.clusterDim.y = 1;
    attr.val.clusterDim.z = 1;
    cfg.gridDim = dim3(static_cast<unsigned>(grid));
    cfg.blockDim = dim3(QkvGeometry<D_PAD>::kThreads);
    cfg.dynamicSmemBytes = static_cast<size_t>(kQkvSmemBytes<D_PAD>);
    cfg.stream = stream;
    cfg.attrs = &attr;
    cfg.numAttrs = 1;
  }
  ClusterLaunch(const ClusterLaunch&) = delete;  // cfg points at attr
  ClusterLaunch& operator=(const ClusterLaunch&) = delete;
};

// The cluster shape for heads of `per_head` chunks: m = max(ceil(per_head / 16), min(min_chunks_per_cta(),
// per_head)) chunks per CTA, C = ceil(per_head / m) CTAs; {0, 0} when the GPU cannot run such a cluster.
// Every instantiation of the kernel has the same threads and shared memory, so one (<half, VEC>) answers for all.
struct ClusterShape {
  int ctas = 0, per_cta = 0;
};

// Chunks per CTA at least. With one, a CTA lives for a single 32 KB load (at N <= 2K every CTA did), and two
// CTAs per SM keep too few bytes in flight; with more, each next chunk loads while the current one is reduced.
// Four measured best (bench/results/quant_chunks_h200.log, pass alone at D128: 1K 73 -> 54 us, 2K 150 -> 96,
// 4K 215 -> 180; 8K and up already had four or more). SAGEATTENTION_QKV_MIN_CHUNKS=n (1..64) for A/B runs.
int min_chunks_per_cta() { return env_int("SAGEATTENTION_QKV_MIN_CHUNKS", 4, 1, 64); }

template <int D_PAD>
ClusterShape cluster_shape(int64_t per_head, int device) {
  const int min_chunks = min_chunks_per_cta();
  static std::mutex mu;
  static std::map<std::tuple<int64_t, int, int>, ClusterShape> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find({per_head, min_chunks, device});
  if (it != cache.end()) return it->second;
  ClusterShape shape;
  int smem_limit = 0;
  SAGE_CHECK(cudaDeviceGetAttribute(&smem_limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) == cudaSuccess,
             "cannot read the GPU's shared memory size");
  if (kQkvSmemBytes<D_PAD> <= smem_limit) {
    const void* kernel = reinterpret_cast<const void*>(&quant_qkv_kernel<__half, true, D_PAD>);
    configure(kernel, device);
    const int64_t m = std::max<int64_t>({int64_t{1}, std::min<int64_t>(min_chunks, per_head),
                                         (per_head + kQkvMaxCluster - 1) / kQkvMaxCluster});
    const int ctas = static_cast<int>((per_head + m - 1) / m);
    const ClusterLaunch<D_PAD> launch(ctas, ctas, nullptr);
    int clusters = 0;
    if (cudaOccupancyMaxActiveClusters(&clusters, kernel, &launch.cfg) == cudaSuccess && clusters > 0) {
      shape = {ctas, static_cast<int>(m)};
    }
    (void)cudaGetLastError();  // a refused shape is an answer, not an error
  }
  return cache[{per_head, min_chunks, device}] = shape;
}

ClusterShape shape_for_dim(int64_t per_head, int64_t head_dim_padded, int device) {
  if (head_dim_padded == 256) return cluster_shape<256>(per_head, device);
  return head_dim_padded == 128 ? cluster_shape<128>(per_head, device) : cluster_shape<64>(per_head, device);
}

QkvOperand operand(const Tensor& x, const Bhnd& s, int64_t n_pad, int64_t block, int64_t period, int64_t stride,
                   void* out, float* scale) {
  QkvOperand op{};
  op.x = x.data_ptr();
  op.s = s;
  op.n_pad = n_pad;
  op.per_head = static_cast<int>(op.n_pad / kQkvRows);
  op.chunks = s.b * s.h * op.per_head;
  op.block_shift = log2_exact(block, "block_size");
  op.groups_shift = log2_exact(period / stride, "groups");
  op.period_mask = static_cast<int>(period - 1);
  op.stride_shift = log2_exact(stride, "group_stride");
  op.slots = static_cast<int>((kQkvRows / block) * (period / stride));
  op.out = out;
  op.scale = scale;
  return op;
}

template <typename T, bool VEC, int D_PAD, bool VARLEN>
void launch(const QkvArgs& a, const ClusterShape& shape, int device, cudaStream_t stream) {
  const int64_t units = a.k_head_units + a.v_head_units + a.k_run_units + a.q_run_units;
  SAGE_CHECK(units * shape.ctas < 2147483647, "tensors too large for quant_qkv_sm90's grid");
  configure(reinterpret_cast<const void*>(&quant_qkv_kernel<T, VEC, D_PAD, VARLEN>), device);
  const ClusterLaunch<D_PAD> launch(shape.ctas, units * shape.ctas, stream);
  const cudaError_t err = cudaLaunchKernelEx(&launch.cfg, quant_qkv_kernel<T, VEC, D_PAD, VARLEN>, a);
  SAGE_CHECK(err == cudaSuccess, "quant_qkv_sm90 launch failed: ", cudaGetErrorString(err));
}

struct Shapes {
  Bhnd q, k, v;
};

// The checks shared by batches and packs (views s of q, k, v: bhnd or packed_view).
void check_shapes(const Tensor& q, const Tensor& k, const Tensor& v, const Shapes& s, int64_t head_dim_padded,
                  const char* op) {
  SAGE_CHECK(is_half_like(q.scalar_type()), "q must be float16 or bfloat16");
  SAGE_CHECK(k.scalar_type() == q.scalar_type() && v.scalar_type() == q.scalar_type(),
             "q, k and v must have the same dtype");
  SAGE_CHECK(s.k.b == s.q.b && s.v.b == s.q.b && s.k.d == s.q.d && s.v.d == s.q.d,
             "q, k and v must share batch and head dim");
  SAGE_CHECK(s.v.h == s.k.h && s.v.n == s.k.n, "k and v must have the same heads and length");
  SAGE_CHECK(head_dim_padded == 64 || head_dim_padded == 128 || head_dim_padded == 256,
             "head_dim_padded must be 64, 128 or 256, got ", head_dim_padded);
  SAGE_CHECK(s.q.d <= head_dim_padded, "head dim ", s.q.d, " exceeds head_dim_padded ", head_dim_padded);
  SAGE_CHECK(s.k.n > 0 && s.q.n > 0, op, " needs at least one query and one key");
}

Shapes check_inputs(const Tensor& q, const Tensor& k, const Tensor& v, int64_t tensor_layout,
                    int64_t head_dim_padded, const char* op) {
  check_cuda(q, "q");
  check_cuda(k, "k");
  check_cuda(v, "v");
  const Shapes s{bhnd(q, tensor_layout, "q"), bhnd(k, tensor_layout, "k"), bhnd(v, tensor_layout, "v")};
  check_shapes(q, k, v, s, head_dim_padded, op);
  return s;
}

// The plan of checked views s, padded to nq_pad / nk_pad rows per head, and its cluster shape; `seqs` as QkvPlan's.
QkvPlan make_plan(const Shapes& s, int64_t nq_pad, int64_t nk_pad, int64_t seqs, bool qk_per_thread, bool smooth_k,
                  bool smooth_v, int64_t head_dim_padded, int device, const char* op, const char* too_long_hint) {
  QkvPlan p{};
  p.q = s.q;
  p.k = s.k;
  p.v = s.v;
  p.head_dim_padded = head_dim_padded;
  p.nq_pad = nq_pad;
  p.nk_pad = nk_pad;
  p.seqs = seqs;
  p.per_thread = qk_per_thread;
  p.smooth_k = smooth_k;
  p.smooth_v = smooth_v;
  torch::stable::accelerator::DeviceGuard guard(device);  // the occupancy query asks q's GPU
  const ClusterShape shape = shape_for_dim(p.nk_pad / kQkvRows, head_dim_padded, device);
  SAGE_CHECK(shape.ctas > 0, op, ": ", p.k.n, " keys per head do not fit one thread-block cluster", too_long_hint);
  p.ctas = shape.ctas;
  p.per_cta = shape.per_cta;
  return p;
}

bool quant_qkv_sm90_fits(int64_t kv_len, int64_t head_dim_padded, int64_t device) {
  SAGE_CHECK(head_dim_padded == 64 || head_dim_padded == 128 || head_dim_padded == 256,
             "head_dim_padded must be 64, 128 or 256, got ", head_dim_padded);
  SAGE_CHECK(device >= 0, "device must be a CUDA device index, got ", device);
  if (kv_len <= 0) return false;
  torch::stable::accelerator::DeviceGuard guard(static_cast<int32_t>(device));
  return shape_for_dim(round_up(kv_len, kQkvRows) / kQkvRows, head_dim_padded, static_cast<int>(device)).ctas > 0;
}

using QkvResult = std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor>;

QkvResult quant_qkv_sm90(Tensor q, Tensor k, Tensor v, int64_t tensor_layout, bool qk_per_thread, bool smooth_k,
                         bool smooth_v, int64_t head_dim_padded) {
  const QkvPlan plan =
      plan_quant_qkv(q, k, v, tensor_layout, qk_per_thread, smooth_k, smooth_v, head_dim_padded, "quant_qkv_sm90");
  torch::stable::accelerator::DeviceGuard guard(q.get_device_index());
  Tensor q8 = torch::stable::new_empty(q, plan.q_int8_shape(), ScalarType::Char);
  Tensor qs = torch::stable::new_empty(q, plan.q_scale_shape(), ScalarType::Float);
  Tensor k8 = torch::stable::new_empty(q, plan.k_int8_shape(), ScalarType::Char);
  Tensor ks = torch::stable::new_empty(q, plan.k_scale_shape(), ScalarType::Float);
  Tensor k_mean = torch::stable::new_empty(q, plan.k_mean_shape(), ScalarType::Float);
  Tensor v8 = torch::stable::new_empty(q, plan.v_fp8_shape(), ScalarType::Float8_e4m3fn);
  Tensor vs = torch::stable::new_empty(q, plan.v_scale_shape(), ScalarType::Float);
  Tensor v_mean = torch::stable::new_empty(q, plan.v_mean_shape(), ScalarType::Float);
  auto f32 = [](Tensor& t) { return reinterpret_cast<float*>(t.data_ptr()); };
  launch_quant_qkv(plan, q, k, v,
                   {q8.data_ptr(), f32(qs), k8.data_ptr(), f32(ks), f32(k_mean), v8.data_ptr(), f32(vs), f32(v_mean),
                    nullptr});
  return {q8, qs, k8, ks, k_mean, v8, vs, v_mean};
}

}  // namespace

QkvPlan plan_quant_qkv(const Tensor& q, const Tensor& k, const Tensor& v, int64_t tensor_layout, bool qk_per_thread,
                       bool smooth_k, bool smooth_v, int64_t head_dim_padded, const char* op) {
  const Shapes s = check_inputs(q, k, v, tensor_layout, head_dim_padded, op);
  return make_plan(s, round_up(s.q.n, kQkvRows), round_up(s.k.n, kQkvRows), 0, qk_per_thread, smooth_k, smooth_v,
                   head_dim_padded, q.get_device_index(), op,
                   "; check quant_qkv_sm90_fits first and use the separate quantization passes");
}

QkvPlan plan_quant_qkv_varlen(const Tensor& q, const Tensor& k, const Tensor& v, int64_t seqs, bool qk_per_thread,
                              bool smooth_k, bool smooth_v, int64_t head_dim_padded, const char* op) {
  SAGE_CHECK(seqs > 0, op, ": cu_seqlens must hold at least one sequence (2 offsets)");
  const Shapes s{packed_view(q, "q", op), packed_view(k, "k", op), packed_view(v, "v", op)};
  check_shapes(q, k, v, s, head_dim_padded, op);
  SAGE_CHECK(s.q.n < (int64_t{1} << 30) && s.k.n < (int64_t{1} << 30) && seqs < (int64_t{1} << 24), op,
             ": packs of 2^30 tokens or 2^24 sequences and more are not supported");
  SAGE_CHECK(rows_16b_aligned(q, s.q) && rows_16b_aligned(k, s.k) && rows_16b_aligned(v, s.v), op,
             ": q, k and v need a head dim that is a multiple of 8, strides of multiples of 8 elements and 16-byte "
             "aligned data; call .contiguous() (and pad the head dim)");
  return make_plan(s, varlen_tiles(s.q.n, seqs) * kQkvRows, varlen_tiles(s.k.n, seqs) * kQkvRows, seqs, qk_per_thread,
                   smooth_k, smooth_v, head_dim_padded, q.get_device_index(), op, "");
}

void launch_quant_qkv(const QkvPlan& p, const Tensor& q, const Tensor& k, const Tensor& v, const QkvOutputs& out,
                      const VarlenTables* varlen) {
  QkvArgs a{};
  SAGE_CHECK((p.seqs > 0) == (varlen != nullptr), "launch_quant_qkv: a packed plan needs its tables (and only it)");
  a.q = operand(q, p.q, p.nq_pad, 16, p.q_period(), 1, out.q_int8, out.q_scale);
  a.k = operand(k, p.k, p.nk_pad, kQkvRows, p.k_period(), p.k_stride(), out.k_int8, out.k_scale);
  a.v = operand(v, p.v, p.nk_pad, kQkvRows, 1, 1, out.v_fp8, out.v_scale);
  if (varlen != nullptr) {
    a.q.cu = varlen->cu_q;
    a.q.tile_seq = varlen->q_tile_seq;
    a.k.cu = a.v.cu = varlen->cu_k;
    a.k.tile_seq = a.v.tile_seq = varlen->k_tile_seq;
  }
  a.smooth_k = p.smooth_k;
  a.smooth_v = p.smooth_v;
  a.v_s8 = p.v_s8;
  a.k_mean = out.k_mean;
  a.v_mean = out.v_mean;
  a.k_seg_sum = out.k_seg_sum;
  SAGE_CHECK(!(p.seqs > 0 && p.smooth_k) || out.k_seg_sum != nullptr,
             "launch_quant_qkv: a packed plan with smooth_k needs the segment sums' scratch");
  a.per_cta = p.per_cta;
  a.work_counter = out.work_counter;
  const int64_t run = int64_t{p.ctas} * p.per_cta;  // chunks per run unit
  const int64_t heads = p.k.b * p.k.h;
  a.k_head_units = p.smooth_k ? heads : 0;
  a.v_head_units = p.with_v ? heads : 0;
  a.k_run_units = p.smooth_k ? 0 : (a.k.chunks + run - 1) / run;
  a.q_run_units = (a.q.chunks + run - 1) / run;

  const int device = q.get_device_index();
  cudaStream_t stream = current_stream(device);
  const ClusterShape shape{p.ctas, p.per_cta};
  const bool vec = rows_16b_aligned(q, p.q) && rows_16b_aligned(k, p.k) && rows_16b_aligned(v, p.v);
  auto go = [&](auto dtype_tag, auto dp_tag) {
    using T = decltype(dtype_tag);
    constexpr int D = decltype(dp_tag)::value;
    if (varlen != nullptr) {
      // Only the 16-byte-load kernels are compiled for packs (plan_quant_qkv_varlen checks the alignment).
      SAGE_CHECK(vec, "quant_qkv_sm90: a packed operand needs 16-byte aligned rows");
      launch<T, true, D, true>(a, shape, device, stream);
    } else {
      if (vec) launch<T, true, D, false>(a, shape, device, stream);
      else launch<T, false, D, false>(a, shape, device, stream);
    }
  };
  const bool half = q.scalar_type() == ScalarType::Half;
  if (p.head_dim_padded == 256) {
    if (half) go(__half{}, std::integral_constant<int, 256>{});
    else go(__nv_bfloat16{}, std::integral_constant<int, 256>{});
  } else if (p.head_dim_padded == 128) {
    if (half) go(__half{}, std::integral_constant<int, 128>{});
    else go(__nv_bfloat16{}, std::integral_constant<int, 128>{});
  } else {
    if (half) go(__half{}, std::integral_constant<int, 64>{});
    else go(__nv_bfloat16{}, std::integral_constant<int, 64>{});
  }
}

}  // namespace sage::sm90

STABLE_TORCH_LIBRARY_IMPL(sageattention, CUDA, m) {
  m.impl("quant_qkv_sm90", TORCH_BOX(&sage::sm90::quant_qkv_sm90));
}

// No tensor arguments: registered for every backend (it only queries the GPU).
STABLE_TORCH_LIBRARY_IMPL(sageattention, CompositeExplicitAutograd, m) {
  m.impl("quant_qkv_sm90_fits", TORCH_BOX(&sage::sm90::quant_qkv_sm90_fits));
}
