// The CUDA executor as one rank of a data-parallel run (ExecutorConfig::comm, DESIGN.md §8):
// the global batch of a training forward, and the sum over the ranks of every gradient the
// backward computes (weights and, with affine_bn, BatchNorm scale and shift).
//
// The gradients are summed by NCCL (ncclAllReduce, in place) on a second stream: each is
// handed over as soon as the backward has written it, so the sums run while the backward goes
// on through the earlier layers, and the executor's stream waits for the last of them at the
// end of the backward; nothing on it reads a gradient before. Where two ranks of a machine
// share a GPU (NCCL refuses that) or POPUP_CUDA_REDUCE=host asks for it, the gradients go
// instead through pinned host memory and the communicator's rank-ordered sum, at the end of the
// backward (no overlap).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/executor_cuda_impl.hpp"
#include "dist/communicator.hpp"
#include "error.hpp"

namespace popup {
namespace cuda_impl {

namespace {

// POPUP_CUDA_REDUCE: "auto" (unset: NCCL unless two ranks of a machine share a GPU), "nccl" or
// "host"; -1 for anything else (thrown only after every rank has said what it asks for).
int reduce_asked() {
  const char* text = std::getenv("POPUP_CUDA_REDUCE");
  if (!text || !*text || std::strcmp(text, "auto") == 0) return 0;
  if (std::strcmp(text, "nccl") == 0) return 1;
  if (std::strcmp(text, "host") == 0) return 2;
  return -1;
}

// What each rank tells the others before the mode is chosen.
struct RankPlace {
  int32_t asked = 0;  // reduce_asked()
  char host[64] = {};
  char bus[32] = {};  // the GPU's PCI bus id
};

// Rank 0's NCCL id, or why it has none.
struct IdMessage {
  int32_t ok = 0;
  NcclUniqueId id = {};
};

}  // namespace

// Every rank in the same order at construction (a collective): chooses the mode alike on all
// of them, then, for NCCL, loads the library everywhere before any rank waits in NCCL itself.
void ExecutorCudaImpl::reduce_setup(int device) {
  Communicator* comm = config_.comm;
  if (!comm || comm->size() == 1 || !config_.train) return;
  const int ranks = comm->size(), rank = comm->rank();
  RankPlace mine;
  mine.asked = reduce_asked();
  if (gethostname(mine.host, sizeof mine.host - 1) != 0) mine.host[0] = 0;
  // (no throw before the gather, where the other ranks wait: an unknown bus matches no other)
  if (cudaDeviceGetPCIBusId(mine.bus, sizeof mine.bus - 1, device) != cudaSuccess)
    std::snprintf(mine.bus, sizeof mine.bus, "unknown (rank %d)", rank);
  std::vector<RankPlace> places(static_cast<size_t>(ranks));
  comm->all_gather(&mine, places.data(), sizeof mine);
  if (mine.asked < 0)
    throw InvalidArgument("", std::string("POPUP_CUDA_REDUCE must be auto, nccl or host, not '") +
                                  std::getenv("POPUP_CUDA_REDUCE") + "'");
  int shared_a = -1, shared_b = -1;  // two ranks on one GPU
  for (int a = 0; a < ranks; ++a) {
    if (places[a].asked != mine.asked)
      throw InvalidArgument("", "POPUP_CUDA_REDUCE differs between rank " + std::to_string(rank) +
                                    " and rank " + std::to_string(a));
    for (int b = a + 1; b < ranks && shared_a < 0; ++b)
      if (std::strcmp(places[a].host, places[b].host) == 0 &&
          std::strcmp(places[a].bus, places[b].bus) == 0)
        shared_a = a, shared_b = b;
  }
  const std::string sharing =
      shared_a < 0 ? std::string()
                   : "ranks " + std::to_string(shared_a) + " and " + std::to_string(shared_b) +
                         " share the GPU " + places[shared_a].bus + " of " + places[shared_a].host;
  if (mine.asked == 1 && shared_a >= 0)
    throw InvalidArgument("", sharing +
                                  ": NCCL needs a GPU per rank (POPUP_CUDA_REDUCE=nccl); give "
                                  "each rank its own or let the sums go through the host");
  if (mine.asked == 2 || shared_a >= 0) {
    reduce_ = Reduce::host;
    int64_t capacity = static_cast<int64_t>(weights_.size());
    for (int i : bn_ops_) capacity += 2 * net_.ops[static_cast<size_t>(i)].c;
    reduce_host_.resize(static_cast<size_t>(capacity));
    device_name_ += shared_a >= 0 ? ", gradients summed through host memory (" + sharing + ")"
                                  : ", gradients summed through host memory";
    return;
  }
  // NCCL on every rank or on none: each says whether it could load the library.
  std::string load_error;
  try {
    nccl_api();
  } catch (const Error& e) {
    load_error = e.what();
  }
  const char loaded = load_error.empty() ? 1 : 0;
  std::vector<char> all_loaded(static_cast<size_t>(ranks));
  comm->all_gather(&loaded, all_loaded.data(), 1);
  if (!load_error.empty()) throw Error("", load_error);
  for (int r = 0; r < ranks; ++r)
    if (!all_loaded[static_cast<size_t>(r)])
      throw Error("", "rank " + std::to_string(r) + " could not load NCCL (libnccl.so.2)");
  IdMessage message;
  std::string id_error;
  if (rank == 0) {
    try {
      nccl_check(nccl_api().get_unique_id(&message.id), "ncclGetUniqueId");
      message.ok = 1;
    } catch (const Error& e) {
      id_error = e.what();
    }
  }
  comm->broadcast(&message, sizeof message, 0);
  if (!id_error.empty()) throw Error("", id_error);
  if (!message.ok) throw Error("", "rank 0 could not make the NCCL id (ncclGetUniqueId)");
  nccl_.init(ranks, message.id, rank);  // on the device handles_create made current
  cudaStream_t stream = nullptr;
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  reduce_stream_.reset(stream);
  for (Event* e : {&reduce_produced_, &reduce_done_}) {
    cudaEvent_t event = nullptr;
    CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    e->reset(event);
  }
  reduce_ = Reduce::nccl;
  device_name_ += ", gradients summed by NCCL " + nccl_api().version;
}

// A training forward's n summed over the ranks (every rank's training forwards in the same
// order); n without a communicator.
int64_t ExecutorCudaImpl::global_batch(int64_t n) {
  if (!config_.comm) return n;
  int64_t total = n;
  config_.comm->sum(&total, 1);
  return total;
}

// Called by the backward for each gradient it has finished writing on the stream, in the same
// order on every rank (the network's ops in reverse).
void ExecutorCudaImpl::gradient_done(float* data, int64_t count) {
  switch (reduce_) {
    case Reduce::none: return;
    case Reduce::host: reduce_pending_.push_back({data, count}); return;
    case Reduce::nccl:
      CUDA_CHECK(cudaEventRecord(reduce_produced_.get(), stream_.get()));
      CUDA_CHECK(cudaStreamWaitEvent(reduce_stream_.get(), reduce_produced_.get(), 0));
      nccl_.sum(data, count, reduce_stream_.get());
      reduce_issued_ = true;
      return;
  }
}

// At the end of a backward: the executor's stream then holds the summed gradients.
void ExecutorCudaImpl::gradients_reduce() {
  if (reduce_ == Reduce::nccl && reduce_issued_) {
    CUDA_CHECK(cudaEventRecord(reduce_done_.get(), reduce_stream_.get()));
    CUDA_CHECK(cudaStreamWaitEvent(stream_.get(), reduce_done_.get(), 0));
  }
  reduce_issued_ = false;
  if (reduce_ != Reduce::host) return;
  // One rank-ordered sum of all of them, concatenated (a sum is element by element).
  float* host = reduce_host_.data();
  int64_t total = 0;
  for (const auto& [data, count] : reduce_pending_) {
    CUDA_CHECK(cudaMemcpyAsync(host + total, data, static_cast<size_t>(count) * sizeof(float),
                               cudaMemcpyDeviceToHost, stream_.get()));
    total += count;
  }
  if (total == 0) return;  // nothing asked for, on any rank
  CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  config_.comm->sum(host, total);
  total = 0;
  // From pinned memory, which the host next writes only after a later synchronisation.
  for (const auto& [data, count] : reduce_pending_) {
    CUDA_CHECK(cudaMemcpyAsync(data, host + total, static_cast<size_t>(count) * sizeof(float),
                               cudaMemcpyHostToDevice, stream_.get()));
    total += count;
  }
  reduce_pending_.clear();
}

// Before the handles go: every queued sum finished, then the NCCL communicator destroyed.
void ExecutorCudaImpl::reduce_close() noexcept {
  if (reduce_stream_) static_cast<void>(cudaStreamSynchronize(reduce_stream_.get()));
  nccl_.close();
}

}  // namespace cuda_impl
}  // namespace popup
