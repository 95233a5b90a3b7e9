// Listing class folders of PNG files, decoding them in parallel and assembling CHW splits.
#include "data/png_folders.hpp"

#include <algorithm>
#include <cctype>
#include <exception>
#include <filesystem>

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

// Names of the entries of `dir` that are directories (`folders`) or PNG files, sorted.
std::vector<std::string> entries(const std::string& dir, bool folders) {
  std::vector<std::string> names;
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name[0] == '.') continue;
    const bool folder = it->is_directory(error);
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

// Decodes every file, in parallel; the first failing file (in listing order) is reported.
std::vector<PngImage> decode_all(const std::vector<std::string>& files) {
  std::vector<PngImage> images(files.size());
  std::vector<std::exception_ptr> errors(files.size());
  const int64_t n = static_cast<int64_t>(files.size());
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t i = 0; i < n; ++i) {
    try {
      images[i] = png_decode(files[i]);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  }
  for (const std::exception_ptr& error : errors)
    if (error) std::rethrow_exception(error);
  return images;
}

std::string size_text(const PngImage& image) {
  return std::to_string(image.height) + "x" + std::to_string(image.width);
}

void size_check(const std::vector<PngImage>& images, const std::vector<std::string>& files,
                const PngImage& first, const std::string& first_file) {
  for (size_t i = 0; i < images.size(); ++i) {
    if (images[i].height != first.height || images[i].width != first.width)
      throw FormatError(files[i], "image is " + size_text(images[i]) + " (height x width), but " +
                                      first_file + " is " + size_text(first));
  }
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
  split.pixels.resize(static_cast<size_t>(split.n * channels * plane));
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

  const std::vector<PngImage> train_images = decode_all(train.files);
  const std::vector<PngImage> test_images = decode_all(test.files);
  size_check(train_images, train.files, train_images[0], train.files[0]);
  size_check(test_images, test.files, train_images[0], train.files[0]);
  const int64_t channels = any_colour(train_images) || any_colour(test_images) ? 3 : 1;

  RawDataset data;
  data.classes = static_cast<int64_t>(train.classes.size());
  data.train = assemble(train_images, train, channels, train_dir);
  data.test = assemble(test_images, test, channels, test_dir);
  return data;
}

}  // namespace popup
