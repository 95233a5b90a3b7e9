// oneDNN execution plan of a Network for one batch size: the primitives of the forward and
// backward passes in order, with their arguments bound to buffers that are reused every step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <utility>
#include <vector>

#include "cpu/dnnl_arena.hpp"
#include "cpu/dnnl_step.hpp"
#include "cpu/dnnl_sync_bn.hpp"
#include "backend/executor.hpp"
#include "net/network.hpp"

namespace popup {

// A weight tensor: the caller's plain layout and the layouts the primitives chose.
struct DnnlTensor {
  dnnl::memory plain;     // row-major over the caller's array (handle set per call)
  dnnl::memory grad;      // row-major over the caller's gradient array (handle set per call)
  dnnl::memory forward;   // the forward primitive's layout
  dnnl::memory backward;  // backward-data's layout: forward itself when they agree; empty
                          // when no backward-data needs it (the first layer)
  std::vector<DnnlStep> from_plain;  // reorders plain -> forward (-> backward)
  // u8 over the caller's mask, which every step of from_plain applies (handle set by
  // ExecutorCpu::set_masked_weights, else none: no mask); empty where a step is oneDNN's
  // reorder, which cannot (bf16, or a layout MaskedReorder does not take).
  dnnl::memory mask;
};

// What the plans of all batch sizes share: the engine, the weights (a plan for another batch
// size is built with the layouts of the first) and the BatchNorm running statistics.
struct DnnlState {
  dnnl::engine engine;
  // Weights, activations and their gradients inside the primitives: f32, or bf16 (the
  // caller's arrays, weight gradients and BatchNorm statistics stay f32 either way).
  dnnl::memory::data_type data_type = dnnl::memory::data_type::f32;
  std::vector<DnnlTensor> tensors;               // Network::tensors order
  std::vector<std::vector<float>> running_mean;  // per op; empty for ops other than batchnorm
  std::vector<std::vector<float>> running_var;
  // Affine BatchNorm (ExecutorConfig::affine_bn): per batchnorm op, oneDNN's f32 scale_shift
  // [2, c] (gamma, then beta) and its gradient from the last backward; empty otherwise.
  bool affine_bn = false;
  std::vector<std::vector<float>> bn_scale_shift;
  std::vector<std::vector<float>> bn_diff_scale_shift;
  // Data-parallel SyncBatchNorm (ExecutorConfig::sync_bn with comm): training BatchNorms
  // combine every rank's statistics through comm (host steps, dnnl_sync_bn.hpp).
  Communicator* comm = nullptr;
  bool sync_bn = false;
  // How the convolutions run (ExecutorConfig::conv_algo): per op, the algorithm of its
  // convolution (direct for the other ops), decided by the first plan unless replayed
  // (ExecutorConfig::conv_plan), the same in every plan after.
  ConvAlgo conv_algo = ConvAlgo::direct;
  std::vector<ConvAlgo> conv_choice;
  bool conv_decided = false;
};

// Batch statistics written by one BatchNorm during a training forward.
struct DnnlBatchStats {
  int op = -1;
  dnnl::memory mean, var;            // biased variance
  int64_t count = 0;                 // values per channel (n h w)
  std::shared_ptr<DnnlSyncBn> sync;  // sync_bn: mean, var and sync->global_count are global
};

struct DnnlPlan {
  int64_t n = 0;
  dnnl::memory images;  // plain NCHW over the caller's images (handle set per forward)
  std::vector<DnnlStep> forward_train;  // images -> logits, BatchNorm on batch statistics
  std::vector<DnnlStep> forward_infer;  // images -> logits, BatchNorm on running statistics
  std::vector<DnnlStep> backward;       // gradient of the logits -> weight gradients
  std::vector<DnnlBatchStats> batch_stats;
  std::vector<std::pair<dnnl::memory, size_t>> slot_memories;  // memories over arena slots
  uint64_t generation = 0;  // the arena generation the slot memories are bound to
};

// Builds the plan of `net` for batches of n. Without `train` only forward_infer is built.
// Logits and their gradient are [n, classes] row-major at `logits` and `diff_logits`.
// Throws InvalidArgument for a malformed network, popup::Error for a oneDNN failure.
DnnlPlan dnnl_plan_build(const Network& net, int64_t n, bool train, DnnlState& state,
                         DnnlArena& arena, float* logits, float* diff_logits);

// Points the plan's memories at the arena's buffers again when they have moved.
void dnnl_plan_bind(DnnlPlan& plan, const DnnlArena& arena);

}  // namespace popup
