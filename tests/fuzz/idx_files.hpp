// The four files of an IDX folder, which the idx and idx_gz fuzz targets write, and the read
// both targets make of the folder.
#pragma once

#include <string>

#include "data/idx.hpp"
#include "error.hpp"

namespace popup_fuzz {

constexpr const char* kIdxNames[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                      "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

// idx_read of `dir`: a popup::Error is a refusal; a data set whose pixels do not match its
// count and shape is a finding (trap).
inline void idx_read_checked(const std::string& dir) {
  try {
    const popup::RawDataset d = popup::idx_read(dir, 0, "");
    for (const popup::RawSplit* s : {&d.train, &d.test})
      if (s->pixels.size() != static_cast<size_t>(s->n * s->example_size())) __builtin_trap();
  } catch (const popup::Error&) {
  }
}

}  // namespace popup_fuzz
