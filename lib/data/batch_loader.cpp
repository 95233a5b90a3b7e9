// BatchLoader: a worker thread fills two batch buffers in turn (double buffering) while the
// caller works on the batch handed out last; a streamed split's batches come from an
// ImageLoader (data/image_loader.hpp).
#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <numeric>
#include <thread>

#include "data/augment.hpp"
#include "data/data_random.hpp"
#include "data/dataset.hpp"
#include "data/image_loader.hpp"
#include "error.hpp"

namespace popup {

struct BatchLoader::Impl {
  const DataSplit& split;
  int64_t batch_size = 0, batches = 0, first_batch = 0;  // batch_size: this rank's share
  int64_t count = 0;  // positions in `order`: the split's, or this rank's shares
  bool augment = false, make_images = true;
  uint64_t seed = 0;
  int64_t epoch = 0;
  std::vector<int64_t> order;      // example at each position of the epoch (or of the shares)
  std::vector<int64_t> positions;  // with shares: each one's position in the epoch
  std::vector<float> padding;      // per channel
  std::vector<float> decoded;      // one example's values before augmentation

  std::array<std::vector<float>, 2> images;
  std::array<std::vector<int32_t>, 2> labels;
  std::array<std::vector<AugmentDraw>, 2> draws;
  std::array<int64_t, 2> counts{};

  // Batches are counted from first_batch. The worker fills batch `filled` into buffer
  // filled % 2 once the caller has released the batch two before it (filled < released + 2).
  std::mutex mutex;
  std::condition_variable changed;
  int64_t filled = 0, released = 0, handed = 0;
  bool stop = false;
  double waited = 0;  // seconds next() waited
  std::thread worker;
  std::unique_ptr<ImageLoader> stream;  // a streamed split's

  explicit Impl(const DataSplit& s) : split(s) {}
  void shares_take(int rank, int ranks);
  void fill(int64_t batch, int buffer);
  void run();
};

void BatchLoader::Impl::fill(int64_t batch, int buffer) {
  const int64_t size = split.example_size();
  const int64_t begin = std::min(count, batch * batch_size);
  const int64_t end = std::min(count, begin + batch_size);
  float* out = images[buffer].data();
  for (int64_t p = begin; p < end; ++p, out += size) {
    const int64_t example = order[p];
    const int64_t position = positions.empty() ? p : positions[p];
    const size_t k = static_cast<size_t>(p - begin);
    if (augment) draws[buffer][k] = augment_draw(seed, epoch, position, kAugmentPad);
    labels[buffer][k] = split.labels[example];
    if (!make_images) continue;
    if (augment) {
      split.example_values(example, decoded.data());
      augment_image(decoded.data(), out, split.shape, padding.data(), draws[buffer][k]);
    } else {
      split.example_values(example, out);
    }
  }
  counts[buffer] = end - begin;
}

void BatchLoader::Impl::run() {
  for (int64_t batch = first_batch; batch < batches; ++batch) {
    const int64_t count = batch - first_batch;
    {
      std::unique_lock<std::mutex> lock(mutex);
      changed.wait(lock, [&] { return stop || count < released + 2; });
      if (stop) return;
    }
    fill(batch, static_cast<int>(count % 2));
    {
      std::lock_guard<std::mutex> lock(mutex);
      filled = count + 1;
    }
    changed.notify_all();
  }
}

// Keeps of the epoch's order only rank's share of each batch (dataset.hpp), with the positions
// they had; the batch size becomes the share's.
void BatchLoader::Impl::shares_take(int rank, int ranks) {
  const int64_t n = static_cast<int64_t>(order.size());
  std::vector<int64_t> kept;
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t m = std::min(batch_size, n - begin);
    for (int64_t p = begin + rank * m / ranks; p < begin + (rank + 1) * m / ranks; ++p) {
      kept.push_back(order[static_cast<size_t>(p)]);
      positions.push_back(p);
    }
  }
  order.swap(kept);
  count = static_cast<int64_t>(order.size());
  batch_size /= ranks;
}

BatchLoader::BatchLoader(const DataSplit& split, int64_t batch_size, bool shuffle, bool augment,
                         uint64_t seed, int64_t epoch, int64_t first_batch, bool images, int rank,
                         int ranks)
    : impl_(std::make_unique<Impl>(split)) {
  if (batch_size < 1)
    throw InvalidArgument("", "batch size " + std::to_string(batch_size) + " is below 1");
  if (ranks < 1 || rank < 0 || rank >= ranks || batch_size % ranks != 0)
    throw InvalidArgument("--batch-size", "a batch of " + std::to_string(batch_size) +
                                              " does not split into " + std::to_string(ranks) +
                                              " equal shares (give a multiple of the ranks)");
  if (epoch < 0 || epoch >= kMaxEpoch)
    throw InvalidArgument("", "epoch " + std::to_string(epoch) + " is out of range");
  Impl& d = *impl_;
  d.batch_size = batch_size;
  d.batches = (split.n + batch_size - 1) / batch_size;
  if (first_batch < 0 || first_batch > d.batches)
    throw InvalidArgument("", "first batch " + std::to_string(first_batch) + " is not in 0.." +
                                  std::to_string(d.batches));
  d.first_batch = first_batch;
  d.augment = augment;
  d.make_images = images;
  d.seed = seed;
  d.epoch = epoch;
  if (shuffle) {
    d.order = data_permutation(split.n, seed, kOrderTensor + static_cast<uint32_t>(epoch));
  } else {
    d.order.resize(static_cast<size_t>(split.n));
    std::iota(d.order.begin(), d.order.end(), int64_t{0});
  }
  d.count = split.n;
  if (ranks > 1) d.shares_take(rank, ranks);
  if (split.streamed()) {
    if (!images)
      throw InvalidArgument("", "a streamed split has no examples for a backend to hold");
    d.stream = std::make_unique<ImageLoader>(split, d.order.data(), d.count, d.batch_size,
                                             first_batch, d.batches, augment, seed, epoch);
    return;
  }
  d.padding = split.padding();
  d.decoded.resize(static_cast<size_t>(split.example_size()));
  const int64_t capacity = std::max(int64_t{1}, std::min(d.batch_size, d.count));
  for (int buffer = 0; buffer < 2; ++buffer) {
    if (images)
      d.images[buffer].resize(
          static_cast<size_t>(capacity * split.shape.c * split.shape.h * split.shape.w));
    d.labels[buffer].resize(static_cast<size_t>(capacity));
    if (augment) d.draws[buffer].resize(static_cast<size_t>(capacity));
  }
  d.worker = std::thread([&d] { d.run(); });
}

BatchLoader::~BatchLoader() {
  if (!impl_->worker.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stop = true;
  }
  impl_->changed.notify_all();
  impl_->worker.join();
}

bool BatchLoader::next(Batch& batch) {
  Impl& d = *impl_;
  if (d.stream) return d.stream->next(batch);
  std::unique_lock<std::mutex> lock(d.mutex);
  d.released = d.handed;
  d.changed.notify_all();
  if (d.handed == d.batches - d.first_batch) return false;
  if (d.filled <= d.handed) {
    const auto start = std::chrono::steady_clock::now();
    d.changed.wait(lock, [&] { return d.filled > d.handed; });
    d.waited += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  const int buffer = static_cast<int>(d.handed % 2);
  ++d.handed;
  batch.n = d.counts[buffer];
  batch.images = d.make_images ? d.images[buffer].data() : nullptr;
  batch.labels = d.labels[buffer].data();
  batch.examples =
      d.order.data() + std::min(d.count, (d.first_batch + d.handed - 1) * d.batch_size);
  batch.draws = d.augment ? d.draws[buffer].data() : nullptr;
  return true;
}

int64_t BatchLoader::batches() const { return impl_->batches; }

double BatchLoader::wait_seconds() const {
  if (impl_->stream) return impl_->stream->wait_seconds();
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->waited;
}

}  // namespace popup
