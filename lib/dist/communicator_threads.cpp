// Communicators over the threads of one process: each collective posts every rank's pointer,
// waits for all of them (a generation barrier), and each rank then computes the whole result
// itself in rank order, so every rank gets the same bits, as the MPI plugin's.
#include "dist/communicator_threads.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "error.hpp"

namespace popup {
namespace {

struct Shared {
  explicit Shared(int n) : size(n), posted(static_cast<size_t>(n)) {}
  const int size;
  std::mutex mutex;
  std::condition_variable changed;
  int arrived = 0;
  int64_t generation = 0;
  bool aborted = false;
  std::vector<const void*> posted;  // each rank's data in the current collective

  // Blocks until every rank has arrived; throws when a rank aborted.
  void barrier() {
    std::unique_lock<std::mutex> lock(mutex);
    if (aborted) throw Error("", "another rank aborted");
    const int64_t mine = generation;
    if (++arrived == size) {
      arrived = 0;
      ++generation;
      changed.notify_all();
      return;
    }
    changed.wait(lock, [&] { return generation != mine || aborted; });
    if (aborted) throw Error("", "another rank aborted");
  }
};

class ThreadCommunicator final : public Communicator {
 public:
  ThreadCommunicator(std::shared_ptr<Shared> shared, int rank)
      : shared_(std::move(shared)), rank_(rank) {}

  int rank() const override { return rank_; }
  int size() const override { return shared_->size; }
  int local_rank() const override { return rank_; }
  std::string name() const override {
    return "threads, " + std::to_string(shared_->size) + " ranks";
  }

  void sum(float* data, int64_t n) override {
    const auto start = std::chrono::steady_clock::now();
    sum_any(data, n);
    count(n, start);
  }
  void sum(double* data, int64_t n) override { sum_any(data, n); }
  void sum(int64_t* data, int64_t n) override { sum_any(data, n); }

  void sum_start(float* data, int64_t n) override { started_.emplace_back(data, n); }
  void sum_progress() override {}
  void sum_finish() override {
    std::vector<std::pair<float*, int64_t>> started;
    started.swap(started_);
    for (const auto& [data, n] : started) sum(data, n);
  }

  void broadcast(void* data, int64_t bytes, int root) override {
    post(data);
    if (rank_ != root)
      std::memcpy(data, shared_->posted[static_cast<size_t>(root)], static_cast<size_t>(bytes));
    shared_->barrier();
  }
  void all_gather(const void* mine, void* all, int64_t bytes) override {
    post(mine);
    for (int r = 0; r < shared_->size; ++r)
      std::memcpy(static_cast<char*>(all) + r * bytes, shared_->posted[static_cast<size_t>(r)],
                  static_cast<size_t>(bytes));
    shared_->barrier();
  }
  void barrier() override { shared_->barrier(); }

  [[noreturn]] void abort(int status) override {
    {
      std::lock_guard<std::mutex> lock(shared_->mutex);
      shared_->aborted = true;
    }
    shared_->changed.notify_all();
    throw Error("",
                "rank " + std::to_string(rank_) + " aborted with status " + std::to_string(status));
  }

  CommTraffic traffic() const override { return traffic_; }

 private:
  // Posts this rank's pointer and waits until every rank has posted.
  void post(const void* data) {
    shared_->posted[static_cast<size_t>(rank_)] = data;
    shared_->barrier();
  }

  // Every rank reads all inputs, then (after a barrier, so that no input changes while read)
  // writes its own result.
  template <typename T>
  void sum_any(T* data, int64_t n) {
    post(data);
    result_.resize(static_cast<size_t>(n) * sizeof(T));
    T* out = reinterpret_cast<T*>(result_.data());
    const T* first = static_cast<const T*>(shared_->posted[0]);
    std::copy(first, first + n, out);
    for (int r = 1; r < shared_->size; ++r) {
      const T* x = static_cast<const T*>(shared_->posted[static_cast<size_t>(r)]);
      for (int64_t i = 0; i < n; ++i) out[i] = out[i] + x[i];
    }
    shared_->barrier();
    std::copy(out, out + n, data);
  }

  // The traffic an MPI rank would have: reduce-scatter then all-gather, each sending
  // (N - 1) / N of the data.
  void count(int64_t n, std::chrono::steady_clock::time_point start) {
    const int size = shared_->size;
    ++traffic_.sums;
    traffic_.floats += n;
    traffic_.bytes_sent += 2 * n * static_cast<int64_t>(sizeof(float)) * (size - 1) / size;
    traffic_.seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  std::shared_ptr<Shared> shared_;
  const int rank_;
  std::vector<std::pair<float*, int64_t>> started_;
  std::vector<char> result_;
  CommTraffic traffic_;
};

}  // namespace

std::vector<std::unique_ptr<Communicator>> communicators_in_process(int n) {
  if (n < 1) throw InvalidArgument("", "a communicator needs at least one rank");
  auto shared = std::make_shared<Shared>(n);
  std::vector<std::unique_ptr<Communicator>> comms;
  for (int r = 0; r < n; ++r) comms.push_back(std::make_unique<ThreadCommunicator>(shared, r));
  return comms;
}

}  // namespace popup
