// Per-channel normalisation of 8-bit images: (x / 255 - mean) / stddev.
#pragma once

#include <vector>

#include "data/raw_split.hpp"
#include "data/dataset.hpp"

namespace popup {

struct ChannelStats {
  std::vector<double> mean, stddev;  // per channel, of the values x / 255
};

// Mean and population standard deviation per channel of `split`'s values x / 255, from exact
// integer sums (the same on any thread count). Throws FormatError naming split.file when a
// channel holds a single value throughout (nothing to normalise by).
ChannelStats channel_stats(const RawSplit& split);

// The split with its normalisation table: sample x of channel c stands for
// (x / 255 - mean[c]) / stddev[c], computed in double and rounded to float once. Takes the
// pixels and labels over from `raw`.
DataSplit normalise(RawSplit raw, int64_t classes, const ChannelStats& stats);

}  // namespace popup
