// The backend interface: one Network executed on one device for batches of up to a fixed
// size. The algorithm (masks, top-k, score gradients, optimiser) stays in backend-independent
// code and only hands the executor effective weights and takes back their gradients.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "error.hpp"
#include "net/network.hpp"
#include "train/optimizer.hpp"
#include "train/score_engine.hpp"
#include "train/softmax_cross_entropy.hpp"

namespace popup {

struct DataSplit;
struct AugmentDraw;
class Communicator;

// The number format inside the network's primitives. bf16 (CPU only): weights, activations
// and their gradients in bfloat16, accumulation in fp32 as oneDNN does; the interface stays
// fp32 (set_weights, logits, weight gradients, BatchNorm statistics), and so do the scores,
// masks and optimiser outside the executor. Never the default.
enum class Precision : int32_t { fp32, bf16 };

// "fp32" or "bf16" (as --precision takes them).
inline const char* precision_name(Precision p) { return p == Precision::bf16 ? "bf16" : "fp32"; }

// The inverse of precision_name; throws InvalidArgument("--precision", ...) for other text.
inline Precision precision_parse(const std::string& text) {
  if (text == "fp32") return Precision::fp32;
  if (text == "bf16") return Precision::bf16;
  throw InvalidArgument("--precision", "must be fp32 or bf16, got '" + text + "'");
}

// How the CPU backend computes its 3x3 convolutions (DESIGN.md §7): `direct` everywhere (the
// default; the masks of earlier versions, bit for bit), `winograd` wherever the layer takes a
// Winograd convolution on this CPU (oneDNN's where it has one, popup's own F(2x2, 3x3) on AVX2
// elsewhere; direct otherwise), or `automatic`: per layer, the fastest of those as timed when
// the executor is built. A plan (per layer) holds direct, winograd (oneDNN's), winograd_f2x3
// (popup's) or winograd_f4x3_grad (oneDNN's forward and backward-data, popup's F(4x4, 3x3)
// weight gradient; only `automatic` chooses it). The GPU backend ignores it.
enum class ConvAlgo : int32_t { direct, winograd, automatic, winograd_f2x3, winograd_f4x3_grad };

// "direct", "winograd", "auto" (as --conv-algo takes them), "winograd-f2x3" or
// "winograd-f4x3-grad" (plans only).
inline const char* conv_algo_name(ConvAlgo a) {
  switch (a) {
    case ConvAlgo::winograd: return "winograd";
    case ConvAlgo::automatic: return "auto";
    case ConvAlgo::winograd_f2x3: return "winograd-f2x3";
    case ConvAlgo::winograd_f4x3_grad: return "winograd-f4x3-grad";
    default: return "direct";
  }
}

// The inverse of conv_algo_name for --conv-algo; throws InvalidArgument("--conv-algo", ...) for
// other text.
inline ConvAlgo conv_algo_parse(const std::string& text) {
  if (text == "direct") return ConvAlgo::direct;
  if (text == "winograd") return ConvAlgo::winograd;
  if (text == "auto") return ConvAlgo::automatic;
  throw InvalidArgument("--conv-algo", "must be direct, winograd or auto, got '" + text + "'");
}

// A convolution plan as text, "direct,winograd-f2x3,..." (popup.train.conv_plan), and back;
// the parse throws InvalidArgument("", ...) for anything but a comma list of direct, winograd,
// winograd-f2x3 and winograd-f4x3-grad.
inline std::string conv_plan_text(const std::vector<ConvAlgo>& plan) {
  std::string text;
  for (ConvAlgo a : plan) text += (text.empty() ? "" : ",") + std::string(conv_algo_name(a));
  return text;
}
inline std::vector<ConvAlgo> conv_plan_parse(const std::string& text) {
  std::vector<ConvAlgo> plan;
  for (size_t start = 0; !text.empty() && start <= text.size();) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string name = text.substr(start, end - start);
    if (name == "winograd-f2x3")
      plan.push_back(ConvAlgo::winograd_f2x3);
    else if (name == "winograd-f4x3-grad")
      plan.push_back(ConvAlgo::winograd_f4x3_grad);
    else if (name == "direct" || name == "winograd")
      plan.push_back(conv_algo_parse(name));
    else
      throw InvalidArgument("",
                            "a convolution plan lists direct, winograd, winograd-f2x3 or "
                            "winograd-f4x3-grad per convolution");
    start = end + 1;
  }
  return plan;
}

struct ExecutorConfig {
  int64_t max_batch = 128;                // forward() takes 1 .. max_batch examples
  float label_smoothing = 0.0f;           // PyTorch's CrossEntropyLoss(label_smoothing=...)
  bool train = true;                      // false: inference only (no backward buffers)
  Precision precision = Precision::fp32;  // inside the primitives (bf16: CPU only)
  ConvAlgo conv_algo = ConvAlgo::direct;  // CPU: how 3x3 convolutions are computed
  // CPU: the algorithm of each convolution op, in op order (direct or winograd), as an
  // executor's conv_plan() gave it: replayed instead of deciding by conv_algo, so that a run
  // computes what the run it continues or evaluates computed. Empty: decide.
  std::vector<ConvAlgo> conv_plan;
  // Affine BatchNorm, PyTorch's BatchNorm2d(affine=True) (the "+BN" variants): every
  // batchnorm op then scales and shifts each channel after normalising, y = gamma xhat + beta,
  // with gamma and beta set by the caller (initially 1 and 0; Executor::set_bn_params) and
  // their gradients given by backward() (Executor::bn_grads). Running statistics as without.
  bool affine_bn = false;
  // Data-parallel training (DESIGN.md §8): this executor is rank comm->rank() of
  // comm->size(), each running its share of every global batch (comm outlives the executor).
  // A training forward of n examples then sums n over the ranks (the global batch M), and
  // backward() gives the gradient of the mean loss over all M examples, every rank's
  // contribution summed rank-ordered (Communicator::sum), the same bits on every rank: weight
  // gradients and, with affine_bn, bn_grads. Every rank's forward has n >= 1.
  // Without sync_bn each rank's BatchNorm normalises with its own share's statistics and
  // updates its own running statistics (PyTorch's DistributedDataParallel); with sync_bn a
  // training BatchNorm uses the statistics of the global batch, so N ranks compute what one
  // process does with the whole batch (PyTorch's SyncBatchNorm), running statistics included.
  // Inference forwards are local. Null: one process.
  Communicator* comm = nullptr;
  bool sync_bn = false;
};

// A named float array: BatchNorm running statistics.
struct NamedArray {
  std::string name;  // "<bn>.running_mean" or "<bn>.running_var"
  std::vector<float> values;
};

class Executor {
 public:
  virtual ~Executor() = default;

  // Effective weights of tensor t (w * mask, or dense weights), row-major in the shape of
  // Network::tensors[t]. Copied (reordered) into the executor's own layout.
  virtual void set_weights(size_t t, const float* weights) = 0;

  // Edge-popup's effective weights of tensor t from its n frozen weights and n mask bytes (0 or
  // 1): set_weights of each weight where the mask holds 1 and +0 where it holds 0. A backend
  // may apply the mask while it copies the weights into its own layout (the CPU backend does in
  // its Winograd transforms); the default forms the product here, then set_weights.
  virtual void set_masked_weights(size_t t, int64_t n, const float* weights, const uint8_t* mask);

  // One batch of n examples: images [n, C, H, W] row-major (normalised), labels in
  // [0, classes). training: BatchNorm normalises with batch statistics and updates its
  // running statistics (momentum 0.1, unbiased variance), and backward() may follow;
  // otherwise BatchNorm uses the running statistics.
  virtual BatchStats forward(const float* images, const int32_t* labels, int64_t n,
                             bool training) = 0;

  // forward() without waiting for its statistics: they are added to a sum that stats_take()
  // returns and resets. Between takes a backend may run ahead of the host; the trainer takes
  // them every stats_interval() steps and at the end of an epoch.
  virtual void forward_queue(const float* images, const int32_t* labels, int64_t n, bool training) {
    const BatchStats s = forward(images, labels, n, training);
    queued_.loss_sum += s.loss_sum;
    queued_.correct1 += s.correct1;
    queued_.correct5 += s.correct5;
  }
  virtual BatchStats stats_take() {
    const BatchStats s = queued_;
    queued_ = BatchStats();
    return s;
  }
  virtual int stats_interval() const { return 1; }

  // Keep a split in the backend's own memory, so that batches are cut there by index rather
  // than copied in each step: returns a handle, or -1 when the backend keeps no data (the CPU
  // reads the loader's batches where they are), the split does not fit, or it is streamed
  // (image folders: its examples exist only in a loader's batches). The split's shape must be
  // the network's input.
  virtual int data_upload(const DataSplit& split) {
    static_cast<void>(split);
    return -1;
  }
  // forward_queue() of the examples[0 .. n) of uploaded split `data`, each cropped and flipped
  // as draws[k] (data/augment.hpp) unless draws is null.
  virtual void forward_queue_examples(int data, const int64_t* examples, const AugmentDraw* draws,
                                      int64_t n, bool training) {
    static_cast<void>(examples), static_cast<void>(draws), static_cast<void>(n);
    static_cast<void>(training);
    throw InvalidArgument("", "no uploaded data split " + std::to_string(data));
  }

  // After a training forward: the gradient of the MEAN loss over its n examples with respect
  // to each tensor's effective weights, row-major, into grads[t] (numel floats); a null
  // grads[t] is skipped. No gradient is computed for the images.
  virtual void backward(const std::vector<float*>& grads) = 0;

  // Logits of the last forward, [n, classes] row-major.
  virtual const float* logits() = 0;

  // BatchNorm running statistics (network order: mean then var of each BatchNorm), and
  // setting them back (names must match).
  virtual std::vector<NamedArray> running_stats() const = 0;
  virtual void set_running_stats(const std::vector<NamedArray>& stats) = 0;

  // Affine BatchNorm (ExecutorConfig::affine_bn): the number of BatchNorm ops, numbered
  // b = 0 .. bn_count() - 1 in network order (network_batchnorms' order); 0 without
  // affine_bn. BatchNorm b has bn_channels(b) channels, the length of each array below.
  virtual size_t bn_count() const { return 0; }
  virtual int64_t bn_channels(size_t b) const { return bn_unavailable(b); }
  // Sets BatchNorm b's scale gamma and shift beta (copied; used by every later forward,
  // training or inference), and reads them back. InvalidArgument for b >= bn_count().
  virtual void set_bn_params(size_t b, const float* gamma, const float* beta) {
    static_cast<void>(gamma), static_cast<void>(beta);
    bn_unavailable(b);
  }
  virtual void bn_params(size_t b, float* gamma, float* beta) const {
    static_cast<void>(gamma), static_cast<void>(beta);
    bn_unavailable(b);
  }
  // After backward(): the gradient of the mean loss of that forward with respect to BatchNorm
  // b's gamma and beta (backward() computes them whatever grads it is given). InvalidArgument
  // for b >= bn_count(); Error when no backward() has followed the last training forward.
  virtual void bn_grads(size_t b, float* dgamma, float* dbeta) const {
    static_cast<void>(dgamma), static_cast<void>(dbeta);
    bn_unavailable(b);
  }

  // What runs this executor, for reports: "cpu" or e.g. "cuda:0 (NVIDIA H100 80GB HBM3)".
  virtual std::string device_name() const { return "cpu"; }

  // The algorithm each convolution op runs, in op order (ExecutorConfig::conv_plan); empty
  // where the backend does not choose (the GPU).
  virtual std::vector<ConvAlgo> conv_plan() const { return {}; }

  // The engine that owns the scores of a training run on this executor's device.
  virtual std::unique_ptr<ScoreEngine> score_engine(const OptimizerConfig& config) {
    return score_engine_host_create(*this, config);
  }

 protected:
  // What bn_channels and the bn_*params, bn_grads calls do without affine BatchNorm.
  [[noreturn]] static int64_t bn_unavailable(size_t b) {
    throw InvalidArgument("", "no affine BatchNorm " + std::to_string(b) +
                                  " (the executor was built without affine_bn)");
  }

 private:
  BatchStats queued_;
  std::vector<float> masked_;  // set_masked_weights' product
};

// out[i] = mask[i] ? w[i] : +0, for i < n, as bits (w AND all ones or zero): no branch, so it
// vectorises; in parallel for large n.
void masked_weights(int64_t n, const float* w, const uint8_t* mask, float* out);

// The CPU backend (oneDNN). Threads: the OpenMP pool (omp_set_num_threads).
std::unique_ptr<Executor> executor_cpu_create(const Network& net, const ExecutorConfig& config);

// The CUDA backend lives in libpopup-cuda.so (lib/cuda/), loaded by device.hpp. Its entry
// point, resolved with dlsym; it returns null and fills `error` when it cannot start.
// The version changes whenever Executor, ScoreEngine or these structs change layout.
constexpr int kCudaPluginAbi = 5;
extern "C" {
using CudaPluginAbi = int();
using CudaPluginCreate = Executor*(const Network* net, const ExecutorConfig* config, int device,
                                   char* error, size_t error_size);
}

}  // namespace popup
