// Images as a data set's files hold them (8-bit samples) with their labels: what each format
// reader returns, before limits, the validation hold-out and normalisation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "net/arch.hpp"

namespace popup {

struct RawSplit {
  InputShape shape;
  int64_t n = 0;
  std::vector<uint8_t> pixels;  // [n, C, H, W], 0 .. 255
  std::vector<int32_t> labels;  // [n]
  std::string file;             // the file (or folder) to name in errors about this split
  int64_t example_size() const { return shape.c * shape.h * shape.w; }
};

struct RawDataset {
  RawSplit train, test;
  int64_t classes = 0;
  std::vector<std::string> class_names;  // png: folders: the class folders, in label order
};

// Keep the first `limit` examples (0: all).
void raw_split_limit(RawSplit& split, int64_t limit);

// The examples whose `keep` flag equals `value`, in their original order.
RawSplit raw_split_select(const RawSplit& split, const std::vector<bool>& keep, bool value);

}  // namespace popup
