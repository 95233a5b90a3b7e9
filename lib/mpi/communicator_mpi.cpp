// The Communicator over Open MPI. A rank-ordered sum of n elements over N ranks: the buffer is
// cut into N contiguous chunks, rank r owning chunk r; MPI_Alltoallv brings every rank's copy
// of chunk r to rank r, which adds the N copies in rank order ((x_0 + x_1) + x_2) + ...; then
// MPI_Allgatherv hands each owner's result to everyone. Every element is added by one rank in
// the fixed order, so all ranks get the same bits, those of communicator_threads.cpp (MPI's own
// reductions promise neither). Started sums run the same two steps as nonblocking collectives
// on two communicators of their own, so that each communicator sees its collectives in the
// same order on every rank however the ranks' timing interleaves the steps.
#include "mpi/communicator_mpi.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <string>
#include <vector>

#include "error.hpp"

namespace popup {
namespace {

// Throws popup::Error naming the call and giving MPI's text for a failed status (every
// communicator here returns errors: MPI_ERRORS_RETURN).
void check(int status, const char* call) {
  if (status == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(status, text, &length) != MPI_SUCCESS) length = 0;
  throw Error("", std::string("MPI: ") + call + ": " +
                      (length > 0 ? std::string(text, static_cast<size_t>(length))
                                  : "error " + std::to_string(status)));
}

// MPI's counts and displacements are ints: a longer sum runs as pieces of this many elements
// (the sum is element-wise, so the pieces give the same bits).
constexpr int64_t kPiece = int64_t{1} << 30;

// Adds `ranks` contributions of `count` elements, parts[r] being rank r's, in rank order into
// `out`, which may be one of the parts (this rank's own, summed in place): block by block, each
// block's parts read before its result is written.
using Reduce = void(const char* const* parts, int ranks, int64_t count, char* out);

template <typename T>
void reduce_in_rank_order(const char* const* parts, int ranks, int64_t count, char* out) {
  constexpr int64_t kBlock = 1024;
  T sum[kBlock];
  T* y = reinterpret_cast<T*>(out);
  for (int64_t start = 0; start < count; start += kBlock) {
    const int64_t m = std::min(kBlock, count - start);
    const T* x0 = reinterpret_cast<const T*>(parts[0]) + start;
    if (ranks == 1) {
      std::copy(x0, x0 + m, sum);
    } else {
      const T* x1 = reinterpret_cast<const T*>(parts[1]) + start;
      for (int64_t i = 0; i < m; ++i) sum[i] = x0[i] + x1[i];
    }
    for (int r = 2; r < ranks; ++r) {
      const T* xr = reinterpret_cast<const T*>(parts[r]) + start;
      for (int64_t i = 0; i < m; ++i) sum[i] = sum[i] + xr[i];
    }
    std::copy(sum, sum + m, y + start);
  }
}

template <typename T>
MPI_Datatype mpi_type();
template <>
MPI_Datatype mpi_type<float>() {
  return MPI_FLOAT;
}
template <>
MPI_Datatype mpi_type<double>() {
  return MPI_DOUBLE;
}
template <>
MPI_Datatype mpi_type<int64_t>() {
  return MPI_INT64_T;
}

// One sum of at most kPiece elements: the chunks' layout, the other ranks' contributions to
// this rank's chunk (its own stays where it is: nothing is sent to itself), and (when started)
// its request and stage. Kept and reused from step to step, so that equal sums allocate
// nothing after the first.
struct Exchange {
  enum Stage { exchanging, gathering, finished };
  char* data = nullptr;
  MPI_Datatype type = MPI_DATATYPE_NULL;
  size_t element = 0;
  Reduce* reduce = nullptr;
  std::vector<int> counts, displs;            // chunk r: counts[r] elements from displs[r]
  std::vector<int> send_counts;               // counts, but none to this rank itself
  std::vector<int> recv_counts, recv_displs;  // rank r's copy of this rank's chunk
  std::vector<char> received;
  std::vector<const char*> parts;  // each rank's contribution to this rank's chunk
  MPI_Request request = MPI_REQUEST_NULL;
  Stage stage = finished;

  template <typename T>
  void lay_out(T* sum_data, int64_t n, int size, int rank) {
    data = reinterpret_cast<char*>(sum_data);
    type = mpi_type<T>();
    element = sizeof(T);
    reduce = &reduce_in_rank_order<T>;
    const size_t ranks = static_cast<size_t>(size), me = static_cast<size_t>(rank);
    counts.resize(ranks);
    displs.resize(ranks);
    recv_counts.resize(ranks);
    recv_displs.resize(ranks);
    parts.resize(ranks);
    int64_t offset = 0;
    for (size_t r = 0; r < ranks; ++r) {
      const int64_t count = n / size + (static_cast<int64_t>(r) < n % size ? 1 : 0);
      counts[r] = static_cast<int>(count);
      displs[r] = static_cast<int>(offset);
      offset += count;
    }
    send_counts = counts;
    send_counts[me] = 0;
    const int mine = counts[me];
    const size_t bytes = static_cast<size_t>(mine) * (ranks - 1) * sizeof(T);
    if (received.size() < bytes) received.resize(bytes);
    for (size_t r = 0; r < ranks; ++r) {
      const size_t slot = r < me ? r : r - 1;
      recv_counts[r] = r == me ? 0 : mine;
      recv_displs[r] = r == me ? 0 : static_cast<int>(slot) * mine;
      parts[r] = r == me ? mine_in_data(rank)
                         : received.data() + slot * static_cast<size_t>(mine) * sizeof(T);
    }
  }

  char* mine_in_data(int rank) const {
    return data + static_cast<size_t>(displs[static_cast<size_t>(rank)]) * element;
  }

  // This rank's chunk of the result, in place, from its own part and the received ones.
  void reduce_mine(int size, int rank) {
    reduce(parts.data(), size, counts[static_cast<size_t>(rank)], mine_in_data(rank));
  }
};

// MPI_Init_thread and MPI_Finalize, unless the process had initialised MPI itself.
class MpiSession {
 public:
  MpiSession() {
    int initialized = 0;
    check(MPI_Initialized(&initialized), "MPI_Initialized");
    if (initialized) return;
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    // A throwing constructor runs no destructor: finalise here on the way out.
    if (provided < MPI_THREAD_FUNNELED) {
      MPI_Finalize();
      throw Error("",
                  "MPI: the library offers no MPI_THREAD_FUNNELED (the threads of training "
                  "run beside MPI's calls)");
    }
    if (const int status = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        status != MPI_SUCCESS) {
      MPI_Finalize();
      check(status, "MPI_Comm_set_errhandler");
    }
    finalize_ = true;
  }
  ~MpiSession() {
    if (finalize_) MPI_Finalize();
  }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

 private:
  bool finalize_ = false;
};

// A duplicate of MPI_COMM_WORLD that returns errors, freed with its owner.
class CommHandle {
 public:
  CommHandle() {
    check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  }
  ~CommHandle() {
    if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  }
  CommHandle(const CommHandle&) = delete;
  CommHandle& operator=(const CommHandle&) = delete;
  MPI_Comm get() const { return comm_; }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
};

// Adds the seconds of its life to a total (the time spent in float sums, for traffic()).
class Stopwatch {
 public:
  explicit Stopwatch(double& total) : total_(total), start_(std::chrono::steady_clock::now()) {}
  ~Stopwatch() {
    total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  double& total_;
  std::chrono::steady_clock::time_point start_;
};

// "Open MPI 4.1.4" from MPI_Get_library_version's "Open MPI v4.1.4, package: ...".
std::string library_name() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  check(MPI_Get_library_version(text, &length), "MPI_Get_library_version");
  std::string name(text, static_cast<size_t>(std::max(length, 0)));
  name = name.substr(0, name.find_first_of(",\n"));
  if (const size_t v = name.find(" v");
      v != std::string::npos && v + 2 < name.size() && name[v + 2] >= '0' && name[v + 2] <= '9')
    name.erase(v + 1, 1);
  return name;
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() : library_(library_name()) {
    check(MPI_Comm_rank(comm_.get(), &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(comm_.get(), &size_), "MPI_Comm_size");
    MPI_Comm node = MPI_COMM_NULL;
    check(MPI_Comm_split_type(comm_.get(), MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
          "MPI_Comm_split_type");
    const int status = MPI_Comm_rank(node, &local_rank_);
    MPI_Comm_free(&node);
    check(status, "MPI_Comm_rank");
    int first_on_host = local_rank_ == 0 ? 1 : 0;
    check(MPI_Allreduce(&first_on_host, &hosts_, 1, MPI_INT, MPI_SUM, comm_.get()),
          "MPI_Allreduce");
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  std::string name() const override {
    return library_ + ", " + std::to_string(size_) + (size_ == 1 ? " rank" : " ranks") + " on " +
           std::to_string(hosts_) + (hosts_ == 1 ? " host" : " hosts");
  }

  void sum(float* data, int64_t n) override {
    Stopwatch watch(traffic_.seconds);
    sum_blocking(data, n);
    ++traffic_.sums;
    traffic_.floats += n;
    traffic_.bytes_sent += bytes_sent(n);
  }
  void sum(double* data, int64_t n) override { sum_blocking(data, n); }
  void sum(int64_t* data, int64_t n) override { sum_blocking(data, n); }

  void sum_start(float* data, int64_t n) override {
    Stopwatch watch(traffic_.seconds);
    for (int64_t offset = 0; offset < n; offset += kPiece) {
      if (started_count_ == started_.size()) started_.push_back(std::make_unique<Exchange>());
      Exchange& e = *started_[started_count_++];
      e.lay_out(data + offset, std::min(kPiece, n - offset), size_, rank_);
      check(MPI_Ialltoallv(e.data, e.send_counts.data(), e.displs.data(), e.type, e.received.data(),
                           e.recv_counts.data(), e.recv_displs.data(), e.type, exchanges_.get(),
                           &e.request),
            "MPI_Ialltoallv");
      e.stage = Exchange::exchanging;
    }
    ++pending_.sums;
    pending_.floats += n;
    pending_.bytes_sent += bytes_sent(n);
  }
  void sum_progress() override {
    Stopwatch watch(traffic_.seconds);
    advance(false);
  }
  void sum_finish() override {
    Stopwatch watch(traffic_.seconds);
    advance(true);
    started_count_ = 0;
    next_gather_ = 0;
    traffic_.sums += pending_.sums;
    traffic_.floats += pending_.floats;
    traffic_.bytes_sent += pending_.bytes_sent;
    pending_ = CommTraffic();
  }

  void broadcast(void* data, int64_t bytes, int root) override {
    constexpr int64_t kMax = int64_t{1} << 30;
    for (int64_t offset = 0; offset < bytes; offset += kMax)
      check(
          MPI_Bcast(static_cast<char*>(data) + offset,
                    static_cast<int>(std::min(kMax, bytes - offset)), MPI_BYTE, root, comm_.get()),
          "MPI_Bcast");
  }
  void all_gather(const void* mine, void* all, int64_t bytes) override {
    if (bytes > INT_MAX)
      throw InvalidArgument(
          "", "all_gather of " + std::to_string(bytes) + " bytes per rank: at most 2^31 - 1 bytes");
    char* mine_in_all = static_cast<char*>(all) + rank_ * bytes;
    const void* send = mine == mine_in_all ? MPI_IN_PLACE : mine;
    check(MPI_Allgather(send, static_cast<int>(bytes), MPI_BYTE, all, static_cast<int>(bytes),
                        MPI_BYTE, comm_.get()),
          "MPI_Allgather");
  }
  void barrier() override { check(MPI_Barrier(comm_.get()), "MPI_Barrier"); }

  [[noreturn]] void abort(int status) override {
    MPI_Abort(MPI_COMM_WORLD, status);
    std::_Exit(status);  // MPI_Abort does not return; should it, this process still ends
  }

  CommTraffic traffic() const override { return traffic_; }

 private:
  // Reduce-scatter then all-gather each send (N - 1) / N of the data (as the threads version
  // counts it).
  int64_t bytes_sent(int64_t n) const {
    return 2 * n * static_cast<int64_t>(sizeof(float)) * (size_ - 1) / size_;
  }

  template <typename T>
  void sum_blocking(T* data, int64_t n) {
    if (size_ == 1) return;
    for (int64_t offset = 0; offset < n; offset += kPiece) {
      Exchange& e = blocking_;
      e.lay_out(data + offset, std::min(kPiece, n - offset), size_, rank_);
      check(MPI_Alltoallv(e.data, e.send_counts.data(), e.displs.data(), e.type, e.received.data(),
                          e.recv_counts.data(), e.recv_displs.data(), e.type, comm_.get()),
            "MPI_Alltoallv");
      e.reduce_mine(size_, rank_);
      check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, e.data, e.counts.data(),
                           e.displs.data(), e.type, comm_.get()),
            "MPI_Allgatherv");
    }
  }

  // Whether `request` has completed: waits for it with `wait`, else only tests it.
  static bool request_done(MPI_Request& request, bool wait) {
    int done = 1;
    if (wait)
      check(MPI_Wait(&request, MPI_STATUS_IGNORE), "MPI_Wait");
    else
      check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    return done != 0;
  }

  // Moves started sums on: those whose exchange has finished are reduced and their gathers
  // started, strictly in start order (the gathers' communicator must see the same order on
  // every rank). With `wait`, until every started sum has finished.
  void advance(bool wait) {
    for (; next_gather_ < started_count_; ++next_gather_) {
      Exchange& e = *started_[next_gather_];
      if (!request_done(e.request, wait)) break;
      e.reduce_mine(size_, rank_);
      check(MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, e.data, e.counts.data(),
                            e.displs.data(), e.type, gathers_.get(), &e.request),
            "MPI_Iallgatherv");
      e.stage = Exchange::gathering;
    }
    for (size_t i = 0; i < next_gather_; ++i) {
      Exchange& e = *started_[i];
      if (e.stage != Exchange::gathering) continue;
      if (request_done(e.request, wait)) e.stage = Exchange::finished;
    }
  }

  MpiSession session_;    // first: MPI is finalised after the communicators are freed
  CommHandle comm_;       // blocking collectives
  CommHandle exchanges_;  // started sums' MPI_Ialltoallv, in start order
  CommHandle gathers_;    // their MPI_Iallgatherv, in the same order
  std::string library_;
  int rank_ = 0, size_ = 1, local_rank_ = 0, hosts_ = 1;
  Exchange blocking_;
  std::vector<std::unique_ptr<Exchange>> started_;  // slots, reused from step to step
  size_t started_count_ = 0;                        // slots in use since the last finish
  size_t next_gather_ = 0;  // the first started slot whose gather has not begun
  CommTraffic pending_;     // started sums, counted in traffic_ when they finish
  CommTraffic traffic_;
};

}  // namespace

std::unique_ptr<Communicator> communicator_mpi_create() {
  return std::make_unique<MpiCommunicator>();
}

}  // namespace popup
