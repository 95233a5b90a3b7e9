// IDX files (the MNIST format: big-endian header, unsigned-byte data) in a folder holding
// train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte, each plain or gzipped (name.gz).
#pragma once

#include <cstdint>
#include <string>

#include "data/raw_split.hpp"

namespace popup {

// Both splits of the IDX files in `dir`. `classes` 0 takes max training label + 1; test labels
// must be below it. `missing_hint` is appended to the message about a missing file. The magic and
// dimensions are checked on the first bytes; a plain file's size is then checked against them
// before anything is allocated, and gzip data is inflated no further than one byte beyond them.
// Throws IoError (missing or not a regular file: data/file_open.hpp), FormatError (wrong
// magic, truncated, trailing data, empty set, label out of range), MismatchError (image and
// label counts differ).
RawDataset idx_read(const std::string& dir, int64_t classes, const std::string& missing_hint);

}  // namespace popup
