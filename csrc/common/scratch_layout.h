// Byte offsets of the pieces of one scratch buffer, for the fused ops (sageattn_sm90, sageattn_mma_f16,
// sageattn_mma_f8) whose intermediates never become tensors of their own. Each piece starts 256-byte
// aligned, as aligned as a separate allocation of the caching allocator (TMA needs 16, the vector loads
// and stores of the quantization kernels 16 or less), so no kernel sees a difference from separate ops.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "common/stable_op.h"

namespace sage {

class ScratchLayout {
 public:
  // A piece of `shape` elements of `element_bytes` each (no bytes when an extent is 0).
  template <size_t N>
  int64_t take(const std::array<int64_t, N>& shape, int64_t element_bytes) {
    int64_t bytes = element_bytes;
    for (const int64_t extent : shape) bytes *= extent;
    const int64_t offset = size_;
    size_ = round_up(offset + bytes, kAlign);
    return offset;
  }
  int64_t size() const { return size_; }

 private:
  static constexpr int64_t kAlign = 256;
  int64_t size_ = 0;
};

}  // namespace sage
