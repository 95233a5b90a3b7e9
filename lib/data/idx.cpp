// Reading and checking IDX image and label files (magic 0x00000803 and 0x00000801).
#include "data/idx.hpp"

#include <algorithm>
#include <cstdio>

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

// `dir`/`name`, or `dir`/`name`.gz when only that exists.
std::string idx_path(const std::string& dir, const std::string& name, const std::string& hint) {
  const std::string plain = dir + "/" + name;
  if (file_exists(plain)) return plain;
  if (file_exists(plain + ".gz")) return plain + ".gz";
  throw IoError(plain, "no such file, nor " + name + ".gz" + hint);
}

// Checks that the data after the header of `header_size` bytes is exactly `items` *
// `item_size` bytes (`what` describes them); returns the bytes with the header removed.
std::vector<uint8_t> idx_body(std::vector<uint8_t> bytes, const std::string& path,
                              size_t header_size, uint64_t items, uint64_t item_size,
                              const std::string& what) {
  const uint64_t expected = items * item_size;
  if (item_size != 0 && expected / item_size != items)
    throw FormatError(path, "the header announces " + what + ", more than any file holds");
  const uint64_t body = bytes.size() - header_size;
  if (body < expected)
    throw FormatError(path, "truncated: the header announces " + what + " (" +
                                std::to_string(expected) + " bytes of data), the file holds " +
                                std::to_string(body));
  if (body > expected)
    throw FormatError(path, "trailing data: " + std::to_string(body - expected) +
                                " bytes after the " + what + " the header announces");
  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(header_size));
  return bytes;
}

void magic_check(const std::vector<uint8_t>& bytes, const std::string& path, uint32_t expected,
                 size_t header_size, const char* kind) {
  if (bytes.size() < 4)
    throw FormatError(path, "truncated: " + std::to_string(bytes.size()) + " bytes, no IDX header");
  const uint32_t magic = big_endian32(bytes.data());
  if (magic != expected)
    throw FormatError(path, "wrong magic " + hex32(magic) + ", expected " + hex32(expected) +
                                " (IDX " + kind + ")");
  if (bytes.size() < header_size)
    throw FormatError(path, "truncated: " + std::to_string(bytes.size()) +
                                " bytes, the IDX header has " + std::to_string(header_size));
}

RawSplit images_read(const std::string& path) {
  std::vector<uint8_t> bytes = file_read_all(path);
  magic_check(bytes, path, kImagesMagic, 16, "unsigned-byte images, 3 dimensions");
  const uint32_t n = big_endian32(&bytes[4]), rows = big_endian32(&bytes[8]),
                 cols = big_endian32(&bytes[12]);
  const std::string what =
      std::to_string(n) + " images of " + std::to_string(rows) + "x" + std::to_string(cols);
  RawSplit split;
  split.pixels = idx_body(std::move(bytes), path, 16, n, uint64_t{rows} * cols, what);
  if (n == 0) throw FormatError(path, "no images (empty data set)");
  if (rows == 0 || cols == 0)
    throw FormatError(path, "images of size " + std::to_string(rows) + "x" + std::to_string(cols));
  split.shape = {1, rows, cols};
  split.n = n;
  split.file = path;
  return split;
}

void labels_read(RawSplit& split, const std::string& path) {
  std::vector<uint8_t> bytes = file_read_all(path);
  magic_check(bytes, path, kLabelsMagic, 8, "unsigned-byte labels, 1 dimension");
  const uint32_t n = big_endian32(&bytes[4]);
  bytes = idx_body(std::move(bytes), path, 8, n, 1, std::to_string(n) + " labels");
  if (n != split.n)
    throw MismatchError(path, "holds " + std::to_string(n) + " labels, but " + split.file +
                                  " holds " + std::to_string(split.n) + " images");
  split.labels.assign(bytes.begin(), bytes.end());
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
