// Internal to lib/cuda/: the class behind ExecutorCuda::create and the per-batch-size plans
// and buffers it works with. Its members are defined by job: executor_cuda.cpp (construction,
// weights, BatchNorm state), cuda_buffers.cpp, cuda_algorithms.cpp, cuda_plan.cpp,
// cuda_input.cpp, cuda_forward.cpp, cuda_backward.cpp and cuda_reduce.cpp.
#pragma once

#include <cublas_v2.h>
#include <cudnn.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/network_graph.hpp"
#include "cuda/cuda_check.hpp"
#include "cuda/cuda_descriptors.hpp"
#include "cuda/device_buffer.hpp"
#include "cuda/executor_cuda.hpp"
#include "cuda/nccl_api.hpp"
#include "cuda/net_kernels.cuh"
#include "data/augment.hpp"
#include "data/dataset.hpp"

namespace popup {
namespace cuda_impl {

constexpr float kBnMomentum = 0.1f;  // PyTorch's BatchNorm defaults, as the CPU executor
constexpr double kBnEpsilon = 1e-5;
constexpr int kStatsInterval = 32;  // forwards queued between the trainer's stats_take()
const float kOne = 1.f, kZero = 0.f;

template <typename Algo>
struct ConvAlgo {
  Algo algo{};
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace = 0;  // bytes
};

struct ConvAlgos {
  ConvAlgo<cudnnConvolutionFwdAlgo_t> forward;
  ConvAlgo<cudnnConvolutionBwdDataAlgo_t> data;      // when the input needs a gradient
  ConvAlgo<cudnnConvolutionBwdFilterAlgo_t> filter;  // when training
};

// What depends on the batch size: tensor descriptors and convolution algorithms.
struct BatchPlan {
  int64_t n = 0;
  std::vector<TensorDesc> act;  // activation j (-1: the input) at j + 1, [n, c, h, w]
  std::vector<ConvAlgos> conv;  // per op; set for convolutions
  size_t workspace = 0;         // bytes, the most any of its algorithms needs
};

// A BatchNorm op's per-channel device arrays.
struct BnArrays {
  float* running_mean = nullptr;
  float* running_var = nullptr;
  float* batch_mean = nullptr;  // cuDNN's output with averaging factor 1: the batch's own
  float* batch_var = nullptr;
  float* save_mean = nullptr;  // kept by the training forward for the backward
  float* save_inv_var = nullptr;
  float* scale = nullptr;   // gamma: 1 unless affine_bn and set_bn_params change it
  float* bias = nullptr;    // beta: 0 likewise
  float* dscale = nullptr;  // their gradients from the last backward (read with affine_bn)
  float* dbias = nullptr;
  static constexpr int count = 10;
};

// A pinned copy of one batch's images and labels, or of the examples and draws that cut it
// from a split held on the device; `copied` marks when the device has them.
struct Staging {
  PinnedArray<float> images;
  PinnedArray<int32_t> labels;
  PinnedArray<int64_t> examples;
  PinnedArray<int32_t> draws;  // (dy, dx, flip) per example
  Event copied;
};

// A data split held on the device (data_upload).
struct DeviceSplit {
  int64_t n = 0;
  DeviceArray<float> images, padding;
  DeviceArray<int32_t> labels;
};

// Slots of the device loss totals.
constexpr int kQueuedSlot = 0;  // forward_queue() .. stats_take()
constexpr int kSingleSlot = 1;  // one forward()

// POPUP_CUDA_TF32=1 lets convolutions and matrix products use TF32 tensor cores (faster,
// about 3 significant digits fewer); otherwise FP32 results match the CPU's within rounding.
bool tf32_requested();

class ExecutorCudaImpl final : public ExecutorCuda {
 public:
  ExecutorCudaImpl(const Network& net, const ExecutorConfig& config, int device);
  ~ExecutorCudaImpl() override;

  void set_weights(size_t t, const float* weights) override;
  BatchStats forward(const float* images, const int32_t* labels, int64_t n, bool training) override;
  void forward_queue(const float* images, const int32_t* labels, int64_t n, bool training) override;
  int data_upload(const DataSplit& split) override;
  void forward_queue_examples(int data, const int64_t* examples, const AugmentDraw* draws,
                              int64_t n, bool training) override;
  BatchStats stats_take() override {
    const DeviceScope scope(device_);
    return totals_take(kQueuedSlot);
  }
  int stats_interval() const override { return kStatsInterval; }
  void backward(const std::vector<float*>& grads) override;
  const float* logits() override;
  std::vector<NamedArray> running_stats() const override;
  void set_running_stats(const std::vector<NamedArray>& stats) override;
  size_t bn_count() const override { return bn_ops_.size(); }
  int64_t bn_channels(size_t b) const override { return net_.ops[bn_op(b)].c; }
  void set_bn_params(size_t b, const float* gamma, const float* beta) override;
  void bn_params(size_t b, float* gamma, float* beta) const override;
  void bn_grads(size_t b, float* dgamma, float* dbeta) const override;
  std::unique_ptr<ScoreEngine> score_engine(const OptimizerConfig& config) override {
    return score_engine_cuda_create(*this, config);
  }
  std::string device_name() const override { return device_name_; }

  cudaStream_t stream() const override { return stream_.get(); }
  float* weights_device(size_t t) override;
  void weights_written(size_t t) override;
  void backward_device(const std::vector<float*>& grads) override;

 private:
  // op j's output size per example (j = -1: the network input)
  int64_t per_example(int j) const { return op_shape(net_, j).numel(); }
  float* act(int j) { return j < 0 ? images_.data() : out_[j]; }
  PoolWindows pool_windows(int i) const {  // of max-pool op i
    const Op& op = net_.ops[static_cast<size_t>(i)];
    const OpShape in = op_shape(net_, op.inputs[0]);
    return {in.h, in.w, op.h, op.w, op.kernel, op.stride, op.pad};
  }
  static cudnnTensorDescriptor_t desc(const BatchPlan& p, int j) { return p.act[j + 1].get(); }
  void tensor_check(size_t t) const;
  size_t bn_op(size_t b) const;
  void bn_pair_copy(float* to_a, float* to_b, const float* from_a, const float* from_b, int64_t c,
                    cudaMemcpyKind kind) const;

  // construction (executor_cuda.cpp; the buffers in cuda_buffers.cpp)
  void handles_create(int device);
  void weights_allocate();
  void activations_allocate();
  void gradients_allocate();
  void batchnorm_allocate();
  void io_allocate();
  void host_copies_wait();

  // plans (cuda_plan.cpp; the convolution algorithms in cuda_algorithms.cpp)
  BatchPlan& plan_for(int64_t n);
  BatchPlan plan_build(int64_t n);
  ConvAlgo<cudnnConvolutionFwdAlgo_t> forward_algo(int i, const BatchPlan& p);
  ConvAlgo<cudnnConvolutionBwdDataAlgo_t> data_algo(int i, const BatchPlan& p);
  ConvAlgo<cudnnConvolutionBwdFilterAlgo_t> filter_algo(int i, const BatchPlan& p);
  void workspace_reserve(size_t bytes);

  // forward (cuda_forward.cpp; the batch's input in cuda_input.cpp)
  void forward_check(const int32_t* labels, int64_t n, bool training) const;
  void forward_run(const float* images, const int32_t* labels, int64_t n, bool training, int slot);
  void input_stage(const float* images, const int32_t* labels, int64_t n);
  void examples_stage(const DeviceSplit& split, const int64_t* examples, const AugmentDraw* draws,
                      int64_t n);
  void forward_compute(const BatchPlan& p, bool training, int64_t mean_over, int slot);
  void forward_op(int i, const BatchPlan& p, bool training);
  void conv_forward(int i, const BatchPlan& p);
  void linear_forward(int i, int64_t n);
  void bn_forward(int i, const BatchPlan& p, bool training);
  BatchStats totals_take(int slot);

  // backward (cuda_backward.cpp)
  void grads_check(const std::vector<float*>& grads) const;
  bool contribution_start(int j);
  void backward_op(int i, const BatchPlan& p, const std::vector<float*>& grads);
  void conv_backward(int i, const BatchPlan& p, const std::vector<float*>& grads);
  void linear_backward(int i, int64_t n, const std::vector<float*>& grads);
  void bn_backward(int i, const BatchPlan& p);
  void add_backward(int i, int64_t n);

  // data-parallel runs (cuda_reduce.cpp)
  void reduce_setup(int device);
  int64_t global_batch(int64_t n);
  void gradient_done(float* data, int64_t count);
  void gradients_reduce();
  void reduce_close() noexcept;

  const Network net_;
  const ExecutorConfig config_;
  const NetworkGraph graph_;
  const bool tf32_;
  int device_ = 0;           // the GPU it runs on; current during each public entry
  std::string device_name_;  // "cuda:N (model)"

  // destroyed last (members go in reverse order): the buffers below may be in use until the
  // destructor has synchronised the stream
  Stream stream_;
  CudnnHandle cudnn_;
  CublasHandle cublas_;

  DeviceArray<float> weights_;  // every tensor, row-major, at weight_offset_[t]
  std::vector<size_t> weight_offset_;
  std::vector<bool> weights_set_;

  std::vector<DeviceArray<float>> out_store_, grad_store_;
  std::vector<float*> out_;         // per op: its output (an in-place relu's is its input's)
  std::vector<float*> grad_;        // per op needing one: its output's gradient (maybe shared)
  std::vector<FilterDesc> filter_;  // per op; convolutions only
  std::vector<ConvDesc> conv_;

  std::vector<DeviceArray<float>> bn_store_;
  std::vector<BnArrays> bn_;          // per op; batchnorm only
  std::vector<TensorDesc> bn_param_;  // per op; [1, c, 1, 1]
  const std::vector<int> bn_ops_;     // affine_bn: the BatchNorm ops as bn_* number them
  bool bn_grads_ready_ = false;       // a backward has followed the last training forward
  DeviceArray<float> bn_dx_scratch_;  // affine_bn: the unread input gradient of a
                                      // BatchNorm whose input has no gradient buffer

  DeviceArray<float> images_;
  DeviceArray<int32_t> labels_;
  std::vector<DeviceSplit> splits_;  // data_upload
  DeviceArray<int64_t> gather_examples_;
  DeviceArray<int32_t> gather_draws_;
  std::array<Staging, 2> staging_;  // alternate, so that copying one batch in overlaps work
  int staging_next_ = 0;

  DeviceArray<float> diff_logits_;  // the loss gradient of the last training forward
  DeviceArray<LossExample> examples_;
  DeviceArray<LossTotals> totals_;  // kQueuedSlot, kSingleSlot
  PinnedArray<LossTotals> totals_host_;
  std::vector<float> logits_host_;

  std::map<int64_t, BatchPlan> plans_;  // by batch size, built on first use
  DeviceArray<unsigned char> workspace_;
  DeviceArray<float> grad_scratch_;  // backward(): weight gradients before the host copy
  const BatchPlan* last_ = nullptr;  // the plan of the last forward
  bool last_training_ = false;
  std::vector<bool> written_;  // during a backward: gradients holding a contribution
  std::vector<bool> wanted_;   // during a backward: gradients it computes

  // Data-parallel runs with more than one rank (cuda_reduce.cpp): how the gradients are
  // summed over the ranks; none for one process or an inference-only executor.
  enum class Reduce { none, nccl, host };
  Reduce reduce_ = Reduce::none;
  NcclCommunicator nccl_;  // closed by the destructor once the streams are idle
  Stream reduce_stream_;   // nccl: the sums, behind the backward
  Event reduce_produced_;  // nccl: recorded on stream_ when a gradient is written
  Event reduce_done_;      // nccl: recorded on reduce_stream_ after the last sum
  bool reduce_issued_ = false;
  std::vector<std::pair<float*, int64_t>> reduce_pending_;  // host: the backward's gradients
  PinnedArray<float> reduce_host_;                          // host: their concatenation
};

}  // namespace cuda_impl
}  // namespace popup
