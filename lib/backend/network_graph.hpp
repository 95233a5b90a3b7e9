// The structure of a Network that a backend plans with: who reads each op's output, which
// outputs need a gradient, and which buffers can be shared. Built once, with the graph checked.
#pragma once

#include <vector>

#include "backend/executor.hpp"
#include "net/network.hpp"

namespace popup {

struct NetworkGraph {
  std::vector<std::vector<int>> consumers;  // per op: the ops that read its output, in order
  // needs_diff: the output depends on some weight (or, with affine BatchNorm, some BatchNorm's
  // scale and shift): it needs a gradient
  std::vector<bool> needs_diff;
  std::vector<bool> flat;       // the output is [n, c] rather than [n, c, h, w]
  std::vector<bool> in_place;   // a relu that overwrites its input, forward and backward
  std::vector<int> diff_alias;  // the consumer whose gradient buffer the output's gradient
                                // shares (an in-place relu, or an add it alone feeds), or -1
};

// Throws InvalidArgument for a graph no backend can execute: wrong input counts, an input
// that is not an earlier op, a weight tensor that does not fit or is not used exactly once,
// an unused output, a last op that does not give [classes] logits. affine_bn: the BatchNorms
// have parameters (ExecutorConfig::affine_bn), which need gradients.
NetworkGraph network_graph(const Network& net, bool affine_bn = false);

// What every backend checks before a forward of n examples, before anything changes:
// InvalidArgument for a batch outside 1 .. max_batch, a training forward on an inference-only
// executor, a tensor whose weights were never set, or (when labels is not null) a label
// outside [0, classes).
void executor_forward_check(const Network& net, const ExecutorConfig& config,
                            const std::vector<bool>& weights_set, const int32_t* labels, int64_t n,
                            bool training);

// Where each of `stats` (Executor::set_running_stats) goes: the BatchNorm op, and its mean or
// its variance, in the order given. MismatchError unless they are exactly the network's
// running statistics, each once, with one value per channel.
struct RunningStatTarget {
  int op = -1;
  bool var = false;
};
std::vector<RunningStatTarget> running_stats_targets(const Network& net,
                                                     const std::vector<NamedArray>& stats);

// The ops of the BatchNorms that Executor::bn_* number b = 0, 1, ... (network order); empty
// without config.affine_bn.
std::vector<int> affine_bn_ops(const Network& net, const ExecutorConfig& config);

// The op of BatchNorm b among `ops` (affine_bn_ops); InvalidArgument for b >= ops.size().
int affine_bn_op(const std::vector<int>& ops, size_t b);

}  // namespace popup
