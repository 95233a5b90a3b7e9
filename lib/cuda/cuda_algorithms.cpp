// The CUDA executor's choice of convolution algorithms: for each convolution of a plan, the
// fastest deterministic forward, backward-data and backward-filter algorithms cuDNN offers
// in an allowed math type (FP32, or TF32 when asked for) within a workspace cap, and the
// workspace each needs. POPUP_CUDA_VERBOSE=1 prints each choice on stderr.
#include <cstdio>
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

// No algorithm that needs more scratch memory than this is chosen (cuDNN's FFT algorithms can
// ask for gigabytes at large batches).
constexpr size_t kWorkspaceCap = size_t{1} << 30;

bool verbose() {
  const char* v = std::getenv("POPUP_CUDA_VERBOSE");
  return v && std::strcmp(v, "1") == 0;
}

const char* math_name(cudnnMathType_t m) {
  switch (m) {
    case CUDNN_DEFAULT_MATH: return "default";
    case CUDNN_TENSOR_OP_MATH: return "tensor-op";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: return "tensor-op-conversion";
    case CUDNN_FMA_MATH: return "fma";
  }
  return "unknown";
}

// FP32 runs under CUDNN_FMA_MATH, which keeps cuDNN off tensor cores (no TF32); cuDNN labels
// its plain answers DEFAULT or FMA, so only the tensor-op ones are refused. TF32 may use
// tensor cores, under the math type cuDNN names, but never converts to half precision.
bool math_allowed(cudnnMathType_t math, bool tf32) {
  if (math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return false;
  return tf32 || math != CUDNN_TENSOR_OP_MATH;
}
cudnnMathType_t query_math(bool tf32) { return tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH; }
cudnnMathType_t run_math(cudnnMathType_t offered, bool tf32) {
  return tf32 ? offered : CUDNN_FMA_MATH;
}

// The first answer in cuDNN's heuristic order that runs, is deterministic (the same bits every
// run), fits the workspace cap and uses an allowed math type; `fallback` (a deterministic
// implicit-GEMM algorithm every cuDNN has) when none does. Heuristics rather than timed
// cudnnFind*: the choice must not depend on timing noise, or two runs could differ.
template <typename Algo, typename Perf>
ConvAlgo<Algo> algo_pick(const std::vector<Perf>& perfs, Algo fallback, bool tf32) {
  for (const Perf& p : perfs)
    if (p.status == CUDNN_STATUS_SUCCESS && p.determinism == CUDNN_DETERMINISTIC &&
        p.memory <= kWorkspaceCap && math_allowed(p.mathType, tf32))
      return {p.algo, run_math(p.mathType, tf32), 0};
  return {fallback, query_math(tf32), 0};
}

// cuDNN's names of its algorithms, without the common prefix.
const char* algo_name(cudnnConvolutionFwdAlgo_t a) {
  static const char* const names[] = {
      "implicit-gemm", "implicit-precomp-gemm", "gemm", "direct", "fft", "fft-tiling",
      "winograd",      "winograd-nonfused"};
  return a >= 0 && a < CUDNN_CONVOLUTION_FWD_ALGO_COUNT ? names[a] : "unknown";
}
const char* algo_name(cudnnConvolutionBwdDataAlgo_t a) {
  static const char* const names[] = {"0",          "1",        "fft",
                                      "fft-tiling", "winograd", "winograd-nonfused"};
  return a >= 0 && a < CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT ? names[a] : "unknown";
}
const char* algo_name(cudnnConvolutionBwdFilterAlgo_t a) {
  static const char* const names[] = {"0",         "1", "fft", "3", "winograd", "winograd-nonfused",
                                      "fft-tiling"};
  return a >= 0 && a < CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT ? names[a] : "unknown";
}

template <typename Algo>
void report(const char* pass, const std::string& name, int64_t n, const ConvAlgo<Algo>& a) {
  if (verbose())
    std::fprintf(stderr,
                 "popup: cuda: %s %s batch %lld: algorithm %s, math %s, workspace %zu bytes\n",
                 name.c_str(), pass, static_cast<long long>(n), algo_name(a.algo),
                 math_name(a.math), a.workspace);
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
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv, query_math(tf32_)));
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(
      cudnn_.get(), desc(p, j), filter_[i].get(), conv, desc(p, i), max, &returned, perfs.data()));
  perfs.resize(static_cast<size_t>(returned));
  auto a = algo_pick(perfs, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, tf32_);
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv, a.math));
  CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(cudnn_.get(), desc(p, j), filter_[i].get(),
                                                      conv, desc(p, i), a.algo, &a.workspace));
  report("forward", net_.tensors[net_.ops[i].tensor].name, p.n, a);
  return a;
}

ConvAlgo<cudnnConvolutionBwdDataAlgo_t> ExecutorCudaImpl::data_algo(int i, const BatchPlan& p) {
  const int j = net_.ops[i].inputs[0];
  cudnnConvolutionDescriptor_t conv = conv_[i].get();
  int max = 0, returned = 0;
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(cudnn_.get(), &max));
  std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perfs(static_cast<size_t>(max));
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv, query_math(tf32_)));
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
      cudnn_.get(), filter_[i].get(), desc(p, i), conv, desc(p, j), max, &returned, perfs.data()));
  perfs.resize(static_cast<size_t>(returned));
  auto a = algo_pick(perfs, CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, tf32_);
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv, a.math));
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(
      cudnn_.get(), filter_[i].get(), desc(p, i), conv, desc(p, j), a.algo, &a.workspace));
  report("backward-data", net_.tensors[net_.ops[i].tensor].name, p.n, a);
  return a;
}

ConvAlgo<cudnnConvolutionBwdFilterAlgo_t> ExecutorCudaImpl::filter_algo(int i, const BatchPlan& p) {
  const int j = net_.ops[i].inputs[0];
  cudnnConvolutionDescriptor_t conv = conv_[i].get();
  int max = 0, returned = 0;
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(cudnn_.get(), &max));
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perfs(static_cast<size_t>(max));
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv, query_math(tf32_)));
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
      cudnn_.get(), desc(p, j), desc(p, i), conv, filter_[i].get(), max, &returned, perfs.data()));
  perfs.resize(static_cast<size_t>(returned));
  auto a = algo_pick(perfs, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, tf32_);
  CUDNN_CHECK(cudnnSetConvolutionMathType(conv, a.math));
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
      cudnn_.get(), desc(p, j), desc(p, i), conv, filter_[i].get(), a.algo, &a.workspace));
  report("backward-filter", net_.tensors[net_.ops[i].tensor].name, p.n, a);
  return a;
}

}  // namespace cuda_impl
}  // namespace popup
