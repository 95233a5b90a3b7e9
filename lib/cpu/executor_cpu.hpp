// The CPU executor's data-parallel knobs and timings (DESIGN.md §8), beyond the Executor
// interface: how backward() groups the weight gradients into sums over the ranks, and where
// its time went. For tests and benchmarks; executor_cpu_create (backend/executor.hpp) uses
// the defaults.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "backend/executor.hpp"

namespace popup {

struct CpuReduceOptions {
  // Gradients finished one after another are summed in buckets of about this many bytes
  // (consecutive tensors packed into one buffer; a tensor at least this large alone, in
  // place). 0: one sum per tensor, in place.
  int64_t bucket_bytes = int64_t{1} << 20;
  // true: each bucket's sum starts (Communicator::sum_start) as soon as the backward has
  // finished its gradients, and advances between the later steps; false: blocking sums after
  // the whole backward.
  bool overlap = true;
};

// Where the last backward() of a data-parallel executor spent its time, in seconds.
struct CpuReduceTimes {
  double backward = 0;  // the whole call
  double steps = 0;     // running the backward's steps, with the sum starts and progress calls
  double finish = 0;    // waiting for the sums after the steps (sum_finish, or blocking sums)
  int64_t buckets = 0;  // sums started
  int64_t floats = 0;   // floats summed
};

std::unique_ptr<Executor> executor_cpu_create(const Network& net, const ExecutorConfig& config,
                                              const CpuReduceOptions& reduce);

// The last backward's times; zeros without comm. InvalidArgument if the executor is not one
// executor_cpu_create made.
CpuReduceTimes executor_cpu_reduce_times(const Executor& executor);

// True when this CPU computes bf16 natively (AVX512-BF16 or AMX) as oneDNN sees it (its
// DNNL_MAX_CPU_ISA cap included); elsewhere oneDNN emulates bf16, slower than fp32. `isa`:
// oneDNN's name for the CPU's instruction set, for messages.
bool cpu_native_bf16(std::string& isa);

}  // namespace popup
