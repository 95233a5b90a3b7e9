// Unit tests of the CPU executor (lib/cpu): the double-precision reference ops against finite
// differences, then the oneDNN executor against the reference on small hand-built networks
// (logits, loss, weight gradients, running statistics), batch sizes and rejected calls; affine
// BatchNorm (scale and shift, their gradients) likewise.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "cpu/dnnl_arena.hpp"
#include "error.hpp"
#include "backend/executor.hpp"
#include "init/weights_generate.hpp"
#include "net/network.hpp"
#include "check_close.hpp"
#include "reference_ops.hpp"
#include "train/softmax_cross_entropy.hpp"
#include "test_networks.hpp"

using popup::Executor;
using popup::ExecutorConfig;
using popup::Network;
using popup::Op;
using popup::OpKind;
using reference::Tensor;
using namespace test_networks;

namespace {

// ---- tolerances ----------------------------------------------------------------------------

// Central differences in double with step 1e-6: truncation ~h^2 f''' and rounding ~1e-16/h,
// both far below 1e-6 for these O(1) functions (away from relu and max-pool kinks, which
// random data does not hit).
constexpr double fd_step = 1e-6;
constexpr double fd_rtol = 1e-6, fd_atol = 1e-6;

// The executor computes in fp32 (unit roundoff 6e-8) what the reference computes in double.
// Logits here are sums of up to 288 products per layer through 3-8 layers: relative error
// ~1e-7 typical, ~1e-6 for unlucky accumulation orders. The absolute part (a fraction of the
// tensor's largest magnitude) covers elements that are small differences of large terms,
// where a relative bound means nothing. (Observed on AVX-512: at most 12% of these bounds;
// the rest is margin for other instruction sets' kernels and accumulation orders.)
constexpr double logits_rtol = 1e-5, logits_atol = 1e-6;
// Weight gradients sum over the batch and every output position (up to 486 terms), after the
// gradient has passed back through up to 8 layers and BatchNorm, whose backward subtracts
// channel means of the upstream gradient (cancellation): rounding relative to the tensor's
// scale, not to each element. (Observed: at most 10% of these bounds.)
constexpr double grad_rtol = 1e-4, grad_atol = 1e-5;
// Running statistics are fp32 moving averages of fp32 batch moments: a few roundings.
// (Observed: at most 7% of these bounds.)
constexpr double stats_rtol = 1e-5, stats_atol = 1e-6;

using popup_test::check_close;

Tensor random_tensor(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed) {
  Tensor t(n, c, h, w);
  t.v = normal_values(t.v.size(), 1.0, seed);
  return t;
}

// Running statistics per op index, initial (mean 0, var 1) as PyTorch's.
struct RunningStats {
  std::vector<std::vector<double>> mean, var;
  explicit RunningStats(const Network& net) : mean(net.ops.size()), var(net.ops.size()) {
    for (size_t i = 0; i < net.ops.size(); ++i)
      if (net.ops[i].kind == OpKind::batchnorm) {
        mean[i].assign(static_cast<size_t>(net.ops[i].c), 0.0);
        var[i].assign(static_cast<size_t>(net.ops[i].c), 1.0);
      }
  }
  // PyTorch's update: momentum 0.1, unbiased batch variance.
  void update(const Network& net, const reference::NetworkResult& r, int64_t n) {
    for (size_t i = 0; i < net.ops.size(); ++i) {
      if (net.ops[i].kind != OpKind::batchnorm) continue;
      const int j = net.ops[i].inputs[0];
      const double count = static_cast<double>(
          n * (j < 0 ? net.input.h * net.input.w : net.ops[j].h * net.ops[j].w));
      for (size_t c = 0; c < mean[i].size(); ++c) {
        mean[i][c] = 0.9 * mean[i][c] + 0.1 * r.batch_mean[i][c];
        var[i][c] = 0.9 * var[i][c] + 0.1 * r.batch_var[i][c] * count / (count - 1);
      }
    }
  }
};

std::unique_ptr<Executor> executor_make(const Problem& p, int64_t max_batch, float smoothing,
                                        bool train = true) {
  ExecutorConfig config;
  config.max_batch = max_batch;
  config.label_smoothing = smoothing;
  config.train = train;
  auto ex = popup::executor_cpu_create(p.net, config);
  for (size_t t = 0; t < p.weights.size(); ++t) ex->set_weights(t, p.weights[t].data());
  return ex;
}

// After a training forward: every weight gradient is finite and not all zero.
void check_gradients_finite_and_nonzero(Executor& ex, const Network& net) {
  std::vector<std::vector<float>> grads;
  std::vector<float*> grad_ptrs;
  for (const auto& t : net.tensors) grads.emplace_back(static_cast<size_t>(t.numel()), 0.f);
  for (auto& g : grads) grad_ptrs.push_back(g.data());
  ex.backward(grad_ptrs);
  for (size_t t = 0; t < grads.size(); ++t) {
    bool finite = true, nonzero = false;
    for (float g : grads[t]) {
      finite = finite && std::isfinite(g);
      nonzero = nonzero || g != 0;
    }
    BOOST_TEST((finite && nonzero), net.tensors[t].name);
  }
}

// A training step of registry architecture `spec` on 3x32x32, batch 2 (with train false one
// inference forward): finite loss; training: finite weight gradients, none all zero. Weights
// signed-constant (popup-init's default), cheap to generate even for 125 million.
void check_registry_step(const std::string& spec, bool train) {
  const Network net = popup::arch_network(spec, {3, 32, 32}, 10);
  ExecutorConfig config;
  config.max_batch = 2;
  config.label_smoothing = 0.1f;
  config.train = train;
  auto ex = popup::executor_cpu_create(net, config);
  std::vector<float> w;
  for (size_t t = 0; t < net.tensors.size(); ++t) {
    w.resize(static_cast<size_t>(net.tensors[t].numel()));
    popup::weights_generate(popup::InitKind::signed_constant, 1.0, 1, static_cast<uint32_t>(t),
                            net.tensors[t], w.data());
    ex->set_weights(t, w.data());
  }
  const std::vector<float> images = floats(normal_values(2 * 3 * 32 * 32, 1.0, 62));
  const std::vector<int32_t> labels{3, 8};
  const popup::BatchStats stats = ex->forward(images.data(), labels.data(), 2, train);
  BOOST_TEST(std::isfinite(stats.loss_sum));
  if (train) check_gradients_finite_and_nonzero(*ex, net);
}

// Loss sum, top-k counts and logits of one forward against the reference.
void check_forward(const std::string& what, const popup::BatchStats& stats, const float* logits,
                   const reference::NetworkResult& want) {
  check_close(what + " logits", logits, want.logits.v, logits_rtol, logits_atol);
  // the loss is computed in double from the logits: their relative error carries over
  BOOST_CHECK_MESSAGE(std::fabs(stats.loss_sum - want.loss.loss_sum) <=
                          logits_rtol * std::fabs(want.loss.loss_sum) + 1e-6,
                      what << " loss sum " << stats.loss_sum << ", want " << want.loss.loss_sum);
  BOOST_CHECK_EQUAL(stats.correct1, want.loss.correct1);
  BOOST_CHECK_EQUAL(stats.correct5, want.loss.correct5);
}

// One training step (forward + backward) and one inference forward of a fresh executor
// against the reference, then the running statistics.
void check_against_reference(const Problem& p, float smoothing) {
  auto ex = executor_make(p, p.n, smoothing);
  RunningStats running(p.net);
  const auto w = p.weights_double();
  const auto images = doubles(p.images);

  const auto train = reference::network_run(p.net, w, images, p.labels, p.n, true, smoothing,
                                            running.mean, running.var);
  const popup::BatchStats stats = ex->forward(p.images.data(), p.labels.data(), p.n, true);
  check_forward("training", stats, ex->logits(), train);

  std::vector<std::vector<float>> grads;
  std::vector<float*> grad_ptrs;
  for (const auto& t : p.net.tensors) grads.emplace_back(static_cast<size_t>(t.numel()), 0.f);
  for (auto& g : grads) grad_ptrs.push_back(g.data());
  ex->backward(grad_ptrs);
  for (size_t t = 0; t < grads.size(); ++t)
    check_close(p.net.tensors[t].name + " gradient", grads[t].data(), train.grads[t], grad_rtol,
                grad_atol);

  running.update(p.net, train, p.n);
  for (const popup::NamedArray& s : ex->running_stats()) {
    for (size_t i = 0; i < p.net.ops.size(); ++i) {
      if (s.name == p.net.ops[i].name + ".running_mean")
        check_close(s.name, s.values.data(), running.mean[i], stats_rtol, stats_atol);
      if (s.name == p.net.ops[i].name + ".running_var")
        check_close(s.name, s.values.data(), running.var[i], stats_rtol, stats_atol);
    }
  }

  const auto infer = reference::network_run(p.net, w, images, p.labels, p.n, false, smoothing,
                                            running.mean, running.var);
  const popup::BatchStats infer_stats = ex->forward(p.images.data(), p.labels.data(), p.n, false);
  check_forward("inference", infer_stats, ex->logits(), infer);
}

// ---- finite differences ------------------------------------------------------------------

// Central differences of f with respect to every element of x (changed and restored).
std::vector<double> fd_gradient(std::vector<double>& x, const std::function<double()>& f) {
  std::vector<double> g(x.size());
  for (size_t k = 0; k < x.size(); ++k) {
    const double saved = x[k];
    x[k] = saved + fd_step;
    const double up = f();
    x[k] = saved - fd_step;
    const double down = f();
    x[k] = saved;
    g[k] = (up - down) / (2 * fd_step);
  }
  return g;
}

void check_fd(const std::string& what, const std::vector<double>& analytic,
              const std::vector<double>& numeric) {
  check_close(what, analytic.data(), numeric, fd_rtol, fd_atol);
}

// sum(g * y): a scalar whose gradient with respect to the op's input is its backward of g.
double dot(const Tensor& g, const Tensor& y) {
  double s = 0;
  for (size_t k = 0; k < y.v.size(); ++k) s += g.v[k] * y.v[k];
  return s;
}

// ---- affine BatchNorm ----------------------------------------------------------------------

// gamma N(1, 0.5^2) (a few negative), beta N(0, 0.5^2) for every BatchNorm, rounded to float
// (exact in double) so that the executor and the reference use the same values.
reference::BnAffine bn_affine_random(const Network& net, uint64_t seed) {
  reference::BnAffine a;
  a.gamma.resize(net.ops.size());
  a.beta.resize(net.ops.size());
  for (size_t i = 0; i < net.ops.size(); ++i) {
    if (net.ops[i].kind != OpKind::batchnorm) continue;
    const auto c = static_cast<size_t>(net.ops[i].c);
    a.gamma[i] = doubles(floats(normal_values(c, 0.5, seed + 2 * i)));
    for (double& g : a.gamma[i]) g = static_cast<double>(static_cast<float>(1 + g));
    a.beta[i] = doubles(floats(normal_values(c, 0.5, seed + 2 * i + 1)));
  }
  return a;
}

// The executor numbers the BatchNorms b = 0, 1, ... in network order: their op indices.
std::vector<size_t> bn_ops(const Network& net) {
  std::vector<size_t> ops;
  for (size_t i = 0; i < net.ops.size(); ++i)
    if (net.ops[i].kind == OpKind::batchnorm) ops.push_back(i);
  return ops;
}

std::unique_ptr<Executor> executor_affine(const Problem& p, int64_t max_batch, float smoothing,
                                          const reference::BnAffine& affine, bool train = true,
                                          popup::Precision precision = popup::Precision::fp32) {
  ExecutorConfig config;
  config.max_batch = max_batch;
  config.label_smoothing = smoothing;
  config.train = train;
  config.precision = precision;
  config.affine_bn = true;
  auto ex = popup::executor_cpu_create(p.net, config);
  for (size_t t = 0; t < p.weights.size(); ++t) ex->set_weights(t, p.weights[t].data());
  const std::vector<size_t> ops = bn_ops(p.net);
  BOOST_REQUIRE_EQUAL(ex->bn_count(), ops.size());
  for (size_t b = 0; b < ops.size(); ++b)
    ex->set_bn_params(b, floats(affine.gamma[ops[b]]).data(), floats(affine.beta[ops[b]]).data());
  return ex;
}

// BatchNorm b's gamma and beta gradients (after a backward), as the reference's.
void check_bn_grads(const std::string& what, const Executor& ex, const Network& net,
                    const reference::NetworkResult& want, double rtol, double atol) {
  const std::vector<size_t> ops = bn_ops(net);
  BOOST_REQUIRE_EQUAL(ex.bn_count(), ops.size());
  for (size_t b = 0; b < ops.size(); ++b) {
    const size_t i = ops[b];
    BOOST_REQUIRE_EQUAL(ex.bn_channels(b), net.ops[i].c);
    std::vector<float> dgamma(static_cast<size_t>(net.ops[i].c)), dbeta(dgamma.size());
    ex.bn_grads(b, dgamma.data(), dbeta.data());
    check_close(what + " " + net.ops[i].name + " gamma gradient", dgamma.data(), want.bn_dgamma[i],
                rtol, atol);
    check_close(what + " " + net.ops[i].name + " beta gradient", dbeta.data(), want.bn_dbeta[i],
                rtol, atol);
  }
}

void check_running_stats(const Executor& ex, const Network& net, const RunningStats& running) {
  for (const popup::NamedArray& s : ex.running_stats())
    for (size_t i = 0; i < net.ops.size(); ++i) {
      if (s.name == net.ops[i].name + ".running_mean")
        check_close(s.name, s.values.data(), running.mean[i], stats_rtol, stats_atol);
      if (s.name == net.ops[i].name + ".running_var")
        check_close(s.name, s.values.data(), running.var[i], stats_rtol, stats_atol);
    }
}

// check_against_reference with affine BatchNorm (gamma and beta not 1 and 0): a training step
// (logits, weight, gamma and beta gradients, running statistics), then inference on the
// running statistics with gamma and beta, at the full batch and at a smaller one (a second
// plan, which must read the same parameters).
void check_affine_against_reference(const Problem& p, float smoothing, uint64_t seed) {
  const reference::BnAffine affine = bn_affine_random(p.net, seed);
  auto ex = executor_affine(p, p.n, smoothing, affine);
  RunningStats running(p.net);
  const auto w = p.weights_double();
  const auto images = doubles(p.images);
  const auto train = reference::network_run(p.net, w, images, p.labels, p.n, true, smoothing,
                                            running.mean, running.var, &affine);
  check_forward("affine training", ex->forward(p.images.data(), p.labels.data(), p.n, true),
                ex->logits(), train);
  std::vector<std::vector<float>> grads;
  std::vector<float*> grad_ptrs;
  for (const auto& t : p.net.tensors) grads.emplace_back(static_cast<size_t>(t.numel()), 0.f);
  for (auto& g : grads) grad_ptrs.push_back(g.data());
  ex->backward(grad_ptrs);
  for (size_t t = 0; t < grads.size(); ++t)
    check_close("affine " + p.net.tensors[t].name + " gradient", grads[t].data(), train.grads[t],
                grad_rtol, grad_atol);
  check_bn_grads("affine", *ex, p.net, train, grad_rtol, grad_atol);
  running.update(p.net, train, p.n);
  check_running_stats(*ex, p.net, running);
  for (const int64_t n : {p.n, p.n / 2}) {
    const std::vector<float> head = p.images_first(n);
    const auto infer = reference::network_run(p.net, w, doubles(head), p.labels, n, false,
                                              smoothing, running.mean, running.var, &affine);
    check_forward("affine inference, batch " + std::to_string(n),
                  ex->forward(head.data(), p.labels.data(), n, false), ex->logits(), infer);
  }
}

// The network-level backward (fan-out sums, shortcuts) against finite differences of the
// mean loss, on a few elements of every tensor.
void network_fd_check(const Problem& p) {
  const RunningStats running(p.net);
  auto w = p.weights_double();
  const auto images = doubles(p.images);
  const auto r =
      reference::network_run(p.net, w, images, p.labels, p.n, true, 0.1, running.mean, running.var);
  for (size_t t = 0; t < w.size(); ++t) {
    for (size_t k = 0; k < w[t].size(); k += w[t].size() / 4 + 1) {
      const double saved = w[t][k];
      auto loss = [&](double value) {
        w[t][k] = value;
        return reference::network_run(p.net, w, images, p.labels, p.n, true, 0.1, running.mean,
                                      running.var)
                   .loss.loss_sum /
               static_cast<double>(p.n);
      };
      const double numeric = (loss(saved + fd_step) - loss(saved - fd_step)) / (2 * fd_step);
      w[t][k] = saved;
      BOOST_CHECK_MESSAGE(
          std::fabs(numeric - r.grads[t][k]) <= fd_atol + fd_rtol * std::fabs(numeric),
          p.net.tensors[t].name << "[" << k << "]: backward " << r.grads[t][k]
                                << ", finite differences " << numeric);
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(executor_cpu)

// ---- the reference against finite differences ------------------------------------------

BOOST_AUTO_TEST_CASE(reference_conv_gradients_match_finite_differences) {
  for (const reference::ConvShape g :
       {reference::ConvShape{4, 3, 3, 1, 1}, reference::ConvShape{4, 3, 3, 2, 1},
        reference::ConvShape{4, 1, 1, 2, 0}}) {
    Tensor x = random_tensor(2, 3, 7, 7, 1);
    std::vector<double> w = normal_values(static_cast<size_t>(g.out * 3 * g.kh * g.kw), 0.5, 2);
    const Tensor y0 = reference::conv_forward(x, w, g);
    const Tensor dy = random_tensor(y0.n, y0.c, y0.h, y0.w, 3);
    auto f = [&] { return dot(dy, reference::conv_forward(x, w, g)); };
    const std::string label =
        "conv stride " + std::to_string(g.stride) + " k " + std::to_string(g.kh);
    check_fd(label + " data", reference::conv_backward_data(x, w, g, dy).v, fd_gradient(x.v, f));
    check_fd(label + " weights", reference::conv_backward_weights(x, g, dy), fd_gradient(w, f));
  }
}

BOOST_AUTO_TEST_CASE(reference_linear_gradients_match_finite_differences) {
  Tensor x = random_tensor(3, 2, 3, 3, 4);  // flattened to 18 per example
  std::vector<double> w = normal_values(5 * 18, 0.5, 5);
  const Tensor dy = random_tensor(3, 5, 1, 1, 6);
  auto f = [&] { return dot(dy, reference::linear_forward(x, w, 5)); };
  check_fd("linear data", reference::linear_backward_data(x, w, dy).v, fd_gradient(x.v, f));
  check_fd("linear weights", reference::linear_backward_weights(x, dy), fd_gradient(w, f));
}

BOOST_AUTO_TEST_CASE(reference_relu_pool_add_gradients_match_finite_differences) {
  Tensor x = random_tensor(2, 3, 5, 5, 7);
  const Tensor dy_same = random_tensor(2, 3, 5, 5, 8);
  auto relu = [&] { return dot(dy_same, reference::relu_forward(x)); };
  check_fd("relu", reference::relu_backward(reference::relu_forward(x), dy_same).v,
           fd_gradient(x.v, relu));

  for (const reference::PoolShape g :
       {reference::PoolShape{2, 2, 0}, reference::PoolShape{3, 2, 1}}) {
    for (const int64_t size : {5, 6}) {  // odd sizes: the floor drops what no window reaches
      Tensor xp = random_tensor(2, 3, size, size, 7 + static_cast<uint64_t>(size));
      const Tensor dy_pool = random_tensor(2, 3, g.out(size), g.out(size), 9);
      auto pool = [&] { return dot(dy_pool, reference::maxpool_forward(xp, g)); };
      check_fd("maxpool " + std::to_string(g.kernel) + " on " + std::to_string(size),
               reference::maxpool_backward(xp, dy_pool, g).v, fd_gradient(xp.v, pool));
    }
  }

  const Tensor dy_avg = random_tensor(2, 3, 1, 1, 10);
  auto avg = [&] { return dot(dy_avg, reference::global_avgpool_forward(x)); };
  check_fd("global_avgpool", reference::global_avgpool_backward(x, dy_avg).v,
           fd_gradient(x.v, avg));

  const Tensor b = random_tensor(2, 3, 5, 5, 11);
  auto add = [&] { return dot(dy_same, reference::add_forward(x, b)); };
  check_fd("add", dy_same.v, fd_gradient(x.v, add));
}

// The tie rule: among equal values the first in row-major window order gets the gradient,
// padding never. All zeros, 3x3/2 pad 1 on 4x4: window (oy, ox) starts at input row 2 oy - 1,
// column 2 ox - 1, so its first input value is (max(2 oy - 1, 0), max(2 ox - 1, 0)).
BOOST_AUTO_TEST_CASE(reference_maxpool_gives_ties_to_the_first_maximum) {
  const Tensor x(1, 1, 4, 4);
  Tensor dy(1, 1, 2, 2);
  dy.v = {1, 10, 100, 1000};
  const Tensor dx = reference::maxpool_backward(x, dy, {3, 2, 1});
  const std::vector<double> want{1, 10, 0, 0, 100, 1000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  BOOST_TEST(dx.v == want, boost::test_tools::per_element());
  Tensor y(1, 1, 5, 5);  // 2x2 windows of (3 3 / 3 3): the top left
  for (double& v : y.v) v = 3;
  Tensor dy2(1, 1, 2, 2);
  dy2.v = {1, 2, 3, 4};
  const Tensor dx2 = reference::maxpool_backward(y, dy2, {2, 2, 0});
  BOOST_TEST(dx2.at(0, 0, 0, 0) == 1);
  BOOST_TEST(dx2.at(0, 0, 2, 2) == 4);
  BOOST_TEST(dx2.at(0, 0, 1, 1) == 0);
}

BOOST_AUTO_TEST_CASE(reference_batchnorm_gradient_matches_finite_differences) {
  for (const Tensor& shape : {Tensor(4, 3, 3, 3), Tensor(6, 5, 1, 1)}) {
    Tensor x = random_tensor(shape.n, shape.c, shape.h, shape.w, 12);
    const Tensor dy = random_tensor(shape.n, shape.c, shape.h, shape.w, 13);
    std::vector<double> mean, var;
    auto f = [&] { return dot(dy, reference::batchnorm_train_forward(x, mean, var)); };
    check_fd("batchnorm " + std::to_string(shape.h) + "x" + std::to_string(shape.w),
             reference::batchnorm_train_backward(x, dy).v, fd_gradient(x.v, f));
  }
}

BOOST_AUTO_TEST_CASE(reference_loss_gradient_matches_finite_differences) {
  for (const double eps : {0.0, 0.1}) {
    Tensor logits = random_tensor(4, 7, 1, 1, 14);
    const std::vector<int32_t> labels{0, 3, 6, 3};
    auto f = [&] { return reference::softmax_cross_entropy(logits, labels, eps).loss_sum / 4; };
    check_fd("softmax cross-entropy eps " + std::to_string(eps),
             reference::softmax_cross_entropy(logits, labels, eps).diff.v,
             fd_gradient(logits.v, f));
  }
}

BOOST_AUTO_TEST_CASE(reference_loss_known_values) {
  // two classes, logits (0, ln 3): p = (1/4, 3/4)
  Tensor logits(1, 2, 1, 1);
  logits.v = {0.0, std::log(3.0)};
  const auto plain = reference::softmax_cross_entropy(logits, {0}, 0.0);
  BOOST_CHECK_CLOSE(plain.loss_sum, std::log(4.0), 1e-12);
  BOOST_CHECK_EQUAL(plain.correct1, 0);
  BOOST_CHECK_EQUAL(plain.correct5, 1);
  // eps 0.2: 0.8 (-log 1/4) + 0.2 mean(-log 1/4, -log 3/4)
  const auto smooth = reference::softmax_cross_entropy(logits, {1}, 0.2);
  BOOST_CHECK_CLOSE(smooth.loss_sum,
                    0.8 * std::log(4.0 / 3.0) + 0.1 * (std::log(4.0) + std::log(4.0 / 3.0)), 1e-12);
}

// Ties rank by index, as argmax picks the first maximum: all-equal logits are right for
// label 0 only (not 100% correct, as a strict "none greater" rule would count them); top-5
// of 7 equal logits holds labels 0-4. A NaN label logit is never correct.
BOOST_AUTO_TEST_CASE(loss_accuracy_ties_and_nan) {
  const std::vector<float> equal(7 * 7, 0.5f);
  const std::vector<int32_t> labels{0, 1, 2, 3, 4, 5, 6};
  const popup::BatchStats s =
      popup::softmax_cross_entropy(equal.data(), labels.data(), 7, 7, 0.0f, nullptr);
  BOOST_TEST(s.correct1 == 1);
  BOOST_TEST(s.correct5 == 5);
  Tensor logits(7, 7, 1, 1);
  logits.v.assign(equal.begin(), equal.end());
  const auto r = reference::softmax_cross_entropy(logits, labels, 0.0);
  BOOST_TEST(r.correct1 == 1);
  BOOST_TEST(r.correct5 == 5);
  const std::vector<float> nan_label{std::nanf(""), 0.0f, -1.0f};
  const int32_t zero = 0;
  const popup::BatchStats n =
      popup::softmax_cross_entropy(nan_label.data(), &zero, 1, 3, 0.0f, nullptr);
  BOOST_TEST(n.correct1 == 0);
  BOOST_TEST(n.correct5 == 0);
}

// network_fd_check on the residual network and on the ImageNet stem (with its max-pool).
BOOST_AUTO_TEST_CASE(reference_network_gradients_match_finite_differences) {
  for (const Network& net : {residual_network(), imagenet_stem_network()})
    network_fd_check(Problem(net, 3, 20));
}

// ---- the executor against the reference --------------------------------------------------

BOOST_AUTO_TEST_CASE(executor_matches_reference_plain_network) {
  check_against_reference(Problem(plain_network(), 6, 30), 0.0f);
}

BOOST_AUTO_TEST_CASE(executor_matches_reference_residual_network) {
  check_against_reference(Problem(residual_network(), 4, 31), 0.0f);
}

BOOST_AUTO_TEST_CASE(executor_matches_reference_imagenet_stem_network) {
  check_against_reference(Problem(imagenet_stem_network(), 4, 33), 0.1f);
}

// Max-pool 3x3/2 pad 1 on an odd and an even size (windows clipped at every border), after a
// conv alone and after conv + relu, on random values and on tie-heavy ones (small integers:
// exact in fp32, so many windows hold equal maxima): oneDNN's backward must give each window's
// gradient to the input the reference picks (the first maximum in row-major order), or the
// conv's weight gradient differs.
BOOST_AUTO_TEST_CASE(executor_matches_reference_maxpool_3x3_stride_2_pad_1) {
  for (const int64_t size : {7, 8})
    for (const bool relu : {false, true}) {
      BOOST_TEST_CONTEXT("size " << size << (relu ? " relu" : "")) {
        check_against_reference(Problem(pool_network(size, relu), 3, 40), 0.0f);
        Problem ties(pool_network(size, relu), 3, 41);
        std::mt19937_64 rng(42);
        for (float& v : ties.images) v = static_cast<float>(rng() % 3);          // 0, 1, 2
        for (float& v : ties.weights[0]) v = static_cast<float>(rng() % 3) - 1;  // -1, 0, 1
        check_against_reference(ties, 0.0f);
      }
    }
}

BOOST_AUTO_TEST_CASE(executor_matches_reference_flat_network_with_label_smoothing) {
  check_against_reference(Problem(flat_network(), 7, 32), 0.1f);
}

// A null gradient array is skipped; the others are still computed.
BOOST_AUTO_TEST_CASE(executor_skips_null_gradients) {
  const Problem p(residual_network(), 4, 33);
  auto ex = executor_make(p, p.n, 0.0f);
  const RunningStats running(p.net);
  const auto want = reference::network_run(p.net, p.weights_double(), doubles(p.images), p.labels,
                                           p.n, true, 0.0, running.mean, running.var);
  ex->forward(p.images.data(), p.labels.data(), p.n, true);
  std::vector<float> first(static_cast<size_t>(p.net.tensors[0].numel()), 0.f);
  std::vector<float> last(static_cast<size_t>(p.net.tensors.back().numel()), 0.f);
  std::vector<float*> grads(p.net.tensors.size(), nullptr);
  grads.front() = first.data();
  grads.back() = last.data();
  ex->backward(grads);
  check_close("first tensor gradient", first.data(), want.grads.front(), grad_rtol, grad_atol);
  check_close("last tensor gradient", last.data(), want.grads.back(), grad_rtol, grad_atol);
}

// ---- affine BatchNorm ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(reference_affine_batchnorm_gradients_match_finite_differences) {
  for (const Tensor& shape : {Tensor(4, 3, 3, 3), Tensor(6, 5, 1, 1)}) {
    Tensor x = random_tensor(shape.n, shape.c, shape.h, shape.w, 15);
    const Tensor dy = random_tensor(shape.n, shape.c, shape.h, shape.w, 16);
    std::vector<double> gamma = normal_values(static_cast<size_t>(shape.c), 0.5, 17);
    for (double& g : gamma) g += 1;
    std::vector<double> beta = normal_values(static_cast<size_t>(shape.c), 0.5, 18);
    std::vector<double> mean, var, dgamma, dbeta;
    auto f = [&] {
      return dot(dy, reference::channel_affine(reference::batchnorm_train_forward(x, mean, var),
                                               gamma, beta));
    };
    const Tensor xhat = reference::batchnorm_train_forward(x, mean, var);
    const Tensor dx = reference::batchnorm_train_backward(
        x, reference::channel_affine_backward(xhat, gamma, dy, dgamma, dbeta));
    const std::string label =
        "affine batchnorm " + std::to_string(shape.h) + "x" + std::to_string(shape.w);
    check_fd(label + " input", dx.v, fd_gradient(x.v, f));
    check_fd(label + " gamma", dgamma, fd_gradient(gamma, f));
    check_fd(label + " beta", dbeta, fd_gradient(beta, f));
  }
}

// The network-level backward with affine BatchNorm against finite differences of the mean
// loss: every third gamma and beta of every BatchNorm, and a few elements of every weight
// tensor (their gradients pass back through gamma).
BOOST_AUTO_TEST_CASE(reference_network_affine_gradients_match_finite_differences) {
  const Problem p(residual_network(), 3, 21);
  const RunningStats running(p.net);
  auto w = p.weights_double();
  reference::BnAffine affine = bn_affine_random(p.net, 22);
  const auto images = doubles(p.images);
  const auto r = reference::network_run(p.net, w, images, p.labels, p.n, true, 0.1, running.mean,
                                        running.var, &affine);
  auto loss = [&] {
    return reference::network_run(p.net, w, images, p.labels, p.n, true, 0.1, running.mean,
                                  running.var, &affine)
               .loss.loss_sum /
           static_cast<double>(p.n);
  };
  auto check_element = [&](const std::string& what, double& x, double analytic) {
    const double saved = x;
    x = saved + fd_step;
    const double up = loss();
    x = saved - fd_step;
    const double down = loss();
    x = saved;
    const double numeric = (up - down) / (2 * fd_step);
    BOOST_CHECK_MESSAGE(std::fabs(numeric - analytic) <= fd_atol + fd_rtol * std::fabs(numeric),
                        what << ": backward " << analytic << ", finite differences " << numeric);
  };
  for (const size_t i : bn_ops(p.net))
    for (size_t k = 0; k < affine.gamma[i].size(); k += 3) {
      const std::string at = p.net.ops[i].name + "[" + std::to_string(k) + "]";
      check_element(at + " gamma", affine.gamma[i][k], r.bn_dgamma[i][k]);
      check_element(at + " beta", affine.beta[i][k], r.bn_dbeta[i][k]);
    }
  for (size_t t = 0; t < w.size(); ++t)
    for (size_t k = 0; k < w[t].size(); k += w[t].size() / 4 + 1)
      check_element(p.net.tensors[t].name + "[" + std::to_string(k) + "]", w[t][k], r.grads[t][k]);
}

BOOST_AUTO_TEST_CASE(affine_executor_matches_reference_residual_network) {
  check_affine_against_reference(Problem(residual_network(), 4, 31), 0.0f, 70);
}

BOOST_AUTO_TEST_CASE(affine_executor_matches_reference_flat_network_with_label_smoothing) {
  check_affine_against_reference(Problem(flat_network(), 7, 32), 0.1f, 71);
}

// A BatchNorm straight on the images: its input gets no gradient, its gamma and beta do, and
// backward() computes them even when no weight gradient is asked for.
BOOST_AUTO_TEST_CASE(affine_batchnorm_on_the_input_without_weight_gradients) {
  const Problem p(input_batchnorm_network(), 5, 34);
  const reference::BnAffine affine = bn_affine_random(p.net, 72);
  const RunningStats running(p.net);
  const auto want = reference::network_run(p.net, p.weights_double(), doubles(p.images), p.labels,
                                           p.n, true, 0.0, running.mean, running.var, &affine);
  auto ex = executor_affine(p, p.n, 0.0f, affine);
  check_forward("input BatchNorm", ex->forward(p.images.data(), p.labels.data(), p.n, true),
                ex->logits(), want);
  ex->backward(std::vector<float*>(p.net.tensors.size(), nullptr));
  check_bn_grads("input BatchNorm, no weight gradients", *ex, p.net, want, grad_rtol, grad_atol);
  std::vector<float> conv(static_cast<size_t>(p.net.tensors[0].numel()));
  ex->backward({conv.data(), nullptr});
  check_close("input BatchNorm conv gradient", conv.data(), want.grads[0], grad_rtol, grad_atol);
  check_bn_grads("input BatchNorm, conv gradient", *ex, p.net, want, grad_rtol, grad_atol);
}

// gamma 1 and beta 0 at first, which computes what non-affine BatchNorm does; the numbering;
// calls refused without affine_bn, out of range, or before a backward.
BOOST_AUTO_TEST_CASE(affine_bn_defaults_numbering_and_rejections) {
  const Problem p(residual_network(), 4, 35);
  ExecutorConfig config;
  config.max_batch = 4;
  config.affine_bn = true;
  auto ex = popup::executor_cpu_create(p.net, config);
  for (size_t t = 0; t < p.weights.size(); ++t) ex->set_weights(t, p.weights[t].data());
  const std::vector<size_t> ops = bn_ops(p.net);
  BOOST_REQUIRE_EQUAL(ex->bn_count(), ops.size());
  for (size_t b = 0; b < ops.size(); ++b) {
    BOOST_REQUIRE_EQUAL(ex->bn_channels(b), p.net.ops[ops[b]].c);
    std::vector<float> gamma(static_cast<size_t>(ex->bn_channels(b)), -1.f), beta(gamma);
    ex->bn_params(b, gamma.data(), beta.data());
    BOOST_TEST(gamma == std::vector<float>(gamma.size(), 1.f), p.net.ops[ops[b]].name);
    BOOST_TEST(beta == std::vector<float>(beta.size(), 0.f), p.net.ops[ops[b]].name);
  }

  // the same step as the non-affine executor, up to rounding
  auto plain = executor_make(p, 4, 0.0f);
  plain->forward(p.images.data(), p.labels.data(), 4, true);
  const std::vector<float> want(plain->logits(), plain->logits() + 4 * 10);
  ex->forward(p.images.data(), p.labels.data(), 4, true);
  check_close("default affine logits", ex->logits(), doubles(want), logits_rtol, logits_atol);
  std::vector<float> dw_plain(static_cast<size_t>(p.net.tensors[1].numel()));
  std::vector<float> dw(dw_plain.size());
  std::vector<float*> grads(p.net.tensors.size(), nullptr);
  grads[1] = dw_plain.data();
  plain->backward(grads);
  grads[1] = dw.data();
  BOOST_CHECK_THROW(ex->bn_grads(0, dw.data(), dw.data()), popup::Error);  // no backward yet
  ex->backward(grads);
  check_close("default affine gradient", dw.data(), doubles(dw_plain), grad_rtol, grad_atol);

  // set and read back
  const std::vector<float> gamma{0.5f, -2.f, 3.f, 1.f, 0.f, 7.f, 1.f, 1.f,
                                 2.f,  2.f,  2.f, 2.f, 1.f, 1.f, 1.f, 1.f},
      beta(16, 0.25f);
  BOOST_REQUIRE_EQUAL(ex->bn_channels(0), 16);
  ex->set_bn_params(0, gamma.data(), beta.data());
  std::vector<float> gamma_back(16), beta_back(16);
  ex->bn_params(0, gamma_back.data(), beta_back.data());
  BOOST_TEST(gamma_back == gamma);
  BOOST_TEST(beta_back == beta);

  // refused
  std::vector<float> a(32), b(32);
  const size_t count = ops.size();
  BOOST_CHECK_THROW(ex->bn_channels(count), popup::InvalidArgument);
  BOOST_CHECK_THROW(ex->set_bn_params(count, a.data(), b.data()), popup::InvalidArgument);
  BOOST_CHECK_THROW(ex->bn_params(count, a.data(), b.data()), popup::InvalidArgument);
  BOOST_CHECK_THROW(ex->bn_grads(count, a.data(), b.data()), popup::InvalidArgument);
  BOOST_CHECK_NO_THROW(ex->bn_grads(0, a.data(), b.data()));
  ex->forward(p.images.data(), p.labels.data(), 4, false);
  BOOST_CHECK_THROW(ex->bn_grads(0, a.data(), b.data()), popup::Error);  // stale
  BOOST_TEST(plain->bn_count() == 0u);
  BOOST_CHECK_THROW(plain->bn_channels(0), popup::InvalidArgument);
  BOOST_CHECK_THROW(plain->set_bn_params(0, a.data(), b.data()), popup::InvalidArgument);
  BOOST_CHECK_THROW(plain->bn_params(0, a.data(), b.data()), popup::InvalidArgument);
  BOOST_CHECK_THROW(plain->bn_grads(0, a.data(), b.data()), popup::InvalidArgument);
}

// An inference-only executor given the trained one's gamma, beta and running statistics
// gives its logits.
BOOST_AUTO_TEST_CASE(affine_inference_only_executor_takes_params_and_running_stats) {
  const Problem p(residual_network(), 4, 36);
  const reference::BnAffine affine = bn_affine_random(p.net, 73);
  auto trained = executor_affine(p, 4, 0.0f, affine);
  trained->forward(p.images.data(), p.labels.data(), 4, true);
  trained->forward(p.images.data(), p.labels.data(), 4, false);
  const std::vector<float> want(trained->logits(), trained->logits() + 4 * 10);
  auto eval = executor_affine(p, 4, 0.0f, affine, false);
  eval->set_running_stats(trained->running_stats());
  eval->forward(p.images.data(), p.labels.data(), 4, false);
  check_close("affine inference-only logits", eval->logits(), doubles(want), 1e-5, 1e-6);
}

// ---- batch sizes ----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(smaller_batch_equals_first_rows_of_full_batch_in_inference) {
  const Problem p(residual_network(), 8, 40);
  auto ex = executor_make(p, 8, 0.0f);
  ex->forward(p.images.data(), p.labels.data(), 8, false);
  const std::vector<float> full(ex->logits(), ex->logits() + 8 * p.net.classes);
  const std::vector<float> head = p.images_first(5);
  ex->forward(head.data(), p.labels.data(), 5, false);
  // the same fp32 computation per example, perhaps by another kernel for the other batch size
  check_close("first 5 of 8", ex->logits(), doubles({full.begin(), full.begin() + 5 * 10}), 1e-5,
              1e-6);
}

// Two training steps with different batch sizes (two plans sharing buffers), each checked
// against the reference, and the running statistics against PyTorch's formula.
BOOST_AUTO_TEST_CASE(running_stats_follow_the_formula_over_two_steps_of_two_batch_sizes) {
  const Problem p(residual_network(), 8, 41);
  auto ex = executor_make(p, 8, 0.0f);
  RunningStats running(p.net);
  const auto w = p.weights_double();
  std::vector<std::vector<float>> grads;
  std::vector<float*> grad_ptrs;
  for (const auto& t : p.net.tensors) grads.emplace_back(static_cast<size_t>(t.numel()), 0.f);
  for (auto& g : grads) grad_ptrs.push_back(g.data());

  for (const int64_t n : {int64_t{8}, int64_t{3}, int64_t{8}}) {
    const std::vector<float> images = p.images_first(n);
    const std::string label = "batch " + std::to_string(n);
    const auto want = reference::network_run(p.net, w, doubles(images), p.labels, n, true, 0.0,
                                             running.mean, running.var);
    check_forward(label, ex->forward(images.data(), p.labels.data(), n, true), ex->logits(), want);
    ex->backward(grad_ptrs);
    for (size_t t = 0; t < grads.size(); ++t)
      check_close(label + " " + p.net.tensors[t].name + " gradient", grads[t].data(), want.grads[t],
                  grad_rtol, grad_atol);
    running.update(p.net, want, n);
  }
  const std::vector<popup::NamedArray> stats = ex->running_stats();
  BOOST_REQUIRE_EQUAL(stats.size(), 2 * 6u);  // 6 BatchNorms, mean and var each
  size_t k = 0;
  for (size_t i = 0; i < p.net.ops.size(); ++i) {
    if (p.net.ops[i].kind != OpKind::batchnorm) continue;
    BOOST_CHECK_EQUAL(stats[k].name, p.net.ops[i].name + ".running_mean");
    check_close(stats[k].name, stats[k].values.data(), running.mean[i], stats_rtol, stats_atol);
    BOOST_CHECK_EQUAL(stats[k + 1].name, p.net.ops[i].name + ".running_var");
    check_close(stats[k + 1].name, stats[k + 1].values.data(), running.var[i], stats_rtol,
                stats_atol);
    k += 2;
  }
  // inference with those statistics, at the smaller batch size
  const std::vector<float> images = p.images_first(3);
  const auto want = reference::network_run(p.net, w, doubles(images), p.labels, 3, false, 0.0,
                                           running.mean, running.var);
  check_forward("inference after training", ex->forward(images.data(), p.labels.data(), 3, false),
                ex->logits(), want);
}

// An inference-only executor with the running statistics of a trained one gives its logits.
BOOST_AUTO_TEST_CASE(inference_only_executor_takes_running_stats) {
  const Problem p(residual_network(), 4, 42);
  auto trained = executor_make(p, 4, 0.0f);
  trained->forward(p.images.data(), p.labels.data(), 4, true);
  trained->forward(p.images.data(), p.labels.data(), 4, false);
  const std::vector<float> want(trained->logits(), trained->logits() + 4 * 10);

  auto eval = executor_make(p, 4, 0.0f, false);
  eval->set_running_stats(trained->running_stats());
  eval->forward(p.images.data(), p.labels.data(), 4, false);
  check_close("inference-only logits", eval->logits(), doubles(want), 1e-5, 1e-6);
  const std::vector<popup::NamedArray> back = eval->running_stats();
  const std::vector<popup::NamedArray> given = trained->running_stats();
  BOOST_REQUIRE_EQUAL(back.size(), given.size());
  for (size_t k = 0; k < back.size(); ++k) BOOST_CHECK(back[k].values == given[k].values);
}

// Every architecture the registry can execute runs a training step on CIFAR-shaped input:
// finite loss, finite weight gradients that are not all zero.
BOOST_AUTO_TEST_CASE(executor_trains_registry_architectures) {
  for (const char* spec : {"fc", "conv4", "conv8:width=0.5", "resnet18"}) {
    BOOST_TEST_CONTEXT(spec) {
      const Problem p(popup::arch_network(spec, {3, 32, 32}, 10), 2, 60);
      auto ex = executor_make(p, 2, 0.1f);
      const popup::BatchStats stats = ex->forward(p.images.data(), p.labels.data(), 2, true);
      BOOST_TEST(std::isfinite(stats.loss_sum));
      check_gradients_finite_and_nonzero(*ex, p.net);
    }
  }
}

// The ImageNet ResNets (7x7/2 stem, 3x3/2 max-pool, bottlenecks; 32 -> 16 -> 8 after the
// stem, layer4 at 1x1): resnet50 a training step, the deeper and wider ones, whose weights
// make a step cost seconds, one inference forward (their training steps: scripts and RESULTS).
BOOST_AUTO_TEST_CASE(executor_runs_imagenet_resnets) {
  check_registry_step("resnet50", true);
  for (const char* spec : {"resnet101", "wide-resnet50", "wide-resnet101"})
    BOOST_TEST_CONTEXT(spec) { check_registry_step(spec, false); }
}

// The buffers that plans of different batch sizes share: a slot grows (and the generation
// changes, so plans bind again) only when a plan needs more than it has.
BOOST_AUTO_TEST_CASE(arena_grows_slots_and_counts_generations) {
  popup::DnnlArena arena;
  arena.reserve(2, 100);
  const uint64_t first = arena.generation();
  void* const p = arena.data(2);
  BOOST_TEST(p != nullptr);
  BOOST_TEST(reinterpret_cast<uintptr_t>(p) % 64 == 0u);
  arena.reserve(2, 80);  // fits: nothing moves
  BOOST_TEST(arena.generation() == first);
  BOOST_TEST(arena.data(2) == p);
  arena.reserve(2, 1000);
  BOOST_TEST(arena.generation() != first);
  BOOST_TEST(arena.data(2) != nullptr);
}

// ---- rejected calls ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(executor_rejects_bad_calls) {
  const Problem p(plain_network(), 4, 50);
  ExecutorConfig config;
  config.max_batch = 4;
  auto unset = popup::executor_cpu_create(p.net, config);
  BOOST_CHECK_THROW(unset->forward(p.images.data(), p.labels.data(), 4, true),
                    popup::InvalidArgument);  // weights not set
  BOOST_CHECK_THROW(unset->set_weights(p.weights.size(), p.weights[0].data()),
                    popup::InvalidArgument);

  auto ex = executor_make(p, 4, 0.0f);
  std::vector<float*> none(p.net.tensors.size(), nullptr);
  BOOST_CHECK_THROW(ex->backward(none), popup::Error);  // no training forward yet
  BOOST_CHECK_THROW(ex->forward(p.images.data(), p.labels.data(), 0, true), popup::InvalidArgument);
  BOOST_CHECK_THROW(ex->forward(p.images.data(), p.labels.data(), 5, true), popup::InvalidArgument);
  const std::vector<int32_t> bad_labels{0, 1, 5, 2};
  BOOST_CHECK_THROW(ex->forward(p.images.data(), bad_labels.data(), 4, true),
                    popup::InvalidArgument);
  ex->forward(p.images.data(), p.labels.data(), 4, false);
  BOOST_CHECK_THROW(ex->backward(none), popup::Error);  // the last forward was inference
  ex->forward(p.images.data(), p.labels.data(), 4, true);
  BOOST_CHECK_THROW(ex->backward({nullptr}), popup::InvalidArgument);
  BOOST_CHECK_NO_THROW(ex->backward(none));

  auto eval = executor_make(p, 4, 0.0f, false);
  BOOST_CHECK_THROW(eval->forward(p.images.data(), p.labels.data(), 4, true),
                    popup::InvalidArgument);

  config.max_batch = 0;
  BOOST_CHECK_THROW(popup::executor_cpu_create(p.net, config), popup::InvalidArgument);
  config.max_batch = 4;
  Network broken = p.net;
  broken.ops[1].inputs = {3};  // reads a later op
  BOOST_CHECK_THROW(popup::executor_cpu_create(broken, config), popup::InvalidArgument);
  broken = p.net;
  broken.ops[0].c = 7;  // conv1 gives 8 channels
  BOOST_CHECK_THROW(popup::executor_cpu_create(broken, config), popup::InvalidArgument);
  broken = p.net;
  broken.classes = 6;  // the last op gives 5
  BOOST_CHECK_THROW(popup::executor_cpu_create(broken, config), popup::InvalidArgument);
}

// Labels are checked before the forward runs: a rejected training batch leaves the running
// statistics as they were.
BOOST_AUTO_TEST_CASE(bad_labels_change_no_running_stats) {
  const Problem p(residual_network(), 2, 52);
  auto ex = executor_make(p, 2, 0.0f);
  const std::vector<int32_t> bad_labels{0, -1};
  BOOST_CHECK_THROW(ex->forward(p.images.data(), bad_labels.data(), 2, true),
                    popup::InvalidArgument);
  for (const popup::NamedArray& s : ex->running_stats()) {
    const bool var = s.name.find("running_var") != std::string::npos;
    for (float v : s.values) BOOST_REQUIRE_EQUAL(v, var ? 1.0f : 0.0f);
  }
}

BOOST_AUTO_TEST_CASE(set_running_stats_rejects_mismatches) {
  const Problem p(residual_network(), 2, 51);
  auto ex = executor_make(p, 2, 0.0f);
  std::vector<popup::NamedArray> stats = ex->running_stats();
  stats[0].values.push_back(0.f);
  BOOST_CHECK_THROW(ex->set_running_stats(stats), popup::MismatchError);
  stats = ex->running_stats();
  stats[0].name = "nothing.running_mean";
  BOOST_CHECK_THROW(ex->set_running_stats(stats), popup::MismatchError);
  stats = ex->running_stats();
  stats.pop_back();
  BOOST_CHECK_THROW(ex->set_running_stats(stats), popup::MismatchError);
  stats = ex->running_stats();
  stats[1] = stats[0];  // twice the same name
  BOOST_CHECK_THROW(ex->set_running_stats(stats), popup::MismatchError);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- bf16 -----------------------------------------------------------------------------------

namespace {

namespace utf = boost::unit_test;

// bf16 keeps 8 significant bits: each rounding (weights, images, every layer's output and
// gradient) is off by up to 2^-9 of the value; fp32 accumulation adds nothing comparable.
// Bounds are fractions of the tensor's largest magnitude (a small element is the difference
// of terms rounded at the scale of the largest: a relative bound means nothing for it).
// Logits: through 3-8 layers the roundings add up to a few 2^-9 when they partly cancel
// (they are independent), to ~16 x 2^-9 = 3% only if all went the same way.
// (Observed at most 0.7e-2.)
constexpr double bf16_logits_tol = 2e-2;
// Weight gradients pass through twice as many roundings (the forward activations they read,
// the backward's own), and BatchNorm's backward subtracts channel means of the rounded
// upstream gradient. (Observed at most 1.0e-2 here, 1.9e-2 with other seeds, on networks
// without relu or max-pool.)
constexpr double bf16_grad_tol = 4e-2;
// Where relu or max-pool decide (a sign, a window's maximum), a near tie goes either way
// under ANY perturbation of the inputs, and moves the weight gradient by a whole term of its
// sum; the sums cancel (random signs), so a few flipped terms are a sizeable fraction of the
// result. Measured: the fp32 executor on weights and images perturbed by only +-2^-9 (less
// than bf16's rounding) moves these networks' weight gradients by up to 18% in norm (43% at
// single elements) from the exact ones, as much as bf16 does (at most 16% in norm). So with
// relu and max-pool the gradients are compared in norm, ||got - want|| / ||want||, at a
// bound that still fails any wrong layout, data type or missing contribution (~100%).
constexpr double bf16_kinked_grad_norm_tol = 0.35;
// Running statistics: fp32 moving averages of batch moments that oneDNN computes in fp32
// from bf16 inputs. (Observed at most 0.4e-2.)
constexpr double bf16_stats_tol = 1e-2;

std::unique_ptr<Executor> executor_bf16(const Problem& p, int64_t max_batch, float smoothing,
                                        bool train = true,
                                        const reference::BnAffine* affine = nullptr) {
  if (affine)
    return executor_affine(p, max_batch, smoothing, *affine, train, popup::Precision::bf16);
  ExecutorConfig config;
  config.max_batch = max_batch;
  config.label_smoothing = smoothing;
  config.train = train;
  config.precision = popup::Precision::bf16;
  auto ex = popup::executor_cpu_create(p.net, config);
  for (size_t t = 0; t < p.weights.size(); ++t) ex->set_weights(t, p.weights[t].data());
  return ex;
}

// oneDNN 2.x implements bf16 only on AVX-512 CPUs: elsewhere the cases say they were skipped.
boost::test_tools::assertion_result bf16_supported(utf::test_unit_id) {
  std::string why;
  try {
    executor_bf16(Problem(plain_network(), 2, 1), 2, 0.0f);
  } catch (const popup::Error& e) {
    why = e.what();
  }
  boost::test_tools::assertion_result r(why.empty());
  r.message() << "skipped (no bf16 on this CPU: " << why << ")";
  return r;
}

// Networks without relu or max-pool, so without decisions that a rounding can flip: conv
// (stride 1 and 2) -> global average pool -> linear; conv-BatchNorm twice, an add, a strided
// conv, linear; linear -> BatchNorm1d -> linear.
Network smooth_conv_network() {
  NetBuilder b({3, 8, 8}, 10);
  b.conv("conv1", 16, 3, 1, 1);
  b.conv("conv2", 32, 3, 2, 1);
  b.global_avgpool();
  b.linear("fc3", 10);
  return b.network();
}

Network smooth_residual_network() {
  NetBuilder b({3, 8, 8}, 10);
  b.conv("conv1", 16, 3, 1, 1);
  const int x0 = b.batchnorm("bn1");
  b.conv("conv2", 16, 3, 1, 1);
  b.add(b.batchnorm("bn3"), x0);
  b.conv("conv3", 8, 3, 2, 1);
  b.linear("fc4", 10);
  return b.network();
}

Network smooth_flat_network() {
  NetBuilder b({1, 4, 4}, 3);
  b.linear("fc1", 12);
  b.batchnorm("bn1");
  b.linear("fc2", 3);
  return b.network();
}

// The largest |got - want| as a fraction of max|want|, reported, then bounded by tol.
void check_scaled(const std::string& what, const float* got, const std::vector<double>& want,
                  double tol) {
  double scale = 0, worst = 0;
  for (double w : want) scale = std::max(scale, std::fabs(w));
  for (size_t k = 0; k < want.size(); ++k)
    worst = std::max(worst, std::fabs(static_cast<double>(got[k]) - want[k]));
  BOOST_TEST_MESSAGE(what << ": largest error " << worst / scale << " of the scale");
  check_close(what, got, want, 0.0, tol);
}

// ||got - want|| / ||want||, reported, then bounded by tol.
void check_norm(const std::string& what, const float* got, const std::vector<double>& want,
                double tol) {
  double error = 0, norm = 0;
  for (size_t k = 0; k < want.size(); ++k) {
    const double d = static_cast<double>(got[k]) - want[k];
    error += d * d;
    norm += want[k] * want[k];
  }
  const double relative = std::sqrt(error / norm);
  BOOST_TEST_MESSAGE(what << ": error " << relative << " of the norm");
  BOOST_CHECK_MESSAGE(relative <= tol,
                      what << ": error " << relative << " of the norm, bound " << tol);
}

// The loss of each example moves by at most twice the largest change of its logits
// (log-sum-exp and the label's logit each move by at most that much): a bound from the
// logits' tolerance. Top-1 counts are not compared: bf16 may swap a near tie.
void check_forward_bf16(const std::string& what, const popup::BatchStats& stats,
                        const float* logits, const reference::NetworkResult& want, int64_t n) {
  check_scaled(what + " logits", logits, want.logits.v, bf16_logits_tol);
  double scale = 0;
  for (double w : want.logits.v) scale = std::max(scale, std::fabs(w));
  BOOST_TEST(std::isfinite(stats.loss_sum));
  BOOST_CHECK_MESSAGE(std::fabs(stats.loss_sum - want.loss.loss_sum) <=
                          2 * static_cast<double>(n) * bf16_logits_tol * scale,
                      what << " loss sum " << stats.loss_sum << ", want " << want.loss.loss_sum);
}

// check_against_reference in bf16: a training step, its gradients (element-wise, or in norm
// for a network with relu or max-pool) and running statistics, then inference. affine: with
// affine BatchNorm of those parameters, whose gradients are compared as the weights'.
void check_bf16_against_reference(const Problem& p, float smoothing, bool kinked,
                                  const reference::BnAffine* affine = nullptr) {
  auto ex = executor_bf16(p, p.n, smoothing, true, affine);
  RunningStats running(p.net);
  const auto w = p.weights_double();
  const auto images = doubles(p.images);
  const auto train = reference::network_run(p.net, w, images, p.labels, p.n, true, smoothing,
                                            running.mean, running.var, affine);
  check_forward_bf16("training", ex->forward(p.images.data(), p.labels.data(), p.n, true),
                     ex->logits(), train, p.n);
  std::vector<std::vector<float>> grads;
  std::vector<float*> grad_ptrs;
  for (const auto& t : p.net.tensors) grads.emplace_back(static_cast<size_t>(t.numel()), 0.f);
  for (auto& g : grads) grad_ptrs.push_back(g.data());
  ex->backward(grad_ptrs);
  for (size_t t = 0; t < grads.size(); ++t) {
    const std::string what = p.net.tensors[t].name + " gradient";
    if (kinked)
      check_norm(what, grads[t].data(), train.grads[t], bf16_kinked_grad_norm_tol);
    else
      check_scaled(what, grads[t].data(), train.grads[t], bf16_grad_tol);
  }
  const std::vector<size_t> ops = affine ? bn_ops(p.net) : std::vector<size_t>();
  for (size_t b = 0; b < ops.size(); ++b) {
    const size_t i = ops[b];
    std::vector<float> dgamma(static_cast<size_t>(p.net.ops[i].c)), dbeta(dgamma.size());
    ex->bn_grads(b, dgamma.data(), dbeta.data());
    for (const auto& [name, got, want] :
         {std::make_tuple(" gamma gradient", &dgamma, &train.bn_dgamma[i]),
          std::make_tuple(" beta gradient", &dbeta, &train.bn_dbeta[i])}) {
      if (kinked)
        check_norm(p.net.ops[i].name + name, got->data(), *want, bf16_kinked_grad_norm_tol);
      else
        check_scaled(p.net.ops[i].name + name, got->data(), *want, bf16_grad_tol);
    }
  }
  running.update(p.net, train, p.n);
  for (const popup::NamedArray& s : ex->running_stats())
    for (size_t i = 0; i < p.net.ops.size(); ++i) {
      if (s.name == p.net.ops[i].name + ".running_mean")
        check_scaled(s.name, s.values.data(), running.mean[i], bf16_stats_tol);
      if (s.name == p.net.ops[i].name + ".running_var")
        check_scaled(s.name, s.values.data(), running.var[i], bf16_stats_tol);
    }
  const auto infer = reference::network_run(p.net, w, images, p.labels, p.n, false, smoothing,
                                            running.mean, running.var, affine);
  check_forward_bf16("inference", ex->forward(p.images.data(), p.labels.data(), p.n, false),
                     ex->logits(), infer, p.n);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(executor_cpu_bf16, *utf::precondition(&bf16_supported))

BOOST_AUTO_TEST_CASE(bf16_matches_reference_smooth_networks) {
  check_bf16_against_reference(Problem(smooth_conv_network(), 4, 30), 0.0f, false);
  check_bf16_against_reference(Problem(smooth_residual_network(), 4, 31), 0.0f, false);
  check_bf16_against_reference(Problem(smooth_flat_network(), 7, 32), 0.1f, false);
}

BOOST_AUTO_TEST_CASE(bf16_close_to_reference_networks_with_relu_and_maxpool) {
  check_bf16_against_reference(Problem(plain_network(), 6, 30), 0.0f, true);
  check_bf16_against_reference(Problem(residual_network(), 4, 31), 0.0f, true);
  check_bf16_against_reference(Problem(flat_network(), 7, 32), 0.1f, true);
  check_bf16_against_reference(Problem(imagenet_stem_network(), 4, 33), 0.1f, true);
}

// Affine BatchNorm in bf16: oneDNN keeps gamma, beta and their gradients in f32.
BOOST_AUTO_TEST_CASE(bf16_affine_batchnorm_matches_reference) {
  const Problem smooth(smooth_residual_network(), 4, 31), flat(smooth_flat_network(), 7, 32);
  const Problem kinked(residual_network(), 4, 31);
  const reference::BnAffine a = bn_affine_random(smooth.net, 74),
                            b = bn_affine_random(flat.net, 75),
                            c = bn_affine_random(kinked.net, 76);
  check_bf16_against_reference(smooth, 0.0f, false, &a);
  check_bf16_against_reference(flat, 0.1f, false, &b);
  check_bf16_against_reference(kinked, 0.0f, true, &c);
}

// A second batch size (a second plan over the first plan's bf16 weights) and an inference-only
// executor agree with the training one to bf16 accuracy.
BOOST_AUTO_TEST_CASE(bf16_smaller_batch_and_inference_only_executor) {
  const Problem p(residual_network(), 8, 40);
  auto ex = executor_bf16(p, 8, 0.0f);
  ex->forward(p.images.data(), p.labels.data(), 8, false);
  const std::vector<float> full(ex->logits(), ex->logits() + 8 * p.net.classes);
  const std::vector<float> head = p.images_first(5);
  ex->forward(head.data(), p.labels.data(), 5, false);
  check_scaled("first 5 of 8", ex->logits(), doubles({full.begin(), full.begin() + 5 * 10}),
               bf16_logits_tol);
  auto eval = executor_bf16(p, 8, 0.0f, false);
  eval->forward(p.images.data(), p.labels.data(), 8, false);
  check_scaled("inference-only", eval->logits(), doubles(full), bf16_logits_tol);
}

// The registry's architectures train a step in bf16: finite loss and gradients, not all zero.
BOOST_AUTO_TEST_CASE(bf16_trains_registry_architectures) {
  for (const char* spec : {"fc", "conv4", "resnet18"}) {
    BOOST_TEST_CONTEXT(spec) {
      const Problem p(popup::arch_network(spec, {3, 32, 32}, 10), 2, 61);
      auto ex = executor_bf16(p, 2, 0.0f);
      BOOST_TEST(std::isfinite(ex->forward(p.images.data(), p.labels.data(), 2, true).loss_sum));
      check_gradients_finite_and_nonzero(*ex, p.net);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
