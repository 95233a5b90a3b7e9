// dataset_load: the data set names, their normalisation constants, limits and the validation
// hold-out; dataset_check_shape.
#include "data/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <thread>
#include <utility>

#include "net/arch.hpp"
#include "data/cifar.hpp"
#include "data/data_random.hpp"
#include "data/dataset_info.hpp"
#include "data/idx.hpp"
#include "data/image_folders.hpp"
#include "data/normalise.hpp"
#include "data/png_folders.hpp"
#include "error.hpp"
#include "format/number_text.hpp"

namespace popup {

namespace {

constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

struct Source {
  RawDataset raw;
  ChannelStats stats;
  bool augment = false;
};

// The files and fixed statistics of `family` in `dir` ("" when the name gave none).
Source source_read(const std::string& family, const std::string& dir, const std::string& name) {
  auto require_dir = [&] {
    if (dir.empty())
      throw InvalidArgument("", "data set '" + name + "' needs a folder: " + family + ":DIR");
  };
  Source source;
  if (family == "fashion-mnist") {
    const std::string hint = dir.empty() ? " (install the Debian package dataset-fashion-mnist, "
                                           "or give fashion-mnist:DIR)"
                                         : "";
    source.raw = idx_read(dir.empty() ? kFashionMnistDir : dir, 10, hint);
  } else if (family == "mnist") {
    require_dir();
    source.raw = idx_read(dir, 10, "");
  } else if (family == "idx") {
    require_dir();
    source.raw = idx_read(dir, 0, "");
    source.stats = channel_stats(source.raw.train);
  } else if (family == "cifar10") {
    require_dir();
    source.raw = cifar_read(dir, false);
    source.augment = true;
  } else if (family == "cifar100") {
    require_dir();
    source.raw = cifar_read(dir, true);
    source.augment = true;
  } else if (family == "png") {
    require_dir();
    source.raw = png_folders_read(dir);
    source.stats = channel_stats(source.raw.train);
  } else {
    throw InvalidArgument("", "unknown data set '" + name +
                                  "' (known: fashion-mnist[:DIR], mnist:DIR, idx:DIR, cifar10:DIR, "
                                  "cifar100:DIR, png:DIR, images:DIR, imagenet:DIR)");
  }
  if (source.stats.mean.empty())
    dataset_fixed_normalisation(family, source.stats.mean, source.stats.stddev);
  return source;
}

// A streamed split over `files` (the data set's stream and transform shared).
DataSplit streamed_split(ImageIndex files, const DataSplit& like) {
  DataSplit split;
  split.shape = like.shape;
  split.classes = like.classes;
  split.transform = like.transform;
  split.stream = like.stream;
  split.n = files.size();
  split.labels = files.labels;
  split.files = std::make_shared<const ImageIndex>(std::move(files));
  return split;
}

// images:DIR and imagenet:DIR: the file lists of train/ and val/ (or test/), limited and
// split as the in-memory sets are, streamed.
Dataset images_load(const std::string& family, const std::string& dir, const std::string& name,
                    const DatasetOptions& options) {
  ImageFolders folders = image_folders_read(dir);
  folders.train.limit(options.train_limit);
  folders.test.limit(options.test_limit);
  Dataset data;
  data.name = name;
  data.augment = true;
  data.classes = folders.train.classes;
  DataSplit like;
  like.shape = {3, options.image_size, options.image_size};
  like.classes = static_cast<int64_t>(data.classes.size());
  like.transform.size = options.image_size;
  like.transform.resize = std::llround(static_cast<double>(options.image_size) * 256.0 / 224.0);
  data.mean.assign(like.transform.mean, like.transform.mean + 3);
  data.stddev.assign(like.transform.stddev, like.transform.stddev + 3);
  like.stream = std::make_shared<ImageStream>();
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  like.stream->workers = options.workers > 0 ? options.workers : std::min(cores, 8);
  like.stream->max_bad_images = options.max_bad_images;
  like.stream->warn = options.warn;
  for (const ImageIndex* index : {&folders.train, &folders.test})
    if (index->other_files > 0)
      data.notes.push_back(index->folder + ": " + std::to_string(index->other_files) +
                           " files without a .jpg, .jpeg or .png name skipped");
  if (family == "imagenet" && data.classes.size() != 1000)
    data.notes.push_back(dir + "/train: " + std::to_string(data.classes.size()) +
                         " classes, not ImageNet's 1000");

  const int64_t n = folders.train.size();
  const int64_t held_out = std::llround(options.val_split * static_cast<double>(n));
  if (options.val_split > 0 && (held_out == 0 || held_out >= n))
    throw InvalidArgument("", "validation split " + double_format(options.val_split) + " of " +
                                  std::to_string(n) + " training examples " +
                                  (held_out == 0 ? "holds out none" : "leaves none to train on"));
  data.test = streamed_split(std::move(folders.test), like);
  if (held_out == 0) {
    data.val = streamed_split(ImageIndex(), like);
    data.val.files = nullptr;
    data.train = streamed_split(std::move(folders.train), like);
    return data;
  }
  const std::vector<int64_t> order = data_permutation(n, options.seed, kHoldOutTensor);
  std::vector<bool> is_val(static_cast<size_t>(n), false);
  for (int64_t i = 0; i < held_out; ++i) is_val[static_cast<size_t>(order[i])] = true;
  data.val = streamed_split(folders.train.select(is_val, true), like);
  data.train = streamed_split(folders.train.select(is_val, false), like);
  return data;
}

void options_check(const DatasetOptions& options) {
  if (!(options.val_split >= 0 && options.val_split < 1))
    throw InvalidArgument(
        "", "validation split " + double_format(options.val_split) + " is not in [0, 1)");
  if (options.train_limit < 0 || options.test_limit < 0)
    throw InvalidArgument("", "example limits must not be negative");
  if (options.image_size < kMinImageSize || options.image_size > kMaxImageSize)
    throw InvalidArgument("", "image size " + std::to_string(options.image_size) + " is not in " +
                                  std::to_string(kMinImageSize) + ".." +
                                  std::to_string(kMaxImageSize));
  if (options.workers < 0 || options.max_bad_images < 0)
    throw InvalidArgument("", "workers and the bad image limit must not be negative");
}

}  // namespace

Dataset dataset_load(const std::string& name, const DatasetOptions& options) {
  options_check(options);
  const size_t colon = name.find(':');
  const std::string family = name.substr(0, colon);
  const std::string dir = colon == std::string::npos ? "" : name.substr(colon + 1);
  if (colon != std::string::npos && dir.empty())
    throw InvalidArgument("", "data set '" + name + "': empty folder name after ':'");
  if (family == "images" || family == "imagenet") {
    if (dir.empty())
      throw InvalidArgument("", "data set '" + name + "' needs a folder: " + family + ":DIR");
    return images_load(family, dir, name, options);
  }

  Source source = source_read(family, dir, name);
  RawDataset& raw = source.raw;
  raw_split_limit(raw.train, options.train_limit);
  raw_split_limit(raw.test, options.test_limit);

  Dataset data;
  data.name = name;
  data.augment = source.augment;
  data.classes = raw.class_names;
  data.mean.assign(source.stats.mean.begin(), source.stats.mean.end());
  data.stddev.assign(source.stats.stddev.begin(), source.stats.stddev.end());
  data.test = normalise(std::move(raw.test), raw.classes, source.stats);

  const int64_t held_out = std::llround(options.val_split * static_cast<double>(raw.train.n));
  if (options.val_split > 0 && held_out == 0)
    throw InvalidArgument("", "validation split " + double_format(options.val_split) + " of " +
                                  std::to_string(raw.train.n) +
                                  " training examples holds out none");
  if (held_out >= raw.train.n)
    throw InvalidArgument("", "validation split " + double_format(options.val_split) + " of " +
                                  std::to_string(raw.train.n) +
                                  " training examples leaves none to train on");
  if (held_out == 0) {
    data.val =
        normalise(RawSplit{raw.train.shape, 0, {}, {}, raw.train.file}, raw.classes, source.stats);
    data.train = normalise(std::move(raw.train), raw.classes, source.stats);
    return data;
  }
  const std::vector<int64_t> order = data_permutation(raw.train.n, options.seed, kHoldOutTensor);
  std::vector<bool> is_val(static_cast<size_t>(raw.train.n), false);
  for (int64_t i = 0; i < held_out; ++i) is_val[order[i]] = true;
  data.val = normalise(raw_split_select(raw.train, is_val, true), raw.classes, source.stats);
  data.train = normalise(raw_split_select(raw.train, is_val, false), raw.classes, source.stats);
  return data;
}

void dataset_check_shape(const Dataset& data, const InputShape& input, int64_t classes) {
  const DataSplit& split = data.train;
  if (split.shape == input && split.classes == classes) return;
  throw MismatchError(data.name, "data is " + input_shape_format(split.shape) + " with " +
                                     std::to_string(split.classes) +
                                     " classes, the recipe expects " + input_shape_format(input) +
                                     " with " + std::to_string(classes) + " classes");
}

}  // namespace popup
