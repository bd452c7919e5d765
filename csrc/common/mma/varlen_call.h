// Host side shared by the mma families' varlen ops (sageattn_mma_f16_varlen, sageattn_mma_f8_varlen): the checks
// of cu_seqlens, the scratch pieces and launch of the padded tiles' sequences, and the attention call of a pack
// (a batch of one in the NHD layout: out [1, total_q, Hq, head_dim], lse [1, Hq, total_q]).
#pragma once

#include <array>
#include <cstdint>

#include "common/mma/fused_quant.h"
#include "common/scratch_layout.h"
#include "common/stable_op.h"
#include "common/varlen.cuh"

namespace sage::mma {

// The sequences of one varlen call: cu_seqlens checked, the tables' pieces taken.
struct PackTables {
  const Tensor& cu_q;
  const Tensor& cu_k;
  int64_t seqs;
  int64_t at_q = 0, at_k = 0;  // scratch offsets of the tables

  PackTables(const Tensor& q, const Tensor& cu_q_, const Tensor& cu_k_, const char* op) : cu_q(cu_q_), cu_k(cu_k_) {
    check_cu_seqlens(cu_q, q, "cu_seqlens_q", op);
    check_cu_seqlens(cu_k, q, "cu_seqlens_k", op);
    SAGE_CHECK(cu_k.size(0) == cu_q.size(0), op, ": cu_seqlens_q and cu_seqlens_k must have the same length "
               "(sequences + 1), got ", cu_q.size(0), " and ", cu_k.size(0));
    seqs = cu_q.size(0) - 1;
  }
  void take(const QkPlan& p, ScratchLayout& layout) {
    at_q = layout.take(std::array<int64_t, 1>{p.shape.nq_pad / kVarlenTile}, sizeof(int));
    at_k = layout.take(std::array<int64_t, 1>{p.shape.nk_pad / kVarlenTile}, sizeof(int));
  }
  // {q's rows, k's rows}: what the quantization and attention kernels read.
  std::array<VarlenRows, 2> rows(char* base, const QkPlan& p) const {
    return {VarlenRows{static_cast<const int*>(cu_q.data_ptr()), reinterpret_cast<int*>(base + at_q),
                       static_cast<int>(p.shape.qo_len)},
            VarlenRows{static_cast<const int*>(cu_k.data_ptr()), reinterpret_cast<int*>(base + at_k),
                       static_cast<int>(p.shape.kv_len)}};
  }
  void launch(char* base, const QkPlan& p, cudaStream_t stream) const {
    launch_tile_seq(static_cast<const int*>(cu_q.data_ptr()), static_cast<const int*>(cu_k.data_ptr()), seqs,
                    p.shape.qo_len, p.shape.kv_len, p.shape.nq_pad / kVarlenTile, p.shape.nk_pad / kVarlenTile,
                    reinterpret_cast<int*>(base + at_q), reinterpret_cast<int*>(base + at_k), stream);
  }
};

// The attention call of a pack on the quantized Q/K (V is the family's to set).
inline AttnCall packed_attn_call(const Tensor& q, const QkPlan& p, const QkBuffers& b, const float* v_mean,
                                 const std::array<VarlenRows, 2>& rows, double sm_scale, bool return_lse) {
  AttnCall c = qk_attn_call(q, p, b, v_mean, /*NHD*/ 1, sm_scale, return_lse);
  c.p.cu_q = rows[0].cu;
  c.p.cu_k = rows[1].cu;
  c.p.q_tile_seq = rows[0].tile_seq;
  c.p.total_q = rows[0].total;
  c.p.total_k = rows[1].total;
  c.p.lse_sh = p.shape.qo_len;
  return c;
}

}  // namespace sage::mma
