// The BatchLoader of a streamed split (data/dataset.hpp): worker threads read and prepare
// the examples of the coming batches into a ring of batch buffers, handed out in order.
#pragma once

#include <cstdint>
#include <memory>

#include "data/dataset.hpp"

namespace popup {

class ImageLoader {
 public:
  // `order`: the example at each of `count` positions (the epoch's, or a rank's shares of it;
  // must outlive the loader), cut into batches of batch_size; batches from `first_batch` to
  // batches - 1 are handed out, those past the last position empty.
  ImageLoader(const DataSplit& split, const int64_t* order, int64_t count, int64_t batch_size,
              int64_t first_batch, int64_t batches, bool augment, uint64_t seed, int64_t epoch);
  ~ImageLoader();
  ImageLoader(const ImageLoader&) = delete;
  ImageLoader& operator=(const ImageLoader&) = delete;

  bool next(Batch& batch);  // as BatchLoader::next
  double wait_seconds() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace popup
