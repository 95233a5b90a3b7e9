// The CUDA executor's backward: from the loss gradient of the last training forward, the ops
// in reverse order, computing only the gradients that lead to an asked-for weight gradient
// (or, with affine_bn, to a BatchNorm's scale and shift). In a data-parallel run each weight
// and BatchNorm gradient goes to gradient_done as soon as it is written, to be summed over the
// ranks (cuda_reduce.cpp) while the backward goes on.
#include <cublas_v2.h>
#include <cudnn.h>

#include <string>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/executor_cuda_impl.hpp"
#include "error.hpp"

namespace popup {
namespace cuda_impl {

void ExecutorCudaImpl::grads_check(const std::vector<float*>& grads) const {
  if (!last_training_) throw Error("", "backward without a training forward before it");
  if (grads.size() != net_.tensors.size())
    throw InvalidArgument("", std::to_string(grads.size()) + " gradient arrays for " +
                                  std::to_string(net_.tensors.size()) + " tensors");
}

void ExecutorCudaImpl::backward(const std::vector<float*>& grads) {
  const DeviceScope scope(device_);
  grads_check(grads);
  if (grad_scratch_.size() == 0) grad_scratch_.resize(weights_.size());
  std::vector<float*> device(grads.size(), nullptr);
  for (size_t t = 0; t < grads.size(); ++t)
    if (grads[t]) device[t] = grad_scratch_.data() + weight_offset_[t];
  backward_device(device);
  for (size_t t = 0; t < grads.size(); ++t)
    if (grads[t])
      CUDA_CHECK(cudaMemcpyAsync(grads[t], device[t],
                                 static_cast<size_t>(net_.tensors[t].numel()) * sizeof(float),
                                 cudaMemcpyDeviceToHost, stream_.get()));
  CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
}

// The ops in reverse order; an op's gradient is complete when its turn comes (its readers come
// later in the network). The first contribution to a gradient writes it, later ones add.
// Only the gradients that lead to an asked-for weight gradient or, with affine_bn, to a
// BatchNorm's scale and shift are computed (wanted_): with a dense first layer and no affine
// BatchNorm, none of the first layer's backward runs.
void ExecutorCudaImpl::backward_device(const std::vector<float*>& grads) {
  const DeviceScope scope(device_);
  grads_check(grads);
  const int last = static_cast<int>(net_.ops.size()) - 1;
  // wanted_[i]: op i's output depends on a tensor whose gradient is asked for, or on an affine
  // BatchNorm's parameters (a subset of needs_diff; every reader of a wanted output is wanted,
  // so its gradient is still complete)
  wanted_.assign(net_.ops.size(), false);
  for (int i = 0; i <= last; ++i) {
    const Op& op = net_.ops[i];
    bool wanted = ((op.kind == OpKind::conv || op.kind == OpKind::linear) && grads[op.tensor]) ||
                  (op.kind == OpKind::batchnorm && config_.affine_bn);
    for (int j : op.inputs) wanted = wanted || (j >= 0 && wanted_[j]);
    wanted_[i] = wanted;
  }
  bn_grads_ready_ = true;  // (computed below: every BatchNorm is wanted with affine_bn)
  reduce_pending_.clear();
  if (!wanted_[last]) return;  // no gradient asked for (on any rank: they ask alike)
  const BatchPlan& p = *last_;
  // copied, not computed in place, so that a backward may be repeated
  CUDA_CHECK(cudaMemcpyAsync(grad_[last], diff_logits_.data(),
                             static_cast<size_t>(p.n * net_.classes) * sizeof(float),
                             cudaMemcpyDeviceToDevice, stream_.get()));
  written_.assign(net_.ops.size(), false);
  for (int i = last; i >= 0; --i)
    if (wanted_[i]) backward_op(i, p, grads);
  gradients_reduce();  // stream_ waits for the sums over the ranks
}

// Whether a contribution to op j's gradient adds to it (false for the first, which writes).
bool ExecutorCudaImpl::contribution_start(int j) {
  const bool accumulate = written_[j];
  written_[j] = true;
  return accumulate;
}

// Every op but conv, linear and (with affine_bn) batchnorm is wanted only through its
// input(s), so its single input is wanted here.
void ExecutorCudaImpl::backward_op(int i, const BatchPlan& p, const std::vector<float*>& grads) {
  const Op& op = net_.ops[i];
  const int j = op.inputs[0];
  const OpShape in = op_shape(net_, j);
  const int64_t n = p.n;
  cudaStream_t stream = stream_.get();
  switch (op.kind) {
    case OpKind::conv: conv_backward(i, p, grads); break;
    case OpKind::linear: linear_backward(i, n, grads); break;
    case OpKind::relu:
      relu_backward(out_[i], grad_[i], grad_[j], n * per_example(i), contribution_start(j), stream);
      break;
    case OpKind::maxpool:
      maxpool_backward(act(j), grad_[i], grad_[j], n * in.c, pool_windows(i), contribution_start(j),
                       stream);
      break;
    case OpKind::batchnorm: bn_backward(i, p); break;
    case OpKind::add: add_backward(i, n); break;
    case OpKind::global_avgpool:
      global_avgpool_backward(grad_[i], grad_[j], n * in.c, in.h * in.w, contribution_start(j),
                              stream);
      break;
  }
}

// Backward-filter only where that gradient is asked for; backward-data only where the input's
// gradient is wanted (never for the images).
void ExecutorCudaImpl::conv_backward(int i, const BatchPlan& p, const std::vector<float*>& grads) {
  const Op& op = net_.ops[i];
  const int j = op.inputs[0];
  const ConvAlgos& a = p.conv[i];
  cudnnConvolutionDescriptor_t conv = conv_[i].get();
  if (float* dw = grads[op.tensor]) {
    CUDNN_CHECK(cudnnSetConvolutionMathType(conv, a.filter.math));
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(cudnn_.get(), &kOne, desc(p, j), act(j), desc(p, i),
                                               grad_[i], conv, a.filter.algo, workspace_.data(),
                                               workspace_.bytes(), &kZero, filter_[i].get(), dw));
    gradient_done(dw, net_.tensors[op.tensor].numel());
  }
  if (j < 0 || !wanted_[j]) return;
  const float* beta = contribution_start(j) ? &kOne : &kZero;
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv, a.data.math));
  CUDNN_CHECK(cudnnConvolutionBackwardData(
      cudnn_.get(), &kOne, filter_[i].get(), weights_device(op.tensor), desc(p, i), grad_[i], conv,
      a.data.algo, workspace_.data(), workspace_.bytes(), beta, desc(p, j), grad_[j]));
}

// Column-major, as in linear_forward: dx^T [in, n] = W_cm [in, out] dy^T [out, n], and
// dW^T [in, out] = x^T [in, n] (dy^T)^T.
void ExecutorCudaImpl::linear_backward(int i, int64_t n, const std::vector<float*>& grads) {
  const Op& op = net_.ops[i];
  const int j = op.inputs[0];
  const TensorSpec& spec = net_.tensors[op.tensor];
  const int out = to_int(spec.shape[0]), in = to_int(spec.shape[1]), rows = to_int(n);
  if (float* dw = grads[op.tensor]) {
    CUBLAS_CHECK(cublasSgemm(cublas_.get(), CUBLAS_OP_N, CUBLAS_OP_T, in, out, rows, &kOne, act(j),
                             in, grad_[i], out, &kZero, dw, in));
    gradient_done(dw, spec.numel());
  }
  if (j < 0 || !wanted_[j]) return;
  const float* beta = contribution_start(j) ? &kOne : &kZero;
  CUBLAS_CHECK(cublasSgemm(cublas_.get(), CUBLAS_OP_N, CUBLAS_OP_N, in, rows, out, &kOne,
                           weights_device(op.tensor), in, grad_[i], out, beta, grad_[j], in));
}

// Through the batch statistics of the last training forward (save_mean, save_inv_var); the
// gradients of the scale and shift go to dscale and dbias (read only with affine_bn). With
// affine_bn a BatchNorm is wanted for its own parameters even where its input is not: cuDNN
// still writes the input's gradient, then where nothing reads it (the input's own buffer,
// which no wanted op shares, or bn_dx_scratch_ where it has none).
void ExecutorCudaImpl::bn_backward(int i, const BatchPlan& p) {
  const int j = net_.ops[i].inputs[0];
  const BnArrays& b = bn_[i];
  cudnnTensorDescriptor_t x = desc(p, j);
  const bool input_wanted = j >= 0 && wanted_[j];  // always without affine_bn
  const float* beta = input_wanted && contribution_start(j) ? &kOne : &kZero;
  float* dx = j >= 0 && grad_[j] ? grad_[j] : bn_dx_scratch_.data();
  CUDNN_CHECK(cudnnBatchNormalizationBackward(
      cudnn_.get(), CUDNN_BATCHNORM_SPATIAL, &kOne, beta, &kOne, &kZero, x, act(j), x, grad_[i], x,
      dx, bn_param_[i].get(), b.scale, b.dscale, b.dbias, kBnEpsilon, b.save_mean, b.save_inv_var));
  if (!config_.affine_bn) return;  // dscale and dbias are read only with affine_bn
  const int64_t c = net_.ops[i].c;
  if (b.dbias == b.dscale + c) {  // adjacent (batchnorm_allocate): one sum
    gradient_done(b.dscale, 2 * c);
  } else {
    gradient_done(b.dscale, c);
    gradient_done(b.dbias, c);
  }
}

// An add passes its gradient to both inputs: nothing to do for an input that shares it.
void ExecutorCudaImpl::add_backward(int i, int64_t n) {
  for (int j : net_.ops[i].inputs) {
    if (j < 0 || !wanted_[j]) continue;
    if (graph_.diff_alias[j] == i) {
      written_[j] = true;
      continue;
    }
    gradient_pass(grad_[i], grad_[j], n * per_example(i), contribution_start(j), stream_.get());
  }
}

}  // namespace cuda_impl
}  // namespace popup
