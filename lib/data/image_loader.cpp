// Streamed batches: positions of the epoch are handed to worker threads one at a time, in
// order, each prepared into its batch's buffer; a batch is handed out when all its examples
// are done, with the unreadable ones left out.
#include "data/image_loader.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "data/file_open.hpp"
#include "error.hpp"

namespace popup {

namespace {

constexpr int kSlots = 3;                     // the batch held by the caller and 2 ahead
constexpr uint64_t kMaxFileBytes = 1u << 28;  // 256 MiB: no image file is larger

// The whole file at `path` into `bytes` (reused); throws IoError naming it.
void file_bytes(const std::string& path, std::vector<uint8_t>& bytes) {
  uint64_t size = 0;
  const int fd = data_file_open(path, size);
  if (size > kMaxFileBytes) {
    close(fd);
    throw IoError(path, "is larger than 256 MiB (" + std::to_string(size) + " bytes)");
  }
  bytes.resize(static_cast<size_t>(size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t got = read(fd, bytes.data() + done, bytes.size() - done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      const int error = errno;
      close(fd);
      if (got == 0) throw IoError(path, "the file became shorter while read");
      throw IoError(path, std::string("read error: ") + std::strerror(error));
    }
    done += static_cast<size_t>(got);
  }
  close(fd);
}

struct Slot {
  int64_t batch = -1;   // counted from first_batch
  int64_t count = 0;    // examples in the batch
  int64_t pending = 0;  // examples not prepared yet
  std::vector<float> images;
  std::vector<int32_t> labels;
  std::vector<int64_t> examples;
  std::vector<std::string> errors;  // per position: "" when prepared
};

}  // namespace

struct ImageLoader::Impl {
  const DataSplit& split;
  const int64_t* order;
  int64_t count, batch_size, first_batch, batches;
  bool augment;
  uint64_t seed;
  int64_t epoch;
  int64_t example_size;

  std::mutex mutex;
  std::condition_variable work, done;
  Slot slots[kSlots];
  int64_t next_position = 0;  // the next position a worker takes
  int64_t released = 0;       // batches (from first_batch) the caller gave back
  int64_t handed = 0;         // batches handed out
  bool stop = false;
  double waited = 0;
  std::vector<std::thread> workers;

  Impl(const DataSplit& s, const int64_t* o) : split(s), order(o) {}
  void run();
  void prepare(int64_t position, Slot& slot, std::vector<uint8_t>& bytes, ImageScratch& scratch);
};

void ImageLoader::Impl::prepare(int64_t position, Slot& slot, std::vector<uint8_t>& bytes,
                                ImageScratch& scratch) {
  const int64_t k = position % batch_size;
  const int64_t example = order[position];
  const std::string path = split.files->path(example);
  float* out = slot.images.data() + k * example_size;
  std::string error;
  try {
    file_bytes(path, bytes);
    if (augment)
      image_prepare_train(bytes.data(), bytes.size(), path, split.transform, seed, epoch, example,
                          scratch, out);
    else
      image_prepare_eval(bytes.data(), bytes.size(), path, split.transform, scratch, out);
  } catch (const Error& e) {
    error = e.file().empty() ? path + ": " + e.message() : e.what();
  } catch (const std::exception& e) {  // out of memory for a huge image
    error = path + ": " + e.what();
  }
  slot.labels[static_cast<size_t>(k)] = split.labels[static_cast<size_t>(example)];
  slot.examples[static_cast<size_t>(k)] = example;
  slot.errors[static_cast<size_t>(k)] = std::move(error);
}

void ImageLoader::Impl::run() {
  std::vector<uint8_t> bytes;
  ImageScratch scratch;
  while (true) {
    int64_t position = 0;
    Slot* slot = nullptr;
    {
      std::unique_lock<std::mutex> lock(mutex);
      work.wait(lock, [&] {
        return stop || next_position >= count ||
               next_position / batch_size - first_batch < released + kSlots;
      });
      if (stop || next_position >= count) return;
      position = next_position++;
      const int64_t batch = position / batch_size - first_batch;
      slot = &slots[batch % kSlots];
      if (position % batch_size == 0) {  // the batch's first position: the slot is its own
        slot->batch = batch;
        slot->count = std::min(batch_size, count - position);
        slot->pending = slot->count;
      }
    }
    prepare(position, *slot, bytes, scratch);
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (--slot->pending == 0) done.notify_all();
    }
  }
}

ImageLoader::ImageLoader(const DataSplit& split, const int64_t* order, int64_t count,
                         int64_t batch_size, int64_t first_batch, int64_t batches, bool augment,
                         uint64_t seed, int64_t epoch)
    : impl_(std::make_unique<Impl>(split, order)) {
  Impl& d = *impl_;
  d.count = count;
  d.batch_size = batch_size;
  d.first_batch = first_batch;
  d.batches = batches - first_batch;
  d.augment = augment;
  d.seed = seed;
  d.epoch = epoch;
  d.example_size = split.example_size();
  d.next_position = first_batch * batch_size;
  const int64_t capacity = std::max(int64_t{1}, std::min(batch_size, count));
  for (Slot& slot : d.slots) {
    slot.images.resize(static_cast<size_t>(capacity * d.example_size));
    slot.labels.resize(static_cast<size_t>(capacity));
    slot.examples.resize(static_cast<size_t>(capacity));
    slot.errors.resize(static_cast<size_t>(capacity));
  }
  const int workers = std::max(1, split.stream ? split.stream->workers : 1);
  for (int w = 0; w < workers; ++w) d.workers.emplace_back([&d] { d.run(); });
}

ImageLoader::~ImageLoader() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stop = true;
  }
  impl_->work.notify_all();
  for (std::thread& t : impl_->workers) t.join();
}

bool ImageLoader::next(Batch& batch) {
  Impl& d = *impl_;
  std::unique_lock<std::mutex> lock(d.mutex);
  d.released = d.handed;
  d.work.notify_all();
  if (d.handed == d.batches) return false;
  if ((d.first_batch + d.handed) * d.batch_size >= d.count) {  // a rank's empty last share
    ++d.handed;
    batch = Batch();
    return true;
  }
  Slot& slot = d.slots[d.handed % kSlots];
  const auto ready = [&] { return slot.batch == d.handed && slot.pending == 0; };
  if (!ready()) {
    const auto start = std::chrono::steady_clock::now();
    d.done.wait(lock, ready);
    d.waited += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  ++d.handed;
  lock.unlock();
  // The unreadable examples left out: the others moved up, in order.
  int64_t kept = 0;
  for (int64_t k = 0; k < slot.count; ++k) {
    const std::string& error = slot.errors[static_cast<size_t>(k)];
    if (error.empty()) {
      if (kept != k) {
        std::memmove(slot.images.data() + kept * d.example_size,
                     slot.images.data() + k * d.example_size,
                     static_cast<size_t>(d.example_size) * sizeof(float));
        slot.labels[static_cast<size_t>(kept)] = slot.labels[static_cast<size_t>(k)];
        slot.examples[static_cast<size_t>(kept)] = slot.examples[static_cast<size_t>(k)];
      }
      ++kept;
      continue;
    }
    if (!d.split.stream) throw FormatError("", error);
    ImageStream& stream = *d.split.stream;
    std::lock_guard<std::mutex> stream_lock(stream.mutex);
    const std::string path = d.split.files->path(slot.examples[static_cast<size_t>(k)]);
    if (!stream.bad.insert(path).second) continue;  // met before: counted and warned once
    const int64_t count = static_cast<int64_t>(stream.bad.size());
    if (count > stream.max_bad_images)
      throw FormatError("", error + " (" + std::to_string(count) +
                                " unreadable images, more than --max-bad-images " +
                                std::to_string(stream.max_bad_images) + ")");
    if (stream.warn)
      stream.warn(error + "; image left out (" + std::to_string(count) + " of " +
                  std::to_string(stream.max_bad_images) + " tolerated)");
  }
  batch.n = kept;
  batch.images = slot.images.data();
  batch.labels = slot.labels.data();
  batch.examples = slot.examples.data();
  batch.draws = nullptr;
  return true;
}

double ImageLoader::wait_seconds() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->waited;
}

}  // namespace popup
