// The CUDA executor (DESIGN.md §7, interface in executor_cuda.hpp): a Network on one GPU in
// NCHW fp32 — convolutions and BatchNorm in cuDNN, linear layers in cuBLAS, the other ops and
// the loss in net_kernels.cu — all queued on one stream; the host waits only where it reads a
// result. The semantics are the CPU executor's (lib/cpu/executor_cpu.cpp), op for op.
#include <cublas_v2.h>
#include <cudnn.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <type_traits>
#include <utility>

#include "cuda/cuda_check.hpp"
#include "cuda/device_buffer.hpp"
#include "cuda/executor_cuda.hpp"
#include "cuda/net_kernels.cuh"
#include "data/augment.hpp"
#include "data/dataset.hpp"
#include "error.hpp"
#include "backend/network_graph.hpp"
#include "train/softmax_cross_entropy.hpp"

namespace popup {
namespace {

constexpr float kBnMomentum = 0.1f;  // PyTorch's BatchNorm defaults, as the CPU executor
constexpr double kBnEpsilon = 1e-5;
constexpr int kStatsInterval = 32;  // forwards queued between the trainer's stats_take()
const float kOne = 1.f, kZero = 0.f;

// Owning handles, destroyed with their library's function (its status ignored: destructors
// must not throw).
template <typename Handle, auto Destroy>
struct HandleDelete {
  void operator()(std::remove_pointer_t<Handle>* h) const noexcept {
    static_cast<void>(Destroy(h));
  }
};
template <typename Handle, auto Destroy>
using Owned = std::unique_ptr<std::remove_pointer_t<Handle>, HandleDelete<Handle, Destroy>>;

using Stream = Owned<cudaStream_t, cudaStreamDestroy>;
using Event = Owned<cudaEvent_t, cudaEventDestroy>;
using CudnnHandle = Owned<cudnnHandle_t, cudnnDestroy>;
using CublasHandle = Owned<cublasHandle_t, cublasDestroy>;
using TensorDesc = Owned<cudnnTensorDescriptor_t, cudnnDestroyTensorDescriptor>;
using FilterDesc = Owned<cudnnFilterDescriptor_t, cudnnDestroyFilterDescriptor>;
using ConvDesc = Owned<cudnnConvolutionDescriptor_t, cudnnDestroyConvolutionDescriptor>;

// cuDNN and cuBLAS take int dimensions.
int to_int(int64_t v) {
  if (v < 0 || v > INT_MAX)
    throw InvalidArgument("", "dimension " + std::to_string(v) + " is too large for cuDNN");
  return static_cast<int>(v);
}

TensorDesc tensor_desc(int64_t n, int64_t c, int64_t h, int64_t w) {
  cudnnTensorDescriptor_t d = nullptr;
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&d));
  TensorDesc owned(d);
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, to_int(n),
                                         to_int(c), to_int(h), to_int(w)));
  return owned;
}

FilterDesc filter_desc(const TensorSpec& spec) {
  cudnnFilterDescriptor_t d = nullptr;
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&d));
  FilterDesc owned(d);
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(d, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                         to_int(spec.shape[0]), to_int(spec.shape[1]),
                                         to_int(spec.shape[2]), to_int(spec.shape[3])));
  return owned;
}

// Cross-correlation, as PyTorch and oneDNN convolve.
ConvDesc conv_desc(const TensorSpec& spec) {
  cudnnConvolutionDescriptor_t d = nullptr;
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d));
  ConvDesc owned(d);
  const int pad = to_int(spec.pad), stride = to_int(spec.stride);
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(d, pad, pad, stride, stride, 1, 1,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  return owned;
}

// POPUP_CUDA_TF32=1 lets convolutions and matrix products use TF32 tensor cores (faster,
// about 3 significant digits fewer); otherwise FP32 results match the CPU's within rounding.
bool tf32_requested() {
  const char* v = std::getenv("POPUP_CUDA_TF32");
  return v && std::strcmp(v, "1") == 0;
}

// The math type a convolution's algorithms are chosen under.
cudnnMathType_t conv_query_math(bool tf32) { return tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH; }

// Exact FP32 runs FMA kernels only (PyTorch asserts the same of cuDNN's answers when TF32 is
// off); TF32 may use tensor cores but never converts to half precision.
bool math_allowed(cudnnMathType_t math, bool tf32) {
  return tf32 ? math != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION : math == CUDNN_FMA_MATH;
}

// The fastest algorithm (cuDNN's heuristic order) that runs, is deterministic (the same bits
// every run) and uses an allowed math type. Heuristics rather than timed cudnnFind*: the
// choice must not depend on timing noise, or two runs could differ.
template <typename Perf>
Perf algo_pick(const std::vector<Perf>& perfs, bool tf32, const std::string& what) {
  for (const Perf& p : perfs)
    if (p.status == CUDNN_STATUS_SUCCESS && p.determinism == CUDNN_DETERMINISTIC &&
        math_allowed(p.mathType, tf32))
      return p;
  throw Error("", "cuDNN offers no deterministic " + what + std::string(tf32 ? "" : " in FP32"));
}

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
  std::vector<TensorDesc> act;   // activation j (-1: the input) at j + 1, [n, c, h, w]
  std::vector<ConvAlgos> conv;   // per op; set for convolutions
  size_t workspace = 0;          // bytes, the most any of its algorithms needs
};

// A BatchNorm op's per-channel device arrays.
struct BnArrays {
  float* running_mean = nullptr;
  float* running_var = nullptr;
  float* batch_mean = nullptr;  // cuDNN's output with averaging factor 1: the batch's own
  float* batch_var = nullptr;
  float* save_mean = nullptr;   // kept by the training forward for the backward
  float* save_inv_var = nullptr;
  float* scale = nullptr;       // gamma: 1 unless affine_bn and set_bn_params change it
  float* bias = nullptr;        // beta: 0 likewise
  float* dscale = nullptr;      // their gradients from the last backward (read with affine_bn)
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

std::string shape_text(const InputShape& s) {
  return std::to_string(s.c) + "x" + std::to_string(s.h) + "x" + std::to_string(s.w);
}

// Slots of the device loss totals.
constexpr int kQueuedSlot = 0;  // forward_queue() .. stats_take()
constexpr int kSingleSlot = 1;  // one forward()

NetworkGraph graph_checked(const Network& net, const ExecutorConfig& config) {
  if (config.max_batch < 1)
    throw InvalidArgument("",
                          "max_batch must be at least 1, not " + std::to_string(config.max_batch));
  if (!(config.label_smoothing >= 0 && config.label_smoothing <= 1))
    throw InvalidArgument("", "label smoothing must be in [0, 1]");
  if (net.classes < 1) throw InvalidArgument("", "network has no classes");
  if (config.precision != Precision::fp32)
    throw InvalidArgument("", "precision bf16 is a CPU option (the CUDA backend computes "
                              "in fp32)");
  return network_graph(net, config.affine_bn);  // throws for a graph that cannot be executed
}

class ExecutorCudaImpl final : public ExecutorCuda {
 public:
  ExecutorCudaImpl(const Network& net, const ExecutorConfig& config, int device);
  ~ExecutorCudaImpl() override;

  void set_weights(size_t t, const float* weights) override;
  BatchStats forward(const float* images, const int32_t* labels, int64_t n,
                     bool training) override;
  void forward_queue(const float* images, const int32_t* labels, int64_t n,
                     bool training) override;
  int data_upload(const DataSplit& split) override;
  void forward_queue_examples(int data, const int64_t* examples, const AugmentDraw* draws,
                              int64_t n, bool training) override;
  BatchStats stats_take() override { return totals_take(kQueuedSlot); }
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
  // shapes: op j's output per example (j = -1: the network input)
  int64_t channels(int j) const { return j < 0 ? net_.input.c : net_.ops[j].c; }
  int64_t height(int j) const { return j < 0 ? net_.input.h : net_.ops[j].h; }
  int64_t width(int j) const { return j < 0 ? net_.input.w : net_.ops[j].w; }
  int64_t per_example(int j) const { return channels(j) * height(j) * width(j); }
  float* act(int j) { return j < 0 ? images_.data() : out_[j]; }
  static cudnnTensorDescriptor_t desc(const BatchPlan& p, int j) { return p.act[j + 1].get(); }
  void tensor_check(size_t t) const;
  size_t bn_op(size_t b) const;
  void bn_pair_copy(float* to_a, float* to_b, const float* from_a, const float* from_b,
                    int64_t c, cudaMemcpyKind kind) const;

  // construction
  void handles_create(int device);
  void weights_allocate();
  void activations_allocate();
  void gradients_allocate();
  void batchnorm_allocate();
  void io_allocate();
  void host_copies_wait();

  // plans
  BatchPlan& plan_for(int64_t n);
  BatchPlan plan_build(int64_t n);
  ConvAlgo<cudnnConvolutionFwdAlgo_t> forward_algo(int i, const BatchPlan& p);
  ConvAlgo<cudnnConvolutionBwdDataAlgo_t> data_algo(int i, const BatchPlan& p);
  ConvAlgo<cudnnConvolutionBwdFilterAlgo_t> filter_algo(int i, const BatchPlan& p);
  void workspace_reserve(size_t bytes);

  // forward
  void forward_check(const int32_t* labels, int64_t n, bool training) const;
  void forward_run(const float* images, const int32_t* labels, int64_t n, bool training,
                   int slot);
  void input_stage(const float* images, const int32_t* labels, int64_t n);
  void examples_stage(const DeviceSplit& split, const int64_t* examples,
                      const AugmentDraw* draws, int64_t n);
  void forward_compute(const BatchPlan& p, bool training, int slot);
  void forward_op(int i, const BatchPlan& p, bool training);
  void conv_forward(int i, const BatchPlan& p);
  void linear_forward(int i, int64_t n);
  void bn_forward(int i, const BatchPlan& p, bool training);
  BatchStats totals_take(int slot);

  // backward
  void grads_check(const std::vector<float*>& grads) const;
  bool contribution_start(int j);
  void backward_op(int i, const BatchPlan& p, const std::vector<float*>& grads);
  void conv_backward(int i, const BatchPlan& p, const std::vector<float*>& grads);
  void linear_backward(int i, int64_t n, const std::vector<float*>& grads);
  void bn_backward(int i, const BatchPlan& p);
  void add_backward(int i, int64_t n);

  const Network net_;
  const ExecutorConfig config_;
  const NetworkGraph graph_;
  const bool tf32_;
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
  std::vector<float*> out_;   // per op: its output (an in-place relu's is its input's)
  std::vector<float*> grad_;  // per op needing one: its output's gradient (maybe shared)
  std::vector<FilterDesc> filter_;  // per op; convolutions only
  std::vector<ConvDesc> conv_;

  std::vector<DeviceArray<float>> bn_store_;
  std::vector<BnArrays> bn_;              // per op; batchnorm only
  std::vector<TensorDesc> bn_param_;      // per op; [1, c, 1, 1]
  const std::vector<int> bn_ops_;         // affine_bn: the BatchNorm ops as bn_* number them
  bool bn_grads_ready_ = false;           // a backward has followed the last training forward
  DeviceArray<float> bn_dx_scratch_;      // affine_bn: the unread input gradient of a
                                          // BatchNorm whose input has no gradient buffer

  DeviceArray<float> images_;
  DeviceArray<int32_t> labels_;
  std::vector<DeviceSplit> splits_;   // data_upload
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
};

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
}

ExecutorCudaImpl::~ExecutorCudaImpl() {
  if (stream_) static_cast<void>(cudaStreamSynchronize(stream_.get()));
}

void ExecutorCudaImpl::handles_create(int device) {
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
    float** arrays[BnArrays::count] = {&b.running_mean, &b.running_var, &b.batch_mean,
                                       &b.batch_var,    &b.save_mean,   &b.save_inv_var,
                                       &b.scale,        &b.bias,        &b.dscale,
                                       &b.dbias};
    for (int k = 0; k < BnArrays::count; ++k) *arrays[k] = base + static_cast<size_t>(k) * c;
    for (float* one : {b.running_var, b.scale})
      CUDA_CHECK(cudaMemcpyAsync(one, ones.data(), c * sizeof(float), cudaMemcpyHostToDevice,
                                 stream_.get()));
    bn_param_[i] = tensor_desc(1, op.c, 1, 1);
  }
  host_copies_wait();
}

// Waits until the copies queued from pageable host memory have read their sources. The CUDA
// runtime does not promise that cudaMemcpyAsync from pageable memory has read it on return
// ("might be synchronous"; older manuals: staged "asynchronously with a worker thread").
void ExecutorCudaImpl::host_copies_wait() { CUDA_CHECK(cudaStreamSynchronize(stream_.get())); }

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

void ExecutorCudaImpl::tensor_check(size_t t) const {
  if (t >= net_.tensors.size()) throw InvalidArgument("", "no weight tensor " + std::to_string(t));
}

// ---- plans ---------------------------------------------------------------------------------

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
  p.act.push_back(tensor_desc(n, net_.input.c, net_.input.h, net_.input.w));
  for (const Op& op : net_.ops) p.act.push_back(tensor_desc(n, op.c, op.h, op.w));
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
    p.workspace = std::max({p.workspace, a.forward.workspace, a.filter.workspace,
                            a.data.workspace});
  }
  return p;
}

// The three algorithm choices differ only in cuDNN's function names. Each leaves the
// descriptor's math type at the chosen algorithm's, which each call sets again before running.
ConvAlgo<cudnnConvolutionFwdAlgo_t> ExecutorCudaImpl::forward_algo(int i, const BatchPlan& p) {
  const int j = net_.ops[i].inputs[0];
  cudnnConvolutionDescriptor_t conv = conv_[i].get();
  int max = 0, returned = 0;
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(cudnn_.get(), &max));
  std::vector<cudnnConvolutionFwdAlgoPerf_t> perfs(static_cast<size_t>(max));
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv, conv_query_math(tf32_)));
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(cudnn_.get(), desc(p, j), filter_[i].get(),
                                                     conv, desc(p, i), max, &returned,
                                                     perfs.data()));
  perfs.resize(static_cast<size_t>(returned));
  const auto best =
      algo_pick(perfs, tf32_, "forward convolution for " + net_.tensors[net_.ops[i].tensor].name);
  ConvAlgo<cudnnConvolutionFwdAlgo_t> a{best.algo, best.mathType, 0};
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv, a.math));
  CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(cudnn_.get(), desc(p, j), filter_[i].get(),
                                                      conv, desc(p, i), a.algo, &a.workspace));
  return a;
}

ConvAlgo<cudnnConvolutionBwdDataAlgo_t> ExecutorCudaImpl::data_algo(int i, const BatchPlan& p) {
  const int j = net_.ops[i].inputs[0];
  cudnnConvolutionDescriptor_t conv = conv_[i].get();
  int max = 0, returned = 0;
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(cudnn_.get(), &max));
  std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perfs(static_cast<size_t>(max));
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv, conv_query_math(tf32_)));
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnn_.get(), filter_[i].get(),
                                                          desc(p, i), conv, desc(p, j), max,
                                                          &returned, perfs.data()));
  perfs.resize(static_cast<size_t>(returned));
  const auto best = algo_pick(
      perfs, tf32_, "backward-data convolution for " + net_.tensors[net_.ops[i].tensor].name);
  ConvAlgo<cudnnConvolutionBwdDataAlgo_t> a{best.algo, best.mathType, 0};
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv, a.math));
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(cudnn_.get(), filter_[i].get(),
                                                           desc(p, i), conv, desc(p, j), a.algo,
                                                           &a.workspace));
  return a;
}

ConvAlgo<cudnnConvolutionBwdFilterAlgo_t> ExecutorCudaImpl::filter_algo(int i,
                                                                        const BatchPlan& p) {
  const int j = net_.ops[i].inputs[0];
  cudnnConvolutionDescriptor_t conv = conv_[i].get();
  int max = 0, returned = 0;
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(cudnn_.get(), &max));
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perfs(static_cast<size_t>(max));
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv, conv_query_math(tf32_)));
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnn_.get(), desc(p, j),
                                                            desc(p, i), conv, filter_[i].get(),
                                                            max, &returned, perfs.data()));
  perfs.resize(static_cast<size_t>(returned));
  const auto best = algo_pick(
      perfs, tf32_, "backward-filter convolution for " + net_.tensors[net_.ops[i].tensor].name);
  ConvAlgo<cudnnConvolutionBwdFilterAlgo_t> a{best.algo, best.mathType, 0};
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv, a.math));
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnn_.get(), desc(p, j),
                                                             desc(p, i), conv, filter_[i].get(),
                                                             a.algo, &a.workspace));
  return a;
}

// Grows the shared workspace; queued work may still use the old one, so wait first (this
// happens only while a plan is built, not in the steady state).
void ExecutorCudaImpl::workspace_reserve(size_t bytes) {
  if (bytes <= workspace_.bytes()) return;
  CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  workspace_.resize(bytes);
}

// ---- weights -------------------------------------------------------------------------------

float* ExecutorCudaImpl::weights_device(size_t t) {
  tensor_check(t);
  return weights_.data() + weight_offset_[t];
}

void ExecutorCudaImpl::weights_written(size_t t) {
  tensor_check(t);
  weights_set_[t] = true;
}

// The caller may reuse its array once we return (score_engine_host.cpp does, at once).
void ExecutorCudaImpl::set_weights(size_t t, const float* weights) {
  float* dst = weights_device(t);
  CUDA_CHECK(cudaMemcpyAsync(dst, weights,
                             static_cast<size_t>(net_.tensors[t].numel()) * sizeof(float),
                             cudaMemcpyHostToDevice, stream_.get()));
  host_copies_wait();
  weights_set_[t] = true;
}

// ---- forward -------------------------------------------------------------------------------

void ExecutorCudaImpl::forward_check(const int32_t* labels, int64_t n, bool training) const {
  executor_forward_check(net_, config_, weights_set_, labels, n, training);
}

BatchStats ExecutorCudaImpl::forward(const float* images, const int32_t* labels, int64_t n,
                                     bool training) {
  // its own totals slot: the statistics of this batch alone, queued sums left alone
  forward_run(images, labels, n, training, kSingleSlot);
  return totals_take(kSingleSlot);
}

void ExecutorCudaImpl::forward_queue(const float* images, const int32_t* labels, int64_t n,
                                     bool training) {
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
  forward_compute(p, training, slot);
}

// The network, the loss and its sums, on the batch in images_ and labels_.
void ExecutorCudaImpl::forward_compute(const BatchPlan& p, bool training, int slot) {
  const int64_t n = p.n;
  for (size_t i = 0; i < net_.ops.size(); ++i) forward_op(static_cast<int>(i), p, training);
  softmax_cross_entropy_rows(out_.back(), labels_.data(), n, net_.classes,
                             config_.label_smoothing, training ? diff_logits_.data() : nullptr,
                             examples_.data(), stream_.get());
  loss_totals_add(examples_.data(), n, totals_.data() + slot, stream_.get());
  last_ = &p;
  last_training_ = training;
}

// The split stays on the device when it fits beside what training needs: a tenth of the
// card's memory, at least 1 GiB, is left for cuDNN's workspaces and other processes.
int ExecutorCudaImpl::data_upload(const DataSplit& split) {
  const InputShape& in = net_.input;
  if (split.shape.c != in.c || split.shape.h != in.h || split.shape.w != in.w)
    throw MismatchError("", "data of shape " + shape_text(split.shape) +
                                " for a network whose input is " + shape_text(in));
  if (split.n == 0) return -1;
  labels_check(split.labels.data(), split.n, net_.classes);
  const size_t bytes = split.pixels.size() * sizeof(float) + split.labels.size() * sizeof(int32_t);
  size_t free = 0, total = 0;
  CUDA_CHECK(cudaMemGetInfo(&free, &total));
  const size_t reserve = std::max<size_t>(total / 10, size_t{1} << 30);
  if (free < reserve || bytes > free - reserve) return -1;
  DeviceSplit d;
  d.n = split.n;
  const std::vector<float> images = split.images(), padding = split.padding();
  d.images.resize(images.size());
  d.labels.resize(split.labels.size());
  d.padding.resize(padding.size());
  CUDA_CHECK(cudaMemcpyAsync(d.images.data(), images.data(), d.images.bytes(),
                             cudaMemcpyHostToDevice, stream_.get()));
  CUDA_CHECK(cudaMemcpyAsync(d.labels.data(), split.labels.data(), d.labels.bytes(),
                             cudaMemcpyHostToDevice, stream_.get()));
  CUDA_CHECK(cudaMemcpyAsync(d.padding.data(), padding.data(), d.padding.bytes(),
                             cudaMemcpyHostToDevice, stream_.get()));
  host_copies_wait();
  splits_.push_back(std::move(d));
  return static_cast<int>(splits_.size()) - 1;
}

void ExecutorCudaImpl::forward_queue_examples(int data, const int64_t* examples,
                                              const AugmentDraw* draws, int64_t n,
                                              bool training) {
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
  forward_compute(p, training, kQueuedSlot);
}

// Examples and draws -> pinned slot -> device, then the batch is cut on the device.
void ExecutorCudaImpl::examples_stage(const DeviceSplit& split, const int64_t* examples,
                                      const AugmentDraw* draws, int64_t n) {
  Staging& s = staging_[static_cast<size_t>(staging_next_)];
  staging_next_ ^= 1;
  CUDA_CHECK(cudaEventSynchronize(s.copied.get()));
  std::memcpy(s.examples.data(), examples, static_cast<size_t>(n) * sizeof(int64_t));
  CUDA_CHECK(cudaMemcpyAsync(gather_examples_.data(), s.examples.data(),
                             static_cast<size_t>(n) * sizeof(int64_t), cudaMemcpyHostToDevice,
                             stream_.get()));
  if (draws) {
    for (int64_t k = 0; k < n; ++k) {
      s.draws.data()[3 * k] = static_cast<int32_t>(draws[k].dy);
      s.draws.data()[3 * k + 1] = static_cast<int32_t>(draws[k].dx);
      s.draws.data()[3 * k + 2] = draws[k].flip ? 1 : 0;
    }
    CUDA_CHECK(cudaMemcpyAsync(gather_draws_.data(), s.draws.data(),
                               static_cast<size_t>(3 * n) * sizeof(int32_t),
                               cudaMemcpyHostToDevice, stream_.get()));
  }
  CUDA_CHECK(cudaEventRecord(s.copied.get(), stream_.get()));
  const InputShape& in = net_.input;
  examples_gather(split.images.data(), split.labels.data(), gather_examples_.data(),
                  draws ? gather_draws_.data() : nullptr, split.padding.data(), n, in.c, in.h,
                  in.w, kAugmentPad, images_.data(), labels_.data(), stream_.get());
}

// Host arrays -> pinned slot -> device, asynchronously. The slot's previous copy (two
// forwards back) must have finished before the slot is overwritten.
void ExecutorCudaImpl::input_stage(const float* images, const int32_t* labels, int64_t n) {
  Staging& s = staging_[static_cast<size_t>(staging_next_)];
  staging_next_ ^= 1;
  CUDA_CHECK(cudaEventSynchronize(s.copied.get()));
  const size_t image_bytes = static_cast<size_t>(n * per_example(-1)) * sizeof(float);
  const size_t label_bytes = static_cast<size_t>(n) * sizeof(int32_t);
  std::memcpy(s.images.data(), images, image_bytes);
  std::memcpy(s.labels.data(), labels, label_bytes);
  CUDA_CHECK(cudaMemcpyAsync(images_.data(), s.images.data(), image_bytes,
                             cudaMemcpyHostToDevice, stream_.get()));
  CUDA_CHECK(cudaMemcpyAsync(labels_.data(), s.labels.data(), label_bytes,
                             cudaMemcpyHostToDevice, stream_.get()));
  CUDA_CHECK(cudaEventRecord(s.copied.get(), stream_.get()));
}

void ExecutorCudaImpl::forward_op(int i, const BatchPlan& p, bool training) {
  const Op& op = net_.ops[i];
  const int j = op.inputs[0];
  const int64_t n = p.n;
  cudaStream_t stream = stream_.get();
  switch (op.kind) {
    case OpKind::conv: conv_forward(i, p); break;
    case OpKind::linear: linear_forward(i, n); break;
    case OpKind::relu: relu_forward(act(j), out_[i], n * per_example(i), stream); break;
    case OpKind::maxpool2:
      maxpool2_forward(act(j), out_[i], n * channels(j), height(j), width(j), stream);
      break;
    case OpKind::batchnorm: bn_forward(i, p, training); break;
    case OpKind::add:
      add_forward(act(j), act(op.inputs[1]), out_[i], n * per_example(i), stream);
      break;
    case OpKind::global_avgpool:
      global_avgpool_forward(act(j), out_[i], n * channels(j), height(j) * width(j), stream);
      break;
  }
}

void ExecutorCudaImpl::conv_forward(int i, const BatchPlan& p) {
  const Op& op = net_.ops[i];
  const int j = op.inputs[0];
  const auto& a = p.conv[i].forward;
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv_[i].get(), a.math));
  CUDNN_CHECK(cudnnConvolutionForward(cudnn_.get(), &kOne, desc(p, j), act(j), filter_[i].get(),
                                      weights_device(op.tensor), conv_[i].get(), a.algo,
                                      workspace_.data(), workspace_.bytes(), &kZero, desc(p, i),
                                      out_[i]));
}

// Row-major y[n, out] = x[n, in] W^T is, column-major, y^T = W_cm^T x^T, where W_cm [in, out]
// and x^T [in, n] are the same arrays read column-major (a 4-d input flattens in C, H, W
// order, which is its NCHW layout).
void ExecutorCudaImpl::linear_forward(int i, int64_t n) {
  const Op& op = net_.ops[i];
  const TensorSpec& spec = net_.tensors[op.tensor];
  const int out = to_int(spec.shape[0]), in = to_int(spec.shape[1]);
  CUBLAS_CHECK(cublasSgemm(cublas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, out, to_int(n), in, &kOne,
                           weights_device(op.tensor), in, act(op.inputs[0]), in, &kZero,
                           out_[i], out));
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
  const bool single = p.n * height(j) * width(j) == 1;
  CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
      cudnn_.get(), CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, x, act(j), x, out_[i],
      bn_param_[i].get(), b.scale, b.bias, 1.0,
      single ? nullptr : b.batch_mean, single ? nullptr : b.batch_var, kBnEpsilon, b.save_mean,
      b.save_inv_var));
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
  if (last_) {
    const size_t bytes = static_cast<size_t>(last_->n * net_.classes) * sizeof(float);
    CUDA_CHECK(cudaMemcpyAsync(logits_host_.data(), out_.back(), bytes, cudaMemcpyDeviceToHost,
                               stream_.get()));
    CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  }
  return logits_host_.data();
}

// ---- backward ------------------------------------------------------------------------------

void ExecutorCudaImpl::grads_check(const std::vector<float*>& grads) const {
  if (!last_training_) throw Error("", "backward without a training forward before it");
  if (grads.size() != net_.tensors.size())
    throw InvalidArgument("", std::to_string(grads.size()) + " gradient arrays for " +
                                  std::to_string(net_.tensors.size()) + " tensors");
}

void ExecutorCudaImpl::backward(const std::vector<float*>& grads) {
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
  bn_grads_ready_ = true;      // (computed below: every BatchNorm is wanted with affine_bn)
  if (!wanted_[last]) return;  // no gradient asked for
  const BatchPlan& p = *last_;
  // copied, not computed in place, so that a backward may be repeated
  CUDA_CHECK(cudaMemcpyAsync(grad_[last], diff_logits_.data(),
                             static_cast<size_t>(p.n * net_.classes) * sizeof(float),
                             cudaMemcpyDeviceToDevice, stream_.get()));
  written_.assign(net_.ops.size(), false);
  for (int i = last; i >= 0; --i)
    if (wanted_[i]) backward_op(i, p, grads);
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
  const int64_t n = p.n;
  cudaStream_t stream = stream_.get();
  switch (op.kind) {
    case OpKind::conv: conv_backward(i, p, grads); break;
    case OpKind::linear: linear_backward(i, n, grads); break;
    case OpKind::relu:
      relu_backward(out_[i], grad_[i], grad_[j], n * per_example(i), contribution_start(j),
                    stream);
      break;
    case OpKind::maxpool2:
      maxpool2_backward(act(j), grad_[i], grad_[j], n * channels(j), height(j), width(j),
                        contribution_start(j), stream);
      break;
    case OpKind::batchnorm: bn_backward(i, p); break;
    case OpKind::add: add_backward(i, n); break;
    case OpKind::global_avgpool:
      global_avgpool_backward(grad_[i], grad_[j], n * channels(j), height(j) * width(j),
                              contribution_start(j), stream);
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
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(cudnn_.get(), &kOne, desc(p, j), act(j),
                                               desc(p, i), grad_[i], conv, a.filter.algo,
                                               workspace_.data(), workspace_.bytes(), &kZero,
                                               filter_[i].get(), dw));
  }
  if (j < 0 || !wanted_[j]) return;
  const float* beta = contribution_start(j) ? &kOne : &kZero;
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv, a.data.math));
  CUDNN_CHECK(cudnnConvolutionBackwardData(cudnn_.get(), &kOne, filter_[i].get(),
                                           weights_device(op.tensor), desc(p, i), grad_[i], conv,
                                           a.data.algo, workspace_.data(), workspace_.bytes(),
                                           beta, desc(p, j), grad_[j]));
}

// Column-major, as in linear_forward: dx^T [in, n] = W_cm [in, out] dy^T [out, n], and
// dW^T [in, out] = x^T [in, n] (dy^T)^T.
void ExecutorCudaImpl::linear_backward(int i, int64_t n, const std::vector<float*>& grads) {
  const Op& op = net_.ops[i];
  const int j = op.inputs[0];
  const TensorSpec& spec = net_.tensors[op.tensor];
  const int out = to_int(spec.shape[0]), in = to_int(spec.shape[1]), rows = to_int(n);
  if (float* dw = grads[op.tensor])
    CUBLAS_CHECK(cublasSgemm(cublas_.get(), CUBLAS_OP_N, CUBLAS_OP_T, in, out, rows, &kOne,
                             act(j), in, grad_[i], out, &kZero, dw, in));
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
      cudnn_.get(), CUDNN_BATCHNORM_SPATIAL, &kOne, beta, &kOne, &kZero, x, act(j), x, grad_[i],
      x, dx, bn_param_[i].get(), b.scale, b.dscale, b.dbias, kBnEpsilon, b.save_mean,
      b.save_inv_var));
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

// ---- running statistics --------------------------------------------------------------------

std::vector<NamedArray> ExecutorCudaImpl::running_stats() const {
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
  const size_t i = bn_op(b);
  bn_pair_copy(bn_[i].scale, bn_[i].bias, gamma, beta, net_.ops[i].c, cudaMemcpyHostToDevice);
}

void ExecutorCudaImpl::bn_params(size_t b, float* gamma, float* beta) const {
  const size_t i = bn_op(b);
  bn_pair_copy(gamma, beta, bn_[i].scale, bn_[i].bias, net_.ops[i].c, cudaMemcpyDeviceToHost);
}

void ExecutorCudaImpl::bn_grads(size_t b, float* dgamma, float* dbeta) const {
  const size_t i = bn_op(b);
  if (!bn_grads_ready_)
    throw Error("", "BatchNorm gradients asked for without a backward after the last training "
                    "forward");
  bn_pair_copy(dgamma, dbeta, bn_[i].dscale, bn_[i].dbias, net_.ops[i].c, cudaMemcpyDeviceToHost);
}

}  // namespace

std::unique_ptr<ExecutorCuda> ExecutorCuda::create(const Network& net,
                                                   const ExecutorConfig& config, int device) {
  return std::make_unique<ExecutorCudaImpl>(net, config, device);
}

}  // namespace popup
