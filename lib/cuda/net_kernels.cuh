// The CUDA executor's own kernels (net_kernels.cu): the element-wise and pooling ops cuDNN is
// not used for, the BatchNorm running-statistics update and the softmax cross-entropy. Plain
// host launchers: device pointers and sizes in, queued on the given stream, launch errors
// thrown as popup::Error. Layout NCHW; a "plane" is one (example, channel) image.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace popup {

// Sums of the loss and top-1/top-5 counts over the forwards since the last reset.
struct LossTotals {
  double loss_sum;
  unsigned long long correct1, correct5;
};

// One example's share of the loss, before the batch is summed in a fixed order.
struct LossExample {
  double loss;
  int32_t correct1, correct5;
};

// A batch cut from a split held on the device: out[k] = images[examples[k]] ([c, h, w] each),
// cropped and flipped as draws[3k .. 3k+2] = (dy, dx, flip) when draws is not null, exactly as
// data/augment.hpp: out(y, x) = padded(y + dy, x' + dx), x' = w-1-x when flipping, the image
// padded by `pad` pixels of padding[c]. out_labels[k] = labels[examples[k]].
void examples_gather(const float* images, const int32_t* labels, const int64_t* examples,
                     const int32_t* draws, const float* padding, int64_t n, int64_t c, int64_t h,
                     int64_t w, int64_t pad, float* out, int32_t* out_labels, cudaStream_t stream);

// y = x where x >= 0 (NaN passes, as in PyTorch), else 0. In place when y == x.
void relu_forward(const float* x, float* y, int64_t count, cudaStream_t stream);

// dx (+)= dy where y > 0, else 0 (dx may be dy). accumulate: add to dx instead of writing.
void relu_backward(const float* y, const float* dy, float* dx, int64_t count, bool accumulate,
                   cudaStream_t stream);

// y = a + b.
void add_forward(const float* a, const float* b, float* y, int64_t count, cudaStream_t stream);

// dx (+)= dy.
void gradient_pass(const float* dy, float* dx, int64_t count, bool accumulate, cudaStream_t stream);

// Max-pool windows over planes of h x w: kernel x kernel, moved by stride, padded by pad on
// each side with values that never win (pad <= kernel / 2), giving oh x ow outputs (floor).
struct PoolWindows {
  int64_t h, w, oh, ow, kernel, stride, pad;
};

// x [planes, h, w] -> y [planes, oh, ow]: the maximum of each window.
void maxpool_forward(const float* x, float* y, int64_t planes, const PoolWindows& g,
                     cudaStream_t stream);

// dx (+)= dy at each window's maximum (the first in row-major order among equals, as the CPU
// executor picks it), found again from x; summed where windows overlap; 0 where no window's
// maximum is.
void maxpool_backward(const float* x, const float* dy, float* dx, int64_t planes,
                      const PoolWindows& g, bool accumulate, cudaStream_t stream);

// y [planes] = mean of each plane of x [planes, hw].
void global_avgpool_forward(const float* x, float* y, int64_t planes, int64_t hw,
                            cudaStream_t stream);

// dx [planes, hw] (+)= dy [planes] / hw.
void global_avgpool_backward(const float* dy, float* dx, int64_t planes, int64_t hw,
                             bool accumulate, cudaStream_t stream);

// running = momentum * batch + (1 - momentum) * running, per channel, for the mean and the
// (already unbiased) variance; a null batch_var stands for a variance of 0 (one value per
// channel).
void bn_running_update(const float* batch_mean, const float* batch_var, float* running_mean,
                       float* running_var, int64_t channels, float momentum, cudaStream_t stream);

// Softmax cross-entropy of logits [n, classes] as softmax_cross_entropy.hpp defines it: each
// example's smoothed loss and top-1/top-K hits (K = min(5, classes)) into examples[n], and,
// when diff is not null, the gradient of the loss summed over the batch and divided by
// mean_over into diff [n, classes] ((softmax - target) / mean_over, in double): d(mean loss)/d
// logits when mean_over is n; a data-parallel rank passes the global batch.
void softmax_cross_entropy_rows(const float* logits, const int32_t* labels, int64_t n,
                                int64_t classes, float label_smoothing, float* diff,
                                int64_t mean_over, LossExample* examples, cudaStream_t stream);

// totals += the sums over examples[n], added in a fixed order (the same bits every run).
void loss_totals_add(const LossExample* examples, int64_t n, LossTotals* totals,
                     cudaStream_t stream);

}  // namespace popup
