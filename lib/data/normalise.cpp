// Channel statistics and the normalisation table.
#include "data/normalise.hpp"

#include <cmath>
#include <utility>

#include "error.hpp"

namespace popup {

ChannelStats channel_stats(const RawSplit& split) {
  ChannelStats stats;
  const int64_t plane = split.shape.h * split.shape.w, size = split.example_size();
  const uint8_t* pixels = split.pixels.data();
  for (int64_t c = 0; c < split.shape.c; ++c) {
    uint64_t sum = 0, sum_squares = 0;
#pragma omp parallel for reduction(+ : sum, sum_squares)
    for (int64_t i = 0; i < split.n; ++i) {
      const uint8_t* p = pixels + i * size + c * plane;
      uint64_t s = 0, q = 0;
      for (int64_t k = 0; k < plane; ++k) {
        s += p[k];
        q += uint32_t{p[k]} * p[k];
      }
      sum += s;
      sum_squares += q;
    }
    // n * sum_squares - sum^2 = n^2 * variance (of x), exact in 128 bits.
    const uint64_t count = static_cast<uint64_t>(split.n * plane);
    const unsigned __int128 spread = static_cast<unsigned __int128>(count) * sum_squares -
                                     static_cast<unsigned __int128>(sum) * sum;
    if (spread == 0)
      throw FormatError(split.file, "channel " + std::to_string(c) +
                                        " has the same value in every pixel; cannot normalise");
    const double n = static_cast<double>(count);
    stats.mean.push_back(static_cast<double>(sum) / n / 255.0);
    stats.stddev.push_back(std::sqrt(static_cast<double>(spread)) / n / 255.0);
  }
  return stats;
}

DataSplit normalise(RawSplit raw, int64_t classes, const ChannelStats& stats) {
  DataSplit split;
  split.shape = raw.shape;
  split.classes = classes;
  split.n = raw.n;
  split.pixels = std::move(raw.pixels);
  split.labels = std::move(raw.labels);
  split.levels.resize(static_cast<size_t>(raw.shape.c * 256));
  for (int64_t c = 0; c < raw.shape.c; ++c)
    for (int x = 0; x < 256; ++x)
      split.levels[c * 256 + x] = static_cast<float>((x / 255.0 - stats.mean[c]) / stats.stddev[c]);
  return split;
}

}  // namespace popup
