// The CUDA executor's plans: per batch size, the activations' tensor descriptors and the
// convolution algorithms, built on first use, and the workspace they share.
#include <algorithm>
#include <utility>

#include "cuda/cuda_check.hpp"
#include "cuda/executor_cuda_impl.hpp"

namespace popup {
namespace cuda_impl {

BatchPlan& ExecutorCudaImpl::plan_for(int64_t n) {
  auto found = plans_.find(n);
  if (found == plans_.end()) {
    BatchPlan plan = plan_build(n);
    workspace_reserve(plan.workspace);
    found = plans_.emplace(n, std::move(plan)).first;
  }
  return found->second;
}

BatchPlan ExecutorCudaImpl::plan_build(int64_t n) {
  BatchPlan p;
  p.n = n;
  for (int j = -1; j < static_cast<int>(net_.ops.size()); ++j) {
    const OpShape s = op_shape(net_, j);
    p.act.push_back(tensor_desc(n, s.c, s.h, s.w));
  }
  p.conv.resize(net_.ops.size());
  for (size_t i = 0; i < net_.ops.size(); ++i) {
    if (net_.ops[i].kind != OpKind::conv) continue;
    const int op = static_cast<int>(i), j = net_.ops[i].inputs[0];
    ConvAlgos& a = p.conv[i];
    a.forward = forward_algo(op, p);
    if (config_.train) {
      a.filter = filter_algo(op, p);
      if (j >= 0 && graph_.needs_diff[j]) a.data = data_algo(op, p);
    }
    p.workspace =
        std::max({p.workspace, a.forward.workspace, a.filter.workspace, a.data.workspace});
  }
  return p;
}

// Grows the shared workspace; queued work may still use the old one, so wait first (this
// happens only while a plan is built, not in the steady state).
void ExecutorCudaImpl::workspace_reserve(size_t bytes) {
  if (bytes <= workspace_.bytes()) return;
  CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  workspace_.resize(bytes);
}

}  // namespace cuda_impl
}  // namespace popup
