// The CUDA executor's own kernels (see net_kernels.cuh): element-wise ops, pooling, the
// BatchNorm running-statistics update and the softmax cross-entropy, each with its launcher.
#include "cuda/net_kernels.cuh"

#include <algorithm>
#include <cfloat>

#include "cuda/cuda_check.hpp"

namespace popup {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 1 << 16;  // grid-stride loops cover the rest
constexpr int kWarp = 32;

// Blocks for one thread per element, at least one (callers return early on empty work).
int blocks_for(int64_t count) {
  return static_cast<int>(std::min<int64_t>((count + kThreads - 1) / kThreads, kMaxBlocks));
}

void launch_check() { CUDA_CHECK(cudaGetLastError()); }

// The first index of this thread and the grid-stride step.
__device__ int64_t grid_start() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ int64_t grid_step() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// Writes or adds a gradient contribution.
__device__ void gradient_store(float* dx, int64_t k, float value, bool accumulate) {
  dx[k] = accumulate ? dx[k] + value : value;
}

__global__ void examples_gather_kernel(const float* images, const int32_t* labels,
                                       const int64_t* examples, const int32_t* draws,
                                       const float* padding, int64_t n, int64_t c, int64_t h,
                                       int64_t w, int64_t pad, float* out, int32_t* out_labels) {
  const int64_t size = c * h * w, count = n * size;
  for (int64_t i = grid_start(); i < count; i += grid_step()) {
    const int64_t k = i / size, r = i % size;
    const int64_t ch = r / (h * w), y = (r / w) % h, x = r % w;
    const float* plane = images + (examples[k] * c + ch) * h * w;
    if (!draws) {
      out[i] = plane[y * w + x];
      continue;
    }
    const int32_t* d = draws + 3 * k;
    const int64_t sy = y + d[0] - pad, sx = (d[2] ? w - 1 - x : x) + d[1] - pad;
    out[i] = (sy >= 0 && sy < h && sx >= 0 && sx < w) ? plane[sy * w + sx] : padding[ch];
  }
  for (int64_t k = grid_start(); k < n; k += grid_step()) out_labels[k] = labels[examples[k]];
}

__global__ void relu_forward_kernel(const float* x, float* y, int64_t count) {
  for (int64_t k = grid_start(); k < count; k += grid_step()) {
    const float v = x[k];
    y[k] = v < 0.f ? 0.f : v;
  }
}

__global__ void relu_backward_kernel(const float* y, const float* dy, float* dx, int64_t count,
                                     bool accumulate) {
  for (int64_t k = grid_start(); k < count; k += grid_step())
    gradient_store(dx, k, y[k] > 0.f ? dy[k] : 0.f, accumulate);
}

__global__ void add_forward_kernel(const float* a, const float* b, float* y, int64_t count) {
  for (int64_t k = grid_start(); k < count; k += grid_step()) y[k] = a[k] + b[k];
}

__global__ void gradient_pass_kernel(const float* dy, float* dx, int64_t count, bool accumulate) {
  for (int64_t k = grid_start(); k < count; k += grid_step())
    gradient_store(dx, k, dy[k], accumulate);
}

// Offset (within its plane) of the maximum of window (oy, ox): the first in row-major order
// among equals, as the CPU executor picks it; padding never wins (pad <= kernel / 2, so every
// window holds an input value).
__device__ int64_t window_argmax(const float* plane, const PoolWindows& g, int64_t oy, int64_t ox) {
  const int64_t y0 = oy * g.stride - g.pad, x0 = ox * g.stride - g.pad;
  const int64_t y1 = min(y0 + g.kernel, g.h), x1 = min(x0 + g.kernel, g.w);
  int64_t best = -1;
  for (int64_t y = max(y0, int64_t{0}); y < y1; ++y)
    for (int64_t x = max(x0, int64_t{0}); x < x1; ++x)
      if (best < 0 || plane[y * g.w + x] > plane[best]) best = y * g.w + x;
  return best;
}

__global__ void maxpool_forward_kernel(const float* x, float* y, int64_t planes, PoolWindows g) {
  const int64_t count = planes * g.oh * g.ow;
  for (int64_t k = grid_start(); k < count; k += grid_step()) {
    const int64_t p = k / (g.oh * g.ow), oy = k / g.ow % g.oh, ox = k % g.ow;
    const float* plane = x + p * g.h * g.w;
    y[k] = plane[window_argmax(plane, g, oy, ox)];
  }
}

// The windows along one axis that hold input position i: first .. last (empty when last <
// first).
__device__ void windows_holding(int64_t i, int64_t outputs, const PoolWindows& g, int64_t& first,
                                int64_t& last) {
  const int64_t shifted = i + g.pad;  // window o covers shifted in [o s, o s + kernel)
  first = shifted < g.kernel ? 0 : (shifted - g.kernel) / g.stride + 1;
  last = min(shifted / g.stride, outputs - 1);
}

// One thread per input element, summing over the windows that hold it in row-major order: no
// two threads write the same gradient.
__global__ void maxpool_backward_kernel(const float* x, const float* dy, float* dx, int64_t planes,
                                        PoolWindows g, bool accumulate) {
  const int64_t count = planes * g.h * g.w;
  for (int64_t k = grid_start(); k < count; k += grid_step()) {
    const int64_t p = k / (g.h * g.w), iy = k / g.w % g.h, ix = k % g.w;
    int64_t oy0, oy1, ox0, ox1;
    windows_holding(iy, g.oh, g, oy0, oy1);
    windows_holding(ix, g.ow, g, ox0, ox1);
    float value = 0.f;
    for (int64_t oy = oy0; oy <= oy1; ++oy)
      for (int64_t ox = ox0; ox <= ox1; ++ox)
        if (window_argmax(x + p * g.h * g.w, g, oy, ox) == iy * g.w + ix)
          value += dy[(p * g.oh + oy) * g.ow + ox];
    gradient_store(dx, k, value, accumulate);
  }
}

__global__ void global_avgpool_forward_kernel(const float* x, float* y, int64_t planes,
                                              int64_t hw) {
  for (int64_t p = grid_start(); p < planes; p += grid_step()) {
    const float* plane = x + p * hw;
    float sum = 0.f;
    for (int64_t k = 0; k < hw; ++k) sum += plane[k];
    y[p] = sum / static_cast<float>(hw);
  }
}

__global__ void global_avgpool_backward_kernel(const float* dy, float* dx, int64_t planes,
                                               int64_t hw, bool accumulate) {
  const int64_t count = planes * hw;
  for (int64_t k = grid_start(); k < count; k += grid_step())
    gradient_store(dx, k, dy[k / hw] / static_cast<float>(hw), accumulate);
}

// The same float expression as the CPU executor, so that both round alike.
__global__ void bn_running_update_kernel(const float* batch_mean, const float* batch_var,
                                         float* running_mean, float* running_var, int64_t channels,
                                         float momentum) {
  for (int64_t c = grid_start(); c < channels; c += grid_step()) {
    const float var = batch_var ? batch_var[c] : 0.f;
    running_mean[c] = momentum * batch_mean[c] + (1 - momentum) * running_mean[c];
    running_var[c] = momentum * var + (1 - momentum) * running_var[c];
  }
}

__device__ double warp_sum(double v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2)
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ float warp_max(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

__device__ int warp_sum_int(int v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2)
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// One warp per example, in double like softmax_cross_entropy.cpp.
__global__ void softmax_cross_entropy_kernel(const float* logits, const int32_t* labels, int64_t n,
                                             int64_t classes, double eps, float* diff,
                                             int64_t mean_over, LossExample* examples) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp;
  if (row >= n) return;  // the whole warp leaves together
  const int lane = threadIdx.x % kWarp;
  const float* z = logits + row * classes;
  const int32_t y = labels[row];
  const float z_label = z[y];
  float local_max = -FLT_MAX;
  for (int64_t c = lane; c < classes; c += kWarp) local_max = fmaxf(local_max, z[c]);
  const double z_max = warp_max(local_max);
  double sum_exp = 0, sum_z = 0;
  int greater = 0;
  for (int64_t c = lane; c < classes; c += kWarp) {
    sum_exp += exp(z[c] - z_max);
    sum_z += z[c];
    greater += (z[c] > z_label || (z[c] == z_label && c < y)) ? 1 : 0;  // ranked ahead
  }
  sum_exp = warp_sum(sum_exp);
  sum_z = warp_sum(sum_z);
  greater = warp_sum_int(greater);
  if (isnan(z_label)) greater = static_cast<int>(classes);  // a NaN label ranks last
  const double log_sum = z_max + log(sum_exp);
  if (lane == 0) {
    const double nll = log_sum - z_label;
    const double mean_nll = log_sum - sum_z / static_cast<double>(classes);
    const int64_t top5 = classes < 5 ? classes : 5;
    examples[row] = {(1 - eps) * nll + eps * mean_nll, greater < 1 ? 1 : 0, greater < top5 ? 1 : 0};
  }
  if (!diff) return;
  for (int64_t c = lane; c < classes; c += kWarp) {
    const double p = exp(z[c] - log_sum);
    const double target = (c == y ? 1 - eps : 0) + eps / static_cast<double>(classes);
    diff[row * classes + c] = static_cast<float>((p - target) / static_cast<double>(mean_over));
  }
}

// One block: per-thread sums over a fixed set of examples, then a fixed-order tree.
__global__ void loss_totals_add_kernel(const LossExample* examples, int64_t n, LossTotals* totals) {
  __shared__ double loss[kThreads];
  __shared__ unsigned long long top1[kThreads], top5[kThreads];
  const int t = threadIdx.x;
  loss[t] = 0;
  top1[t] = top5[t] = 0;
  for (int64_t i = t; i < n; i += kThreads) {
    loss[t] += examples[i].loss;
    top1[t] += static_cast<unsigned long long>(examples[i].correct1);
    top5[t] += static_cast<unsigned long long>(examples[i].correct5);
  }
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (t < half) {
      loss[t] += loss[t + half];
      top1[t] += top1[t + half];
      top5[t] += top5[t + half];
    }
    __syncthreads();
  }
  if (t == 0) {
    totals->loss_sum += loss[0];
    totals->correct1 += top1[0];
    totals->correct5 += top5[0];
  }
}

}  // namespace

void examples_gather(const float* images, const int32_t* labels, const int64_t* examples,
                     const int32_t* draws, const float* padding, int64_t n, int64_t c, int64_t h,
                     int64_t w, int64_t pad, float* out, int32_t* out_labels, cudaStream_t stream) {
  if (n == 0) return;
  examples_gather_kernel<<<blocks_for(n * c * h * w), kThreads, 0, stream>>>(
      images, labels, examples, draws, padding, n, c, h, w, pad, out, out_labels);
  launch_check();
}

void relu_forward(const float* x, float* y, int64_t count, cudaStream_t stream) {
  if (count == 0) return;
  relu_forward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(x, y, count);
  launch_check();
}

void relu_backward(const float* y, const float* dy, float* dx, int64_t count, bool accumulate,
                   cudaStream_t stream) {
  if (count == 0) return;
  relu_backward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(y, dy, dx, count, accumulate);
  launch_check();
}

void add_forward(const float* a, const float* b, float* y, int64_t count, cudaStream_t stream) {
  if (count == 0) return;
  add_forward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(a, b, y, count);
  launch_check();
}

void gradient_pass(const float* dy, float* dx, int64_t count, bool accumulate,
                   cudaStream_t stream) {
  if (count == 0) return;
  gradient_pass_kernel<<<blocks_for(count), kThreads, 0, stream>>>(dy, dx, count, accumulate);
  launch_check();
}

void maxpool_forward(const float* x, float* y, int64_t planes, const PoolWindows& g,
                     cudaStream_t stream) {
  const int64_t count = planes * g.oh * g.ow;
  if (count == 0) return;
  maxpool_forward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(x, y, planes, g);
  launch_check();
}

void maxpool_backward(const float* x, const float* dy, float* dx, int64_t planes,
                      const PoolWindows& g, bool accumulate, cudaStream_t stream) {
  const int64_t count = planes * g.h * g.w;
  if (count == 0) return;
  maxpool_backward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(x, dy, dx, planes, g,
                                                                      accumulate);
  launch_check();
}

void global_avgpool_forward(const float* x, float* y, int64_t planes, int64_t hw,
                            cudaStream_t stream) {
  if (planes == 0) return;
  global_avgpool_forward_kernel<<<blocks_for(planes), kThreads, 0, stream>>>(x, y, planes, hw);
  launch_check();
}

void global_avgpool_backward(const float* dy, float* dx, int64_t planes, int64_t hw,
                             bool accumulate, cudaStream_t stream) {
  const int64_t count = planes * hw;
  if (count == 0) return;
  global_avgpool_backward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(dy, dx, planes, hw,
                                                                             accumulate);
  launch_check();
}

void bn_running_update(const float* batch_mean, const float* batch_var, float* running_mean,
                       float* running_var, int64_t channels, float momentum, cudaStream_t stream) {
  if (channels == 0) return;
  bn_running_update_kernel<<<blocks_for(channels), kThreads, 0, stream>>>(
      batch_mean, batch_var, running_mean, running_var, channels, momentum);
  launch_check();
}

void softmax_cross_entropy_rows(const float* logits, const int32_t* labels, int64_t n,
                                int64_t classes, float label_smoothing, float* diff,
                                int64_t mean_over, LossExample* examples, cudaStream_t stream) {
  if (n == 0) return;
  constexpr int rows_per_block = kThreads / kWarp;
  const auto blocks = static_cast<unsigned>((n + rows_per_block - 1) / rows_per_block);
  softmax_cross_entropy_kernel<<<blocks, kThreads, 0, stream>>>(
      logits, labels, n, classes, static_cast<double>(label_smoothing), diff, mean_over, examples);
  launch_check();
}

void loss_totals_add(const LossExample* examples, int64_t n, LossTotals* totals,
                     cudaStream_t stream) {
  loss_totals_add_kernel<<<1, kThreads, 0, stream>>>(examples, n, totals);
  launch_check();
}

}  // namespace popup
