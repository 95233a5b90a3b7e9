// Reading and checking CIFAR binary batch files.
#include "data/cifar.hpp"

#include "data/file_read.hpp"
#include "error.hpp"

namespace popup {

namespace {

constexpr int64_t kImageBytes = 3 * 32 * 32;

// Appends the records of `path` to `split`. A record is `label_bytes` labels, then the image;
// the label used is the last one, below `classes`; a leading coarse label is below 20.
void cifar_append(RawSplit& split, const std::string& path, int64_t label_bytes, int64_t classes) {
  const std::vector<uint8_t> bytes = file_read_all(path);
  const int64_t record = label_bytes + kImageBytes;
  const int64_t size = static_cast<int64_t>(bytes.size());
  if (size % record != 0)
    throw FormatError(path, "truncated: " + std::to_string(size) +
                                " bytes is not a whole number of " + std::to_string(record) +
                                "-byte records");
  const int64_t n = size / record;
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* r = bytes.data() + i * record;
    if (label_bytes == 2 && r[0] >= 20)
      throw FormatError(path, "coarse label " + std::to_string(r[0]) + " at index " +
                                  std::to_string(i) + " is out of range (20 classes)");
    const int32_t label = r[label_bytes - 1];
    if (label >= classes)
      throw FormatError(path, "label " + std::to_string(label) + " at index " + std::to_string(i) +
                                  " is out of range (" + std::to_string(classes) + " classes)");
    split.labels.push_back(label);
    split.pixels.insert(split.pixels.end(), r + label_bytes, r + record);
  }
  split.n += n;
}

RawSplit cifar_split(const std::vector<std::string>& paths, int64_t label_bytes, int64_t classes) {
  RawSplit split;
  split.shape = {3, 32, 32};
  split.file = paths.front();
  for (const std::string& path : paths) cifar_append(split, path, label_bytes, classes);
  if (split.n == 0) throw FormatError(split.file, "no images (empty data set)");
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
