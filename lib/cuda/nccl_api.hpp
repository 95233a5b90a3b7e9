// NCCL for data-parallel training on CUDA (DESIGN.md §8), loaded at run time: libnccl.so.2 is
// opened with dlopen only when an executor of a run with several ranks needs it, so the plugin
// still loads, and one-GPU training still runs, on machines without NCCL. The few NCCL 2 types
// and constants used are declared here (its stable ABI) so that building needs no nccl.h; where
// nccl.h is found at build time nccl_api.cpp checks them against it.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

namespace popup {
namespace cuda_impl {

// ncclUniqueId: 128 opaque bytes, made by one rank and given to all the others.
struct NcclUniqueId {
  char internal[128];
};
using NcclComm = struct ncclComm*;  // ncclComm_t
using NcclResult = int;             // ncclResult_t
constexpr NcclResult kNcclSuccess = 0;
constexpr int kNcclFloat32 = 7;  // ncclDataType_t ncclFloat32
constexpr int kNcclSum = 0;      // ncclRedOp_t ncclSum

// The entry points used, resolved with dlsym from the process's one copy of the library.
struct NcclApi {
  NcclResult (*get_version)(int* version) = nullptr;
  NcclResult (*get_unique_id)(NcclUniqueId* id) = nullptr;
  NcclResult (*comm_init_rank)(NcclComm* comm, int ranks, NcclUniqueId id, int rank) = nullptr;
  NcclResult (*comm_destroy)(NcclComm comm) = nullptr;
  NcclResult (*comm_abort)(NcclComm comm) = nullptr;
  NcclResult (*comm_get_async_error)(NcclComm comm, NcclResult* error) = nullptr;
  NcclResult (*all_reduce)(const void* send, void* recv, size_t count, int type, int op,
                           NcclComm comm, cudaStream_t stream) = nullptr;
  const char* (*get_error_string)(NcclResult result) = nullptr;
  const char* (*get_last_error)(NcclComm comm) = nullptr;  // NCCL 2.13 on; may be null
  std::string version;                                     // "2.28.9"
};

// The library, loaded on the first call (later calls return the same); throws popup::Error
// naming libnccl.so.2 and saying why when it cannot be loaded or is older than NCCL 2.4.
// Before its first NCCL call it sets NCCL_ALGO=Ring,Tree in the environment unless NCCL_ALGO
// is already set, so that NCCL never chooses the in-switch reductions (NVLS, CollNet), whose
// results may differ from one call to the next.
const NcclApi& nccl_api();

// Throws popup::Error "NCCL: <call>: <NCCL's description>[: <its last error>]" unless ok.
void nccl_check(NcclResult result, const char* call, NcclComm comm = nullptr);

// An NCCL communicator, destroyed with it (aborted instead when an exception is unwinding or
// an NCCL call on it failed: its peers may be gone, and destroying could then wait for them).
class NcclCommunicator {
 public:
  NcclCommunicator() = default;
  ~NcclCommunicator() { close(); }
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  // ncclCommInitRank on the current CUDA device: every rank calls it with the same id.
  void init(int ranks, const NcclUniqueId& id, int rank);
  // ncclAllReduce(ncclSum) of count floats in place, queued on stream.
  void sum(float* data, int64_t count, cudaStream_t stream);
  void close() noexcept;
  explicit operator bool() const { return comm_ != nullptr; }

 private:
  NcclComm comm_ = nullptr;
  bool failed_ = false;
  int unwinding_ = 0;  // std::uncaught_exceptions() when made
};

}  // namespace cuda_impl
}  // namespace popup
