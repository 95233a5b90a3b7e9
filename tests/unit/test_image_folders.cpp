// Unit tests for lib/data/image_folders.hpp and the streamed BatchLoader (image_loader.hpp):
// the index's order (ImageFolder's), hidden names, extensions, nested folders and link
// loops, class mismatches; batches in order, identical for any worker count and when
// resumed, unreadable images left out, warned once and limited.
#include <png.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "data/image_folders.hpp"
#include "error.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;

namespace {

void touch(const fs::path& path, const std::string& text = "x") {
  fs::create_directories(path.parent_path());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  BOOST_REQUIRE(f != nullptr);
  std::fputs(text.c_str(), f);
  std::fclose(f);
}

// A grey 8-bit PNG of one value.
void grey_png(const fs::path& path, int size, uint8_t value) {
  fs::create_directories(path.parent_path());
  std::FILE* file = std::fopen(path.c_str(), "wb");
  BOOST_REQUIRE(file != nullptr);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, file);
  png_set_IHDR(png, info, static_cast<png_uint_32>(size), static_cast<png_uint_32>(size), 8,
               PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  std::vector<uint8_t> row(static_cast<size_t>(size), value);
  for (int y = 0; y < size; ++y) png_write_row(png, row.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(file);
}

std::vector<std::string> names(const popup::ImageIndex& index) {
  std::vector<std::string> out;
  for (int64_t i = 0; i < index.size(); ++i)
    out.push_back(index.classes[static_cast<size_t>(index.labels[static_cast<size_t>(i)])] + "/" +
                  index.name(i));
  return out;
}

// 3 classes of grey PNGs, example value 10 * (file number + 1), in train/ and val/; with
// `bad`, a file of garbage named c1/bad.png.
void grey_set(const fs::path& root, bool bad) {
  int number = 0;
  for (const char* split : {"train", "val"})
    for (int c = 0; c < 3; ++c)
      for (int k = 0; k < 4; ++k, ++number)
        grey_png(root / split / ("c" + std::to_string(c)) / ("f" + std::to_string(k) + ".png"),
                 20 + 3 * k, static_cast<uint8_t>(10 * (number % 12 + 1)));
  if (bad) touch(root / "train" / "c1" / "bad.png", "not a PNG at all");
}

struct Epoch {
  std::vector<int64_t> counts;
  std::vector<float> images;
  std::vector<int32_t> labels;
  std::vector<int64_t> examples;
};

Epoch epoch_of(const popup::DataSplit& split, int64_t batch_size, bool augment,
               int64_t first_batch = 0) {
  Epoch e;
  popup::BatchLoader loader(split, batch_size, /*shuffle=*/true, augment, 7, 1, first_batch);
  popup::Batch b;
  while (loader.next(b)) {
    e.counts.push_back(b.n);
    e.images.insert(e.images.end(), b.images, b.images + b.n * split.example_size());
    e.labels.insert(e.labels.end(), b.labels, b.labels + b.n);
    e.examples.insert(e.examples.end(), b.examples, b.examples + b.n);
  }
  return e;
}

popup::Dataset load(const std::string& dir, int workers, int64_t max_bad,
                    std::vector<std::string>* warnings = nullptr) {
  popup::DatasetOptions o;
  o.workers = workers;
  o.max_bad_images = max_bad;
  o.image_size = 16;
  if (warnings) o.warn = [warnings](const std::string& m) { warnings->push_back(m); };
  return popup::dataset_load("images:" + dir, o);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(image_folders)

BOOST_AUTO_TEST_CASE(classes_and_files_in_imagefolder_order) {
  TempDir dir;
  const fs::path train = dir.path / "train";
  // classes in byte order (upper case first, '-' before letters); hidden ones skipped
  for (const char* c : {"b", "a", "B", "a-b", ".hidden"}) touch(train / c / "x.jpg");
  // files of class a: folders by path ("sub" < "sub-x" < "sub/deeper"), names within
  for (const char* f : {"z.jpg", "A.JPG", "sub/x.png", "sub-x/y.jpeg", "sub/deeper/w.jpg", "N.JpEg",
                        ".x.jpg", "notes.txt", "pic.gif", "sub/.hid/q.jpg"})
    touch(train / "a" / f);
  const popup::ImageIndex index = popup::image_folder_list(train.string(), true);
  BOOST_TEST(index.classes == (std::vector<std::string>{"B", "a", "a-b", "b"}),
             boost::test_tools::per_element());
  BOOST_TEST(
      names(index) == (std::vector<std::string>{"B/x.jpg", "a/A.JPG", "a/N.JpEg", "a/x.jpg",
                                                "a/z.jpg", "a/sub/x.png", "a/sub-x/y.jpeg",
                                                "a/sub/deeper/w.jpg", "a-b/x.jpg", "b/x.jpg"}),
      boost::test_tools::per_element());
  BOOST_TEST(index.other_files == 2);  // notes.txt, pic.gif
  BOOST_TEST(index.path(0) == train.string() + "/B/x.jpg");
  BOOST_TEST(index.labels[3] == 1);
}

BOOST_AUTO_TEST_CASE(links_are_followed_and_loops_end) {
  TempDir dir;
  const fs::path train = dir.path / "train";
  touch(train / "a" / "1.jpg");
  touch(dir.path / "elsewhere" / "2.png");
  fs::create_directory_symlink(dir.path / "elsewhere", train / "a" / "linked");
  fs::create_directory_symlink(train / "a", train / "a" / "loop");    // a folder on the path
  fs::create_directory_symlink(dir.path / "elsewhere", train / "b");  // a class folder link
  const popup::ImageIndex index = popup::image_folder_list(train.string(), true);
  BOOST_TEST(names(index) == (std::vector<std::string>{"a/1.jpg", "a/linked/2.png", "b/2.png"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(storage_is_compact) {
  popup::ImageIndex index;
  for (int i = 0; i < 100000; ++i) index.add("n01440764_" + std::to_string(i) + ".JPEG", i % 7);
  index.shrink();
  // names (about 22 bytes), an 8-byte end and a 4-byte label each
  BOOST_TEST(index.bytes() < 100000u * 36);
  BOOST_TEST(index.name(12345) == "n01440764_12345.JPEG");
  std::vector<bool> keep(100000, false);
  keep[5] = keep[99999] = true;
  const popup::ImageIndex two = index.select(keep, true);
  BOOST_TEST(two.size() == 2);
  BOOST_TEST(two.name(1) == "n01440764_99999.JPEG");
  BOOST_TEST(two.labels[1] == 99999 % 7);
}

BOOST_AUTO_TEST_CASE(refusals) {
  TempDir dir;
  touch(dir.path / "train" / "a" / "1.jpg");
  touch(dir.path / "train" / "b" / "1.jpg");
  touch(dir.path / "val" / "a" / "1.jpg");
  touch(dir.path / "val" / "c" / "1.jpg");
  const std::string val = (dir.path / "val").string();
  try {
    popup::image_folders_read(dir.path.string());
    BOOST_ERROR("no error for differing classes");
  } catch (const popup::MismatchError& e) {
    BOOST_TEST(e.file() == val);
    BOOST_TEST(e.message().find("has class folder 'c'") != std::string::npos, e.message());
  }
  fs::remove_all(dir.path / "val");
  touch(dir.path / "test" / "a" / "1.jpg");
  touch(dir.path / "test" / "b" / "1.jpg");
  BOOST_TEST(popup::image_folders_read(dir.path.string()).test.folder ==
             (dir.path / "test").string());
  touch(dir.path / "train" / "empty" / "readme.txt");
  BOOST_CHECK_THROW(popup::image_folder_list((dir.path / "train").string(), true),
                    popup::FormatError);
  BOOST_CHECK_THROW(popup::image_folder_list((dir.path / "nothing").string(), true),
                    popup::IoError);
}

BOOST_AUTO_TEST_CASE(streamed_batches_in_order) {
  TempDir dir;
  grey_set(dir.path, false);
  const popup::Dataset d = load(dir.path.string(), 2, 0);
  BOOST_TEST(d.train.streamed());
  BOOST_TEST(d.train.n == 12);
  BOOST_TEST(d.classes == (std::vector<std::string>{"c0", "c1", "c2"}),
             boost::test_tools::per_element());
  BOOST_CHECK_THROW(d.train.images(), popup::InvalidArgument);
  // evaluation transform of a constant image: the constant, normalised, in every pixel
  const Epoch e = epoch_of(d.test, 5, false);
  BOOST_TEST(e.counts == (std::vector<int64_t>{5, 5, 2}), boost::test_tools::per_element());
  const int64_t size = d.test.example_size();
  for (size_t i = 0; i < e.examples.size(); ++i) {
    const int64_t example = e.examples[i];
    BOOST_TEST(e.labels[i] == example / 4);
    const double value = 10.0 * static_cast<double>((12 + example) % 12 + 1) / 255.0;
    for (int c = 0; c < 3; ++c) {
      const double expected = (value - d.mean[c]) / d.stddev[c];
      const float got = e.images[i * static_cast<size_t>(size) + c * 256 + 100];
      BOOST_TEST(std::fabs(got - expected) < 1e-5, "example " << example << " channel " << c);
    }
  }
}

BOOST_AUTO_TEST_CASE(any_worker_count_and_resumption_give_the_same_batches) {
  TempDir dir;
  grey_set(dir.path, false);
  const Epoch one = epoch_of(load(dir.path.string(), 1, 0).train, 5, true);
  for (int workers : {2, 5}) {
    const Epoch many = epoch_of(load(dir.path.string(), workers, 0).train, 5, true);
    BOOST_TEST(many.examples == one.examples, boost::test_tools::per_element());
    BOOST_TEST(many.images == one.images, "workers " << workers);
  }
  const popup::Dataset d = load(dir.path.string(), 3, 0);
  const Epoch tail = epoch_of(d.train, 5, true, 1);
  BOOST_TEST(tail.images ==
             std::vector<float>(one.images.begin() + 5 * d.train.example_size(), one.images.end()));
}

BOOST_AUTO_TEST_CASE(unreadable_images_are_left_out_and_limited) {
  TempDir dir;
  grey_set(dir.path, true);
  std::vector<std::string> warnings;
  const popup::Dataset d = load(dir.path.string(), 2, 1, &warnings);
  BOOST_TEST(d.train.n == 13);
  for (int epoch = 0; epoch < 2; ++epoch) {
    const Epoch e = epoch_of(d.train, 13, true);
    BOOST_TEST(e.counts == (std::vector<int64_t>{12}), boost::test_tools::per_element());
  }
  BOOST_REQUIRE(warnings.size() == 1u);  // once, however often it is met
  BOOST_TEST(warnings[0].find("c1/bad.png") != std::string::npos, warnings[0]);
  const popup::Dataset strict = load(dir.path.string(), 2, 0);
  try {
    epoch_of(strict.train, 4, false);
    BOOST_ERROR("no error beyond --max-bad-images");
  } catch (const popup::FormatError& e) {
    BOOST_TEST(std::string(e.what()).find("bad.png") != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_SUITE_END()
