// Per-layer top-k by |score| (DESIGN.md §4): a layer of n weights keeps exactly
// n - floor((1 - k) n) of them, the largest |score| first, ties broken by lower element index.
// Selection (nth_element over packed keys), not a full sort.
#pragma once

#include <cstdint>
#include <vector>

namespace popup {

// How many of n weights a layer keeps at fraction k (k in (0, 1]).
int64_t topk_keep_count(int64_t n, double k);

// mask[i] = 1 for the `keep` elements of largest |scores[i]| (ties: lower index), else 0.
// `scratch` is reused between calls to avoid allocations.
void topk_mask(const float* scores, int64_t n, int64_t keep, uint8_t* mask,
               std::vector<uint64_t>& scratch);

}  // namespace popup
