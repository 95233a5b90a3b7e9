// Naive double-precision reference loops (plain NCHW) for every op a Network has, forward and
// backward, the softmax cross-entropy, and a whole-network run built from them: what the
// executors are tested against. Written for clarity, not speed; tests only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "net/network.hpp"

namespace reference {

// [n, c, h, w] row-major; a flat activation [n, c] has h = w = 1.
struct Tensor {
  int64_t n = 0, c = 0, h = 1, w = 1;
  std::vector<double> v;

  Tensor() = default;
  Tensor(int64_t n_, int64_t c_, int64_t h_, int64_t w_)
      : n(n_), c(c_), h(h_), w(w_), v(static_cast<size_t>(n_ * c_ * h_ * w_), 0.0) {}
  double& at(int64_t i, int64_t j, int64_t y, int64_t x) {
    return v[static_cast<size_t>(((i * c + j) * h + y) * w + x)];
  }
  double at(int64_t i, int64_t j, int64_t y, int64_t x) const {
    return v[static_cast<size_t>(((i * c + j) * h + y) * w + x)];
  }
  Tensor zeros_like() const { return Tensor(n, c, h, w); }
};

// ---- convolution: weights [out, in, kh, kw], no bias ----------------------------------------

struct ConvShape {
  int64_t out = 0, kh = 0, kw = 0, stride = 1, pad = 0;
};

inline double& weight_at(std::vector<double>& w, const ConvShape& g, int64_t in, int64_t o,
                         int64_t i, int64_t ky, int64_t kx) {
  return w[static_cast<size_t>(((o * in + i) * g.kh + ky) * g.kw + kx)];
}
inline double weight_at(const std::vector<double>& w, const ConvShape& g, int64_t in, int64_t o,
                        int64_t i, int64_t ky, int64_t kx) {
  return w[static_cast<size_t>(((o * in + i) * g.kh + ky) * g.kw + kx)];
}

// Calls f(example, out channel, out y, out x, in channel, in y, in x, ky, kx) for every
// product the convolution of x (with zero padding) sums for one example n and out channel o.
template <typename F>
void conv_visit(const Tensor& x, const ConvShape& g, int64_t oh, int64_t ow, int64_t n, int64_t o,
                F f) {
  for (int64_t y = 0; y < oh; ++y)
    for (int64_t xo = 0; xo < ow; ++xo)
      for (int64_t i = 0; i < x.c; ++i)
        for (int64_t ky = 0; ky < g.kh; ++ky)
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            const int64_t iy = y * g.stride - g.pad + ky, ix = xo * g.stride - g.pad + kx;
            if (iy >= 0 && iy < x.h && ix >= 0 && ix < x.w) f(n, o, y, xo, i, iy, ix, ky, kx);
          }
}

inline int64_t conv_out_size(int64_t in, int64_t k, const ConvShape& g) {
  return (in + 2 * g.pad - k) / g.stride + 1;
}

// Each function runs in parallel over the index its outputs are split by (example, out
// channel, or both); every output element sums its products in the same order as a serial
// loop over n, o, y, x, i, ky, kx would, so the results do not depend on the threads.
inline Tensor conv_forward(const Tensor& x, const std::vector<double>& w, const ConvShape& g) {
  Tensor y(x.n, g.out, conv_out_size(x.h, g.kh, g), conv_out_size(x.w, g.kw, g));
#pragma omp parallel for collapse(2) schedule(dynamic)
  for (int64_t n = 0; n < x.n; ++n)
    for (int64_t o = 0; o < g.out; ++o)
      conv_visit(
          x, g, y.h, y.w, n, o,
          [&](auto n_, auto o_, auto oy, auto ox, auto i, auto iy, auto ix, auto ky, auto kx) {
            y.at(n_, o_, oy, ox) += x.at(n_, i, iy, ix) * weight_at(w, g, x.c, o_, i, ky, kx);
          });
  return y;
}

// The gradient with respect to x (x gives only the shape).
inline Tensor conv_backward_data(const Tensor& x, const std::vector<double>& w, const ConvShape& g,
                                 const Tensor& dy) {
  Tensor dx = x.zeros_like();
#pragma omp parallel for schedule(dynamic)
  for (int64_t n = 0; n < x.n; ++n)
    for (int64_t o = 0; o < g.out; ++o)
      conv_visit(
          x, g, dy.h, dy.w, n, o,
          [&](auto n_, auto o_, auto oy, auto ox, auto i, auto iy, auto ix, auto ky, auto kx) {
            dx.at(n_, i, iy, ix) += dy.at(n_, o_, oy, ox) * weight_at(w, g, x.c, o_, i, ky, kx);
          });
  return dx;
}

inline std::vector<double> conv_backward_weights(const Tensor& x, const ConvShape& g,
                                                 const Tensor& dy) {
  std::vector<double> dw(static_cast<size_t>(g.out * x.c * g.kh * g.kw), 0.0);
#pragma omp parallel for schedule(dynamic)
  for (int64_t o = 0; o < g.out; ++o)
    for (int64_t n = 0; n < x.n; ++n)
      conv_visit(
          x, g, dy.h, dy.w, n, o,
          [&](auto n_, auto o_, auto oy, auto ox, auto i, auto iy, auto ix, auto ky, auto kx) {
            weight_at(dw, g, x.c, o_, i, ky, kx) += dy.at(n_, o_, oy, ox) * x.at(n_, i, iy, ix);
          });
  return dw;
}

// ---- linear: weights [out, in], x flattened per example in C, H, W order -----------------

inline Tensor linear_forward(const Tensor& x, const std::vector<double>& w, int64_t out) {
  const int64_t in = x.c * x.h * x.w;
  Tensor y(x.n, out, 1, 1);
  for (int64_t n = 0; n < x.n; ++n)
    for (int64_t o = 0; o < out; ++o)
      for (int64_t k = 0; k < in; ++k)
        y.v[static_cast<size_t>(n * out + o)] +=
            w[static_cast<size_t>(o * in + k)] * x.v[static_cast<size_t>(n * in + k)];
  return y;
}

inline Tensor linear_backward_data(const Tensor& x, const std::vector<double>& w,
                                   const Tensor& dy) {
  const int64_t in = x.c * x.h * x.w;
  Tensor dx = x.zeros_like();
  for (int64_t n = 0; n < x.n; ++n)
    for (int64_t o = 0; o < dy.c; ++o)
      for (int64_t k = 0; k < in; ++k)
        dx.v[static_cast<size_t>(n * in + k)] +=
            w[static_cast<size_t>(o * in + k)] * dy.v[static_cast<size_t>(n * dy.c + o)];
  return dx;
}

inline std::vector<double> linear_backward_weights(const Tensor& x, const Tensor& dy) {
  const int64_t in = x.c * x.h * x.w;
  std::vector<double> dw(static_cast<size_t>(dy.c * in), 0.0);
  for (int64_t n = 0; n < x.n; ++n)
    for (int64_t o = 0; o < dy.c; ++o)
      for (int64_t k = 0; k < in; ++k)
        dw[static_cast<size_t>(o * in + k)] +=
            dy.v[static_cast<size_t>(n * dy.c + o)] * x.v[static_cast<size_t>(n * in + k)];
  return dw;
}

// ---- relu, add -------------------------------------------------------------------------

inline Tensor relu_forward(const Tensor& x) {
  Tensor y = x;
  for (double& e : y.v) e = std::max(e, 0.0);
  return y;
}

// From the output y, as PyTorch does: the gradient passes where y > 0.
inline Tensor relu_backward(const Tensor& y, const Tensor& dy) {
  Tensor dx = dy;
  for (size_t k = 0; k < dx.v.size(); ++k)
    if (!(y.v[k] > 0)) dx.v[k] = 0;
  return dx;
}

inline Tensor add_forward(const Tensor& a, const Tensor& b) {
  Tensor y = a;
  for (size_t k = 0; k < y.v.size(); ++k) y.v[k] += b.v[k];
  return y;
}

// ---- pooling ----------------------------------------------------------------------------

// Square windows of `kernel`, moved by `stride`, over the input padded by `pad` on each side
// with values that never win (pad <= kernel / 2), floor (PyTorch's MaxPool2d).
struct PoolShape {
  int64_t kernel = 2, stride = 2, pad = 0;
  int64_t out(int64_t size) const { return (size + 2 * pad - kernel) / stride + 1; }
};

// The position of the maximum of window (oy, ox): the first in row-major order among equals,
// as oneDNN's backward (and PyTorch's CPU kernel) gives it the gradient.
inline void maxpool_argmax(const Tensor& x, const PoolShape& g, int64_t n, int64_t c, int64_t oy,
                           int64_t ox, int64_t& my, int64_t& mx) {
  my = -1;
  mx = -1;
  const int64_t y0 = oy * g.stride - g.pad, x0 = ox * g.stride - g.pad;
  for (int64_t y = std::max<int64_t>(y0, 0); y < std::min(y0 + g.kernel, x.h); ++y)
    for (int64_t xx = std::max<int64_t>(x0, 0); xx < std::min(x0 + g.kernel, x.w); ++xx)
      if (my < 0 || x.at(n, c, y, xx) > x.at(n, c, my, mx)) {
        my = y;
        mx = xx;
      }
}

inline Tensor maxpool_forward(const Tensor& x, const PoolShape& g = {}) {
  Tensor y(x.n, x.c, g.out(x.h), g.out(x.w));
  for (int64_t n = 0; n < x.n; ++n)
    for (int64_t c = 0; c < x.c; ++c)
      for (int64_t oy = 0; oy < y.h; ++oy)
        for (int64_t ox = 0; ox < y.w; ++ox) {
          int64_t my, mx;
          maxpool_argmax(x, g, n, c, oy, ox, my, mx);
          y.at(n, c, oy, ox) = x.at(n, c, my, mx);
        }
  return y;
}

inline Tensor maxpool_backward(const Tensor& x, const Tensor& dy, const PoolShape& g = {}) {
  Tensor dx = x.zeros_like();
  for (int64_t n = 0; n < x.n; ++n)
    for (int64_t c = 0; c < x.c; ++c)
      for (int64_t oy = 0; oy < dy.h; ++oy)
        for (int64_t ox = 0; ox < dy.w; ++ox) {
          int64_t my, mx;
          maxpool_argmax(x, g, n, c, oy, ox, my, mx);
          dx.at(n, c, my, mx) += dy.at(n, c, oy, ox);
        }
  return dx;
}

inline PoolShape pool_shape(const popup::Op& op) { return {op.kernel, op.stride, op.pad}; }

inline Tensor global_avgpool_forward(const Tensor& x) {
  Tensor y(x.n, x.c, 1, 1);
  for (int64_t n = 0; n < x.n; ++n)
    for (int64_t c = 0; c < x.c; ++c) {
      double sum = 0;
      for (int64_t yy = 0; yy < x.h; ++yy)
        for (int64_t xx = 0; xx < x.w; ++xx) sum += x.at(n, c, yy, xx);
      y.at(n, c, 0, 0) = sum / static_cast<double>(x.h * x.w);
    }
  return y;
}

inline Tensor global_avgpool_backward(const Tensor& x, const Tensor& dy) {
  Tensor dx = x.zeros_like();
  for (int64_t n = 0; n < x.n; ++n)
    for (int64_t c = 0; c < x.c; ++c)
      for (int64_t yy = 0; yy < x.h; ++yy)
        for (int64_t xx = 0; xx < x.w; ++xx)
          dx.at(n, c, yy, xx) = dy.at(n, c, 0, 0) / static_cast<double>(x.h * x.w);
  return dx;
}

// ---- non-affine BatchNorm, eps 1e-5 --------------------------------------------------------

constexpr double bn_epsilon = 1e-5;

// Per-channel mean and biased variance over n, h, w.
inline void batch_moments(const Tensor& x, std::vector<double>& mean, std::vector<double>& var) {
  const double count = static_cast<double>(x.n * x.h * x.w);
  mean.assign(static_cast<size_t>(x.c), 0.0);
  var.assign(static_cast<size_t>(x.c), 0.0);
  for (int64_t c = 0; c < x.c; ++c) {
    double sum = 0;
    for (int64_t n = 0; n < x.n; ++n)
      for (int64_t y = 0; y < x.h; ++y)
        for (int64_t xx = 0; xx < x.w; ++xx) sum += x.at(n, c, y, xx);
    const double m = sum / count;
    double sq = 0;
    for (int64_t n = 0; n < x.n; ++n)
      for (int64_t y = 0; y < x.h; ++y)
        for (int64_t xx = 0; xx < x.w; ++xx) {
          const double d = x.at(n, c, y, xx) - m;
          sq += d * d;
        }
    mean[static_cast<size_t>(c)] = m;
    var[static_cast<size_t>(c)] = sq / count;
  }
}

// y = (x - mean) / sqrt(var + eps) with the given per-channel statistics.
inline Tensor batchnorm_normalise(const Tensor& x, const std::vector<double>& mean,
                                  const std::vector<double>& var) {
  Tensor y = x;
  for (int64_t n = 0; n < x.n; ++n)
    for (int64_t c = 0; c < x.c; ++c)
      for (int64_t yy = 0; yy < x.h; ++yy)
        for (int64_t xx = 0; xx < x.w; ++xx)
          y.at(n, c, yy, xx) = (x.at(n, c, yy, xx) - mean[static_cast<size_t>(c)]) /
                               std::sqrt(var[static_cast<size_t>(c)] + bn_epsilon);
  return y;
}

// Training: batch statistics (returned in mean, var).
inline Tensor batchnorm_train_forward(const Tensor& x, std::vector<double>& mean,
                                      std::vector<double>& var) {
  batch_moments(x, mean, var);
  return batchnorm_normalise(x, mean, var);
}

// Training backward: dx = (dy - mean(dy) - xhat mean(dy xhat)) / sqrt(var + eps), means per
// channel over n, h, w.
inline Tensor batchnorm_train_backward(const Tensor& x, const Tensor& dy) {
  std::vector<double> mean, var;
  const Tensor xhat = batchnorm_train_forward(x, mean, var);
  const double count = static_cast<double>(x.n * x.h * x.w);
  Tensor dx = x.zeros_like();
  for (int64_t c = 0; c < x.c; ++c) {
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t n = 0; n < x.n; ++n)
      for (int64_t y = 0; y < x.h; ++y)
        for (int64_t xx = 0; xx < x.w; ++xx) {
          sum_dy += dy.at(n, c, y, xx);
          sum_dy_xhat += dy.at(n, c, y, xx) * xhat.at(n, c, y, xx);
        }
    const double inv_std = 1 / std::sqrt(var[static_cast<size_t>(c)] + bn_epsilon);
    for (int64_t n = 0; n < x.n; ++n)
      for (int64_t y = 0; y < x.h; ++y)
        for (int64_t xx = 0; xx < x.w; ++xx)
          dx.at(n, c, y, xx) = inv_std * (dy.at(n, c, y, xx) - sum_dy / count -
                                          xhat.at(n, c, y, xx) * sum_dy_xhat / count);
  }
  return dx;
}

// ---- affine BatchNorm: y = gamma xhat + beta per channel, after the normalisation ----------

inline Tensor channel_affine(const Tensor& xhat, const std::vector<double>& gamma,
                             const std::vector<double>& beta) {
  Tensor y = xhat;
  for (int64_t n = 0; n < y.n; ++n)
    for (int64_t c = 0; c < y.c; ++c)
      for (int64_t yy = 0; yy < y.h; ++yy)
        for (int64_t xx = 0; xx < y.w; ++xx)
          y.at(n, c, yy, xx) =
              gamma[static_cast<size_t>(c)] * xhat.at(n, c, yy, xx) + beta[static_cast<size_t>(c)];
  return y;
}

// dgamma = sum(dy xhat), dbeta = sum(dy) per channel over n, h, w; returns d xhat = gamma dy.
inline Tensor channel_affine_backward(const Tensor& xhat, const std::vector<double>& gamma,
                                      const Tensor& dy, std::vector<double>& dgamma,
                                      std::vector<double>& dbeta) {
  dgamma.assign(static_cast<size_t>(dy.c), 0.0);
  dbeta.assign(static_cast<size_t>(dy.c), 0.0);
  Tensor dxhat = dy.zeros_like();
  for (int64_t n = 0; n < dy.n; ++n)
    for (int64_t c = 0; c < dy.c; ++c)
      for (int64_t yy = 0; yy < dy.h; ++yy)
        for (int64_t xx = 0; xx < dy.w; ++xx) {
          const auto k = static_cast<size_t>(c);
          dgamma[k] += dy.at(n, c, yy, xx) * xhat.at(n, c, yy, xx);
          dbeta[k] += dy.at(n, c, yy, xx);
          dxhat.at(n, c, yy, xx) = gamma[k] * dy.at(n, c, yy, xx);
        }
  return dxhat;
}

// ---- loss --------------------------------------------------------------------------------

struct LossResult {
  double loss_sum = 0;
  int64_t correct1 = 0, correct5 = 0;
  Tensor diff;  // d(mean loss)/d logits
};

// PyTorch's CrossEntropyLoss(label_smoothing=eps) per example, summed; top-K correct when
// fewer than K classes rank ahead of the label: a greater logit, or an equal one at a lower
// index (argmax's first maximum).
inline LossResult softmax_cross_entropy(const Tensor& logits, const std::vector<int32_t>& labels,
                                        double eps) {
  const int64_t classes = logits.c;
  LossResult r;
  r.diff = logits.zeros_like();
  for (int64_t n = 0; n < logits.n; ++n) {
    const double* z = &logits.v[static_cast<size_t>(n * classes)];
    const int64_t y = labels[static_cast<size_t>(n)];
    double z_max = z[0];
    for (int64_t c = 1; c < classes; ++c) z_max = std::max(z_max, z[c]);
    double sum_exp = 0;
    for (int64_t c = 0; c < classes; ++c) sum_exp += std::exp(z[c] - z_max);
    const double log_sum = z_max + std::log(sum_exp);
    double mean_nll = 0;
    int64_t greater = 0;
    for (int64_t c = 0; c < classes; ++c) {
      mean_nll += (log_sum - z[c]) / static_cast<double>(classes);
      if (z[c] > z[y] || (z[c] == z[y] && c < y)) ++greater;
    }
    r.loss_sum += (1 - eps) * (log_sum - z[y]) + eps * mean_nll;
    if (greater < 1) ++r.correct1;
    if (greater < std::min<int64_t>(5, classes)) ++r.correct5;
    for (int64_t c = 0; c < classes; ++c) {
      const double target = (c == y ? 1 - eps : 0) + eps / static_cast<double>(classes);
      r.diff.v[static_cast<size_t>(n * classes + c)] =
          (std::exp(z[c] - log_sum) - target) / static_cast<double>(logits.n);
    }
  }
  return r;
}

// ---- a whole network ---------------------------------------------------------------------

struct NetworkResult {
  Tensor logits;
  LossResult loss;
  std::vector<std::vector<double>> grads;       // training: per tensor, of the mean loss
  std::vector<std::vector<double>> batch_mean;  // training: per op (batchnorm), biased var
  std::vector<std::vector<double>> batch_var;
  std::vector<std::vector<double>> bn_dgamma;  // training with BnAffine: per op (batchnorm)
  std::vector<std::vector<double>> bn_dbeta;
};

// Affine BatchNorm's scale and shift per op index (empty for ops other than batchnorm).
struct BnAffine {
  std::vector<std::vector<double>> gamma, beta;
};

inline ConvShape conv_shape(const popup::TensorSpec& t) {
  return {t.shape[0], t.shape[2], t.shape[3], t.stride, t.pad};
}

// Runs net on images [n, C, H, W]. training: BatchNorm on batch statistics and the backward
// pass; otherwise BatchNorm on running_mean / running_var (per op index). affine: every
// BatchNorm then scales and shifts by its gamma and beta, whose gradients training gives.
inline NetworkResult network_run(
    const popup::Network& net, const std::vector<std::vector<double>>& weights,
    const std::vector<double>& images, const std::vector<int32_t>& labels, int64_t n, bool training,
    double label_smoothing, const std::vector<std::vector<double>>& running_mean,
    const std::vector<std::vector<double>>& running_var, const BnAffine* affine = nullptr) {
  using popup::OpKind;
  const size_t count = net.ops.size();
  Tensor input(n, net.input.c, net.input.h, net.input.w);
  std::copy(images.begin(), images.begin() + static_cast<std::ptrdiff_t>(input.v.size()),
            input.v.begin());
  std::vector<Tensor> act(count);
  NetworkResult r;
  r.batch_mean.resize(count);
  r.batch_var.resize(count);
  r.bn_dgamma.resize(count);
  r.bn_dbeta.resize(count);
  auto in = [&](int j) -> const Tensor& { return j < 0 ? input : act[static_cast<size_t>(j)]; };
  for (size_t i = 0; i < count; ++i) {
    const popup::Op& op = net.ops[i];
    const Tensor& x = in(op.inputs[0]);
    switch (op.kind) {
      case OpKind::conv:
        act[i] = conv_forward(x, weights[static_cast<size_t>(op.tensor)],
                              conv_shape(net.tensors[static_cast<size_t>(op.tensor)]));
        break;
      case OpKind::linear:
        act[i] = linear_forward(x, weights[static_cast<size_t>(op.tensor)], op.c);
        break;
      case OpKind::relu: act[i] = relu_forward(x); break;
      case OpKind::maxpool: act[i] = maxpool_forward(x, pool_shape(op)); break;
      case OpKind::global_avgpool: act[i] = global_avgpool_forward(x); break;
      case OpKind::add: act[i] = add_forward(x, in(op.inputs[1])); break;
      case OpKind::batchnorm:
        act[i] = training ? batchnorm_train_forward(x, r.batch_mean[i], r.batch_var[i])
                          : batchnorm_normalise(x, running_mean[i], running_var[i]);
        if (affine) act[i] = channel_affine(act[i], affine->gamma[i], affine->beta[i]);
        break;
    }
  }
  r.logits = act.back();
  r.loss = softmax_cross_entropy(r.logits, labels, label_smoothing);
  if (!training) return r;

  // backward: the gradient of each op's output, summed over its consumers
  std::vector<Tensor> diff(count);
  for (size_t i = 0; i < count; ++i) diff[i] = act[i].zeros_like();
  diff.back() = r.loss.diff;
  auto pass = [&](int j, const Tensor& d) {
    if (j < 0) return;  // no gradient for the images
    for (size_t k = 0; k < d.v.size(); ++k) diff[static_cast<size_t>(j)].v[k] += d.v[k];
  };
  r.grads.resize(net.tensors.size());
  for (size_t i = count; i-- > 0;) {
    const popup::Op& op = net.ops[i];
    const int j = op.inputs[0];
    const Tensor& x = in(j);
    const Tensor& dy = diff[i];
    switch (op.kind) {
      case OpKind::conv: {
        const auto t = static_cast<size_t>(op.tensor);
        const ConvShape g = conv_shape(net.tensors[t]);
        r.grads[t] = conv_backward_weights(x, g, dy);
        pass(j, conv_backward_data(x, weights[t], g, dy));
        break;
      }
      case OpKind::linear: {
        const auto t = static_cast<size_t>(op.tensor);
        r.grads[t] = linear_backward_weights(x, dy);
        pass(j, linear_backward_data(x, weights[t], dy));
        break;
      }
      case OpKind::relu: pass(j, relu_backward(act[i], dy)); break;
      case OpKind::maxpool: pass(j, maxpool_backward(x, dy, pool_shape(op))); break;
      case OpKind::global_avgpool: pass(j, global_avgpool_backward(x, dy)); break;
      case OpKind::batchnorm: {
        if (!affine) {
          pass(j, batchnorm_train_backward(x, dy));
          break;
        }
        std::vector<double> mean, var;
        const Tensor xhat = batchnorm_train_forward(x, mean, var);
        pass(j,
             batchnorm_train_backward(x, channel_affine_backward(xhat, affine->gamma[i], dy,
                                                                 r.bn_dgamma[i], r.bn_dbeta[i])));
        break;
      }
      case OpKind::add:
        pass(j, dy);
        pass(op.inputs[1], dy);
        break;
    }
  }
  return r;
}

}  // namespace reference
