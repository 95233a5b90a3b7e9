// The CUDA executor's choice of convolution algorithms: for each convolution of a plan, the
// fastest deterministic forward, backward-data and backward-filter algorithms cuDNN offers
// in an allowed math type (FP32, or TF32 when asked for), and the workspace each needs.
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/executor_cuda_impl.hpp"
#include "error.hpp"

namespace popup {
namespace cuda_impl {

bool tf32_requested() {
  const char* v = std::getenv("POPUP_CUDA_TF32");
  return v && std::strcmp(v, "1") == 0;
}

namespace {

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

}  // namespace

// The three algorithm choices differ only in cuDNN's function names. Each leaves the
// descriptor's math type at the chosen algorithm's, which each call sets again before running.
ConvAlgo<cudnnConvolutionFwdAlgo_t> ExecutorCudaImpl::forward_algo(int i, const BatchPlan& p) {
  const int j = net_.ops[i].inputs[0];
  cudnnConvolutionDescriptor_t conv = conv_[i].get();
  int max = 0, returned = 0;
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(cudnn_.get(), &max));
  std::vector<cudnnConvolutionFwdAlgoPerf_t> perfs(static_cast<size_t>(max));
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv, conv_query_math(tf32_)));
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(
      cudnn_.get(), desc(p, j), filter_[i].get(), conv, desc(p, i), max, &returned, perfs.data()));
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
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
      cudnn_.get(), filter_[i].get(), desc(p, i), conv, desc(p, j), max, &returned, perfs.data()));
  perfs.resize(static_cast<size_t>(returned));
  const auto best = algo_pick(
      perfs, tf32_, "backward-data convolution for " + net_.tensors[net_.ops[i].tensor].name);
  ConvAlgo<cudnnConvolutionBwdDataAlgo_t> a{best.algo, best.mathType, 0};
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv, a.math));
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(
      cudnn_.get(), filter_[i].get(), desc(p, i), conv, desc(p, j), a.algo, &a.workspace));
  return a;
}

ConvAlgo<cudnnConvolutionBwdFilterAlgo_t> ExecutorCudaImpl::filter_algo(int i, const BatchPlan& p) {
  const int j = net_.ops[i].inputs[0];
  cudnnConvolutionDescriptor_t conv = conv_[i].get();
  int max = 0, returned = 0;
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(cudnn_.get(), &max));
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perfs(static_cast<size_t>(max));
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv, conv_query_math(tf32_)));
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
      cudnn_.get(), desc(p, j), desc(p, i), conv, filter_[i].get(), max, &returned, perfs.data()));
  perfs.resize(static_cast<size_t>(returned));
  const auto best = algo_pick(
      perfs, tf32_, "backward-filter convolution for " + net_.tensors[net_.ops[i].tensor].name);
  ConvAlgo<cudnnConvolutionBwdFilterAlgo_t> a{best.algo, best.mathType, 0};
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv, a.math));
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
      cudnn_.get(), desc(p, j), desc(p, i), conv, filter_[i].get(), a.algo, &a.workspace));
  return a;
}

}  // namespace cuda_impl
}  // namespace popup
