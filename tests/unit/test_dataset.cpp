// Unit tests for lib/data/dataset.hpp and lib/data/: small synthetic IDX (plain and gzip), CIFAR
// and PNG data sets written here, every error path, the validation hold-out, BatchLoader order,
// resumption and augmentation, and the installed Fashion-MNIST when it is present.
#include <png.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "data/augment.hpp"
#include "data/data_random.hpp"
#include "data/dataset.hpp"
#include "data/file_read.hpp"
#include "data/png_decode.hpp"
#include "error.hpp"
#include "init/philox.hpp"
#include "temp_dir.hpp"
#include "init/weights_generate.hpp"

using popup::Batch;
using popup::BatchLoader;
using popup::Dataset;
using popup::DatasetOptions;
using popup::DataSplit;
using Bytes = std::vector<uint8_t>;

namespace {

namespace fs = std::filesystem;

// ---- writers of synthetic data sets ------------------------------------------------------

void put_big_endian(Bytes& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(value >> shift));
}

Bytes idx_images(uint32_t n, uint32_t rows, uint32_t cols, const Bytes& pixels) {
  Bytes out;
  put_big_endian(out, 0x00000803);
  put_big_endian(out, n);
  put_big_endian(out, rows);
  put_big_endian(out, cols);
  out.insert(out.end(), pixels.begin(), pixels.end());
  return out;
}

Bytes idx_labels(const Bytes& labels) {
  Bytes out;
  put_big_endian(out, 0x00000801);
  put_big_endian(out, static_cast<uint32_t>(labels.size()));
  out.insert(out.end(), labels.begin(), labels.end());
  return out;
}

void write_plain(const std::string& path, const Bytes& bytes) {
  file_write(path, std::vector<char>(bytes.begin(), bytes.end()));
}

void write_gz(const std::string& path, const Bytes& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  BOOST_REQUIRE(file != nullptr);
  BOOST_REQUIRE(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())) ==
                static_cast<int>(bytes.size()));
  BOOST_REQUIRE(gzclose(file) == Z_OK);
}

// One IDX split: images of rows x cols (pixels in order) and their labels.
struct IdxSplit {
  uint32_t rows = 0, cols = 0;
  Bytes pixels, labels;
  uint32_t n() const { return static_cast<uint32_t>(labels.size()); }
};

// The four IDX files of `train` and `test` in `dir`, gzipped when `gz`.
void write_idx_set(const std::string& dir, const IdxSplit& train, const IdxSplit& test, bool gz) {
  auto write = [&](const std::string& name, const Bytes& bytes) {
    gz ? write_gz(dir + "/" + name + ".gz", bytes) : write_plain(dir + "/" + name, bytes);
  };
  write("train-images-idx3-ubyte", idx_images(train.n(), train.rows, train.cols, train.pixels));
  write("train-labels-idx1-ubyte", idx_labels(train.labels));
  write("t10k-images-idx3-ubyte", idx_images(test.n(), test.rows, test.cols, test.pixels));
  write("t10k-labels-idx1-ubyte", idx_labels(test.labels));
}

// 3 training images of 2x3 with labels 0, 2, 1 and 2 test images with labels 1, 0.
IdxSplit small_train() {
  return {2, 3, {0, 10, 20, 30, 40, 50, 255, 0, 128, 64, 32, 16, 1, 2, 3, 4, 5, 6}, {0, 2, 1}};
}
IdxSplit small_test() { return {2, 3, {9, 8, 7, 6, 5, 4, 200, 100, 50, 25, 12, 6}, {1, 0}}; }

// `n` images of 1x2, example i holding pixels (i, 255 - i), labels i % 4.
IdxSplit numbered(uint32_t n) {
  IdxSplit split{1, 2, {}, {}};
  for (uint32_t i = 0; i < n; ++i) {
    split.pixels.push_back(static_cast<uint8_t>(i));
    split.pixels.push_back(static_cast<uint8_t>(255 - i));
    split.labels.push_back(static_cast<uint8_t>(i % 4));
  }
  return split;
}

// A CIFAR record: label byte(s), then 3072 bytes where channel c, pixel p holds (seed + 7c + p) %
// 256.
Bytes cifar_record(const Bytes& label_bytes, int seed) {
  Bytes out = label_bytes;
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 1024; ++p) out.push_back(static_cast<uint8_t>((seed + 7 * c + p) % 256));
  return out;
}

// A PNG of `color_type` and `bit_depth` (8 or 16) with the given samples, interleaved per pixel.
void write_png(const std::string& path, int height, int width, int color_type, int bit_depth,
               const std::vector<uint16_t>& samples) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  BOOST_REQUIRE(file != nullptr);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, file);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height),
               bit_depth, color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  const size_t row_samples = samples.size() / static_cast<size_t>(height);
  for (int y = 0; y < height; ++y) {
    Bytes row;
    for (size_t k = 0; k < row_samples; ++k) {
      const uint16_t v = samples[y * row_samples + k];
      if (bit_depth == 16) row.push_back(static_cast<uint8_t>(v >> 8));
      row.push_back(static_cast<uint8_t>(v));
    }
    png_write_row(png, row.data());
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(file);
}

void write_grey_png(const std::string& path, int height, int width, uint8_t value) {
  write_png(path, height, width, PNG_COLOR_TYPE_GRAY, 8,
            std::vector<uint16_t>(static_cast<size_t>(height * width), value));
}

void make_dirs(const std::string& path) { fs::create_directories(path); }

// ---- checks ---------------------------------------------------------------------------------

// Runs `load`, which must throw exactly `Expected` with `file` and a message containing `text`.
template <typename Expected, typename Load>
void expect_error(Load&& load, const std::string& file, const std::string& text) {
  try {
    load();
    BOOST_ERROR("no error; expected one containing '" << text << "'");
  } catch (const Expected& e) {
    BOOST_TEST(e.file() == file);
    BOOST_TEST(e.message().find(text) != std::string::npos, "message: " << e.message());
  }
}

Dataset load(const std::string& name, int64_t train_limit = 0, int64_t test_limit = 0) {
  DatasetOptions options;
  options.train_limit = train_limit;
  options.test_limit = test_limit;
  return popup::dataset_load(name, options);
}

Dataset load_split(const std::string& name, double val_split, uint64_t seed) {
  DatasetOptions options;
  options.val_split = val_split;
  options.seed = seed;
  return popup::dataset_load(name, options);
}

// Population mean and standard deviation of pixels / 255, in long double.
std::pair<double, double> pixel_stats(const Bytes& pixels) {
  long double sum = 0, sum_squares = 0;
  for (uint8_t p : pixels) {
    sum += p / 255.0L;
    sum_squares += (p / 255.0L) * (p / 255.0L);
  }
  const long double mean = sum / pixels.size();
  return {static_cast<double>(mean),
          static_cast<double>(std::sqrt(sum_squares / pixels.size() - mean * mean))};
}

// Each normalised value against (x / 255 - mean) / std; tolerance 1e-6 absolute, a few float
// ulps at the values' size (|v| < 10), covering the library's exact-integer statistics against
// this long double sum.
void check_values(const std::vector<float>& got, const Bytes& pixels, int64_t plane,
                  const std::vector<double>& mean, const std::vector<double>& stddev) {
  BOOST_REQUIRE_EQUAL(got.size(), pixels.size());
  const int64_t channels = static_cast<int64_t>(mean.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const int64_t c = static_cast<int64_t>(i) / plane % channels;
    const double expected = (pixels[i] / 255.0 - mean[c]) / stddev[c];
    if (std::fabs(got[i] - expected) > 1e-6) {
      BOOST_ERROR("value " << i << " is " << got[i] << ", expected " << expected);
      return;
    }
  }
}

std::vector<int32_t> labels_of(const Bytes& bytes) {
  return std::vector<int32_t>(bytes.begin(), bytes.end());
}

// Tables that decode sample x to the value x, except x = 0 to padding[c].
std::vector<float> identity_levels(const std::vector<float>& padding) {
  std::vector<float> levels;
  for (const float pad : padding) {
    levels.push_back(pad);
    for (int x = 1; x < 256; ++x) levels.push_back(static_cast<float>(x));
  }
  return levels;
}

// A split of n <= 256 examples of 2x1x1: example i holds (i, -i) and label i.
DataSplit counting_split(int64_t n) {
  DataSplit split;
  split.shape = {2, 1, 1};
  split.classes = n;
  split.n = n;
  for (int64_t i = 0; i < n; ++i) {
    split.pixels.push_back(static_cast<uint8_t>(i));
    split.pixels.push_back(static_cast<uint8_t>(i));
    split.labels.push_back(static_cast<int32_t>(i));
  }
  for (int c = 0; c < 2; ++c)
    for (int x = 0; x < 256; ++x) split.levels.push_back(static_cast<float>(c == 0 ? x : -x));
  return split;
}

// The labels of every batch of one epoch, batch by batch; also checks the images follow them.
std::vector<std::vector<int32_t>> epoch_batches(const DataSplit& split, int64_t batch_size,
                                                bool shuffle, uint64_t seed, int64_t epoch,
                                                int64_t first_batch = 0) {
  BatchLoader loader(split, batch_size, shuffle, false, seed, epoch, first_batch);
  std::vector<std::vector<int32_t>> batches;
  Batch batch;
  while (loader.next(batch)) {
    batches.emplace_back(batch.labels, batch.labels + batch.n);
    for (int64_t k = 0; k < batch.n; ++k)
      BOOST_REQUIRE(batch.images[2 * k] == static_cast<float>(batch.labels[k]));
  }
  return batches;
}

std::vector<int32_t> flatten(const std::vector<std::vector<int32_t>>& batches) {
  std::vector<int32_t> all;
  for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
  return all;
}

// Fisher-Yates as data_random.hpp states it, with j = floor(u * (i + 1)) in long double
// (exact: u has 53 bits, i + 1 < 2^11 here).
std::vector<int64_t> reference_permutation(int64_t n, uint64_t seed, uint32_t tensor) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  for (int64_t i = n - 1; i >= 1; --i) {
    const double u = popup::random_uniform53(
        popup::philox_element(seed, popup::RandomStream::data, tensor, static_cast<uint64_t>(i)));
    std::swap(order[i],
              order[static_cast<int64_t>(std::floor(static_cast<long double>(u) * (i + 1)))]);
  }
  return order;
}

// torchvision's way, spelled out: pad by 4 with `pad_value`, crop at (dy, dx), then flip.
std::vector<float> reference_augment(const std::vector<float>& image, int64_t h, int64_t w,
                                     float pad_value, const popup::AugmentDraw& draw) {
  const int64_t ph = h + 8, pw = w + 8;
  std::vector<float> padded(static_cast<size_t>(ph * pw), pad_value);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) padded[(y + 4) * pw + x + 4] = image[y * w + x];
  std::vector<float> cropped(static_cast<size_t>(h * w));
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) cropped[y * w + x] = padded[(y + draw.dy) * pw + x + draw.dx];
  if (!draw.flip) return cropped;
  std::vector<float> flipped(cropped.size());
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) flipped[y * w + x] = cropped[y * w + (w - 1 - x)];
  return flipped;
}

const char* const kFashionMnist = "/usr/share/datasets/fashion-mnist";

boost::test_tools::assertion_result fashion_mnist_installed(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result result(
      fs::exists(std::string(kFashionMnist) + "/train-images-idx3-ubyte.gz"));
  result.message() << kFashionMnist << " is not installed (Debian package dataset-fashion-mnist)";
  return result;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(dataset)

// ---- IDX ------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(idx_values_labels_and_own_normalisation) {
  TempDir dir;
  write_idx_set(dir.path.string(), small_train(), small_test(), false);
  const Dataset d = load("idx:" + dir.path.string());
  BOOST_TEST(d.name == "idx:" + dir.path.string());
  BOOST_TEST(popup::input_shape_format(d.train.shape) == "1x2x3");
  BOOST_TEST(popup::input_shape_format(d.test.shape) == "1x2x3");
  BOOST_TEST(d.train.classes == 3);  // max training label + 1
  BOOST_TEST(d.test.classes == 3);
  BOOST_TEST(d.train.n == 3);
  BOOST_TEST(d.test.n == 2);
  BOOST_TEST(d.val.n == 0);
  BOOST_TEST(!d.augment);
  BOOST_TEST(d.train.labels == labels_of(small_train().labels), boost::test_tools::per_element());
  BOOST_TEST(d.test.labels == labels_of(small_test().labels), boost::test_tools::per_element());
  const auto [mean, stddev] = pixel_stats(small_train().pixels);
  BOOST_REQUIRE_EQUAL(d.mean.size(), 1u);
  BOOST_TEST(d.mean[0] == mean, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(d.stddev[0] == stddev, boost::test_tools::tolerance(1e-6));
  check_values(d.train.images(), small_train().pixels, 6, {mean}, {stddev});
  check_values(d.test.images(), small_test().pixels, 6, {mean},
               {stddev});  // by the training statistics
  double sum = 0, sum_squares = 0;
  for (float v : d.train.images()) sum += v, sum_squares += v * v;
  BOOST_TEST(sum / 18 == 0.0, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(sum_squares / 18 == 1.0, boost::test_tools::tolerance(1e-5));
  BOOST_REQUIRE_EQUAL(d.train.padding().size(), 1u);
  BOOST_TEST(d.train.padding()[0] == static_cast<float>(-mean / stddev),
             boost::test_tools::tolerance(1e-6f));
}

BOOST_AUTO_TEST_CASE(idx_gzip_and_plain_give_the_same_values) {
  TempDir plain, gz, mixed;
  write_idx_set(plain.path.string(), small_train(), small_test(), false);
  write_idx_set(gz.path.string(), small_train(), small_test(), true);
  write_idx_set(mixed.path.string(), small_train(), small_test(), false);
  fs::remove(mixed.file("t10k-images-idx3-ubyte"));
  write_gz(mixed.file("t10k-images-idx3-ubyte.gz"), idx_images(2, 2, 3, small_test().pixels));
  const Dataset a = load("idx:" + plain.path.string());
  for (const TempDir* other : {&gz, &mixed}) {
    const Dataset b = load("idx:" + other->path.string());
    BOOST_TEST(b.train.images() == a.train.images(), boost::test_tools::per_element());
    BOOST_TEST(b.test.images() == a.test.images(), boost::test_tools::per_element());
    BOOST_TEST(b.train.labels == a.train.labels, boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(mnist_and_fashion_mnist_use_fixed_statistics_and_10_classes) {
  TempDir dir;
  write_idx_set(dir.path.string(), small_train(), small_test(), true);
  const Dataset m = load("mnist:" + dir.path.string());
  BOOST_TEST(m.train.classes == 10);
  BOOST_TEST(m.mean == std::vector<float>{0.1307f});
  BOOST_TEST(m.stddev == std::vector<float>{0.3081f});
  check_values(m.train.images(), small_train().pixels, 6, {0.1307}, {0.3081});
  const Dataset f = load("fashion-mnist:" + dir.path.string());
  BOOST_TEST(f.test.classes == 10);
  BOOST_TEST(f.mean == std::vector<float>{0.2860f});
  BOOST_TEST(f.stddev == std::vector<float>{0.3530f});
  check_values(f.test.images(), small_test().pixels, 6, {0.2860}, {0.3530});
  BOOST_TEST(f.train.padding()[0] == static_cast<float>(-0.2860 / 0.3530));
}

BOOST_AUTO_TEST_CASE(idx_label_out_of_range) {
  TempDir dir;
  const std::string d = dir.path.string();
  IdxSplit train = numbered(8);
  train.labels[5] = 12;
  write_idx_set(d, train, numbered(3), false);
  expect_error<popup::FormatError>([&] { load("mnist:" + d); }, d + "/train-labels-idx1-ubyte",
                                   "label 12 at index 5 is out of range (10 classes)");
  BOOST_CHECK_NO_THROW(load("idx:" + d));  // idx: takes 13 classes from the training labels

  IdxSplit test = small_test();
  test.labels[1] = 3;  // the training labels have 3 classes
  write_idx_set(d, small_train(), test, false);
  expect_error<popup::FormatError>([&] { load("idx:" + d); }, d + "/t10k-labels-idx1-ubyte",
                                   "label 3 at index 1 is out of range (3 classes)");
}

BOOST_AUTO_TEST_CASE(idx_broken_files_are_refused) {
  TempDir dir;
  const std::string d = dir.path.string(), images = d + "/train-images-idx3-ubyte",
                    labels = d + "/train-labels-idx1-ubyte";
  const std::string name = "idx:" + d;
  auto reset = [&] { write_idx_set(d, small_train(), small_test(), false); };

  reset();
  fs::remove(images);
  expect_error<popup::IoError>([&] { load(name); }, images,
                               "no such file, nor train-images-idx3-ubyte.gz");

  reset();
  write_plain(images, idx_labels(small_train().labels));
  expect_error<popup::FormatError>([&] { load(name); }, images,
                                   "wrong magic 0x00000801, expected 0x00000803");

  reset();
  write_plain(labels, idx_images(3, 2, 3, small_train().pixels));
  expect_error<popup::FormatError>([&] { load(name); }, labels,
                                   "wrong magic 0x00000803, expected 0x00000801");

  reset();
  write_plain(images, Bytes{0, 0, 8});
  expect_error<popup::FormatError>([&] { load(name); }, images,
                                   "truncated: 3 bytes, no IDX header");

  reset();
  write_plain(images, Bytes{0, 0, 8, 3, 0, 0, 0, 3});
  expect_error<popup::FormatError>([&] { load(name); }, images,
                                   "truncated: 8 bytes, the IDX header has 16");

  reset();
  Bytes short_images = idx_images(3, 2, 3, small_train().pixels);
  short_images.pop_back();
  write_plain(images, short_images);
  expect_error<popup::FormatError>(
      [&] { load(name); }, images,
      "truncated: the header announces 3 images of 2x3 (18 bytes of data), the file holds 17");

  reset();
  Bytes long_labels = idx_labels(small_train().labels);
  long_labels.push_back(0);
  long_labels.push_back(0);
  write_plain(labels, long_labels);
  expect_error<popup::FormatError>(
      [&] { load(name); }, labels,
      "trailing data: 2 bytes after the 3 labels the header announces");

  reset();
  write_plain(labels, idx_labels({0, 1}));
  expect_error<popup::MismatchError>([&] { load(name); }, labels,
                                     "holds 2 labels, but " + images + " holds 3 images");

  reset();
  write_plain(images, idx_images(0, 2, 3, {}));
  write_plain(labels, idx_labels({}));
  expect_error<popup::FormatError>([&] { load(name); }, images, "no images (empty data set)");

  reset();
  write_plain(d + "/t10k-images-idx3-ubyte", idx_images(3, 3, 2, small_train().pixels));
  write_plain(d + "/t10k-labels-idx1-ubyte", idx_labels({0, 1, 2}));
  expect_error<popup::MismatchError>([&] { load(name); }, d + "/t10k-images-idx3-ubyte",
                                     "images are 1x3x2, but " + images + " holds 1x2x3");
}

BOOST_AUTO_TEST_CASE(damaged_gzip_is_refused) {
  TempDir dir;
  const std::string d = dir.path.string(), images = d + "/train-images-idx3-ubyte.gz";
  write_idx_set(d, small_train(), small_test(), true);
  std::vector<char> bytes = file_bytes(images);
  file_write(images, std::vector<char>(bytes.begin(), bytes.end() - 10));
  expect_error<popup::FormatError>([&] { load("idx:" + d); }, images,
                                   "truncated (the gzip data ends early)");
  bytes[bytes.size() - 5] ^= 1;  // the trailer's length
  file_write(images, bytes);
  expect_error<popup::FormatError>([&] { load("idx:" + d); }, images, "corrupt gzip data");
}

// A gzip file of `bytes` whose trailer's CRC is wrong: an error only once the end is inflated.
void write_gz_bad_crc(const std::string& path, const Bytes& bytes) {
  write_gz(path, bytes);
  std::vector<char> gz = file_bytes(path);
  gz[gz.size() - 8] ^= 1;
  file_write(path, gz);
}

BOOST_AUTO_TEST_CASE(idx_claims_are_checked_before_reading) {
  TempDir dir;
  const std::string d = dir.path.string(), images = d + "/train-images-idx3-ubyte",
                    labels = d + "/train-labels-idx1-ubyte", name = "idx:" + d;
  auto reset = [&] { write_idx_set(d, small_train(), small_test(), false); };

  // Plain files: the dimensions against the file's size, before anything is allocated.
  reset();
  write_plain(images, idx_images(60000, 28, 28, Bytes(100)));
  expect_error<popup::FormatError>([&] { load(name); }, images,
                                   "truncated: the header announces 60000 images of 28x28 "
                                   "(47040000 bytes of data), the file holds 100");
  write_plain(images, idx_images(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, {}));
  expect_error<popup::FormatError>([&] { load(name); }, images,
                                   "the header announces 4294967295 images of "
                                   "4294967295x4294967295, more than any file holds");
  write_plain(labels, idx_labels({0, 1}));
  write_plain(images, idx_images(3, 2, 3, small_train().pixels));
  expect_error<popup::MismatchError>([&] { load(name); }, labels,
                                     "holds 2 labels, but " + images + " holds 3 images");

  // Gzip data: the magic is checked on the first bytes and the data inflated no further than
  // one byte beyond what the header announces, so a fault after that goes unseen.
  fs::remove(images);
  Bytes wrong = idx_images(3, 2, 3, small_train().pixels);
  wrong[3] = 4;
  wrong.resize(wrong.size() + (8 << 20));  // more than zlib inflates ahead (2 MiB)
  write_gz_bad_crc(images + ".gz", wrong);
  expect_error<popup::FormatError>([&] { load(name); }, images + ".gz",
                                   "wrong magic 0x00000804, expected 0x00000803");
  Bytes longer = idx_images(3, 2, 3, small_train().pixels);
  longer.resize(longer.size() + (8 << 20));
  write_gz_bad_crc(images + ".gz", longer);
  expect_error<popup::FormatError>([&] { load(name); }, images + ".gz",
                                   "trailing data after the 3 images of 2x3 the header announces");
  // 4 GiB announced, 1 MiB there: read in growing steps, never sized by the claim.
  write_gz(images + ".gz", idx_images(65535, 256, 256, Bytes(1 << 20)));
  expect_error<popup::FormatError>([&] { load(name); }, images + ".gz",
                                   "truncated: the header announces 65535 images of 256x256 "
                                   "(4294901760 bytes of data), the file holds 1048576");
  // The end is still checked when the data is exactly as long as announced.
  write_gz_bad_crc(images + ".gz", idx_images(3, 2, 3, small_train().pixels));
  expect_error<popup::FormatError>([&] { load(name); }, images + ".gz", "corrupt gzip data");
}

BOOST_AUTO_TEST_CASE(idx_only_regular_files_are_read, *boost::unit_test::timeout(20)) {
  TempDir dir;
  const std::string d = dir.path.string(), images = d + "/train-images-idx3-ubyte",
                    name = "idx:" + d;
  write_idx_set(d, small_train(), small_test(), false);
  // Each in place of the plain file, and taken before a valid NAME.gz beside it.
  write_gz(images + ".gz", idx_images(3, 2, 3, small_train().pixels));
  auto refused = [&](const std::string& text) {
    expect_error<popup::IoError>([&] { load(name); }, images, text);
    fs::remove(images);
  };
  fs::remove(images);
  fs::create_symlink("/dev/zero", images);
  refused("is not a regular file (a character device)");
  BOOST_REQUIRE(mkfifo(images.c_str(), 0600) == 0);  // no writer: opening it must not wait
  refused("is not a regular file (a FIFO)");
  const int listener = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  BOOST_REQUIRE(images.size() < sizeof address.sun_path);
  std::strcpy(address.sun_path, images.c_str());
  BOOST_REQUIRE(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  refused("is not a regular file (a socket)");
  close(listener);
  fs::create_directory(images);
  refused("is a directory, not a file");
  fs::create_symlink("train-images-idx3-ubyte", images);
  refused("a symbolic link loop (too many levels of symbolic links)");
  fs::create_symlink("absent", images);
  refused("a symbolic link to a missing file");
  BOOST_CHECK_NO_THROW(load(name));  // the .gz, now that nothing is at the plain name
}

BOOST_AUTO_TEST_CASE(out_of_memory_names_the_file_and_the_size) {
  std::vector<uint64_t> v;
  const uint64_t n = v.max_size() + 1;
  expect_error<popup::IoError>([&] { popup::data_allocate("f.idx", 8 * n, [&] { v.resize(n); }); },
                               "f.idx",
                               "out of memory: " + std::to_string(8 * n) + " bytes requested");
}

BOOST_AUTO_TEST_CASE(fashion_mnist_folder_without_files) {
  TempDir dir;
  const std::string d = dir.file("absent");
  expect_error<popup::IoError>([&] { load("fashion-mnist:" + d); }, d + "/train-images-idx3-ubyte",
                               "no such file");
}

// ---- CIFAR ----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(cifar10_records_labels_statistics_and_augmentation) {
  TempDir dir;
  const std::string d = dir.path.string();
  Bytes all_train;
  std::vector<int32_t> train_labels;
  for (int b = 1; b <= 5; ++b) {
    Bytes file;
    for (int r = 0; r < (b == 3 ? 1 : 2); ++r) {  // batches may differ in size
      const uint8_t label = static_cast<uint8_t>((b + r) % 10);
      const Bytes record = cifar_record({label}, 10 * b + r);
      file.insert(file.end(), record.begin(), record.end());
      all_train.insert(all_train.end(), record.begin() + 1, record.end());
      train_labels.push_back(label);
    }
    write_plain(d + "/data_batch_" + std::to_string(b) + ".bin", file);
  }
  write_plain(d + "/test_batch.bin", cifar_record({9}, 3));
  const Dataset c = load("cifar10:" + d);
  BOOST_TEST(popup::input_shape_format(c.train.shape) == "3x32x32");
  BOOST_TEST(c.train.classes == 10);
  BOOST_TEST(c.train.n == 9);
  BOOST_TEST(c.test.n == 1);
  BOOST_TEST(c.augment);
  BOOST_TEST(c.train.labels == train_labels, boost::test_tools::per_element());
  BOOST_TEST(c.test.labels == std::vector<int32_t>{9});
  const std::vector<double> mean{0.4914, 0.4822, 0.4465}, stddev{0.2470, 0.2435, 0.2616};
  check_values(c.train.images(), all_train, 1024, mean, stddev);
  const Bytes test_record = cifar_record({9}, 3);
  check_values(c.test.images(), Bytes(test_record.begin() + 1, test_record.end()), 1024, mean,
               stddev);
  BOOST_TEST(c.mean == std::vector<float>(mean.begin(), mean.end()),
             boost::test_tools::per_element());
  BOOST_TEST(c.stddev == std::vector<float>(stddev.begin(), stddev.end()),
             boost::test_tools::per_element());
  for (int ch = 0; ch < 3; ++ch)
    BOOST_TEST(c.train.padding()[ch] == static_cast<float>(-mean[ch] / stddev[ch]));
}

BOOST_AUTO_TEST_CASE(cifar100_uses_the_fine_label) {
  TempDir dir;
  const std::string d = dir.path.string();
  Bytes train = cifar_record({19, 99}, 1);
  const Bytes second = cifar_record({0, 42}, 2);
  train.insert(train.end(), second.begin(), second.end());
  write_plain(d + "/train.bin", train);
  write_plain(d + "/test.bin", cifar_record({5, 7}, 3));
  const Dataset c = load("cifar100:" + d);
  BOOST_TEST(c.train.classes == 100);
  BOOST_TEST(c.train.labels == (std::vector<int32_t>{99, 42}), boost::test_tools::per_element());
  BOOST_TEST(c.test.labels == std::vector<int32_t>{7});
  BOOST_TEST(c.augment);
  BOOST_TEST(c.mean == (std::vector<float>{0.5071f, 0.4865f, 0.4409f}),
             boost::test_tools::per_element());
  BOOST_TEST(c.stddev == (std::vector<float>{0.2673f, 0.2564f, 0.2762f}),
             boost::test_tools::per_element());
  const Bytes pixels(train.begin() + 2, train.begin() + 3074);
  const std::vector<float> values = c.train.images();
  check_values(std::vector<float>(values.begin(), values.begin() + 3072), pixels, 1024,
               {0.5071, 0.4865, 0.4409}, {0.2673, 0.2564, 0.2762});
}

BOOST_AUTO_TEST_CASE(cifar_gzip_and_plain_give_the_same_values) {
  TempDir plain, gz;
  Bytes big;  // more records than one read takes (1024)
  for (int r = 0; r < 1500; ++r) {
    const Bytes record = cifar_record({static_cast<uint8_t>(r % 10)}, r);
    big.insert(big.end(), record.begin(), record.end());
  }
  for (const TempDir* dir : {&plain, &gz}) {
    const std::string d = dir->path.string();
    for (int b = 1; b <= 5; ++b)
      write_plain(d + "/data_batch_" + std::to_string(b) + ".bin", cifar_record({1}, b));
    write_plain(d + "/test_batch.bin", cifar_record({2}, 0));
  }
  write_plain(plain.file("data_batch_2.bin"), big);
  write_gz(gz.file("data_batch_2.bin"), big);
  const Dataset a = load("cifar10:" + plain.path.string()), b = load("cifar10:" + gz.path.string());
  BOOST_TEST(a.train.n == 1504);
  BOOST_TEST(b.train.n == 1504);
  BOOST_TEST((a.train.pixels == b.train.pixels));
  BOOST_TEST(a.train.labels == b.train.labels, boost::test_tools::per_element());
  BOOST_TEST(b.train.labels[1 + 1234] == 1234 % 10);
  BOOST_TEST(b.train.pixels[3072 * (1 + 1234) + 5] == (1234 + 5) % 256);
}

BOOST_AUTO_TEST_CASE(cifar_broken_files_are_refused) {
  TempDir dir;
  const std::string d = dir.path.string();
  auto reset10 = [&] {
    for (int b = 1; b <= 5; ++b)
      write_plain(d + "/data_batch_" + std::to_string(b) + ".bin", cifar_record({1}, b));
    write_plain(d + "/test_batch.bin", cifar_record({2}, 0));
  };
  reset10();
  BOOST_CHECK_NO_THROW(load("cifar10:" + d));
  fs::remove(d + "/data_batch_4.bin");
  expect_error<popup::IoError>([&] { load("cifar10:" + d); }, d + "/data_batch_4.bin",
                               "no such file");

  reset10();
  Bytes cut = cifar_record({1}, 0);
  cut.pop_back();
  write_plain(d + "/test_batch.bin", cut);
  expect_error<popup::FormatError>(
      [&] { load("cifar10:" + d); }, d + "/test_batch.bin",
      "truncated: 3072 bytes is not a whole number of 3073-byte records");

  reset10();
  Bytes two = cifar_record({1}, 0);
  const Bytes bad = cifar_record({10}, 0);
  two.insert(two.end(), bad.begin(), bad.end());
  write_plain(d + "/data_batch_2.bin", two);
  expect_error<popup::FormatError>([&] { load("cifar10:" + d); }, d + "/data_batch_2.bin",
                                   "label 10 at index 1 is out of range (10 classes)");

  reset10();
  write_plain(d + "/test_batch.bin", {});
  expect_error<popup::FormatError>([&] { load("cifar10:" + d); }, d + "/test_batch.bin",
                                   "empty file (no records)");
  reset10();
  write_plain(d + "/data_batch_3.bin", {});
  expect_error<popup::FormatError>([&] { load("cifar10:" + d); }, d + "/data_batch_3.bin",
                                   "empty file (no records)");
  reset10();
  write_gz(d + "/data_batch_5.bin", {});
  expect_error<popup::FormatError>([&] { load("cifar10:" + d); }, d + "/data_batch_5.bin",
                                   "empty file (no records)");
  reset10();
  Bytes cut_gz = cifar_record({1}, 0);
  const Bytes second_gz = cifar_record({2}, 1);
  cut_gz.insert(cut_gz.end(), second_gz.begin(), second_gz.end() - 1);
  write_gz(d + "/data_batch_1.bin", cut_gz);
  expect_error<popup::FormatError>(
      [&] { load("cifar10:" + d); }, d + "/data_batch_1.bin",
      "truncated: 6145 bytes is not a whole number of 3073-byte records");
  reset10();
  fs::remove(d + "/data_batch_2.bin");
  fs::create_symlink("/dev/zero", d + "/data_batch_2.bin");
  expect_error<popup::IoError>([&] { load("cifar10:" + d); }, d + "/data_batch_2.bin",
                               "is not a regular file (a character device)");
  fs::remove(d + "/data_batch_2.bin");

  write_plain(d + "/train.bin", cifar_record({3, 100}, 0));
  write_plain(d + "/test.bin", cifar_record({3, 4}, 0));
  expect_error<popup::FormatError>([&] { load("cifar100:" + d); }, d + "/train.bin",
                                   "label 100 at index 0 is out of range (100 classes)");
  write_plain(d + "/train.bin", cifar_record({20, 4}, 0));
  expect_error<popup::FormatError>([&] { load("cifar100:" + d); }, d + "/train.bin",
                                   "coarse label 20 at index 0 is out of range (20 classes)");
}

// ---- PNG folders ----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(png_grey_classes_in_byte_order) {
  TempDir dir;
  const std::string d = dir.path.string();
  // Byte order: "C" < "a" < "b".
  for (const char* name : {"b", "a", "C"}) {
    make_dirs(d + "/train/" + name);
    make_dirs(d + "/test/" + name);
  }
  write_grey_png(d + "/train/C/1.png", 2, 3, 10);
  write_grey_png(d + "/train/a/2.png", 2, 3, 20);
  write_grey_png(d + "/train/a/1.PNG", 2, 3, 30);  // any case; "1.PNG" sorts before "2.png"
  write_png(d + "/train/b/x.png", 2, 3, PNG_COLOR_TYPE_GRAY, 8, {0, 50, 100, 150, 200, 250});
  write_plain(d + "/train/b/notes.txt", {'h', 'i'});  // not a PNG name: ignored
  write_grey_png(d + "/test/b/0.png", 2, 3, 40);
  const Dataset p = load("png:" + d);
  BOOST_TEST(p.train.classes == 3);
  BOOST_TEST(popup::input_shape_format(p.train.shape) == "1x2x3");
  BOOST_TEST(p.train.labels == (std::vector<int32_t>{0, 1, 1, 2}),
             boost::test_tools::per_element());
  BOOST_TEST(p.test.labels == std::vector<int32_t>{2});
  const Bytes pixels{10, 10, 10, 10, 10, 10, 30, 30, 30,  30,  30,  30,
                     20, 20, 20, 20, 20, 20, 0,  50, 100, 150, 200, 250};
  const auto [mean, stddev] = pixel_stats(pixels);
  BOOST_TEST(p.mean[0] == mean, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(p.stddev[0] == stddev, boost::test_tools::tolerance(1e-6));
  check_values(p.train.images(), pixels, 6, {mean}, {stddev});
  check_values(p.test.images(), Bytes(6, 40), 6, {mean}, {stddev});
  BOOST_TEST(!p.augment);
}

BOOST_AUTO_TEST_CASE(png_bit_depths_alpha_and_channels) {
  TempDir dir;
  const std::string d = dir.path.string();
  make_dirs(d + "/train/k");
  make_dirs(d + "/val/k");  // val/ stands in for the absent test/
  // 16-bit grey + alpha: scaled to round(v / 257), alpha dropped.
  write_png(d + "/train/k/a.png", 1, 4, PNG_COLOR_TYPE_GRAY_ALPHA, 16,
            {0, 65535, 65535, 0, 257 * 50 + 100, 1000, 257 * 50 + 200, 7});
  write_png(d + "/val/k/a.png", 1, 4, PNG_COLOR_TYPE_GRAY, 8, {1, 2, 3, 4});
  const Dataset grey = load("png:" + d);
  BOOST_TEST(popup::input_shape_format(grey.train.shape) == "1x1x4");
  const Bytes grey_pixels{0, 255, 50, 51};
  const auto [mean, stddev] = pixel_stats(grey_pixels);
  check_values(grey.train.images(), grey_pixels, 4, {mean}, {stddev});
  check_values(grey.test.images(), {1, 2, 3, 4}, 4, {mean}, {stddev});

  // One RGB image among grey ones makes every image RGB; RGBA loses its alpha; 16-bit RGB scales.
  write_png(d + "/train/k/b.png", 1, 4, PNG_COLOR_TYPE_RGB, 8,
            {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  write_png(d + "/train/k/c.png", 1, 4, PNG_COLOR_TYPE_RGBA, 8,
            {20, 21, 22, 0, 23, 24, 25, 9, 26, 27, 28, 99, 29, 30, 31, 255});
  write_png(d + "/train/k/d.png", 1, 4, PNG_COLOR_TYPE_RGB, 16,
            {257, 514, 771, 1028, 1285, 1542, 1799, 2056, 2313, 2570, 2827, 65535});
  const Dataset rgb = load("png:" + d);
  BOOST_TEST(popup::input_shape_format(rgb.train.shape) == "3x1x4");
  BOOST_TEST(popup::input_shape_format(rgb.test.shape) == "3x1x4");
  const Bytes rgb_pixels{0,  255, 50, 51, 0,  255, 50, 51, 0,  255, 50, 51,    // a: grey repeated
                         1,  4,   7,  10, 2,  5,   8,  11, 3,  6,   9,  12,    // b: CHW
                         20, 23,  26, 29, 21, 24,  27, 30, 22, 25,  28, 31,    // c: alpha dropped
                         1,  4,   7,  10, 2,  5,   8,  11, 3,  6,   9,  255};  // d: 16 bits scaled
  std::vector<double> means, stddevs;
  for (int c = 0; c < 3; ++c) {
    Bytes channel;
    for (int i = 0; i < 4; ++i)
      channel.insert(channel.end(), rgb_pixels.begin() + 12 * i + 4 * c,
                     rgb_pixels.begin() + 12 * i + 4 * c + 4);
    const auto [m, s] = pixel_stats(channel);
    means.push_back(m);
    stddevs.push_back(s);
  }
  check_values(rgb.train.images(), rgb_pixels, 4, means, stddevs);
  check_values(rgb.test.images(), {1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4}, 4, means, stddevs);
}

BOOST_AUTO_TEST_CASE(png_broken_folders_are_refused) {
  TempDir dir;
  const std::string d = dir.path.string(), name = "png:" + d;
  expect_error<popup::IoError>([&] { load(name); }, d + "/train", "no such folder");
  make_dirs(d + "/train");
  expect_error<popup::IoError>([&] { load(name); }, d + "/test", "no such folder (nor val/)");
  make_dirs(d + "/test");
  expect_error<popup::FormatError>([&] { load(name); }, d + "/train", "no class folders");
  make_dirs(d + "/train/cat");
  make_dirs(d + "/test/cat");
  expect_error<popup::FormatError>([&] { load(name); }, d + "/train",
                                   "no PNG images (empty data set)");

  write_grey_png(d + "/train/cat/1.png", 28, 28, 1);
  write_grey_png(d + "/train/cat/2.png", 28, 28, 2);
  write_grey_png(d + "/test/cat/1.png", 28, 28, 3);
  make_dirs(d + "/train/dog");
  write_grey_png(d + "/train/dog/1.png", 28, 28, 4);
  expect_error<popup::MismatchError>([&] { load(name); }, d + "/test",
                                     "has no class folder 'dog', which " + d + "/train has");
  make_dirs(d + "/test/dog");
  make_dirs(d + "/test/emu");
  expect_error<popup::MismatchError>([&] { load(name); }, d + "/test",
                                     "has a class folder 'emu', which " + d + "/train lacks");
  fs::remove(d + "/test/emu");
  BOOST_CHECK_NO_THROW(load(name));

  write_grey_png(d + "/test/dog/odd.png", 30, 28, 5);
  expect_error<popup::FormatError>(
      [&] { load(name); }, d + "/test/dog/odd.png",
      "image is 30x28 (height x width), but " + d + "/train/cat/1.png is 28x28");
  fs::remove(d + "/test/dog/odd.png");

  write_plain(d + "/train/dog/2.png", {'n', 'o', 't', ' ', 'a', ' ', 'p', 'n', 'g'});
  expect_error<popup::FormatError>([&] { load(name); }, d + "/train/dog/2.png", "not a PNG file");
  const std::vector<char> good = file_bytes(d + "/train/dog/1.png");
  file_write(d + "/train/dog/2.png", std::vector<char>(good.begin(), good.begin() + 60));
  expect_error<popup::FormatError>([&] { load(name); }, d + "/train/dog/2.png", "bad PNG: ");
}

// A PNG of signature, IHDR (8-bit samples unless `bit_depth`), an IDAT holding 64 compressed
// zero bytes and IEND: a header that claims what the file cannot hold.
void write_png_header(const std::string& path, uint32_t height, uint32_t width, uint8_t color_type,
                      uint8_t bit_depth = 8) {
  Bytes out{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  auto chunk = [&](const char* type, const Bytes& data) {
    put_big_endian(out, static_cast<uint32_t>(data.size()));
    Bytes body(type, type + 4);
    body.insert(body.end(), data.begin(), data.end());
    out.insert(out.end(), body.begin(), body.end());
    put_big_endian(out, static_cast<uint32_t>(crc32(0, body.data(), body.size())));
  };
  Bytes ihdr;
  put_big_endian(ihdr, width);
  put_big_endian(ihdr, height);
  ihdr.insert(ihdr.end(), {bit_depth, color_type, 0, 0, 0});
  chunk("IHDR", ihdr);
  Bytes idat(128);
  uLongf size = idat.size();
  const Bytes zeros(64);
  BOOST_REQUIRE(compress(idat.data(), &size, zeros.data(), zeros.size()) == Z_OK);
  idat.resize(size);
  chunk("IDAT", idat);
  chunk("IEND", {});
  write_plain(path, out);
}

BOOST_AUTO_TEST_CASE(png_sizes_are_checked_from_the_header) {
  TempDir dir;
  auto refused = [&](const std::string& file, const std::string& text) {
    expect_error<popup::FormatError>([&] { popup::png_decode(file); }, file, text);
  };
  // The limits: 16384 pixels a side, 2^24 pixels.
  write_grey_png(dir.file("wide.png"), 1, 16384, 7);
  BOOST_TEST(popup::png_decode(dir.file("wide.png")).width == 16384);
  write_png_header(dir.file("wider.png"), 1, 16385, PNG_COLOR_TYPE_GRAY);
  refused(dir.file("wider.png"),
          "image is 1x16385 (height x width), over the limit of 16384 "
          "pixels a side and 16777216 pixels");
  write_grey_png(dir.file("largest.png"), 4096, 4096, 7);
  const popup::PngImage largest = popup::png_decode(dir.file("largest.png"));
  BOOST_TEST(largest.pixels.size() == 4096u * 4096u);
  BOOST_TEST(largest.pixels.back() == 7);
  write_png_header(dir.file("larger.png"), 4097, 4096, PNG_COLOR_TYPE_GRAY);
  refused(dir.file("larger.png"), "image is 4097x4096 (height x width), over the limit");
  write_png_header(dir.file("huge.png"), 20000, 20000, PNG_COLOR_TYPE_RGB);
  refused(dir.file("huge.png"), "image is 20000x20000 (height x width), over the limit");

  // Within the limits, against the bytes of the file: each row is a filter byte and its samples
  // as stored, and deflate packs at most 1032 bytes into one.
  write_png_header(dir.file("claims.png"), 4000, 4000, PNG_COLOR_TYPE_GRAY);
  const std::string size = std::to_string(fs::file_size(dir.file("claims.png")));
  refused(dir.file("claims.png"),
          "image is 4000x4000 (height x width), 16004000 bytes as "
          "stored, more than a file of " +
              size + " bytes can hold");
  const uint64_t can_hold = 1032 * fs::file_size(dir.file("claims.png"));
  BOOST_TEST_REQUIRE((can_hold < 80100u && can_hold > 10100u));  // the two below, either side
  write_png_header(dir.file("rgba16.png"), 100, 100, PNG_COLOR_TYPE_RGB_ALPHA, 16);
  refused(dir.file("rgba16.png"), "image is 100x100 (height x width), 80100 bytes as stored");
  write_png_header(dir.file("grey8.png"), 100, 100, PNG_COLOR_TYPE_GRAY);
  refused(dir.file("grey8.png"), "bad PNG: ");  // 10100 bytes could fit: libpng finds the fault

  // The size check runs on the header, before decoding.
  std::vector<int64_t> seen;
  const popup::PngSizeCheck record = [&](const std::string& file, int64_t height, int64_t width) {
    BOOST_TEST(file == dir.file("grey8.png"));
    seen = {height, width};
    throw popup::FormatError(file, "refused by the check");
  };
  expect_error<popup::FormatError>([&] { popup::png_decode(dir.file("grey8.png"), record); },
                                   dir.file("grey8.png"), "refused by the check");
  BOOST_TEST(seen == (std::vector<int64_t>{100, 100}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(png_folders_refuse_early_and_read_only_regular_files,
                     *boost::unit_test::timeout(20)) {
  TempDir dir;
  const std::string d = dir.path.string(), name = "png:" + d;
  make_dirs(d + "/train/cat");
  make_dirs(d + "/test/cat");
  write_grey_png(d + "/train/cat/1.png", 28, 28, 1);
  write_grey_png(d + "/train/cat/4.png", 28, 28, 4);
  write_grey_png(d + "/test/cat/1.png", 28, 28, 2);
  BOOST_CHECK_NO_THROW(load(name));

  // Another size than the first image's is refused from the header: the damage after it unseen.
  write_png_header(d + "/train/cat/2.png", 30, 28, PNG_COLOR_TYPE_GRAY);
  expect_error<popup::FormatError>(
      [&] { load(name); }, d + "/train/cat/2.png",
      "image is 30x28 (height x width), but " + d + "/train/cat/1.png is 28x28");
  fs::remove(d + "/train/cat/2.png");

  BOOST_REQUIRE(mkfifo((d + "/test/cat/2.png").c_str(), 0600) == 0);
  expect_error<popup::IoError>([&] { load(name); }, d + "/test/cat/2.png",
                               "is not a regular file (a FIFO)");
  fs::remove(d + "/test/cat/2.png");
  fs::create_symlink("3.png", d + "/train/cat/3.png");
  expect_error<popup::IoError>([&] { load(name); }, d + "/train/cat/3.png",
                               "a symbolic link loop (too many levels of symbolic links)");
  fs::remove(d + "/train/cat/3.png");
  fs::create_symlink("dog", d + "/train/dog");
  expect_error<popup::IoError>([&] { load(name); }, d + "/train/dog",
                               "a symbolic link loop (too many levels of symbolic links)");
}

// ---- names, options, shapes ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(names_and_options_are_checked) {
  expect_error<popup::InvalidArgument>([] { load("jpegs:/x"); }, "", "unknown data set 'jpegs:/x'");
  expect_error<popup::InvalidArgument>([] { load("imagenet"); }, "",
                                       "needs a folder: imagenet:DIR");
  expect_error<popup::IoError>([] { load("images:/nonexistent"); }, "/nonexistent/train",
                               "cannot list the folder");
  expect_error<popup::InvalidArgument>([] { load("cifar10"); }, "", "needs a folder: cifar10:DIR");
  expect_error<popup::InvalidArgument>([] { load("png:"); }, "", "empty folder name");
  expect_error<popup::InvalidArgument>([] { load_split("idx:/x", 1.0, 0); }, "",
                                       "is not in [0, 1)");
  expect_error<popup::InvalidArgument>([] { load_split("idx:/x", -0.1, 0); }, "",
                                       "is not in [0, 1)");
  expect_error<popup::InvalidArgument>([] { load("idx:/x", -1); }, "", "must not be negative");
}

BOOST_AUTO_TEST_CASE(check_shape_names_both_shapes) {
  TempDir dir;
  write_idx_set(dir.path.string(), numbered(4), numbered(2), false);
  const Dataset d = load("mnist:" + dir.path.string());
  BOOST_CHECK_NO_THROW(popup::dataset_check_shape(d, {1, 1, 2}, 10));
  expect_error<popup::MismatchError>(
      [&] {
        popup::dataset_check_shape(d, {3, 32, 32}, 10);
      },
      d.name, "data is 1x1x2 with 10 classes, the recipe expects 3x32x32 with 10 classes");
  expect_error<popup::MismatchError>(
      [&] {
        popup::dataset_check_shape(d, {1, 1, 2}, 100);
      },
      d.name, "data is 1x1x2 with 10 classes, the recipe expects 1x1x2 with 100 classes");
}

BOOST_AUTO_TEST_CASE(limits_keep_the_first_examples) {
  TempDir dir;
  write_idx_set(dir.path.string(), numbered(10), numbered(6), false);
  const Dataset all = load("idx:" + dir.path.string());
  const Dataset few = load("idx:" + dir.path.string(), 3, 2);
  BOOST_TEST(few.train.n == 3);
  BOOST_TEST(few.test.n == 2);
  BOOST_TEST(few.train.classes == 4);  // from all training labels, before the limit
  BOOST_TEST(few.mean == all.mean);    // statistics of all training images
  const std::vector<float> all_values = all.train.images();
  BOOST_TEST(few.train.images() == std::vector<float>(all_values.begin(), all_values.begin() + 6),
             boost::test_tools::per_element());
  BOOST_TEST(
      few.test.labels == std::vector<int32_t>(all.test.labels.begin(), all.test.labels.begin() + 2),
      boost::test_tools::per_element());
  BOOST_TEST(load("idx:" + dir.path.string(), 100).train.n == 10);
}

// ---- validation hold-out --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(val_split_sizes_disjointness_order_and_seed) {
  TempDir dir;
  const std::string name = "idx:" + dir.path.string();
  write_idx_set(dir.path.string(), numbered(20), numbered(5), false);
  const Dataset all = load(name);
  // Example of each first pixel value (example i's first value is the normalised i).
  std::map<float, int> example;
  const std::vector<float> all_values = all.train.images();
  for (int i = 0; i < 20; ++i) example[all_values[2 * i]] = i;
  auto members = [&](const DataSplit& s) {
    std::vector<int> ids;
    const std::vector<float> values = s.images();
    for (int64_t k = 0; k < s.n; ++k) {
      ids.push_back(example.at(values[2 * k]));
      BOOST_TEST(s.labels[k] == ids.back() % 4);
      BOOST_TEST(values[2 * k + 1] == all_values[2 * ids.back() + 1]);
    }
    return ids;
  };

  const Dataset a = load_split(name, 0.3, 7);
  BOOST_TEST(a.val.n == 6);  // round(0.3 * 20)
  BOOST_TEST(a.train.n == 14);
  BOOST_TEST(a.test.n == 5);
  BOOST_TEST(a.val.classes == 4);
  BOOST_TEST(popup::input_shape_format(a.val.shape) == "1x1x2");
  const std::vector<int> train = members(a.train), val = members(a.val);
  BOOST_TEST(std::is_sorted(train.begin(), train.end()));  // original order
  BOOST_TEST(std::is_sorted(val.begin(), val.end()));
  std::set<int> everything(train.begin(), train.end());
  everything.insert(val.begin(), val.end());
  BOOST_TEST(everything.size() == 20u);  // disjoint, and together all of them

  // Held out: the first 6 of the seeded permutation.
  const std::vector<int64_t> order = reference_permutation(20, 7, popup::kHoldOutTensor);
  std::vector<int> expected(order.begin(), order.begin() + 6);
  std::sort(expected.begin(), expected.end());
  BOOST_TEST(val == expected, boost::test_tools::per_element());

  BOOST_TEST(members(load_split(name, 0.3, 7).val) == val, boost::test_tools::per_element());
  BOOST_TEST(members(load_split(name, 0.3, 8).val) != val);
  BOOST_TEST(load_split(name, 0.26, 7).val.n == 5);   // 5.2 rounds to 5
  BOOST_TEST(load_split(name, 0.275, 7).val.n == 6);  // 5.5 rounds up

  expect_error<popup::InvalidArgument>([&] { load_split(name, 0.02, 7); }, "", "holds out none");
  expect_error<popup::InvalidArgument>([&] { load_split(name, 0.99, 7); }, "",
                                       "leaves none to train on");
}

BOOST_AUTO_TEST_CASE(permutation_is_the_documented_fisher_yates) {
  for (int64_t n : {0, 1, 2, 7, 1000}) {
    const std::vector<int64_t> got = popup::data_permutation(n, 12345, popup::kOrderTensor + 3);
    BOOST_TEST(got == reference_permutation(n, 12345, popup::kOrderTensor + 3),
               boost::test_tools::per_element());
  }
}

// ---- BatchLoader ----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(loader_gives_every_example_once_in_the_seeded_order) {
  const DataSplit split = counting_split(103);
  const auto batches = epoch_batches(split, 10, true, 5, 0);
  BOOST_TEST(BatchLoader(split, 10, true, false, 5, 0).batches() == 11);
  BOOST_REQUIRE_EQUAL(batches.size(), 11u);
  for (size_t b = 0; b < 10; ++b) BOOST_TEST(batches[b].size() == 10u);
  BOOST_TEST(batches[10].size() == 3u);
  std::vector<int32_t> all = flatten(batches);
  const std::vector<int64_t> order = reference_permutation(103, 5, popup::kOrderTensor + 0);
  BOOST_TEST(std::vector<int64_t>(all.begin(), all.end()) == order,
             boost::test_tools::per_element());
  std::sort(all.begin(), all.end());
  for (int32_t i = 0; i < 103; ++i) BOOST_REQUIRE(all[i] == i);

  BOOST_TEST(flatten(epoch_batches(split, 10, true, 5, 0)) == flatten(batches),
             boost::test_tools::per_element());
  BOOST_TEST(flatten(epoch_batches(split, 10, true, 5, 1)) != flatten(batches));
  BOOST_TEST(flatten(epoch_batches(split, 10, true, 6, 0)) != flatten(batches));
  BOOST_TEST(flatten(epoch_batches(split, 17, true, 5, 0)) == flatten(batches),
             boost::test_tools::per_element());

  const std::vector<int32_t> identity = flatten(epoch_batches(split, 10, false, 5, 3));
  for (int32_t i = 0; i < 103; ++i) BOOST_REQUIRE(identity[i] == i);
  BOOST_TEST(epoch_batches(split, 200, true, 5, 0).size() == 1u);
  BOOST_TEST(epoch_batches(counting_split(0), 4, true, 5, 0).empty());
}

BOOST_AUTO_TEST_CASE(loader_resumes_at_first_batch) {
  const DataSplit split = counting_split(57);
  const auto full = epoch_batches(split, 8, true, 9, 4);
  for (int64_t first : {1, 5, 7, 8}) {
    const auto resumed = epoch_batches(split, 8, true, 9, 4, first);
    BOOST_TEST(resumed.size() == full.size() - static_cast<size_t>(first));
    for (size_t b = 0; b < resumed.size(); ++b)
      BOOST_TEST(resumed[b] == full[b + static_cast<size_t>(first)],
                 boost::test_tools::per_element());
  }
  expect_error<popup::InvalidArgument>([&] { BatchLoader(split, 8, true, false, 9, 4, 9); }, "",
                                       "first batch 9");
  expect_error<popup::InvalidArgument>([&] { BatchLoader(split, 0, true, false, 9, 4); }, "",
                                       "batch size 0");
  expect_error<popup::InvalidArgument>([&] { BatchLoader(split, 8, true, false, 9, -1); }, "",
                                       "epoch -1");
}

BOOST_AUTO_TEST_CASE(loader_batch_stays_valid_until_next_and_stops_cleanly) {
  const DataSplit split = counting_split(40);
  {
    BatchLoader loader(split, 4, true, false, 1, 0);
    Batch batch;
    BOOST_REQUIRE(loader.next(batch));
    const std::vector<int32_t> labels(batch.labels, batch.labels + batch.n);
    const std::vector<float> images(batch.images, batch.images + 2 * batch.n);
    std::this_thread::sleep_for(
        std::chrono::milliseconds(20));  // the worker fills the other buffer
    BOOST_TEST(std::vector<int32_t>(batch.labels, batch.labels + batch.n) == labels,
               boost::test_tools::per_element());
    BOOST_TEST(std::vector<float>(batch.images, batch.images + 2 * batch.n) == images,
               boost::test_tools::per_element());
    BOOST_REQUIRE(loader.next(batch));
  }  // destroyed mid-epoch: joins its worker
  { BatchLoader unused(split, 4, true, false, 1, 0); }
  BatchLoader loader(split, 4, true, false, 1, 0, 10);
  Batch batch;
  BOOST_TEST(!loader.next(batch));
  BOOST_TEST(!loader.next(batch));
}

// What a backend holding the split (Executor::data_upload) receives instead of images: the
// example at each position and its crop and flip. Applied to the split, they give exactly the
// loader's own images; without images the loader hands out the same examples, draws, labels.
BOOST_AUTO_TEST_CASE(loader_examples_and_draws_rebuild_its_images) {
  DataSplit split;
  split.shape = {2, 5, 6};
  split.classes = 7;
  split.n = 23;
  split.levels = identity_levels({-1.5f, 2.5f});
  const int64_t size = 2 * 5 * 6;
  for (int64_t i = 0; i < split.n * size; ++i)
    split.pixels.push_back(static_cast<uint8_t>(i % 101));
  for (int64_t i = 0; i < split.n; ++i) split.labels.push_back(static_cast<int32_t>(i % 7));
  const std::vector<float> values = split.images(), padding = split.padding();
  for (const bool augment : {false, true}) {
    BOOST_TEST_CONTEXT("augment " << augment) {
      BatchLoader with(split, 5, true, augment, 3, 2, 1),
          without(split, 5, true, augment, 3, 2, 1, false);
      Batch a, b;
      int64_t batches = 0;
      while (with.next(a)) {
        BOOST_REQUIRE(without.next(b));
        ++batches;
        BOOST_REQUIRE(a.n == b.n);
        BOOST_TEST(b.images == nullptr);
        BOOST_TEST((a.draws != nullptr) == augment);
        std::vector<float> rebuilt(static_cast<size_t>(size));
        for (int64_t k = 0; k < a.n; ++k) {
          BOOST_REQUIRE(a.examples[k] == b.examples[k]);
          BOOST_REQUIRE(a.labels[k] == split.labels[static_cast<size_t>(a.examples[k])]);
          BOOST_REQUIRE(b.labels[k] == a.labels[k]);
          const float* in = values.data() + a.examples[k] * size;
          if (augment) {
            BOOST_REQUIRE(a.draws[k].dy == b.draws[k].dy && a.draws[k].dx == b.draws[k].dx &&
                          a.draws[k].flip == b.draws[k].flip);
            popup::augment_image(in, rebuilt.data(), split.shape, padding.data(), a.draws[k]);
          } else {
            std::copy(in, in + size, rebuilt.begin());
          }
          BOOST_REQUIRE(std::equal(rebuilt.begin(), rebuilt.end(), a.images + k * size));
        }
      }
      BOOST_TEST(!without.next(b));
      BOOST_TEST(batches == 4);  // 5 batches of up to 5, the first skipped
    }
  }
}

BOOST_AUTO_TEST_CASE(augmentation_crop_and_flip_by_hand) {
  // A 1x3x3 image 1..9, padding value -5.
  const std::vector<float> image{1, 2, 3, 4, 5, 6, 7, 8, 9};
  const popup::InputShape shape{1, 3, 3};
  const float padding = -5;
  auto run = [&](int64_t dy, int64_t dx, bool flip) {
    std::vector<float> out(9);
    popup::augment_image(image.data(), out.data(), shape, &padding, {dy, dx, flip});
    return out;
  };
  BOOST_TEST(run(4, 4, false) == image, boost::test_tools::per_element());  // centre crop
  BOOST_TEST(run(4, 4, true) == (std::vector<float>{3, 2, 1, 6, 5, 4, 9, 8, 7}),
             boost::test_tools::per_element());
  // Window moved up 1 and right 1: out(y, x) = in(y - 1, x + 1).
  BOOST_TEST(run(3, 5, false) == (std::vector<float>{-5, -5, -5, 2, 3, -5, 5, 6, -5}),
             boost::test_tools::per_element());
  // The same window, then mirrored.
  BOOST_TEST(run(3, 5, true) == (std::vector<float>{-5, -5, -5, -5, 3, 2, -5, 6, 5}),
             boost::test_tools::per_element());
  BOOST_TEST(run(0, 0, false) == std::vector<float>(9, -5), boost::test_tools::per_element());
  BOOST_TEST(run(6, 2, false) == (std::vector<float>{-5, -5, 7, -5, -5, -5, -5, -5, -5}),
             boost::test_tools::per_element());

  // Draws: dy, dx = (x * 9) >> 32 of words 0 and 1, flip = top bit of word 2.
  const popup::PhiloxCounter block =
      popup::philox_element(77, popup::RandomStream::data, popup::kAugmentTensor + 2, 5);
  const popup::AugmentDraw draw = popup::augment_draw(77, 2, 5, 4);
  BOOST_TEST(draw.dy == static_cast<int64_t>((uint64_t{block[0]} * 9) >> 32));
  BOOST_TEST(draw.dx == static_cast<int64_t>((uint64_t{block[1]} * 9) >> 32));
  BOOST_TEST(draw.flip == ((block[2] >> 31) != 0));
  std::vector<int> seen_dy(9), seen_dx(9);
  int flips = 0;
  for (int64_t position = 0; position < 9000; ++position) {
    const popup::AugmentDraw d = popup::augment_draw(3, 0, position, 4);
    BOOST_REQUIRE(d.dy >= 0 && d.dy <= 8 && d.dx >= 0 && d.dx <= 8);
    ++seen_dy[d.dy];
    ++seen_dx[d.dx];
    flips += d.flip;
  }
  // Each offset ~1000 times (binomial sd ~30), flips ~4500 (sd ~47): 6 sd margins.
  for (int k = 0; k < 9; ++k) BOOST_TEST(std::abs(seen_dy[k] - 1000) < 180);
  for (int k = 0; k < 9; ++k) BOOST_TEST(std::abs(seen_dx[k] - 1000) < 180);
  BOOST_TEST(std::abs(flips - 4500) < 290);
}

BOOST_AUTO_TEST_CASE(loader_augments_each_position_from_its_draw) {
  // 12 examples of 2x5x6 (values distinct within each), padding per channel -1 and -2.
  DataSplit split;
  split.shape = {2, 5, 6};
  split.n = 12;
  split.classes = 12;
  split.levels = identity_levels({-1, -2});
  for (int i = 0; i < 12 * 60; ++i) split.pixels.push_back(static_cast<uint8_t>(i % 256));
  const std::vector<float> values = split.images(), padding = split.padding();
  for (int i = 0; i < 12; ++i) split.labels.push_back(i);
  const int64_t epoch = 3, seed = 21;
  BatchLoader loader(split, 5, true, true, seed, epoch);
  Batch batch;
  int64_t position = 0;
  int flipped = 0;
  while (loader.next(batch)) {
    for (int64_t k = 0; k < batch.n; ++k, ++position) {
      const int32_t example = batch.labels[k];
      const popup::AugmentDraw draw = popup::augment_draw(seed, epoch, position, 4);
      flipped += draw.flip;
      for (int c = 0; c < 2; ++c) {
        const auto first = values.begin() + example * 60 + c * 30;
        const std::vector<float> expected =
            reference_augment(std::vector<float>(first, first + 30), 5, 6, padding[c], draw);
        BOOST_TEST(std::vector<float>(batch.images + k * 60 + c * 30,
                                      batch.images + k * 60 + c * 30 + 30) == expected,
                   boost::test_tools::per_element());
      }
    }
  }
  BOOST_TEST(position == 12);
  BOOST_TEST(flipped > 0);
  BOOST_TEST(flipped < 12);
}

// ---- the installed Fashion-MNIST ------------------------------------------------------------

BOOST_AUTO_TEST_CASE(fashion_mnist_installed_loads,
                     *boost::unit_test::precondition(fashion_mnist_installed)) {
  const auto start = std::chrono::steady_clock::now();
  const Dataset d = load("fashion-mnist");
  BOOST_TEST_MESSAGE(
      "Fashion-MNIST loaded in "
      << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s");
  BOOST_TEST(d.train.n == 60000);
  BOOST_TEST(d.test.n == 10000);
  BOOST_TEST(popup::input_shape_format(d.train.shape) == "1x28x28");
  BOOST_TEST(d.train.classes == 10);
  BOOST_TEST(d.train.pixels.size() == 60000u * 784u);
  // The samples and labels are the files' bytes after their headers (read here by zlib alone).
  auto gunzip = [](const std::string& path) {
    gzFile file = gzopen(path.c_str(), "rb");
    Bytes bytes(1 << 26);
    const int got = gzread(file, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(file);
    bytes.resize(static_cast<size_t>(std::max(got, 0)));
    return bytes;
  };
  const std::string dir = kFashionMnist;
  const Bytes images = gunzip(dir + "/train-images-idx3-ubyte.gz"),
              labels = gunzip(dir + "/t10k-labels-idx1-ubyte.gz");
  BOOST_TEST((Bytes(images.begin() + 16, images.end()) == d.train.pixels));
  BOOST_TEST(labels_of(Bytes(labels.begin() + 8, labels.end())) == d.test.labels,
             boost::test_tools::per_element());
  double sum = 0;
  for (float v : d.train.images()) sum += v;
  BOOST_TEST(std::fabs(sum / static_cast<double>(d.train.pixels.size())) < 0.01);
  std::vector<int> per_class(10);
  for (int32_t label : d.train.labels) ++per_class.at(label);
  for (int count : per_class) BOOST_TEST(count == 6000);
}

BOOST_AUTO_TEST_SUITE_END()
