// Masked weights into oneDNN's blocked layouts (masked_reorder.hpp): the layout is read from
// the memory descriptor once; each run walks the layout's blocks in memory order, each block a
// run of floats gathered from the plain array.
#include "cpu/masked_reorder.hpp"

#include <algorithm>

#include "backend/masked_weight.hpp"

namespace popup {
namespace {

// plain[i], masked where there is a mask
float masked(const float* plain, const uint8_t* mask, int64_t i) {
  return mask ? masked_weight(plain[i], mask[i]) : plain[i];
}

}  // namespace

bool MaskedReorder::takes(const dnnl::memory::desc& to) {
  const dnnl_memory_desc_t& md = to.data;
  if (md.data_type != dnnl_f32 || md.format_kind != dnnl_blocked || md.ndims < 1 ||
      md.ndims > max_dims || md.offset0 != 0 || md.extra.flags != 0)
    return false;
  for (int d = 0; d < md.ndims; ++d)
    if (md.padded_offsets[d] != 0 || md.dims[d] <= 0) return false;
  return true;
}

MaskedReorder::MaskedReorder(const dnnl::memory::desc& to) {
  const dnnl_memory_desc_t& md = to.data;
  const dnnl_blocking_desc_t& blocking = md.format_desc.blocking;
  nd_ = md.ndims;
  for (int d = nd_ - 1; d >= 0; --d) {
    dims_[d] = md.dims[d];
    plain_stride_[d] = d == nd_ - 1 ? 1 : plain_stride_[d + 1] * dims_[d + 1];
    block_[d] = 1;
    to_stride_[d] = blocking.strides[d];
  }
  // the inner blocks, outermost first
  std::vector<int> idx(blocking.inner_idxs, blocking.inner_idxs + blocking.inner_nblks);
  std::vector<int64_t> size(blocking.inner_blks, blocking.inner_blks + blocking.inner_nblks);
  inner_ = 1;
  for (size_t k = 0; k < idx.size(); ++k) {
    block_[idx[k]] *= size[k];
    inner_ *= size[k];
  }
  for (int d = 0; d < nd_; ++d) outer_[d] = (md.padded_dims[d] + block_[d] - 1) / block_[d];
  // a dimension whose blocks lie end to end joins the inner block, outermost, so that a block
  // is a long run of floats (else nChw8c-like layouts have runs of 8, plain ones of 1)
  constexpr int64_t run_min = 256;
  for (bool joined = true; joined && inner_ < run_min;) {
    joined = false;
    for (int d = 0; d < nd_ && !joined; ++d)
      if (outer_[d] > 1 && to_stride_[d] == inner_) {
        idx.insert(idx.begin(), d);
        size.insert(size.begin(), outer_[d]);
        block_[d] *= outer_[d];
        inner_ *= outer_[d];
        outer_[d] = 1;
        joined = true;
      }
  }
  blocks_ = 1;
  for (int d = 0; d < nd_; ++d) {
    blocks_ *= outer_[d];
    order_[d] = d;
  }
  std::stable_sort(order_, order_ + nd_,
                   [&](int a, int b) { return to_stride_[a] > to_stride_[b]; });
  // each float of a block: its index in the block per dimension, and its plain offset
  inner_plain_.assign(static_cast<size_t>(inner_), 0);
  inner_index_.assign(static_cast<size_t>(inner_ * nd_), 0);
  for (int64_t p = 0; p < inner_; ++p) {
    int64_t rest = p;
    int64_t* index = &inner_index_[static_cast<size_t>(p * nd_)];
    std::vector<int64_t> span(static_cast<size_t>(nd_), 1);  // of the blocks inside, per dim
    for (size_t k = idx.size(); k-- > 0;) {
      const int d = idx[k];
      index[d] += rest % size[k] * span[static_cast<size_t>(d)];
      span[static_cast<size_t>(d)] *= size[k];
      rest /= size[k];
    }
    for (int d = 0; d < nd_; ++d)
      inner_plain_[static_cast<size_t>(p)] += index[d] * plain_stride_[d];
  }
}

void MaskedReorder::run(const float* plain, const uint8_t* mask, float* to) const {
  constexpr int64_t parallel_min = 16384;  // smaller layers: one thread (no fork-join cost)
#pragma omp parallel for schedule(static) if (blocks_ * inner_ >= parallel_min)
  for (int64_t b = 0; b < blocks_; ++b) {
    int64_t at[max_dims], rest = b, to_offset = 0, plain_offset = 0;
    bool edge = false;
    for (int k = nd_ - 1; k >= 0; --k) {
      const int d = order_[k];
      const int64_t outer = rest % outer_[d];
      rest /= outer_[d];
      at[d] = outer * block_[d];
      to_offset += outer * to_stride_[d];
      plain_offset += at[d] * plain_stride_[d];
      edge = edge || at[d] + block_[d] > dims_[d];
    }
    float* out = to + to_offset;
    if (!edge) {
      for (int64_t p = 0; p < inner_; ++p)
        out[p] = masked(plain, mask, plain_offset + inner_plain_[static_cast<size_t>(p)]);
      continue;
    }
    for (int64_t p = 0; p < inner_; ++p) {
      const int64_t* index = &inner_index_[static_cast<size_t>(p * nd_)];
      bool inside = true;
      for (int d = 0; d < nd_; ++d) inside = inside && at[d] + index[d] < dims_[d];
      out[p] =
          inside ? masked(plain, mask, plain_offset + inner_plain_[static_cast<size_t>(p)]) : 0.0f;
    }
  }
}

}  // namespace popup
