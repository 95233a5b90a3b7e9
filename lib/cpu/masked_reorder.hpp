// Plain row-major f32 weights into one of oneDNN's blocked f32 layouts, multiplied by
// edge-popup's mask as they are read: one pass where oneDNN 2.6 needs two (w * mask into a
// plain array, then its reorder, whose primitive attributes cannot multiply by a tensor).
// A copy, so the bits are those of the reorder of w * mask.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <vector>

namespace popup {

class MaskedReorder {
 public:
  // True when `to` is a layout this copy writes: f32, blocked, at most 6 dimensions, no
  // offsets or extra data (the weights layouts of oneDNN's f32 convolutions and inner products).
  static bool takes(const dnnl::memory::desc& to);
  static constexpr int max_dims = 6;

  explicit MaskedReorder(const dnnl::memory::desc& to);

  // to = the weights `plain` ([dims] row-major) in the layout, each taken where `mask` (one byte
  // per weight, 0 or 1) holds 1 and +0 where it holds 0, or as they are without a mask; the
  // layout's padding is written with zeros.
  void run(const float* plain, const uint8_t* mask, float* to) const;

 private:
  int nd_ = 0;
  int64_t dims_[max_dims] = {}, block_[max_dims] = {};  // block_: the inner blocks' span
  int64_t outer_[max_dims] = {};                        // blocks per dim
  int64_t to_stride_[max_dims] = {};                    // per outer block
  int64_t plain_stride_[max_dims] = {};                 // per element
  int order_[max_dims] = {};                            // dims by falling to_stride_
  int64_t blocks_ = 0, inner_ = 0;                      // outer blocks; floats in each
  std::vector<int64_t> inner_plain_;                    // per float of a block: its offset in plain
  std::vector<int64_t> inner_index_;  // per float of a block and dim: its index in the block
};

}  // namespace popup
