// NCCL loaded with dlopen (nccl_api.hpp): the library, its entry points and version, status
// checks, and the owning communicator.
#include "cuda/nccl_api.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <exception>
#include <string>

#include "error.hpp"

#if __has_include(<nccl.h>)
#include <nccl.h>
// The declarations of nccl_api.hpp are NCCL's own ABI.
static_assert(sizeof(ncclUniqueId) == sizeof(popup::cuda_impl::NcclUniqueId));
static_assert(ncclSuccess == popup::cuda_impl::kNcclSuccess);
static_assert(ncclFloat32 == popup::cuda_impl::kNcclFloat32);
static_assert(ncclSum == popup::cuda_impl::kNcclSum);
static_assert(sizeof(ncclResult_t) == sizeof(popup::cuda_impl::NcclResult));
static_assert(sizeof(ncclDataType_t) == sizeof(int) && sizeof(ncclRedOp_t) == sizeof(int));
#endif

namespace popup {
namespace cuda_impl {

namespace {

constexpr const char* kLibrary = "libnccl.so.2";

[[noreturn]] void load_fail(const std::string& why) {
  throw Error("", std::string("NCCL: cannot use ") + kLibrary + " (" + why +
                      "); data-parallel training on CUDA needs NCCL 2.4 or later (e.g. Debian's "
                      "libnccl2, or NVIDIA's packages, found through LD_LIBRARY_PATH), or "
                      "POPUP_CUDA_REDUCE=host to sum the gradients through host memory");
}

template <typename F>
void resolve(void* library, const char* name, F& f, bool required = true) {
  f = reinterpret_cast<F>(dlsym(library, name));
  if (!f && required) load_fail(std::string("no symbol ") + name);
}

// NCCL_VERSION_CODE: MAJOR*1000 + MINOR*100 + PATCH before 2.9, MAJOR*10000 + ... since.
std::string version_text(int code) {
  const bool wide = code >= 10000;
  const int major = wide ? code / 10000 : code / 1000;
  const int minor = wide ? code % 10000 / 100 : code % 1000 / 100;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(code % 100);
}

NcclApi load() {
  // Ring and Tree reduce in software in an order fixed by the communicator's topology: the same
  // bits every call. NVLS and CollNet reduce in the switch (not deterministic). Set before the
  // library reads its environment (at its first call, below).
  setenv("NCCL_ALGO", "Ring,Tree", 0);
  dlerror();
  void* library = dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    const char* why = dlerror();
    load_fail(why ? why : "not found");
  }
  // Never closed: NCCL keeps threads of its own for the life of the process.
  NcclApi api;
  resolve(library, "ncclGetVersion", api.get_version);
  resolve(library, "ncclGetUniqueId", api.get_unique_id);
  resolve(library, "ncclCommInitRank", api.comm_init_rank);
  resolve(library, "ncclCommDestroy", api.comm_destroy);
  resolve(library, "ncclCommAbort", api.comm_abort);
  resolve(library, "ncclCommGetAsyncError", api.comm_get_async_error);
  resolve(library, "ncclAllReduce", api.all_reduce);
  resolve(library, "ncclGetErrorString", api.get_error_string);
  resolve(library, "ncclGetLastError", api.get_last_error, false);
  int code = 0;
  if (api.get_version(&code) != kNcclSuccess) load_fail("ncclGetVersion failed");
  api.version = version_text(code);
  if (code < 2400) load_fail("version " + api.version);
  return api;
}

}  // namespace

const NcclApi& nccl_api() {
  static const NcclApi api = load();  // a throw leaves it to be tried again by the next call
  return api;
}

void nccl_check(NcclResult result, const char* call, NcclComm comm) {
  if (result == kNcclSuccess) return;
  const NcclApi& api = nccl_api();
  std::string what = std::string("NCCL: ") + call + ": " + api.get_error_string(result);
  const char* last = api.get_last_error ? api.get_last_error(comm) : nullptr;
  if (last && *last) what += std::string(": ") + last;
  throw Error("", what);
}

void NcclCommunicator::init(int ranks, const NcclUniqueId& id, int rank) {
  close();
  unwinding_ = std::uncaught_exceptions();
  NcclComm comm = nullptr;
  nccl_check(nccl_api().comm_init_rank(&comm, ranks, id, rank), "ncclCommInitRank");
  comm_ = comm;
  failed_ = false;
}

void NcclCommunicator::sum(float* data, int64_t count, cudaStream_t stream) {
  if (count == 0) return;
  const NcclResult r = nccl_api().all_reduce(data, data, static_cast<size_t>(count), kNcclFloat32,
                                             kNcclSum, comm_, stream);
  if (r != kNcclSuccess) {
    failed_ = true;
    nccl_check(r, "ncclAllReduce", comm_);
  }
}

void NcclCommunicator::close() noexcept {
  if (!comm_) return;
  const NcclApi& api = nccl_api();  // loaded: comm_ was made with it
  NcclResult async = kNcclSuccess;
  if (api.comm_get_async_error(comm_, &async) != kNcclSuccess || async != kNcclSuccess)
    failed_ = true;
  if (failed_ || std::uncaught_exceptions() > unwinding_)
    static_cast<void>(api.comm_abort(comm_));
  else
    static_cast<void>(api.comm_destroy(comm_));
  comm_ = nullptr;
}

}  // namespace cuda_impl
}  // namespace popup
