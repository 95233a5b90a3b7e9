// The structure of a Network as a backend plans it (see network_graph.hpp), and the checks
// that the graph is one the backends can execute.
#include "backend/network_graph.hpp"

#include <map>
#include <set>
#include <string>

#include "error.hpp"
#include "train/softmax_cross_entropy.hpp"

namespace popup {
namespace {

struct Shape {
  int64_t c = 0, h = 0, w = 0;
  bool flat = false;  // [c] rather than [c, h, w]
};

std::string op_label(int i) { return "network op " + std::to_string(i); }

// The shape of op j's output among `shapes` (those of the ops checked so far), or of the
// network input for j = -1.
Shape shape_of(const Network& net, const std::vector<Shape>& shapes, int j) {
  if (j >= 0) return shapes[j];
  const OpShape in = op_shape(net, j);
  return {in.c, in.h, in.w, false};
}

// The output shape op i must have, from its input shapes; throws where it has none.
Shape shape_expected(const Network& net, int i, const std::vector<Shape>& shapes) {
  const Op& op = net.ops[i];
  const Shape in = shape_of(net, shapes, op.inputs[0]);
  const bool image_op =
      op.kind == OpKind::conv || op.kind == OpKind::maxpool || op.kind == OpKind::global_avgpool;
  if (in.flat && image_op)
    throw InvalidArgument("", op_label(i) + " needs an image input, not a flat one");
  switch (op.kind) {
    case OpKind::conv:
    case OpKind::linear: {
      if (op.tensor < 0 || op.tensor >= static_cast<int>(net.tensors.size()))
        throw InvalidArgument("", op_label(i) + " has no weight tensor");
      const TensorSpec& t = net.tensors[op.tensor];
      const bool conv = op.kind == OpKind::conv;
      if (t.kind != (conv ? LayerKind::conv : LayerKind::linear) ||
          t.shape.size() != (conv ? 4u : 2u) || t.shape[1] != (conv ? in.c : in.c * in.h * in.w) ||
          (conv && (t.stride < 1 || t.pad < 0)))
        throw InvalidArgument("", op_label(i) + ": tensor " + t.name + " does not fit its input");
      if (!conv) return {t.shape[0], 1, 1, true};
      return {t.shape[0], window_positions(in.h, t.shape[2], t.stride, t.pad),
              window_positions(in.w, t.shape[3], t.stride, t.pad), false};
    }
    case OpKind::maxpool:
      // pad <= kernel / 2: every window holds at least one input value (as PyTorch requires)
      if (op.kernel < 1 || op.stride < 1 || op.pad < 0 || op.pad > op.kernel / 2)
        throw InvalidArgument("", op_label(i) + ": max-pool " + std::to_string(op.kernel) + "x" +
                                      std::to_string(op.kernel) + " stride " +
                                      std::to_string(op.stride) + " pad " + std::to_string(op.pad) +
                                      " is not a valid window");
      return {in.c, window_positions(in.h, op.kernel, op.stride, op.pad),
              window_positions(in.w, op.kernel, op.stride, op.pad), false};
    case OpKind::global_avgpool: return {in.c, 1, 1, false};
    case OpKind::add: {
      const Shape b = shape_of(net, shapes, op.inputs[1]);
      if (b.c != in.c || b.h != in.h || b.w != in.w || b.flat != in.flat)
        throw InvalidArgument("", op_label(i) + " adds tensors of different shapes");
      return in;
    }
    case OpKind::relu:
    case OpKind::batchnorm: return in;
  }
  return in;
}

}  // namespace

NetworkGraph network_graph(const Network& net, bool affine_bn) {
  const int count = static_cast<int>(net.ops.size());
  if (count == 0) throw InvalidArgument("", "network has no ops");
  NetworkGraph g;
  g.consumers.assign(count, {});
  g.needs_diff.assign(count, false);
  g.flat.assign(count, false);
  std::vector<Shape> shapes(count);
  std::vector<int> tensor_users(net.tensors.size(), 0);
  bool reads_input = false;
  for (int i = 0; i < count; ++i) {
    const Op& op = net.ops[i];
    const size_t arity = op.kind == OpKind::add ? 2 : 1;
    if (op.inputs.size() != arity)
      throw InvalidArgument("", op_label(i) + " has " + std::to_string(op.inputs.size()) +
                                    " inputs, expected " + std::to_string(arity));
    for (int j : op.inputs) {
      if (j < -1 || j >= i) throw InvalidArgument("", op_label(i) + " reads a later op");
      if (j >= 0) g.consumers[j].push_back(i);
      reads_input = reads_input || j < 0;
      g.needs_diff[i] = g.needs_diff[i] || (j >= 0 && g.needs_diff[j]);
    }
    shapes[i] = shape_expected(net, i, shapes);
    if (shapes[i].c != op.c || shapes[i].h != op.h || shapes[i].w != op.w || op.h < 1 || op.w < 1)
      throw InvalidArgument(
          "", op_label(i) + " gives " + std::to_string(op.c) + "x" + std::to_string(op.h) + "x" +
                  std::to_string(op.w) + ", its inputs make " + std::to_string(shapes[i].c) + "x" +
                  std::to_string(shapes[i].h) + "x" + std::to_string(shapes[i].w));
    g.flat[i] = shapes[i].flat;
    if (op.kind == OpKind::conv || op.kind == OpKind::linear) {
      ++tensor_users[op.tensor];
      g.needs_diff[i] = true;
    }
    if (op.kind == OpKind::batchnorm && affine_bn) g.needs_diff[i] = true;
  }
  for (size_t t = 0; t < net.tensors.size(); ++t)
    if (tensor_users[t] != 1)
      throw InvalidArgument("", "tensor " + net.tensors[t].name + " is used by " +
                                    std::to_string(tensor_users[t]) + " ops, expected 1");
  if (!reads_input) throw InvalidArgument("", "network does not read its input");
  for (int i = 0; i + 1 < count; ++i)
    if (g.consumers[i].empty()) throw InvalidArgument("", op_label(i) + "'s output is unused");
  const Op& last = net.ops.back();
  if (last.c != net.classes || last.h != 1 || last.w != 1)
    throw InvalidArgument("",
                          "the last op does not give " + std::to_string(net.classes) + " logits");

  g.in_place.assign(count, false);
  g.diff_alias.assign(count, -1);
  for (int i = 0; i < count; ++i) {
    const Op& op = net.ops[i];
    // A relu whose input feeds nothing else runs in place, forward and backward: no op's
    // backward needs its own output, except a relu's (so not after a relu).
    if (op.kind == OpKind::relu) {
      const int j = op.inputs[0];
      if (j >= 0 && g.consumers[j].size() == 1 && net.ops[j].kind != OpKind::relu) {
        g.in_place[i] = true;
        g.diff_alias[j] = i;
      }
    }
    // An add passes its gradient on unchanged: an input that feeds only the add shares the
    // add's gradient buffer, unless it is a relu (whose in-place backward would overwrite
    // what the other input still reads).
    if (op.kind == OpKind::add)
      for (int j : op.inputs)
        if (j >= 0 && g.consumers[j].size() == 1 && net.ops[j].kind != OpKind::relu)
          g.diff_alias[j] = i;
  }
  return g;
}

void executor_forward_check(const Network& net, const ExecutorConfig& config,
                            const std::vector<bool>& weights_set, const int32_t* labels, int64_t n,
                            bool training) {
  if (n < 1 || n > config.max_batch)
    throw InvalidArgument("", "batch of " + std::to_string(n) + " examples, expected 1 to " +
                                  std::to_string(config.max_batch));
  if (training && !config.train)
    throw InvalidArgument("", "training forward on an executor built for inference only");
  for (size_t t = 0; t < weights_set.size(); ++t)
    if (!weights_set[t])
      throw InvalidArgument("",
                            "forward before the weights of " + net.tensors[t].name + " were set");
  if (labels) labels_check(labels, n, net.classes);
}

std::vector<int> affine_bn_ops(const Network& net, const ExecutorConfig& config) {
  std::vector<int> ops;
  if (!config.affine_bn) return ops;
  for (size_t i = 0; i < net.ops.size(); ++i)
    if (net.ops[i].kind == OpKind::batchnorm) ops.push_back(static_cast<int>(i));
  return ops;
}

int affine_bn_op(const std::vector<int>& ops, size_t b) {
  if (b >= ops.size())
    throw InvalidArgument("", "no BatchNorm " + std::to_string(b) + " (the network has " +
                                  std::to_string(ops.size()) + ")");
  return ops[b];
}

std::vector<RunningStatTarget> running_stats_targets(const Network& net,
                                                     const std::vector<NamedArray>& stats) {
  std::map<std::string, RunningStatTarget> targets;
  for (size_t i = 0; i < net.ops.size(); ++i)
    if (net.ops[i].kind == OpKind::batchnorm) {
      targets[net.ops[i].name + ".running_mean"] = {static_cast<int>(i), false};
      targets[net.ops[i].name + ".running_var"] = {static_cast<int>(i), true};
    }
  if (stats.size() != targets.size())
    throw MismatchError("", std::to_string(stats.size()) + " running statistics, the network has " +
                                std::to_string(targets.size()));
  std::set<std::string> seen;
  std::vector<RunningStatTarget> found;
  for (const NamedArray& s : stats) {
    const auto target = targets.find(s.name);
    if (target == targets.end())
      throw MismatchError("", "the network has no running statistic " + s.name);
    if (!seen.insert(s.name).second)
      throw MismatchError("", "running statistic " + s.name + " given twice");
    const auto channels = static_cast<size_t>(net.ops[static_cast<size_t>(target->second.op)].c);
    if (s.values.size() != channels)
      throw MismatchError("", s.name + " has " + std::to_string(s.values.size()) +
                                  " values, expected " + std::to_string(channels));
    found.push_back(target->second);
  }
  return found;
}

}  // namespace popup
