// Top-k selection on 64-bit keys: (bits of |score|) << 32 | (0xFFFFFFFF - index). For
// non-negative floats the bit patterns order as the values do, so a larger key is a larger
// |score|, or an equal |score| at a lower index: the keep largest keys are exactly the kept set.
#include "topk.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "error.hpp"

namespace popup {

int64_t topk_keep_count(int64_t n, double k) {
  const double dropped = std::floor((1.0 - k) * static_cast<double>(n));
  return n - static_cast<int64_t>(dropped);
}

void topk_mask(const float* scores, int64_t n, int64_t keep, uint8_t* mask,
               std::vector<uint64_t>& scratch) {
  if (n > (int64_t{1} << 32)) throw InvalidArgument("", "top-k: layer larger than 2^32 weights");
  if (keep >= n) {
    std::fill(mask, mask + n, uint8_t{1});
    return;
  }
  if (keep <= 0) {
    std::fill(mask, mask + n, uint8_t{0});
    return;
  }
  scratch.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &scores[i], sizeof bits);
    bits &= 0x7FFFFFFFu;  // |score|
    scratch[static_cast<size_t>(i)] =
        (uint64_t{bits} << 32) | (0xFFFFFFFFu - static_cast<uint32_t>(i));
  }
  // The keep-th largest key is the threshold: everything at or above it is kept.
  const auto nth = scratch.begin() + (n - keep);
  std::nth_element(scratch.begin(), nth, scratch.end());
  const uint64_t threshold = *nth;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &scores[i], sizeof bits);
    bits &= 0x7FFFFFFFu;
    const uint64_t key = (uint64_t{bits} << 32) | (0xFFFFFFFFu - static_cast<uint32_t>(i));
    mask[i] = key >= threshold;
  }
}

}  // namespace popup
