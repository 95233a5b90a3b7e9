// The CUDA executor's device buffers, allocated once for max_batch examples: weights,
// activations, gradients, BatchNorm arrays, and the input, staging and loss buffers.
#include <algorithm>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/executor_cuda_impl.hpp"

namespace popup {
namespace cuda_impl {

void ExecutorCudaImpl::weights_allocate() {
  size_t total = 0;
  for (const TensorSpec& t : net_.tensors) {
    weight_offset_.push_back(total);
    total += static_cast<size_t>(t.numel());
  }
  weights_.resize(total);
  weights_set_.assign(net_.tensors.size(), false);
}

// Every op's output for max_batch examples, except an in-place relu's (graph_.in_place: its
// input feeds nothing else, and no backward needs that input's values afterwards).
void ExecutorCudaImpl::activations_allocate() {
  const size_t count = net_.ops.size();
  out_store_.resize(count);
  out_.assign(count, nullptr);
  filter_.resize(count);
  conv_.resize(count);
  for (size_t i = 0; i < count; ++i) {
    const Op& op = net_.ops[i];
    if (graph_.in_place[i]) {
      out_[i] = out_[op.inputs[0]];
    } else {
      out_store_[i].resize(static_cast<size_t>(config_.max_batch * per_example(i)));
      out_[i] = out_store_[i].data();
    }
    if (op.kind == OpKind::conv) {
      filter_[i] = filter_desc(net_.tensors[op.tensor]);
      conv_[i] = conv_desc(net_.tensors[op.tensor]);
    }
  }
}

// Gradients of the outputs that need one; an output whose only reader passes its gradient on
// unchanged or in place (graph_.diff_alias: an add, an in-place relu) shares that reader's.
void ExecutorCudaImpl::gradients_allocate() {
  const int count = static_cast<int>(net_.ops.size());
  grad_store_.resize(static_cast<size_t>(count));
  grad_.assign(static_cast<size_t>(count), nullptr);
  for (int i = count - 1; i >= 0; --i) {
    if (!graph_.needs_diff[i]) continue;
    if (graph_.diff_alias[i] >= 0) {
      grad_[i] = grad_[graph_.diff_alias[i]];  // a later op: already resolved
    } else {
      grad_store_[i].resize(static_cast<size_t>(config_.max_batch * per_example(i)));
      grad_[i] = grad_store_[i].data();
    }
  }
  diff_logits_.resize(static_cast<size_t>(config_.max_batch * net_.classes));
  int64_t scratch = 0;
  for (int i : bn_ops_) {
    const int j = net_.ops[static_cast<size_t>(i)].inputs[0];
    if (j < 0 || !grad_[static_cast<size_t>(j)])
      scratch = std::max(scratch, config_.max_batch * per_example(j));
  }
  bn_dx_scratch_.resize(static_cast<size_t>(scratch));
}

// Running statistics start at mean 0, variance 1 (PyTorch's), the scale at 1; the other arrays
// at 0, which matters for batch_mean/var: cuDNN reads them (times 0) before writing.
void ExecutorCudaImpl::batchnorm_allocate() {
  const size_t count = net_.ops.size();
  bn_store_.resize(count);
  bn_.resize(count);
  bn_param_.resize(count);
  int64_t max_c = 0;
  for (const Op& op : net_.ops)
    if (op.kind == OpKind::batchnorm) max_c = std::max(max_c, op.c);
  if (max_c == 0) return;
  // The source of every copy below; it must outlive them (see host_copies_wait).
  const std::vector<float> ones(static_cast<size_t>(max_c), 1.f);
  for (size_t i = 0; i < count; ++i) {
    const Op& op = net_.ops[i];
    if (op.kind != OpKind::batchnorm) continue;
    const auto c = static_cast<size_t>(op.c);
    DeviceArray<float>& store = bn_store_[i];
    store.resize(BnArrays::count * c);
    CUDA_CHECK(cudaMemsetAsync(store.data(), 0, store.bytes(), stream_.get()));
    float* base = store.data();
    BnArrays& b = bn_[i];
    float** arrays[BnArrays::count] = {
        &b.running_mean, &b.running_var, &b.batch_mean, &b.batch_var, &b.save_mean,
        &b.save_inv_var, &b.scale,       &b.bias,       &b.dscale,    &b.dbias};
    for (int k = 0; k < BnArrays::count; ++k) *arrays[k] = base + static_cast<size_t>(k) * c;
    for (float* one : {b.running_var, b.scale})
      CUDA_CHECK(cudaMemcpyAsync(one, ones.data(), c * sizeof(float), cudaMemcpyHostToDevice,
                                 stream_.get()));
    bn_param_[i] = tensor_desc(1, op.c, 1, 1);
  }
  host_copies_wait();
}

void ExecutorCudaImpl::io_allocate() {
  const auto batch = static_cast<size_t>(config_.max_batch);
  images_.resize(batch * static_cast<size_t>(per_example(-1)));
  labels_.resize(batch);
  gather_examples_.resize(batch);
  gather_draws_.resize(3 * batch);
  for (Staging& s : staging_) {
    s.images.resize(images_.size());
    s.labels.resize(batch);
    s.examples.resize(batch);
    s.draws.resize(3 * batch);
    cudaEvent_t event = nullptr;
    CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    s.copied.reset(event);
  }
  examples_.resize(batch);
  totals_.resize(2);
  CUDA_CHECK(cudaMemsetAsync(totals_.data(), 0, totals_.bytes(), stream_.get()));
  totals_host_.resize(1);
  logits_host_.assign(batch * static_cast<size_t>(net_.classes), 0.f);
}

}  // namespace cuda_impl
}  // namespace popup
