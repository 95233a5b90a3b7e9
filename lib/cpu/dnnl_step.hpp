// One oneDNN primitive with its arguments, ready to run without allocating (or a piece of host
// code between primitives), and a runner for a list of them.
#pragma once

#include <cstddef>
#include <functional>
#include <oneapi/dnnl/dnnl.hpp>
#include <utility>
#include <vector>

namespace popup {

// One primitive with its arguments, ready to run without allocating. A host step (host set)
// runs that function instead of a primitive; its args name the memories it touches, so that
// the plan's buffer sharing sees them, and are not passed to it.
struct DnnlStep {
  dnnl::primitive primitive;
  std::vector<std::pair<int, dnnl::memory>> args;  // keeps the memories alive
  std::vector<dnnl_exec_arg_t> exec_args;          // the same, as oneDNN's C API takes them
  int tensor = -1;  // a weight-gradient step: runs only when that gradient is asked for
  int bn_op = -1;   // the backward step that writes BatchNorm op bn_op's gamma/beta gradient
  std::function<void()> host;
};

DnnlStep dnnl_step_make(const dnnl::primitive& primitive,
                        std::vector<std::pair<int, dnnl::memory>> args, int tensor = -1);

// Runs the steps in order; a step with tensor t runs only when grads is null or grads[t] is.
// after(k), when given, runs after step k (run or skipped). Throws popup::Error with oneDNN's
// status text.
void dnnl_steps_run(const std::vector<DnnlStep>& steps, const dnnl::stream& stream,
                    const std::vector<float*>* grads = nullptr,
                    const std::function<void(size_t)>& after = {});

}  // namespace popup
