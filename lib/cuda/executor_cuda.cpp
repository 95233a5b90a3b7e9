// The CUDA executor (DESIGN.md §7, interface in executor_cuda.hpp): a Network on one GPU in
// NCHW fp32 — convolutions and BatchNorm in cuDNN, linear layers in cuBLAS, the other ops and
// the loss in net_kernels.cu — all queued on one stream; the host waits only where it reads a
// result. The semantics are the CPU executor's (lib/cpu/executor_cpu.cpp), op for op.
// This file: construction, the weights, running statistics and affine BatchNorm; the other
// jobs are in the files executor_cuda_impl.hpp lists.
#include <cublas_v2.h>
#include <cudnn.h>

#include <memory>
#include <string>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/executor_cuda_impl.hpp"
#include "dist/communicator.hpp"
#include "error.hpp"

namespace popup {
namespace cuda_impl {

namespace {

NetworkGraph graph_checked(const Network& net, const ExecutorConfig& config) {
  if (config.max_batch < 1)
    throw InvalidArgument("",
                          "max_batch must be at least 1, not " + std::to_string(config.max_batch));
  if (!(config.label_smoothing >= 0 && config.label_smoothing <= 1))
    throw InvalidArgument("", "label smoothing must be in [0, 1]");
  if (net.classes < 1) throw InvalidArgument("", "network has no classes");
  if (config.precision != Precision::fp32)
    throw InvalidArgument("",
                          "precision bf16 is a CPU option (the CUDA backend computes "
                          "in fp32)");
  // SyncBatchNorm needs global per-channel sums in the forward and the backward (kernels and
  // NCCL sums around cuDNN's BatchNorm): not written yet. With one rank it is plain BatchNorm.
  if (config.sync_bn && config.train && config.comm && config.comm->size() > 1)
    throw InvalidArgument("", "--sync-bn is not implemented on the CUDA backend yet");
  return network_graph(net, config.affine_bn);  // throws for a graph that cannot be executed
}

}  // namespace

ExecutorCudaImpl::ExecutorCudaImpl(const Network& net, const ExecutorConfig& config, int device)
    : net_(net),
      config_(config),
      graph_(graph_checked(net, config)),
      tf32_(tf32_requested()),
      bn_ops_(affine_bn_ops(net, config)) {
  handles_create(device);
  weights_allocate();
  activations_allocate();
  if (config_.train) gradients_allocate();
  batchnorm_allocate();
  io_allocate();
  plan_for(config_.max_batch);  // fails here, not at the first step, when cuDNN cannot
  CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  reduce_setup(device);  // last: a collective, which every rank reaches unless it failed above
}

ExecutorCudaImpl::~ExecutorCudaImpl() {
  if (stream_) static_cast<void>(cudaStreamSynchronize(stream_.get()));
  reduce_close();
}

void ExecutorCudaImpl::handles_create(int device) {
  device_ = device;
  CUDA_CHECK(cudaSetDevice(device));
  cudaDeviceProp props{};
  CUDA_CHECK(cudaGetDeviceProperties(&props, device));
  device_name_ = "cuda:" + std::to_string(device) + " (" + props.name + ")";
  cudaStream_t stream = nullptr;
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  stream_.reset(stream);
  cudnnHandle_t cudnn = nullptr;
  CUDNN_CHECK(cudnnCreate(&cudnn));
  cudnn_.reset(cudnn);
  CUDNN_CHECK(cudnnSetStream(cudnn, stream));
  cublasHandle_t cublas = nullptr;
  CUBLAS_CHECK(cublasCreate(&cublas));
  cublas_.reset(cublas);
  CUBLAS_CHECK(cublasSetStream(cublas, stream));
  CUBLAS_CHECK(cublasSetMathMode(cublas, tf32_ ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
}

// Waits until the copies queued from pageable host memory have read their sources. The CUDA
// runtime does not promise that cudaMemcpyAsync from pageable memory has read it on return
// ("might be synchronous"; older manuals: staged "asynchronously with a worker thread").
void ExecutorCudaImpl::host_copies_wait() { CUDA_CHECK(cudaStreamSynchronize(stream_.get())); }

void ExecutorCudaImpl::tensor_check(size_t t) const {
  if (t >= net_.tensors.size()) throw InvalidArgument("", "no weight tensor " + std::to_string(t));
}

// ---- weights -------------------------------------------------------------------------------

float* ExecutorCudaImpl::weights_device(size_t t) {
  const DeviceScope scope(device_);
  tensor_check(t);
  return weights_.data() + weight_offset_[t];
}

void ExecutorCudaImpl::weights_written(size_t t) {
  const DeviceScope scope(device_);
  tensor_check(t);
  weights_set_[t] = true;
}

// The caller may reuse its array once we return (score_engine_host.cpp does, at once).
void ExecutorCudaImpl::set_weights(size_t t, const float* weights) {
  const DeviceScope scope(device_);
  float* dst = weights_device(t);
  CUDA_CHECK(cudaMemcpyAsync(dst, weights,
                             static_cast<size_t>(net_.tensors[t].numel()) * sizeof(float),
                             cudaMemcpyHostToDevice, stream_.get()));
  host_copies_wait();
  weights_set_[t] = true;
}

// ---- running statistics --------------------------------------------------------------------

std::vector<NamedArray> ExecutorCudaImpl::running_stats() const {
  const DeviceScope scope(device_);
  std::vector<NamedArray> stats;
  for (size_t i = 0; i < net_.ops.size(); ++i) {
    const Op& op = net_.ops[i];
    if (op.kind != OpKind::batchnorm) continue;
    const auto c = static_cast<size_t>(op.c);
    stats.push_back({op.name + ".running_mean", std::vector<float>(c)});
    stats.push_back({op.name + ".running_var", std::vector<float>(c)});
    CUDA_CHECK(cudaMemcpyAsync(stats[stats.size() - 2].values.data(), bn_[i].running_mean,
                               c * sizeof(float), cudaMemcpyDeviceToHost, stream_.get()));
    CUDA_CHECK(cudaMemcpyAsync(stats.back().values.data(), bn_[i].running_var, c * sizeof(float),
                               cudaMemcpyDeviceToHost, stream_.get()));
  }
  CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  return stats;
}

void ExecutorCudaImpl::set_running_stats(const std::vector<NamedArray>& stats) {
  const DeviceScope scope(device_);
  const std::vector<RunningStatTarget> targets = running_stats_targets(net_, stats);
  for (size_t k = 0; k < stats.size(); ++k) {
    const BnArrays& b = bn_[static_cast<size_t>(targets[k].op)];
    CUDA_CHECK(cudaMemcpyAsync(targets[k].var ? b.running_var : b.running_mean,
                               stats[k].values.data(), stats[k].values.size() * sizeof(float),
                               cudaMemcpyHostToDevice, stream_.get()));
  }
  host_copies_wait();  // the caller's arrays may go once we return
}

// ---- affine BatchNorm ----------------------------------------------------------------------

size_t ExecutorCudaImpl::bn_op(size_t b) const {
  if (!config_.affine_bn) bn_unavailable(b);
  return static_cast<size_t>(affine_bn_op(bn_ops_, b));
}

// Two arrays of c floats each way, waited for (the caller's arrays may go once we return).
void ExecutorCudaImpl::bn_pair_copy(float* to_a, float* to_b, const float* from_a,
                                    const float* from_b, int64_t c, cudaMemcpyKind kind) const {
  const size_t bytes = static_cast<size_t>(c) * sizeof(float);
  CUDA_CHECK(cudaMemcpyAsync(to_a, from_a, bytes, kind, stream_.get()));
  CUDA_CHECK(cudaMemcpyAsync(to_b, from_b, bytes, kind, stream_.get()));
  CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
}

void ExecutorCudaImpl::set_bn_params(size_t b, const float* gamma, const float* beta) {
  const DeviceScope scope(device_);
  const size_t i = bn_op(b);
  bn_pair_copy(bn_[i].scale, bn_[i].bias, gamma, beta, net_.ops[i].c, cudaMemcpyHostToDevice);
}

void ExecutorCudaImpl::bn_params(size_t b, float* gamma, float* beta) const {
  const DeviceScope scope(device_);
  const size_t i = bn_op(b);
  bn_pair_copy(gamma, beta, bn_[i].scale, bn_[i].bias, net_.ops[i].c, cudaMemcpyDeviceToHost);
}

void ExecutorCudaImpl::bn_grads(size_t b, float* dgamma, float* dbeta) const {
  const DeviceScope scope(device_);
  const size_t i = bn_op(b);
  if (!bn_grads_ready_)
    throw Error("",
                "BatchNorm gradients asked for without a backward after the last training "
                "forward");
  bn_pair_copy(dgamma, dbeta, bn_[i].dscale, bn_[i].dbias, net_.ops[i].c, cudaMemcpyDeviceToHost);
}

}  // namespace cuda_impl

std::unique_ptr<ExecutorCuda> ExecutorCuda::create(const Network& net, const ExecutorConfig& config,
                                                   int device) {
  return std::make_unique<cuda_impl::ExecutorCudaImpl>(net, config, device);
}

}  // namespace popup
