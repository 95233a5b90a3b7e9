// Top-k selection on 64-bit keys: (bits of |score|) << 32 | (0xFFFFFFFF - index). For
// non-negative floats the bit patterns order as the values do, so a larger key is a larger
// |score|, or an equal |score| at a lower index: the keep largest keys are exactly the kept set.
// Keys are unique, so "the keep-th largest key" names one element and key >= it is the mask.
#include "train/topk.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "error.hpp"

namespace popup {
namespace {

constexpr uint32_t kBitsMax = 0x7FFFFFFFu;  // |score| bit patterns: 0 ... NaN with all bits
constexpr uint64_t kWidthMin = 16;          // band half-width floor (units of the bit pattern)
constexpr int64_t kParallelMin = 32768;     // smaller layers: one thread (no fork-join cost)
constexpr int kBandAttempts = 3;            // counting passes before the full selection

uint32_t abs_bits(float s) {
  uint32_t bits;
  std::memcpy(&bits, &s, sizeof bits);
  return bits & kBitsMax;
}

uint64_t key_of(uint32_t abs_bits, int64_t i) {
  return (uint64_t{abs_bits} << 32) | (0xFFFFFFFFu - static_cast<uint32_t>(i));
}

int64_t index_of(uint64_t key) { return int64_t{0xFFFFFFFFu - static_cast<uint32_t>(key)}; }

int threads_for(int64_t n) {
#ifdef _OPENMP
  return n >= kParallelMin ? omp_get_max_threads() : 1;
#else
  (void)n;
  return 1;
#endif
}

}  // namespace

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
  for (int64_t i = 0; i < n; ++i) scratch[static_cast<size_t>(i)] = key_of(abs_bits(scores[i]), i);
  // The keep-th largest key is the threshold: everything at or above it is kept.
  const auto nth = scratch.begin() + (n - keep);
  std::nth_element(scratch.begin(), nth, scratch.end());
  const uint64_t threshold = *nth;
  for (int64_t i = 0; i < n; ++i) mask[i] = key_of(abs_bits(scores[i]), i) >= threshold;
}

void TopkSelector::select(const float* scores, int64_t n, int64_t keep, uint8_t* mask,
                          std::vector<uint64_t>& scratch) {
  if (n > (int64_t{1} << 32)) throw InvalidArgument("", "top-k: layer larger than 2^32 weights");
  last_ = Stats();
  if (keep >= n) {
    std::fill(mask, mask + n, uint8_t{1});
    return;
  }
  if (keep <= 0) {
    std::fill(mask, mask + n, uint8_t{0});
    return;
  }
  if (scratch.size() < static_cast<size_t>(n)) scratch.resize(static_cast<size_t>(n));
  const bool had = have_threshold_;
  const uint64_t old_bits = threshold_ >> 32;
  bool found = false;
  if (had) {
    // The band [lo, hi] of |score| bit patterns around the last threshold; after a miss it
    // moves past the side the threshold went to, eight times as wide.
    uint64_t width = std::max<uint64_t>(width_, kWidthMin);
    uint64_t lo = old_bits > width ? old_bits - width : 0;
    uint64_t hi = std::min<uint64_t>(old_bits + width, kBitsMax);
    for (int attempt = 0; attempt < kBandAttempts && !found; ++attempt) {
      bool high = false;
      found = band_select(scores, n, keep, mask, scratch, static_cast<uint32_t>(lo),
                          static_cast<uint32_t>(hi), high);
      if (found) break;
      width *= 8;
      if (high) {  // hi < kBitsMax here: something lies above the band
        lo = hi + 1;
        hi = std::min<uint64_t>(hi + width, kBitsMax);
      } else {  // lo > 0 here: the band and everything above it hold fewer than keep
        hi = lo - 1;
        lo = lo > width ? lo - width : 0;
      }
    }
  }
  if (!found) full_select(scores, n, keep, mask, scratch);
  // The next band: twice the last move of the threshold, shrinking by half when it stays put.
  const uint64_t new_bits = threshold_ >> 32;
  const uint64_t move = had ? (new_bits > old_bits ? new_bits - old_bits : old_bits - new_bits) : 0;
  const uint64_t width = std::max({kWidthMin, 2 * move, uint64_t{width_} / 2});
  width_ = static_cast<uint32_t>(std::min<uint64_t>(width, kBitsMax));
  have_threshold_ = true;
}

// One pass: mask[i] = 1 above the band, 0 elsewhere; the band's keys gathered, each thread's
// into scratch at its own range's start (a range holds at most its own length of band keys).
// When the keep-th largest key is inside the band, nth_element on the band finds it and the
// band's kept elements are set; otherwise `high` says on which side it lies.
bool TopkSelector::band_select(const float* scores, int64_t n, int64_t keep, uint8_t* mask,
                               std::vector<uint64_t>& scratch, uint32_t lo, uint32_t hi,
                               bool& high) {
  ++last_.passes;
  constexpr int kMaxThreads = 256;
  int64_t band_count[kMaxThreads] = {};
  int64_t range_begin[kMaxThreads] = {};
  int used = 1;
  int64_t above = 0;
  uint64_t* keys = scratch.data();
  const int threads = std::min(threads_for(n), kMaxThreads);
  // Signed compares (both sides <= 2^31 - 1) vectorise without unsigned-compare tricks.
  const int32_t lo_s = static_cast<int32_t>(lo), hi_s = static_cast<int32_t>(hi);
#pragma omp parallel num_threads(threads) reduction(+ : above) if (threads > 1)
  {
    int t = 0, count = 1;
#ifdef _OPENMP
    t = omp_get_thread_num();
    count = omp_get_num_threads();
#endif
    if (t == 0) used = count;
    const int64_t begin = n * t / count, end = n * (t + 1) / count;
    int64_t gathered = 0;
    constexpr int64_t kBlock = 2048;
    for (int64_t b = begin; b < end; b += kBlock) {
      const int64_t e = std::min(end, b + kBlock);
      // Vectorised: mask 1 above the band, 2 inside it (a flag for the gathering), 0 below.
      int32_t block_above = 0, block_band = 0;
#pragma omp simd reduction(+ : block_above, block_band)
      for (int64_t i = b; i < e; ++i) {
        const int32_t bits = static_cast<int32_t>(abs_bits(scores[i]));
        const int32_t up = bits > hi_s;
        const int32_t in = (bits >= lo_s) & (bits <= hi_s);
        mask[i] = static_cast<uint8_t>(up | (in << 1));
        block_above += up;
        block_band += in;
      }
      above += block_above;
      if (block_band == 0) continue;
      // Gather the flagged elements, skipping eight mask bytes at a time; their mask becomes 0.
      for (int64_t j = b; j < e; j += 8) {
        if (e - j >= 8) {
          uint64_t flags;
          std::memcpy(&flags, mask + j, sizeof flags);
          if ((flags & 0x0202020202020202u) == 0) continue;
        }
        for (int64_t i = j; i < std::min(e, j + 8); ++i) {
          if (mask[i] != 2) continue;
          mask[i] = 0;
          keys[begin + gathered++] = key_of(abs_bits(scores[i]), i);
        }
      }
    }
    band_count[t] = gathered;
    range_begin[t] = begin;
  }
  int64_t band = 0;
  for (int t = 0; t < used; ++t) band += band_count[t];
  if (above >= keep || above + band < keep) {
    high = above >= keep;
    return false;
  }
  // Close the gaps between the threads' ranges; range 0 starts at 0 already.
  int64_t packed = band_count[0];
  for (int t = 1; t < used; ++t) {
    std::memmove(keys + packed, keys + range_begin[t], sizeof(uint64_t) * band_count[t]);
    packed += band_count[t];
  }
  const int64_t in_band = keep - above;  // kept elements inside the band: 1 ... band
  std::nth_element(keys, keys + (band - in_band), keys + band);
  threshold_ = keys[band - in_band];
  for (int64_t j = band - in_band; j < band; ++j) mask[index_of(keys[j])] = 1;
  last_.band = band;
  return true;
}

void TopkSelector::full_select(const float* scores, int64_t n, int64_t keep, uint8_t* mask,
                               std::vector<uint64_t>& scratch) {
  last_.full = true;
  last_.band = n;
  uint64_t* keys = scratch.data();
  const int threads = threads_for(n);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int64_t i = 0; i < n; ++i) keys[i] = key_of(abs_bits(scores[i]), i);
  std::nth_element(keys, keys + (n - keep), keys + n);
  const uint64_t threshold = keys[n - keep];
  threshold_ = threshold;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int64_t i = 0; i < n; ++i) mask[i] = key_of(abs_bits(scores[i]), i) >= threshold;
}

}  // namespace popup
