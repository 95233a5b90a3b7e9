// CIFAR-10 and CIFAR-100 binary versions: records of label byte(s) + 3072 bytes (3x32x32, CHW).
#pragma once

#include <string>

#include "data/raw_split.hpp"

namespace popup {

// CIFAR-10: `dir`/data_batch_1.bin .. data_batch_5.bin and test_batch.bin, records of
// 1 label byte (< 10) + 3072 bytes. CIFAR-100 (`fine` true): `dir`/train.bin and test.bin,
// records of coarse label (< 20), fine label (< 100, the one used) + 3072 bytes. Each file plain
// or gzipped; a plain file's size is checked before anything is allocated. Throws IoError
// (missing or not a regular file: data/file_open.hpp), FormatError (empty file, not whole
// records, label out of range).
RawDataset cifar_read(const std::string& dir, bool fine);

}  // namespace popup
