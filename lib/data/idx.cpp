// Reading and checking IDX image and label files (magic 0x00000803 and 0x00000801): the magic
// and the dimensions are checked on the first bytes, and the data read is bounded by what the
// dimensions announce (a plain file's size is checked against them before anything is allocated).
#include "data/idx.hpp"

#include <algorithm>
#include <cstdio>

#include "data/file_open.hpp"
#include "data/file_read.hpp"
#include "error.hpp"

namespace popup {

namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension

uint32_t big_endian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

std::string hex32(uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08X", value);
  return text;
}

// `dir`/`name`, or `dir`/`name`.gz when nothing is at the first (a folder or a broken link at
// `dir`/`name` is taken, and reported when it is opened).
std::string idx_path(const std::string& dir, const std::string& name, const std::string& hint) {
  const std::string plain = dir + "/" + name;
  if (path_present(plain)) return plain;
  if (path_present(plain + ".gz")) return plain + ".gz";
  throw IoError(plain, "no such file, nor " + name + ".gz" + hint);
}

// The header's `dimensions` sizes, after checking the magic on the first 4 bytes.
std::vector<uint32_t> header_read(DataFile& file, uint32_t magic, size_t dimensions,
                                  const char* kind) {
  uint8_t header[16];
  const size_t header_size = 4 + 4 * dimensions;
  size_t got = file.read(header, 4);
  if (got < 4)
    throw FormatError(file.path(), "truncated: " + std::to_string(got) + " bytes, no IDX header");
  if (big_endian32(header) != magic)
    throw FormatError(file.path(), "wrong magic " + hex32(big_endian32(header)) + ", expected " +
                                       hex32(magic) + " (IDX " + kind + ")");
  got += file.read(header + 4, header_size - 4);
  if (got < header_size)
    throw FormatError(file.path(), "truncated: " + std::to_string(got) +
                                       " bytes, the IDX header has " + std::to_string(header_size));
  std::vector<uint32_t> sizes;
  for (size_t d = 0; d < dimensions; ++d) sizes.push_back(big_endian32(header + 4 + 4 * d));
  return sizes;
}

// The data after the header: exactly `items` * `item_size` bytes (`what` describes them). A
// plain file's size is checked first; gzip data is inflated up to one byte beyond.
std::vector<uint8_t> body_read(DataFile& file, uint64_t items, uint64_t item_size,
                               const std::string& what) {
  if (item_size != 0 && items > (UINT64_MAX - 1) / item_size)
    throw FormatError(file.path(), "the header announces " + what + ", more than any file holds");
  const uint64_t expected = items * item_size;
  auto truncated = [&](uint64_t held) {
    return FormatError(file.path(), "truncated: the header announces " + what + " (" +
                                        std::to_string(expected) +
                                        " bytes of data), the file holds " + std::to_string(held));
  };
  uint64_t left = 0;
  if (file.remaining(left)) {
    if (left < expected) throw truncated(left);
    if (left > expected)
      throw FormatError(file.path(), "trailing data: " + std::to_string(left - expected) +
                                         " bytes after the " + what + " the header announces");
  }
  std::vector<uint8_t> bytes = file.read_up_to(expected + 1);
  if (bytes.size() < expected) throw truncated(bytes.size());
  if (bytes.size() > expected)
    throw FormatError(file.path(), "trailing data after the " + what + " the header announces");
  return bytes;
}

RawSplit images_read(const std::string& path) {
  DataFile file(path);
  const std::vector<uint32_t> sizes =
      header_read(file, kImagesMagic, 3, "unsigned-byte images, 3 dimensions");
  const uint32_t n = sizes[0], rows = sizes[1], cols = sizes[2];
  if (n == 0) throw FormatError(path, "no images (empty data set)");
  if (rows == 0 || cols == 0)
    throw FormatError(path, "images of size " + std::to_string(rows) + "x" + std::to_string(cols));
  const std::string what =
      std::to_string(n) + " images of " + std::to_string(rows) + "x" + std::to_string(cols);
  RawSplit split;
  split.pixels = body_read(file, n, uint64_t{rows} * cols, what);
  split.shape = {1, rows, cols};
  split.n = n;
  split.file = path;
  return split;
}

void labels_read(RawSplit& split, const std::string& path) {
  DataFile file(path);
  const uint32_t n = header_read(file, kLabelsMagic, 1, "unsigned-byte labels, 1 dimension")[0];
  if (n != split.n)
    throw MismatchError(path, "holds " + std::to_string(n) + " labels, but " + split.file +
                                  " holds " + std::to_string(split.n) + " images");
  const std::vector<uint8_t> bytes = body_read(file, n, 1, std::to_string(n) + " labels");
  data_allocate(path, bytes.size() * sizeof(int32_t),
                [&] { split.labels.assign(bytes.begin(), bytes.end()); });
}

void labels_check(const RawSplit& split, int64_t classes, const std::string& path) {
  for (int64_t i = 0; i < split.n; ++i) {
    if (split.labels[i] >= classes)
      throw FormatError(path, "label " + std::to_string(split.labels[i]) + " at index " +
                                  std::to_string(i) + " is out of range (" +
                                  std::to_string(classes) + " classes)");
  }
}

}  // namespace

RawDataset idx_read(const std::string& dir, int64_t classes, const std::string& missing_hint) {
  const std::string train_images = idx_path(dir, "train-images-idx3-ubyte", missing_hint);
  const std::string train_labels = idx_path(dir, "train-labels-idx1-ubyte", missing_hint);
  const std::string test_images = idx_path(dir, "t10k-images-idx3-ubyte", missing_hint);
  const std::string test_labels = idx_path(dir, "t10k-labels-idx1-ubyte", missing_hint);
  RawDataset data;
  data.train = images_read(train_images);
  labels_read(data.train, train_labels);
  data.test = images_read(test_images);
  labels_read(data.test, test_labels);
  if (data.test.shape != data.train.shape)
    throw MismatchError(test_images, "images are " + input_shape_format(data.test.shape) +
                                         ", but " + train_images + " holds " +
                                         input_shape_format(data.train.shape));
  data.classes =
      classes ? classes : 1 + *std::max_element(data.train.labels.begin(), data.train.labels.end());
  labels_check(data.train, data.classes, train_labels);
  labels_check(data.test, data.classes, test_labels);
  return data;
}

}  // namespace popup
