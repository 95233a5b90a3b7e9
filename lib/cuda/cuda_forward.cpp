// The CUDA executor's forward: the network op by op (convolutions and BatchNorm in cuDNN,
// linear layers in cuBLAS, the rest in net_kernels.cu), then the loss and its sums, all
// queued on the stream; the host waits only for the totals and the logits it reads.
#include <cublas_v2.h>
#include <cudnn.h>

#include <string>

#include "cuda/cuda_check.hpp"
#include "cuda/executor_cuda_impl.hpp"
#include "error.hpp"

namespace popup {
namespace cuda_impl {

void ExecutorCudaImpl::forward_check(const int32_t* labels, int64_t n, bool training) const {
  executor_forward_check(net_, config_, weights_set_, labels, n, training);
}

BatchStats ExecutorCudaImpl::forward(const float* images, const int32_t* labels, int64_t n,
                                     bool training) {
  const DeviceScope scope(device_);
  // its own totals slot: the statistics of this batch alone, queued sums left alone
  forward_run(images, labels, n, training, kSingleSlot);
  return totals_take(kSingleSlot);
}

void ExecutorCudaImpl::forward_queue(const float* images, const int32_t* labels, int64_t n,
                                     bool training) {
  const DeviceScope scope(device_);
  forward_run(images, labels, n, training, kQueuedSlot);
}

void ExecutorCudaImpl::forward_run(const float* images, const int32_t* labels, int64_t n,
                                   bool training, int slot) {
  forward_check(labels, n, training);
  last_ = nullptr;
  last_training_ = false;
  bn_grads_ready_ = false;
  const BatchPlan& p = plan_for(n);
  input_stage(images, labels, n);
  forward_compute(p, training, training ? global_batch(n) : n, slot);
}

// The network, the loss and its sums, on the batch in images_ and labels_. The loss gradient
// is that of the mean over mean_over examples: the batch's n, or in a data-parallel run the
// global batch (global_batch), so that the ranks' gradients sum to the global mean's.
void ExecutorCudaImpl::forward_compute(const BatchPlan& p, bool training, int64_t mean_over,
                                       int slot) {
  const int64_t n = p.n;
  for (size_t i = 0; i < net_.ops.size(); ++i) forward_op(static_cast<int>(i), p, training);
  softmax_cross_entropy_rows(out_.back(), labels_.data(), n, net_.classes, config_.label_smoothing,
                             training ? diff_logits_.data() : nullptr, mean_over, examples_.data(),
                             stream_.get());
  loss_totals_add(examples_.data(), n, totals_.data() + slot, stream_.get());
  last_ = &p;
  last_training_ = training;
}

void ExecutorCudaImpl::forward_queue_examples(int data, const int64_t* examples,
                                              const AugmentDraw* draws, int64_t n, bool training) {
  const DeviceScope scope(device_);
  if (data < 0 || static_cast<size_t>(data) >= splits_.size())
    throw InvalidArgument("", "no uploaded data split " + std::to_string(data));
  const DeviceSplit& split = splits_[static_cast<size_t>(data)];
  forward_check(nullptr, n, training);  // the split's labels were checked when uploaded
  for (int64_t k = 0; k < n; ++k)
    if (examples[k] < 0 || examples[k] >= split.n)
      throw InvalidArgument("", "example " + std::to_string(examples[k]) + " of a split of " +
                                    std::to_string(split.n));
  last_ = nullptr;
  last_training_ = false;
  bn_grads_ready_ = false;
  const BatchPlan& p = plan_for(n);
  examples_stage(split, examples, draws, n);
  forward_compute(p, training, training ? global_batch(n) : n, kQueuedSlot);
}

void ExecutorCudaImpl::forward_op(int i, const BatchPlan& p, bool training) {
  const Op& op = net_.ops[i];
  const int j = op.inputs[0];
  const OpShape in = op_shape(net_, j);
  const int64_t n = p.n;
  cudaStream_t stream = stream_.get();
  switch (op.kind) {
    case OpKind::conv: conv_forward(i, p); break;
    case OpKind::linear: linear_forward(i, n); break;
    case OpKind::relu: relu_forward(act(j), out_[i], n * per_example(i), stream); break;
    case OpKind::maxpool:
      maxpool_forward(act(j), out_[i], n * in.c, pool_windows(i), stream);
      break;
    case OpKind::batchnorm: bn_forward(i, p, training); break;
    case OpKind::add:
      add_forward(act(j), act(op.inputs[1]), out_[i], n * per_example(i), stream);
      break;
    case OpKind::global_avgpool:
      global_avgpool_forward(act(j), out_[i], n * in.c, in.h * in.w, stream);
      break;
  }
}

void ExecutorCudaImpl::conv_forward(int i, const BatchPlan& p) {
  const Op& op = net_.ops[i];
  const int j = op.inputs[0];
  const auto& a = p.conv[i].forward;
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv_[i].get(), a.math));
  CUDNN_CHECK(cudnnConvolutionForward(
      cudnn_.get(), &kOne, desc(p, j), act(j), filter_[i].get(), weights_device(op.tensor),
      conv_[i].get(), a.algo, workspace_.data(), workspace_.bytes(), &kZero, desc(p, i), out_[i]));
}

// Row-major y[n, out] = x[n, in] W^T is, column-major, y^T = W_cm^T x^T, where W_cm [in, out]
// and x^T [in, n] are the same arrays read column-major (a 4-d input flattens in C, H, W
// order, which is its NCHW layout).
void ExecutorCudaImpl::linear_forward(int i, int64_t n) {
  const Op& op = net_.ops[i];
  const TensorSpec& spec = net_.tensors[op.tensor];
  const int out = to_int(spec.shape[0]), in = to_int(spec.shape[1]);
  CUBLAS_CHECK(cublasSgemm(cublas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, out, to_int(n), in, &kOne,
                           weights_device(op.tensor), in, act(op.inputs[0]), in, &kZero, out_[i],
                           out));
}

// Training: batch statistics. cuDNN's running statistics at averaging factor 1 are the batch
// mean and its unbiased variance (cuDNN applies Bessel's correction there, which is what
// PyTorch relies on for its running_var), written to batch_mean/var; the momentum is applied
// by bn_running_update with the CPU executor's float expression. A channel of one value has
// variance 0 (the CPU's factor is 1 there, where cuDNN's n/(n-1) would divide by zero), so
// cuDNN gets no running arrays then.
void ExecutorCudaImpl::bn_forward(int i, const BatchPlan& p, bool training) {
  const int j = net_.ops[i].inputs[0];
  const BnArrays& b = bn_[i];
  cudnnTensorDescriptor_t x = desc(p, j);
  if (!training) {
    CUDNN_CHECK(cudnnBatchNormalizationForwardInference(
        cudnn_.get(), CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, x, act(j), x, out_[i],
        bn_param_[i].get(), b.scale, b.bias, b.running_mean, b.running_var, kBnEpsilon));
    return;
  }
  const OpShape in = op_shape(net_, j);
  const bool single = p.n * in.h * in.w == 1;
  CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
      cudnn_.get(), CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, x, act(j), x, out_[i],
      bn_param_[i].get(), b.scale, b.bias, 1.0, single ? nullptr : b.batch_mean,
      single ? nullptr : b.batch_var, kBnEpsilon, b.save_mean, b.save_inv_var));
  // save_mean is the batch mean in both cases
  bn_running_update(b.save_mean, single ? nullptr : b.batch_var, b.running_mean, b.running_var,
                    net_.ops[i].c, kBnMomentum, stream_.get());
}

BatchStats ExecutorCudaImpl::totals_take(int slot) {
  LossTotals* device = totals_.data() + slot;
  CUDA_CHECK(cudaMemcpyAsync(totals_host_.data(), device, sizeof(LossTotals),
                             cudaMemcpyDeviceToHost, stream_.get()));
  CUDA_CHECK(cudaMemsetAsync(device, 0, sizeof(LossTotals), stream_.get()));
  CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  const LossTotals& t = totals_host_.data()[0];
  BatchStats s;
  s.loss_sum = t.loss_sum;
  s.correct1 = static_cast<int64_t>(t.correct1);
  s.correct5 = static_cast<int64_t>(t.correct5);
  return s;
}

const float* ExecutorCudaImpl::logits() {
  const DeviceScope scope(device_);
  if (last_) {
    const size_t bytes = static_cast<size_t>(last_->n * net_.classes) * sizeof(float);
    CUDA_CHECK(cudaMemcpyAsync(logits_host_.data(), out_.back(), bytes, cudaMemcpyDeviceToHost,
                               stream_.get()));
    CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  }
  return logits_host_.data();
}

}  // namespace cuda_impl
}  // namespace popup
