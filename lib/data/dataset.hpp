// Data sets (DESIGN.md §6): loading, normalisation, splits, and batches prepared on a
// separate thread in a seeded order with optional CIFAR augmentation; image folders
// (images:DIR, imagenet:DIR) are streamed: decoded by worker threads as batches are asked.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "data/image_folders.hpp"
#include "data/image_prepare.hpp"
#include "net/arch.hpp"

namespace popup {

// How a streamed data set's images are read, shared by its splits: the worker threads of each
// BatchLoader, and the unreadable images met so far (each file counted once, its warning
// given once), against the limit beyond which a loader throws.
struct ImageStream {
  int workers = 1;
  int64_t max_bad_images = 10;
  std::function<void(const std::string&)> warn;  // one line, without a newline; null: none
  std::mutex mutex;
  std::set<std::string> bad;  // paths of the unreadable images met
};

// One split: the images as their files hold them (8-bit samples, a quarter of the memory of
// floats) with the per-channel table that normalises them; labels in [0, classes). A streamed
// split (streamed()) holds its files' index and transform instead of pixels: its examples
// exist only in the batches of a BatchLoader, and example_values / images throw.
struct DataSplit {
  InputShape shape;
  int64_t classes = 0;
  int64_t n = 0;
  std::vector<uint8_t> pixels;  // [n, C, H, W] row-major
  std::vector<float> levels;    // [C, 256]: the normalised value of each sample value, per channel
  std::vector<int32_t> labels;
  std::shared_ptr<const ImageIndex> files;  // streamed: the files, labels as above
  ImageTransform transform;                 // streamed: what each file becomes
  std::shared_ptr<ImageStream> stream;      // streamed: workers and bad images

  bool streamed() const { return files != nullptr; }
  int64_t example_size() const { return shape.c * shape.h * shape.w; }
  // The normalised values of one example, [C, H, W], into `out`.
  void example_values(int64_t example, float* out) const;
  // Every example's normalised values, [n, C, H, W] (for tests and device uploads).
  std::vector<float> images() const;
  // Per channel, the normalised value of a 0 sample: what augmentation pads with.
  std::vector<float> padding() const;
};

struct Dataset {
  std::string name;  // as given: "fashion-mnist", "idx:DIR", "cifar10:DIR", "png:DIR", ...
  DataSplit train;
  DataSplit val;  // empty unless a validation split was asked for
  DataSplit test;
  bool augment = false;  // CIFAR: random crop (4-pixel zero padding) + flip in training; image
                         // folders: the training transform (RandomResizedCrop + flip)
  std::vector<float> mean, stddev;   // per channel, as used for normalisation
  std::vector<std::string> classes;  // image and png: folders: the class names, in label order
  std::vector<std::string> notes;    // what a tool should tell the user (skipped files)
};

// The range of DatasetOptions::image_size.
constexpr int64_t kMinImageSize = 16, kMaxImageSize = 1024;

struct DatasetOptions {
  double val_split = 0;     // fraction of the training set held out as validation, [0, 1)
  uint64_t seed = 0;        // which examples are held out (data stream of this seed)
  int64_t train_limit = 0;  // use only the first N training / test examples (0: all); for tests
  int64_t test_limit = 0;
  // image folders only
  int workers = 0;              // decoding threads per loader; 0: the cores, at most 8
  int64_t max_bad_images = 10;  // unreadable images tolerated (each warned about)
  int64_t image_size = 224;     // S: the input is [3, S, S]; resize = round(S * 256 / 224)
  std::function<void(const std::string&)> warn;  // how a warning is given (one line)
};

// Load a data set by name. Throws IoError / FormatError naming the file and the problem
// (missing files, not regular files, wrong magic numbers, wrong sizes, labels out of range, mixed
// image sizes, out of memory with the size asked for). Memory follows the bytes that are there,
// never a size that a header claims (data/idx.hpp, data/cifar.hpp, data/png_decode.hpp).
//   fashion-mnist[:DIR]  IDX files (plain or .gz), by default in /usr/share/datasets/fashion-mnist;
//                        10 classes, mean 0.2860, std 0.3530
//   mnist:DIR            the same files; 10 classes, mean 0.1307, std 0.3081
//   idx:DIR              the same files; classes = max training label + 1
//   cifar10:DIR          data_batch_1..5.bin, test_batch.bin; augmented
//   cifar100:DIR         train.bin, test.bin (fine labels, 100 classes); augmented
//   png:DIR              DIR/train/<class>/*.png, DIR/test/ (or val/) likewise; see
//                        data/png_folders.hpp for channels and bit depths
//   images:DIR           DIR/train/<class>/**, DIR/val/<class>/** (else test/), JPEG and PNG
//                        files (data/image_folders.hpp), streamed: [3, S, S], ImageNet's mean
//                        and std, torchvision's transforms (data/image_prepare.hpp); augmented
//   imagenet:DIR         the same; a note when train/ has not 1000 classes
// Values are x / 255 normalised per channel; idx: and png: by the mean and population std of
// all training images in the files (before limits and the hold-out, so that every load of one
// data set normalises alike). Limits apply first; then round(val_split * n) training examples,
// chosen by the data stream of `seed` (data/data_random.hpp), become `val`; train and val keep
// the original order (for image folders, limits and the hold-out apply to the file lists).
// Throws InvalidArgument for an unknown name or bad options.
Dataset dataset_load(const std::string& name, const DatasetOptions& options);

// Throws MismatchError when the data's shape or class count differ from a recipe's.
void dataset_check_shape(const Dataset& data, const InputShape& input, int64_t classes);

struct AugmentDraw;

// One batch, owned by the loader until the next call.
struct Batch {
  int64_t n = 0;
  const float* images = nullptr;  // [n, C, H, W]; null when the loader makes no images
  const int32_t* labels = nullptr;
  const int64_t* examples = nullptr;   // the split's example at each position
  const AugmentDraw* draws = nullptr;  // each one's crop and flip; null without augmentation
};

// Batches of one epoch over a split: order shuffled by the data stream of (seed, epoch) when
// `shuffle`, augmentation from the same stream when `augment`; every example exactly once,
// the last batch possibly smaller. The next batch is prepared on a separate thread while the
// caller works on the current one. `first_batch` skips ahead (resuming mid-epoch). The exact
// draws are in data/data_random.hpp. `images` false: batches give examples, draws and labels
// only, for a backend that holds the split itself (Executor::data_upload). `split` must
// outlive the loader. Throws InvalidArgument unless batch_size >= 1, 0 <= epoch < 2^29 and
// 0 <= first_batch <= batches().
// A streamed split: split.stream->workers threads read and prepare the examples (training
// transform keyed by (seed, epoch, example) when `augment`, else the evaluation transform)
// into a ring of 3 batch buffers, handed out in order: at most 2 batches are prepared ahead
// of the one the caller holds, so memory is 3 * batch_size * 3 * S * S floats plus each
// worker's file and decoding buffers, whatever the split's size. An unreadable image is left
// out of its batch (Batch::n smaller, possibly 0), warned about once (ImageStream::warn) and
// counted; next() throws FormatError naming it when the data set's count passes
// max_bad_images. `images` must be true.
// Data-parallel training (DESIGN.md §8): with ranks > 1 the loader gives rank `rank` only its
// share of each batch of batch_size: of a batch of m examples, positions floor(r m / ranks) to
// floor((r + 1) m / ranks) - 1, so that the examples a step sees, their augmentation and the
// number of batches do not depend on the number of ranks. batch_size must be a multiple of
// ranks (InvalidArgument otherwise); a share of the last batch may be empty (Batch::n 0).
class BatchLoader {
 public:
  BatchLoader(const DataSplit& split, int64_t batch_size, bool shuffle, bool augment, uint64_t seed,
              int64_t epoch, int64_t first_batch = 0, bool images = true, int rank = 0,
              int ranks = 1);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  bool next(Batch& batch);  // false after the last batch
  int64_t batches() const;  // number of batches in the epoch
  // Seconds next() has waited for a batch not yet prepared (the data pipeline's share).
  double wait_seconds() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace popup
