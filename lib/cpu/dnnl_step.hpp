// One oneDNN primitive with its arguments, ready to run without allocating, and a runner for
// a list of them.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>
#include <utility>
#include <vector>

namespace popup {

// One primitive with its arguments, ready to run without allocating.
struct DnnlStep {
  dnnl::primitive primitive;
  std::vector<std::pair<int, dnnl::memory>> args;  // keeps the memories alive
  std::vector<dnnl_exec_arg_t> exec_args;          // the same, as oneDNN's C API takes them
  int tensor = -1;  // a weight-gradient step: runs only when that gradient is asked for
};

DnnlStep dnnl_step_make(const dnnl::primitive& primitive,
                        std::vector<std::pair<int, dnnl::memory>> args, int tensor = -1);

// Runs the steps in order; a step with tensor t runs only when grads is null or grads[t] is.
// Throws popup::Error with oneDNN's status text.
void dnnl_steps_run(const std::vector<DnnlStep>& steps, const dnnl::stream& stream,
                    const std::vector<float*>* grads = nullptr);

}  // namespace popup
