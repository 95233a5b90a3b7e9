// Per-layer top-k by |score| (DESIGN.md §4): a layer of n weights keeps exactly
// n - floor((1 - k) n) of them, the largest |score| first, ties broken by lower element index.
// Selection (nth_element over packed keys), not a full sort: topk_mask is the reference, and
// TopkSelector gives the same mask during training by reusing the previous step's threshold.
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

// topk_mask for one layer whose scores change a little between calls (a training step). It
// keeps the last threshold key and, in one parallel pass, counts the keys above a band of
// |score| bit patterns around it and gathers the keys inside the band; nth_element then runs on
// the band only. When the new threshold lies outside the band the band moves towards it, and
// after a few misses the full selection runs. The mask is always exactly topk_mask's; the state
// only decides how fast it comes. One selector per layer; `scratch` (at least n keys after the
// call) may be shared between selectors.
class TopkSelector {
 public:
  void select(const float* scores, int64_t n, int64_t keep, uint8_t* mask,
              std::vector<uint64_t>& scratch);

  // How the last select() found the threshold, for tests and profiles.
  struct Stats {
    int64_t band = 0;   // keys in the band that nth_element ran on (n after a full selection)
    int passes = 0;     // counting passes over the scores (0: full selection only)
    bool full = false;  // the full selection ran
  };
  const Stats& last() const { return last_; }

 private:
  bool band_select(const float* scores, int64_t n, int64_t keep, uint8_t* mask,
                   std::vector<uint64_t>& scratch, uint32_t lo, uint32_t hi, bool& high);
  void full_select(const float* scores, int64_t n, int64_t keep, uint8_t* mask,
                   std::vector<uint64_t>& scratch);

  bool have_threshold_ = false;
  uint64_t threshold_ = 0;  // the keep-th largest key of the last call
  uint32_t width_ = 0;      // half-width of the band, in units of the |score| bit pattern
  Stats last_;
};

}  // namespace popup
