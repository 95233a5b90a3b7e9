// Listing class folders of PNG files, decoding them in parallel and assembling CHW splits.
#include "data/png_folders.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <exception>
#include <filesystem>

#include "data/file_open.hpp"
#include "data/file_read.hpp"
#include "data/png_decode.hpp"
#include "error.hpp"

namespace popup {

namespace fs = std::filesystem;

namespace {

struct Listing {
  std::vector<std::string> classes;  // folder names, sorted
  std::vector<std::string> files;    // paths, by class then name
  std::vector<int32_t> labels;       // class number of each file
};

bool is_png_name(const std::string& name) {
  if (name.size() < 4) return false;
  std::string extension = name.substr(name.size() - 4);
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension == ".png";
}

// Names of the entries of `dir` that are directories (`folders`) or PNG files, sorted. An entry
// whose kind cannot be told (a link loop, a dangling link) is no folder: a PNG name is kept, to
// be reported when opened; a class folder that is one is reported here.
std::vector<std::string> entries(const std::string& dir, bool folders) {
  std::vector<std::string> names;
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name[0] == '.') continue;
    std::error_code kind_error;
    const bool folder = it->is_directory(kind_error);
    if (folders && kind_error && kind_error.value() != ENOENT)
      data_path_fail(it->path().string(), kind_error.value());
    if (folders ? folder : (!folder && is_png_name(name))) names.push_back(name);
  }
  if (error) throw IoError(dir, error.message());
  std::sort(names.begin(), names.end());
  return names;
}

Listing list(const std::string& split_dir) {
  Listing listing;
  listing.classes = entries(split_dir, true);
  if (listing.classes.empty()) throw FormatError(split_dir, "no class folders");
  for (size_t label = 0; label < listing.classes.size(); ++label) {
    const std::string class_dir = split_dir + "/" + listing.classes[label];
    for (const std::string& name : entries(class_dir, false)) {
      listing.files.push_back(class_dir + "/" + name);
      listing.labels.push_back(static_cast<int32_t>(label));
    }
  }
  if (listing.files.empty()) throw FormatError(split_dir, "no PNG images (empty data set)");
  return listing;
}

// Decodes every file, in parallel, each checked by `size_check` from its header; the first
// failing file (in listing order) is reported.
std::vector<PngImage> decode_all(const std::vector<std::string>& files,
                                 const PngSizeCheck& size_check) {
  std::vector<PngImage> images(files.size());
  std::vector<std::exception_ptr> errors(files.size());
  const int64_t n = static_cast<int64_t>(files.size());
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t i = 0; i < n; ++i) {
    try {
      images[i] = png_decode(files[i], size_check);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  }
  for (const std::exception_ptr& error : errors)
    if (error) std::rethrow_exception(error);
  return images;
}

std::string size_text(int64_t height, int64_t width) {
  return std::to_string(height) + "x" + std::to_string(width);
}

// The images as one [n, channels, H, W] split; grey images repeated when channels is 3.
RawSplit assemble(const std::vector<PngImage>& images, const Listing& listing, int64_t channels,
                  const std::string& split_dir) {
  RawSplit split;
  split.n = static_cast<int64_t>(images.size());
  split.shape = {channels, images[0].height, images[0].width};
  split.file = split_dir;
  split.labels = listing.labels;
  const int64_t plane = split.shape.h * split.shape.w;
  const uint64_t bytes = static_cast<uint64_t>(split.n * channels * plane);
  data_allocate(split_dir, bytes, [&] { split.pixels.resize(static_cast<size_t>(bytes)); });
#pragma omp parallel for
  for (int64_t i = 0; i < split.n; ++i) {
    const PngImage& image = images[i];
    uint8_t* out = split.pixels.data() + i * channels * plane;
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t from = image.channels == 1 ? 0 : c;
      for (int64_t p = 0; p < plane; ++p)
        out[c * plane + p] = image.pixels[p * image.channels + from];
    }
  }
  return split;
}

bool is_folder(const std::string& path) {
  std::error_code error;
  return fs::is_directory(path, error);
}

bool any_colour(const std::vector<PngImage>& images) {
  return std::any_of(images.begin(), images.end(),
                     [](const PngImage& i) { return i.channels == 3; });
}

}  // namespace

RawDataset png_folders_read(const std::string& dir) {
  const std::string train_dir = dir + "/train";
  if (!is_folder(train_dir)) throw IoError(train_dir, "no such folder");
  std::string test_dir = dir + "/test";
  if (!is_folder(test_dir)) {
    if (!is_folder(dir + "/val")) throw IoError(test_dir, "no such folder (nor val/)");
    test_dir = dir + "/val";
  }
  const Listing train = list(train_dir), test = list(test_dir);
  if (test.classes != train.classes) {
    for (const std::string& name : train.classes)
      if (!std::binary_search(test.classes.begin(), test.classes.end(), name))
        throw MismatchError(test_dir,
                            "has no class folder '" + name + "', which " + train_dir + " has");
    for (const std::string& name : test.classes)
      if (!std::binary_search(train.classes.begin(), train.classes.end(), name))
        throw MismatchError(test_dir,
                            "has a class folder '" + name + "', which " + train_dir + " lacks");
  }

  // The first training image sets the size; every other image of another size is refused from
  // its header, before it is decoded.
  const std::string& first_file = train.files[0];
  int64_t first_height = 0, first_width = 0;
  png_decode(first_file, [&](const std::string&, int64_t height, int64_t width) {
    first_height = height;
    first_width = width;
  });
  const PngSizeCheck same_size = [&](const std::string& path, int64_t height, int64_t width) {
    if (height != first_height || width != first_width)
      throw FormatError(path, "image is " + size_text(height, width) + " (height x width), but " +
                                  first_file + " is " + size_text(first_height, first_width));
  };
  const std::vector<PngImage> train_images = decode_all(train.files, same_size);
  const std::vector<PngImage> test_images = decode_all(test.files, same_size);
  const int64_t channels = any_colour(train_images) || any_colour(test_images) ? 3 : 1;

  RawDataset data;
  data.classes = static_cast<int64_t>(train.classes.size());
  data.class_names = train.classes;
  data.train = assemble(train_images, train, channels, train_dir);
  data.test = assemble(test_images, test, channels, test_dir);
  return data;
}

}  // namespace popup
