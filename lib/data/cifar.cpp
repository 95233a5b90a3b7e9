// Reading and checking CIFAR binary batch files, a chunk of records at a time: a plain file's
// size is checked (not empty, whole records) before anything is allocated.
#include "data/cifar.hpp"

#include <algorithm>
#include <memory>

#include "data/file_read.hpp"
#include "error.hpp"

namespace popup {

namespace {

constexpr int64_t kImageBytes = 3 * 32 * 32;
constexpr int64_t kChunkRecords = 1024;  // records read at once

FormatError not_whole_records(const std::string& path, uint64_t size, int64_t record) {
  return FormatError(path, "truncated: " + std::to_string(size) +
                               " bytes is not a whole number of " + std::to_string(record) +
                               "-byte records");
}

FormatError empty_file(const std::string& path) {
  return FormatError(path, "empty file (no records)");
}

// Room in `split` for `records` more examples: a geometric growth where the split was not sized
// beforehand (gzip data).
void grow(RawSplit& split, int64_t records, const std::string& path) {
  const size_t need = split.labels.size() + static_cast<size_t>(records);
  if (need <= split.labels.capacity()) return;
  const size_t examples = std::max(need, 2 * split.labels.capacity());
  data_allocate(path, examples * kImageBytes, [&] {
    split.labels.reserve(examples);
    split.pixels.reserve(examples * kImageBytes);
  });
}

// Appends the records of `file` to `split`. A record is `label_bytes` labels, then the image;
// the label used is the last one, below `classes`; a leading coarse label is below 20.
void cifar_append(RawSplit& split, DataFile& file, int64_t label_bytes, int64_t classes) {
  const std::string& path = file.path();
  const int64_t record = label_bytes + kImageBytes;
  std::vector<uint8_t> chunk(static_cast<size_t>(kChunkRecords * record));
  int64_t i = 0;  // records read from this file
  for (;;) {
    const size_t got = file.read(chunk.data(), chunk.size());
    const int64_t records = static_cast<int64_t>(got) / record;
    if (got % record != 0) throw not_whole_records(path, i * record + got, record);
    grow(split, records, path);
    for (const uint8_t* r = chunk.data(); r < chunk.data() + got; r += record, ++i) {
      if (label_bytes == 2 && r[0] >= 20)
        throw FormatError(path, "coarse label " + std::to_string(r[0]) + " at index " +
                                    std::to_string(i) + " is out of range (20 classes)");
      const int32_t label = r[label_bytes - 1];
      if (label >= classes)
        throw FormatError(path, "label " + std::to_string(label) + " at index " +
                                    std::to_string(i) + " is out of range (" +
                                    std::to_string(classes) + " classes)");
      split.labels.push_back(label);
      split.pixels.insert(split.pixels.end(), r + label_bytes, r + record);
    }
    if (got < chunk.size()) break;
  }
  if (i == 0) throw empty_file(path);
  split.n += i;
}

// The records of `paths`, in order. Every file is opened and the plain ones' sizes checked
// before any is read, and the split is sized once for them.
RawSplit cifar_split(const std::vector<std::string>& paths, int64_t label_bytes, int64_t classes) {
  const int64_t record = label_bytes + kImageBytes;
  std::vector<std::unique_ptr<DataFile>> files;
  uint64_t records = 0;
  for (const std::string& path : paths) {
    files.push_back(std::make_unique<DataFile>(path));
    uint64_t size = 0;
    if (!files.back()->remaining(size)) continue;
    if (size == 0) throw empty_file(path);
    if (size % record != 0) throw not_whole_records(path, size, record);
    records += size / record;
  }
  RawSplit split;
  split.shape = {3, 32, 32};
  split.file = paths.front();
  data_allocate(split.file, records * kImageBytes, [&] {
    split.labels.reserve(records);
    split.pixels.reserve(records * kImageBytes);
  });
  for (const auto& file : files) cifar_append(split, *file, label_bytes, classes);
  return split;
}

}  // namespace

RawDataset cifar_read(const std::string& dir, bool fine) {
  RawDataset data;
  if (fine) {
    data.classes = 100;
    data.train = cifar_split({dir + "/train.bin"}, 2, 100);
    data.test = cifar_split({dir + "/test.bin"}, 2, 100);
  } else {
    data.classes = 10;
    std::vector<std::string> train;
    for (int i = 1; i <= 5; ++i) train.push_back(dir + "/data_batch_" + std::to_string(i) + ".bin");
    data.train = cifar_split(train, 1, 10);
    data.test = cifar_split({dir + "/test_batch.bin"}, 1, 10);
  }
  return data;
}

}  // namespace popup
