// Data-parallel training's collectives (DESIGN.md §8): one process's view of N ranks that run
// the same program, each on its share of every global batch. Every collective must be called
// by every rank in the same order. Sums are rank-ordered: element i of the result is
// ((x_0[i] + x_1[i]) + x_2[i]) + ... + x_{N-1}[i], whatever the timing, the same bits on every
// rank; so a run with a given N is bit-reproducible. Implementations: Open MPI
// (libpopup-mpi.so, lib/mpi/, loaded by dist/launch.hpp under mpirun or srun) and threads of
// one process (dist/communicator_threads.hpp, for tests).
#pragma once

#include <cstdint>
#include <string>

namespace popup {

// What the float sums moved and waited for since the communicator was made: bytes this rank
// sent, and seconds it spent inside sum calls (start, progress, finish), for the log.
struct CommTraffic {
  int64_t sums = 0;    // float sums finished (blocking or started)
  int64_t floats = 0;  // floats summed (the sum of their n)
  int64_t bytes_sent = 0;
  double seconds = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int local_rank() const = 0;    // among the ranks on this machine (picks the GPU)
  virtual std::string name() const = 0;  // e.g. "Open MPI 4.1.4, 4 ranks on 2 hosts"

  // Rank-ordered sums in place (see above). Blocking.
  virtual void sum(float* data, int64_t n) = 0;
  virtual void sum(double* data, int64_t n) = 0;
  virtual void sum(int64_t* data, int64_t n) = 0;

  // The same float sum, started without waiting, so that it can overlap computation: the
  // data must stay untouched until sum_finish(). sum_progress() lets started sums advance
  // (call it between pieces of work); sum_finish() waits for every started sum. Sums started
  // in the same order on every rank; their results are those of sum(). Blocking
  // collectives (sum() and those below) may be called while started sums are pending
  // (SyncBatchNorm's backward sums per channel between the buckets of weight gradients).
  virtual void sum_start(float* data, int64_t n) = 0;
  virtual void sum_progress() = 0;
  virtual void sum_finish() = 0;

  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  // Every rank's `bytes` bytes at `mine`, concatenated in rank order into `all`
  // (size() * bytes).
  virtual void all_gather(const void* mine, void* all, int64_t bytes) = 0;
  virtual void barrier() = 0;

  // Ends every rank's process with exit status `status` (a failure: the others are killed).
  [[noreturn]] virtual void abort(int status) = 0;

  virtual CommTraffic traffic() const = 0;
};

}  // namespace popup
