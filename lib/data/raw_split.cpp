// Cutting raw splits: limits and the validation hold-out.
#include "data/raw_split.hpp"

#include <algorithm>

#include "data/file_read.hpp"

namespace popup {

void raw_split_limit(RawSplit& split, int64_t limit) {
  if (limit <= 0 || limit >= split.n) return;
  split.n = limit;
  split.pixels.resize(static_cast<size_t>(limit * split.example_size()));
  split.labels.resize(static_cast<size_t>(limit));
}

RawSplit raw_split_select(const RawSplit& split, const std::vector<bool>& keep, bool value) {
  RawSplit out;
  out.shape = split.shape;
  out.file = split.file;
  const size_t size = static_cast<size_t>(split.example_size());
  out.n = std::count(keep.begin(), keep.end(), value);
  data_allocate(split.file, static_cast<uint64_t>(out.n) * size, [&] {
    out.pixels.reserve(static_cast<size_t>(out.n) * size);
    out.labels.reserve(static_cast<size_t>(out.n));
  });
  for (size_t i = 0; i < keep.size(); ++i) {
    if (keep[i] != value) continue;
    out.pixels.insert(out.pixels.end(), split.pixels.begin() + i * size,
                      split.pixels.begin() + (i + 1) * size);
    out.labels.push_back(split.labels[i]);
  }
  return out;
}

}  // namespace popup
