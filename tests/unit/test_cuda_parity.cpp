// CPU-vs-CUDA parity (DESIGN.md §7): every backend operation through small hand-built
// networks, the score engine's masks and updates, and one whole training step of conv4 and
// resnet18, each run on both backends with identical inputs, and a short IteRand run of the
// trainer (the redraws the CUDA engine scatters). The CPU backend is the reference.
// Then data-parallel runs (ExecutorConfig::comm): two ranks as threads of this process, their
// summed gradients against one executor. Without a CUDA device every case reports "skipped (no
// CUDA device)", never "passed"; the NCCL case needs two devices and says so.
#include <boost/test/unit_test.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "data/dataset.hpp"
#include "backend/device.hpp"
#include "dist/communicator.hpp"
#include "dist/communicator_threads.hpp"
#include "error.hpp"
#include "backend/executor.hpp"
#include "format/mask.hpp"
#include "format/popup_file.hpp"
#include "format/recipe.hpp"
#include "temp_dir.hpp"
#include "test_networks.hpp"
#include "train/topk.hpp"
#include "train/trainer.hpp"
#include "init/weights_generate.hpp"
#include "reference_ops.hpp"

using popup::Executor;
using popup::ExecutorConfig;
using popup::Network;
using popup::ScoreEngine;
using namespace test_networks;
namespace utf = boost::unit_test;

namespace {

// ---- tolerances ----------------------------------------------------------------------------
// Both backends compute in fp32 (unit roundoff 6e-8), but in different orders and with
// different algorithms: oneDNN's blocked direct convolutions against whatever cuDNN finds
// fastest among its deterministic algorithms (implicit GEMM, Winograd, FFT). Winograd and FFT
// transforms lose a few more bits than direct sums (relative 1e-6 to 1e-5 of the tensor's
// scale), so bounds are relative to the tensor's largest magnitude, with a tenfold margin.
constexpr double logits_tol = 1e-4;  // |gpu - cpu| <= tol * max|cpu|, per element
constexpr double loss_rtol = 1e-5;   // the loss is a mean over the batch: errors average out
// Weight gradients are sums over the batch and all positions, after passing back through up to
// 20 layers (BatchNorm's backward subtracts means: cancellation). Norm-wise bound for the bulk,
// a looser per-element bound against isolated errors.
constexpr double grad_norm_rtol = 1e-4, grad_elem_tol = 1e-3;
constexpr double stats_tol = 1e-5;  // running statistics: a few roundings of batch moments
// An optimiser step moves scores by lr * (gradient terms), so the moves inherit the gradients'
// per-element error: two SGD steps differ by at most grad_elem_tol times the layer's largest
// move. Adam divides each gradient by its own root mean square: where a gradient is within
// rounding of zero its move (up to lr) has the sign of rounding noise, so a small fraction of
// a layer's moves may differ by more.
constexpr double moves_tol = grad_elem_tol;
// Where both runs see the same gradients up to summation order (ranks, IteRand's redraws of
// a small network), scores stay within this fraction of their largest magnitude.
constexpr double scores_tol = 1e-5;
constexpr double adam_noisy_fraction = 1e-3;
// After one independent step on each backend, a weight may change sides only where its score
// lies within the scores' difference of the threshold: a tiny fraction of a layer.
constexpr double mask_flip_fraction = 1e-4;

boost::test_tools::assertion_result cuda_device(utf::test_unit_id) {
  std::string why;
  const int devices = popup::cuda_device_count(why);
  boost::test_tools::assertion_result r(devices > 0);
  r.message() << "skipped (no CUDA device: " << why << ")";
  return r;
}

std::unique_ptr<Executor> backend(const Network& net, bool cuda, int64_t max_batch,
                                  float smoothing = 0, bool train = true, bool affine_bn = false) {
  ExecutorConfig config;
  config.max_batch = max_batch;
  config.label_smoothing = smoothing;
  config.train = train;
  config.affine_bn = affine_bn;
  popup::DeviceChoice device;
  device.kind = cuda ? popup::DeviceChoice::cuda : popup::DeviceChoice::cpu;
  std::string note;
  return popup::executor_create(net, config, device, note);
}

double max_abs(const float* v, size_t n) {
  double m = 0;
  for (size_t k = 0; k < n; ++k) m = std::max(m, std::fabs(static_cast<double>(v[k])));
  return m;
}

// Every element within tol * max|want|; names the worst.
void check_scaled(const std::string& what, const float* got, const float* want, size_t n,
                  double tol) {
  const double scale = max_abs(want, n);
  double worst = 0;
  size_t at = 0;
  for (size_t k = 0; k < n; ++k) {
    const double d = std::fabs(static_cast<double>(got[k]) - want[k]);
    if (!(d <= worst)) {
      worst = d;
      at = k;
    }
  }
  std::ostringstream m;
  m << what << ": largest difference " << worst << " at " << at << " (got " << got[at] << ", CPU "
    << want[at] << "), bound " << tol * scale;
  BOOST_CHECK_MESSAGE(worst <= tol * scale, m.str());
}

void check_gradient(const std::string& what, const std::vector<float>& got,
                    const std::vector<float>& want) {
  double diff = 0, norm = 0;
  for (size_t k = 0; k < want.size(); ++k) {
    diff += (static_cast<double>(got[k]) - want[k]) * (static_cast<double>(got[k]) - want[k]);
    norm += static_cast<double>(want[k]) * want[k];
  }
  BOOST_CHECK_MESSAGE(norm > 0, what << ": the CPU gradient is zero; the test would prove nothing");
  BOOST_CHECK_MESSAGE(std::sqrt(diff) <= grad_norm_rtol * std::sqrt(norm),
                      what << ": relative L2 difference " << std::sqrt(diff / norm));
  check_scaled(what, got.data(), want.data(), want.size(), grad_elem_tol);
}

// Top-1 counts agree except for examples whose two largest CPU logits are closer than the
// logits' tolerance (there either backend may rank them either way).
void check_correct(const std::string& what, int64_t got, int64_t want, const float* logits,
                   int64_t n, int64_t classes) {
  const double slack = logits_tol * max_abs(logits, static_cast<size_t>(n * classes));
  int64_t ambiguous = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<float> row(logits + i * classes, logits + (i + 1) * classes);
    std::sort(row.rbegin(), row.rend());
    if (classes > 1 && row[0] - row[1] <= 2 * slack) ++ambiguous;
  }
  BOOST_CHECK_MESSAGE(std::llabs(got - want) <= ambiguous,
                      what << ": top-1 " << got << " against the CPU's " << want << " ("
                           << ambiguous << " near ties)");
}

// Each affine BatchNorm's gamma and beta gradients after a backward, gamma then beta.
std::vector<std::vector<float>> bn_grads_of(const Executor& ex) {
  std::vector<std::vector<float>> g;
  for (size_t b = 0; b < ex.bn_count(); ++b) {
    std::vector<float> dgamma(static_cast<size_t>(ex.bn_channels(b))), dbeta(dgamma.size());
    ex.bn_grads(b, dgamma.data(), dbeta.data());
    g.push_back(dgamma);
    g.push_back(dbeta);
  }
  return g;
}

void check_bn_grads(const std::string& what, const Executor& gpu, const Executor& cpu) {
  const std::vector<std::vector<float>> got = bn_grads_of(gpu), want = bn_grads_of(cpu);
  BOOST_REQUIRE_EQUAL(got.size(), want.size());
  for (size_t k = 0; k < want.size(); ++k)
    check_gradient(
        what + " BatchNorm " + std::to_string(k / 2) + (k % 2 ? " beta" : " gamma") + " gradient",
        got[k], want[k]);
}

// p's weights and, with affine BatchNorm, random gamma and beta (the same for every executor).
void problem_load(Executor& ex, const Problem& p) {
  for (size_t t = 0; t < p.net.tensors.size(); ++t) ex.set_weights(t, p.weights[t].data());
  for (size_t k = 0; k < ex.bn_count(); ++k) {
    const auto c = static_cast<size_t>(ex.bn_channels(k));
    std::vector<float> gamma = floats(normal_values(c, 0.5, 200 + 2 * k));
    for (float& g : gamma) g += 1;
    ex.set_bn_params(k, gamma.data(), floats(normal_values(c, 0.5, 201 + 2 * k)).data());
  }
}

// A training forward and backward, then an inference forward of a smaller batch, on both
// backends: logits, loss, counts, every weight gradient, running statistics. affine: with
// affine BatchNorm (random gamma and beta, the same on both), whose gradients are compared
// too, also from a backward that asks for no weight gradient.
void check_problem(const std::string& what, const Problem& p, float smoothing, bool affine) {
  const Network& net = p.net;
  const int64_t batch = p.n;
  std::unique_ptr<Executor> ex[2] = {backend(net, false, batch, smoothing, true, affine),
                                     backend(net, true, batch, smoothing, true, affine)};
  popup::BatchStats stats[2];
  std::vector<float> logits[2];
  std::vector<std::vector<float>> grads[2];
  for (int b = 0; b < 2; ++b) {
    problem_load(*ex[b], p);
    stats[b] = ex[b]->forward(p.images.data(), p.labels.data(), batch, true);
    logits[b].assign(ex[b]->logits(), ex[b]->logits() + batch * net.classes);
    std::vector<float*> ptrs;
    for (const auto& t : net.tensors) {
      grads[b].emplace_back(static_cast<size_t>(t.numel()), 0.f);
      ptrs.push_back(grads[b].back().data());
    }
    ex[b]->backward(ptrs);
  }
  check_scaled(what + " training logits", logits[1].data(), logits[0].data(), logits[0].size(),
               logits_tol);
  BOOST_CHECK_MESSAGE(
      std::fabs(stats[1].loss_sum - stats[0].loss_sum) <= loss_rtol * std::fabs(stats[0].loss_sum),
      what << ": loss " << stats[1].loss_sum << " against " << stats[0].loss_sum);
  check_correct(what, stats[1].correct1, stats[0].correct1, logits[0].data(), batch, net.classes);
  for (size_t t = 0; t < net.tensors.size(); ++t)
    check_gradient(what + " gradient of " + net.tensors[t].name, grads[1][t], grads[0][t]);
  if (affine) {
    BOOST_REQUIRE_EQUAL(ex[1]->bn_count(), ex[0]->bn_count());
    check_bn_grads(what, *ex[1], *ex[0]);
    // again with no weight gradient asked for: the BatchNorms' own still come
    for (int b = 0; b < 2; ++b) {
      ex[b]->forward(p.images.data(), p.labels.data(), batch, true);
      ex[b]->backward(std::vector<float*>(net.tensors.size(), nullptr));
    }
    check_bn_grads(what + " (no weight gradients)", *ex[1], *ex[0]);
  }
  const std::vector<popup::NamedArray> running[2] = {ex[0]->running_stats(),
                                                     ex[1]->running_stats()};
  BOOST_REQUIRE_EQUAL(running[0].size(), running[1].size());
  for (size_t k = 0; k < running[0].size(); ++k)
    check_scaled(what + " " + running[0][k].name, running[1][k].values.data(),
                 running[0][k].values.data(), running[0][k].values.size(), stats_tol);
  const int64_t small = std::max<int64_t>(1, batch / 2 - 1);
  for (int b = 0; b < 2; ++b) {
    ex[b]->forward(p.images.data(), p.labels.data(), small, false);
    logits[b].assign(ex[b]->logits(), ex[b]->logits() + small * net.classes);
  }
  check_scaled(what + " inference logits", logits[1].data(), logits[0].data(), logits[0].size(),
               logits_tol);
}

void check_network(const std::string& what, const Network& net, int64_t batch, float smoothing,
                   bool affine = false) {
  check_problem(what, Problem(net, batch, 7), smoothing, affine);
}

// Scores U(-1, 1) rounded to multiples of 1/64 (many ties, zeros), with a few NaN and
// infinities: the hard cases of the tie-break.
std::vector<float> tied_scores(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<float> s(static_cast<size_t>(n));
  for (float& v : s) v = static_cast<float>(std::round(u(rng) * 64) / 64);
  for (int64_t k = 0; k < n; k += 997) s[static_cast<size_t>(k)] = NAN;
  for (int64_t k = 13; k < n; k += 1499) s[static_cast<size_t>(k)] = -INFINITY;
  return s;
}

struct Run {
  std::unique_ptr<Executor> exec;
  std::unique_ptr<ScoreEngine> engine;
};

// A run's score engine on `exec`, with the given weights and scores (the first tensor dense)
// and the top fraction k of each scored layer kept.
void run_start(Run& run, const Network& net, const std::vector<std::vector<float>>& weights,
               const std::vector<std::vector<float>>& scores, double k,
               const popup::OptimizerConfig& opt) {
  run.engine = run.exec->score_engine(opt);
  for (size_t t = 0; t < net.tensors.size(); ++t) {
    const int64_t n = net.tensors[t].numel();
    const bool dense = t == 0;
    run.engine->load(t, n, weights[t].data(), dense ? nullptr : scores[t].data(),
                     dense ? n : popup::topk_keep_count(n, k));
  }
  run.engine->refresh();
}

// Deep networks at small batches are ill-conditioned in fp32: BatchNorm's backward over a few
// values per channel cancels most of what comes back, and the rounding of every layer grows on
// the way down. The CPU executor's own weight gradients differ from the double-precision
// reference by 0.4% (resnet18, 3x32x32, batch 8) and 1.8% (resnet50, 3x64x64, batch 8) in L2,
// and two fp32 executors differ from each other by as much. So the GPU is held to the CPU's
// accuracy: for every tensor its relative L2 distance from the reference at most twice the
// largest the CPU has in that network, plus grad_norm_rtol (one run's per-tensor errors
// scatter threefold between neighbouring layers, so a tensor's own CPU error is no stable
// yardstick); logits and loss against the CPU's as everywhere.
void check_gradients_like_cpu(const std::string& what, const Network& net, int64_t batch) {
  const Problem p(net, batch, 7);
  std::vector<std::vector<double>> mean(net.ops.size()), var(net.ops.size());
  for (size_t i = 0; i < net.ops.size(); ++i)
    if (net.ops[i].kind == popup::OpKind::batchnorm) {
      mean[i].assign(static_cast<size_t>(net.ops[i].c), 0.0);
      var[i].assign(static_cast<size_t>(net.ops[i].c), 1.0);
    }
  const reference::NetworkResult ref = reference::network_run(
      net, p.weights_double(), doubles(p.images), p.labels, batch, true, 0, mean, var);
  popup::BatchStats stats[2];
  std::vector<float> logits[2];
  std::vector<std::vector<float>> grads[2];
  for (int b = 0; b < 2; ++b) {
    std::unique_ptr<Executor> ex = backend(net, b == 1, batch);
    problem_load(*ex, p);
    stats[b] = ex->forward(p.images.data(), p.labels.data(), batch, true);
    logits[b].assign(ex->logits(), ex->logits() + batch * net.classes);
    std::vector<float*> ptrs;
    for (const auto& t : net.tensors) {
      grads[b].emplace_back(static_cast<size_t>(t.numel()), 0.f);
      ptrs.push_back(grads[b].back().data());
    }
    ex->backward(ptrs);
  }
  check_scaled(what + " training logits", logits[1].data(), logits[0].data(), logits[0].size(),
               logits_tol);
  BOOST_CHECK_MESSAGE(
      std::fabs(stats[1].loss_sum - stats[0].loss_sum) <= loss_rtol * std::fabs(stats[0].loss_sum),
      what << ": loss " << stats[1].loss_sum << " against " << stats[0].loss_sum);
  const auto distance = [](const std::vector<float>& got, const std::vector<double>& want) {
    double d = 0, norm = 0;
    for (size_t k = 0; k < want.size(); ++k) {
      d += (got[k] - want[k]) * (got[k] - want[k]);
      norm += want[k] * want[k];
    }
    return std::sqrt(d / norm);
  };
  std::vector<double> cpu, gpu;
  for (size_t t = 0; t < net.tensors.size(); ++t) {
    cpu.push_back(distance(grads[0][t], ref.grads[t]));
    gpu.push_back(distance(grads[1][t], ref.grads[t]));
  }
  const double worst_cpu = *std::max_element(cpu.begin(), cpu.end()),
               worst_gpu = *std::max_element(gpu.begin(), gpu.end());
  for (size_t t = 0; t < net.tensors.size(); ++t)
    BOOST_CHECK_MESSAGE(gpu[t] <= 2 * worst_cpu + grad_norm_rtol,
                        what << " gradient of " << net.tensors[t].name << ": " << gpu[t]
                             << " from the reference, the CPU's " << cpu[t] << " (at most "
                             << worst_cpu << ")");
  BOOST_TEST_MESSAGE(what << ": largest relative L2 distance of a weight gradient from the "
                             "double reference: CPU "
                          << worst_cpu << ", GPU " << worst_gpu);
}

// Both backends with the same weights, scores and per-layer counts.
void runs_load(Run (&runs)[2], const Network& net, const std::vector<std::vector<float>>& weights,
               const std::vector<std::vector<float>>& scores, double k,
               const popup::OptimizerConfig& opt, int64_t batch) {
  for (int b = 0; b < 2; ++b) {
    runs[b].exec = backend(net, b == 1, batch);
    run_start(runs[b], net, weights, scores, k, opt);
  }
}

std::vector<uint8_t> mask_of(ScoreEngine& e, const Network& net, size_t t) {
  std::vector<uint8_t> m(static_cast<size_t>(net.tensors[t].numel()));
  e.mask(t, m.data());
  return m;
}

std::vector<float> scores_of(ScoreEngine& e, const Network& net, size_t t) {
  std::vector<float> s(static_cast<size_t>(net.tensors[t].numel()));
  e.scores(t, s.data());
  return s;
}

void check_masks_identical(const std::string& what, Run (&runs)[2], const Network& net) {
  for (size_t t = 0; t < net.tensors.size(); ++t) {
    const std::vector<uint8_t> m0 = mask_of(*runs[0].engine, net, t),
                               m1 = mask_of(*runs[1].engine, net, t);
    const int64_t differ = std::inner_product(m0.begin(), m0.end(), m1.begin(), int64_t{0},
                                              std::plus<>(), std::not_equal_to<>());
    BOOST_CHECK_MESSAGE(differ == 0, what << " " << net.tensors[t].name << ": " << differ
                                          << " mask bits differ from the CPU's");
  }
}

// The scores' moves (after minus before) of two runs: within moves_tol of the largest move,
// element by element; with Adam, all but a few near-zero gradients' (adam_noisy_fraction).
void check_moves(const std::string& name, const std::vector<float>& got,
                 const std::vector<float>& want, const std::vector<float>& before, bool adam) {
  std::vector<float> move0(want.size()), move1(want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    move0[k] = want[k] - before[k];
    move1[k] = got[k] - before[k];
  }
  if (!adam) {
    check_scaled(name + " score moves of two steps", move1.data(), move0.data(), move0.size(),
                 moves_tol);
    return;
  }
  const double bound = moves_tol * max_abs(move0.data(), move0.size());
  size_t noisy = 0;
  for (size_t k = 0; k < want.size(); ++k) noisy += std::fabs(move1[k] - move0[k]) > bound;
  BOOST_CHECK_MESSAGE(static_cast<double>(noisy) <= adam_noisy_fraction * want.size(),
                      name << ": " << noisy << " of " << want.size()
                           << " score moves differ by more than " << bound);
}

// One training step of a registry network on both backends: loss, scores, masks.
// deep: a ResNet, where two fp32 executors part after the first step (see
// check_gradients_like_cpu): only the first step's loss and the top-k of the same scores are
// compared then.
void check_training_step(const std::string& spec, const popup::InputShape& input, int64_t batch,
                         const popup::OptimizerConfig& opt, bool deep = false) {
  const Network net = popup::arch_network(spec, input, 10);
  std::vector<std::vector<float>> weights, scores;
  for (size_t t = 0; t < net.tensors.size(); ++t) {
    weights.emplace_back(static_cast<size_t>(net.tensors[t].numel()));
    popup::weights_generate(popup::InitKind::signed_constant, 1.0, 1, static_cast<uint32_t>(t),
                            net.tensors[t], weights.back().data());
    std::vector<double> s = normal_values(weights.back().size(), 0.05, 100 + t);
    scores.push_back(floats(s));
  }
  Run runs[2];
  runs_load(runs, net, weights, scores, 0.5, opt, batch);
  check_masks_identical(spec + " initial", runs, net);
  const Problem data(net, batch, 11);  // its images and labels
  popup::BatchStats stats[2][2];
  for (int b = 0; b < 2; ++b)
    for (int step = 0; step < 2; ++step) {  // two steps: SGD's momentum starts at the second
      runs[b].exec->forward_queue(data.images.data(), data.labels.data(), batch, true);
      runs[b].engine->step(0.1);
      stats[b][step] = runs[b].exec->stats_take();
    }
  for (int step = 0; step < (deep ? 1 : 2); ++step) {
    const double got = stats[1][step].loss_sum, want = stats[0][step].loss_sum;
    BOOST_CHECK_MESSAGE(std::fabs(got - want) <= loss_rtol * std::fabs(want),
                        spec << ": loss of step " << step + 1 << " " << got << " against " << want);
  }
  BOOST_CHECK_EQUAL(runs[0].engine->steps(), 2);
  BOOST_CHECK_EQUAL(runs[1].engine->steps(), 2);
  for (size_t t = 1; t < net.tensors.size(); ++t) {
    const std::string name = spec + " " + net.tensors[t].name;
    const std::vector<float> s0 = scores_of(*runs[0].engine, net, t),
                             s1 = scores_of(*runs[1].engine, net, t);
    BOOST_CHECK_MESSAGE(s0 != scores[t], name << ": the steps did not move the scores");
    if (!deep) {
      check_moves(name, s1, s0, scores[t], opt.kind == popup::OptimizerKind::adam);
      const std::vector<uint8_t> m0 = mask_of(*runs[0].engine, net, t),
                                 m1 = mask_of(*runs[1].engine, net, t);
      int64_t differ = 0;
      for (size_t k = 0; k < m0.size(); ++k) differ += m0[k] != m1[k];
      BOOST_CHECK_MESSAGE(
          static_cast<double>(differ) <= mask_flip_fraction * static_cast<double>(m0.size()),
          name << ": " << differ << " of " << m0.size() << " mask bits differ");
    }
    runs[1].engine->set_scores(t, s0.data());  // the same scores must give the same mask
  }
  runs[1].engine->refresh();
  check_masks_identical(spec + " after the CPU's scores", runs, net);
}

// ---- data-parallel runs (ExecutorConfig::comm) ---------------------------------------------

// Two ranks on one GPU sum their gradients through host memory (NCCL wants a GPU per rank):
// the communicator's rank-ordered sum; on two GPUs NCCL sums them. Either way every rank must
// end with the same bits, and those within the gradient tolerances of one executor (the ranks'
// shares are computed apart and summed: rounding in a different order).

boost::test_tools::assertion_result two_cuda_devices(utf::test_unit_id) {
  std::string why;
  const int devices = popup::cuda_device_count(why);
  boost::test_tools::assertion_result r(devices >= 2);
  r.message() << "skipped (NCCL needs a GPU per rank; " << devices << " CUDA device"
              << (devices == 1 ? "" : "s") << (why.empty() ? "" : ": " + why) << ")";
  return r;
}

int cuda_devices() {
  std::string why;
  return popup::cuda_device_count(why);
}

// Rank comm.rank()'s CUDA executor on cuda:device.
std::unique_ptr<Executor> rank_backend(const Network& net, int device, popup::Communicator& comm,
                                       int64_t max_batch, bool affine, bool sync_bn = false) {
  ExecutorConfig config;
  config.max_batch = max_batch;
  config.affine_bn = affine;
  config.comm = &comm;
  config.sync_bn = sync_bn;
  popup::DeviceChoice device_choice;
  device_choice.kind = popup::DeviceChoice::cuda;
  device_choice.index = device;
  std::string note;
  return popup::executor_create(net, config, device_choice, note);
}

// body(rank, its communicator) in one thread per rank of an in-process run (Boost.Test's
// checks stay in this thread). Returns each rank's error text, "" where it finished; a rank
// that fails aborts the communicator so that the others' collectives fail rather than wait.
std::vector<std::string> ranks_run(int ranks,
                                   const std::function<void(int, popup::Communicator&)>& body) {
  std::vector<std::unique_ptr<popup::Communicator>> comms = popup::communicators_in_process(ranks);
  std::vector<std::string> errors(static_cast<size_t>(ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      try {
        body(r, *comms[static_cast<size_t>(r)]);
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(r)] = e.what();
        try {
          comms[static_cast<size_t>(r)]->abort(1);
        } catch (const std::exception&) {  // the threads version throws rather than exits
        }
      }
    });
  for (std::thread& t : threads) t.join();
  return errors;
}

void require_no_errors(const std::vector<std::string>& errors) {
  for (size_t r = 0; r < errors.size(); ++r)
    BOOST_REQUIRE_MESSAGE(errors[r].empty(), "rank " << r << ": " << errors[r]);
}

// One training forward and backward of examples [begin, begin + count) of p: the loss sums,
// every weight gradient, and the affine BatchNorms' (gamma then beta each).
struct StepOutput {
  popup::BatchStats stats;
  std::vector<std::vector<float>> grads, bn;
  std::string device;
};

StepOutput step_of(Executor& ex, const Problem& p, int64_t begin, int64_t count) {
  const int64_t image = p.net.input.c * p.net.input.h * p.net.input.w;
  problem_load(ex, p);
  StepOutput out;
  out.stats = ex.forward(p.images.data() + begin * image, p.labels.data() + begin, count, true);
  std::vector<float*> ptrs;
  for (const auto& t : p.net.tensors) {
    out.grads.emplace_back(static_cast<size_t>(t.numel()), 0.f);
    ptrs.push_back(out.grads.back().data());
  }
  ex.backward(ptrs);
  out.bn = bn_grads_of(ex);
  out.device = ex.device_name();
  return out;
}

// sum_k weight_k * arrays_k, in double.
std::vector<std::vector<float>> weighted_sum(const std::vector<const StepOutput*>& parts,
                                             const std::vector<double>& weight,
                                             std::vector<std::vector<float>> StepOutput::*field) {
  std::vector<std::vector<float>> sum = parts[0]->*field;
  for (size_t a = 0; a < sum.size(); ++a)
    for (size_t e = 0; e < sum[a].size(); ++e) {
      double v = 0;
      for (size_t k = 0; k < parts.size(); ++k) v += weight[k] * (parts[k]->*field)[a][e];
      sum[a][e] = static_cast<float>(v);
    }
  return sum;
}

bool same_bits(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); ++k)
    if (a[k].size() != b[k].size() ||
        std::memcmp(a[k].data(), b[k].data(), a[k].size() * sizeof(float)) != 0)
      return false;
  return true;
}

// Two ranks on cuda:device0 and cuda:device1, with unequal shares of a batch (the gradient is
// the mean over the global batch, not the mean of the ranks' means), against one executor on
// each share alone, combined as n_r / M times its mean gradient; and, for a network without
// BatchNorm (whose training statistics are each rank's own), against one executor on the
// whole batch.
void check_data_parallel(const std::string& what, const Network& net, int64_t batch, bool affine,
                         int device0, int device1) {
  const Problem p(net, batch, 7);
  const int64_t share[2] = {batch / 2 - 1, batch - (batch / 2 - 1)};
  const int64_t begin[2] = {0, share[0]};
  StepOutput ranks[2];
  require_no_errors(ranks_run(2, [&](int r, popup::Communicator& comm) {
    std::unique_ptr<Executor> ex =
        rank_backend(net, r == 0 ? device0 : device1, comm, batch, affine);
    ranks[r] = step_of(*ex, p, begin[r], share[r]);
  }));
  const bool nccl = device0 != device1;
  const std::string by = nccl ? "gradients summed by NCCL" : "gradients summed through host memory";
  for (const StepOutput& r : ranks)
    BOOST_CHECK_MESSAGE(r.device.find(by) != std::string::npos,
                        what << ": device '" << r.device << "' does not say '" << by << "'");
  BOOST_CHECK_MESSAGE(same_bits(ranks[0].grads, ranks[1].grads),
                      what << ": the ranks' weight gradients differ");
  BOOST_CHECK_MESSAGE(same_bits(ranks[0].bn, ranks[1].bn),
                      what << ": the ranks' BatchNorm gradients differ");
  StepOutput alone[2];
  for (int r = 0; r < 2; ++r) {
    std::unique_ptr<Executor> ex = backend(net, true, batch, 0, true, affine);
    alone[r] = step_of(*ex, p, begin[r], share[r]);
  }
  const std::vector<const StepOutput*> parts = {&alone[0], &alone[1]};
  const std::vector<double> weight = {static_cast<double>(share[0]) / static_cast<double>(batch),
                                      static_cast<double>(share[1]) / static_cast<double>(batch)};
  const std::vector<std::vector<float>> want = weighted_sum(parts, weight, &StepOutput::grads),
                                        want_bn = weighted_sum(parts, weight, &StepOutput::bn);
  for (size_t t = 0; t < net.tensors.size(); ++t)
    check_gradient(what + " summed gradient of " + net.tensors[t].name, ranks[0].grads[t], want[t]);
  BOOST_REQUIRE_EQUAL(ranks[0].bn.size(), want_bn.size());
  for (size_t k = 0; k < want_bn.size(); ++k)
    check_gradient(what + " summed BatchNorm " + std::to_string(k / 2) +
                       (k % 2 ? " beta" : " gamma") + " gradient",
                   ranks[0].bn[k], want_bn[k]);
  for (int r = 0; r < 2; ++r)  // the loss of each share is the rank's own
    BOOST_CHECK_MESSAGE(std::fabs(ranks[r].stats.loss_sum - alone[r].stats.loss_sum) <=
                            loss_rtol * std::fabs(alone[r].stats.loss_sum),
                        what << ": rank " << r << " loss " << ranks[r].stats.loss_sum << " against "
                             << alone[r].stats.loss_sum);
  const bool batchnorm = std::any_of(net.ops.begin(), net.ops.end(), [](const popup::Op& op) {
    return op.kind == popup::OpKind::batchnorm;
  });
  if (batchnorm) return;
  std::unique_ptr<Executor> whole = backend(net, true, batch, 0, true, affine);
  const StepOutput one = step_of(*whole, p, 0, batch);
  for (size_t t = 0; t < net.tensors.size(); ++t)
    check_gradient(what + " gradient of " + net.tensors[t].name + " against the whole batch",
                   ranks[0].grads[t], one.grads[t]);
}

// Random weights and scores for a run of a registry network (as check_training_step).
void weights_scores(const Network& net, std::vector<std::vector<float>>& weights,
                    std::vector<std::vector<float>>& scores) {
  for (size_t t = 0; t < net.tensors.size(); ++t) {
    weights.emplace_back(static_cast<size_t>(net.tensors[t].numel()));
    popup::weights_generate(popup::InitKind::signed_constant, 1.0, 1, static_cast<uint32_t>(t),
                            net.tensors[t], weights.back().data());
    scores.push_back(floats(normal_values(weights.back().size(), 0.05, 100 + t)));
  }
}

// Two steps of the CUDA score engine on two ranks (cuda:device0 and cuda:device1), each on
// its share of every batch: the same scores and masks on both, bit for bit, and close to one
// engine's on the whole batch.
void check_data_parallel_steps(const std::string& spec, const popup::InputShape& input,
                               int64_t batch, int device0, int device1) {
  const Network net = popup::arch_network(spec, input, 10);
  std::vector<std::vector<float>> weights, scores;
  weights_scores(net, weights, scores);
  popup::OptimizerConfig opt;
  const Problem data(net, batch, 11);
  const int64_t image = net.input.c * net.input.h * net.input.w;
  const int64_t share[2] = {batch / 2 + 1, batch - (batch / 2 + 1)};
  const int64_t begin[2] = {0, share[0]};
  const size_t tensors = net.tensors.size();
  std::vector<std::vector<float>> rank_scores[2];
  std::vector<std::vector<uint8_t>> rank_masks[2];
  require_no_errors(ranks_run(2, [&](int r, popup::Communicator& comm) {
    Run run;
    run.exec = rank_backend(net, r == 0 ? device0 : device1, comm, batch, false);
    run_start(run, net, weights, scores, 0.5, opt);
    for (int step = 0; step < 2; ++step) {
      run.exec->forward_queue(data.images.data() + begin[r] * image, data.labels.data() + begin[r],
                              share[r], true);
      run.engine->step(0.1);
    }
    for (size_t t = 0; t < tensors; ++t) {
      rank_masks[r].push_back(mask_of(*run.engine, net, t));
      rank_scores[r].push_back(t == 0 ? std::vector<float>() : scores_of(*run.engine, net, t));
    }
  }));
  Run one;
  one.exec = backend(net, true, batch);
  run_start(one, net, weights, scores, 0.5, opt);
  for (int step = 0; step < 2; ++step) {
    one.exec->forward_queue(data.images.data(), data.labels.data(), batch, true);
    one.engine->step(0.1);
  }
  BOOST_CHECK_MESSAGE(same_bits(rank_scores[0], rank_scores[1]),
                      spec << ": the ranks' scores differ after two steps");
  BOOST_CHECK_MESSAGE(rank_masks[0] == rank_masks[1], spec << ": the ranks' masks differ");
  for (size_t t = 1; t < tensors; ++t) {
    const std::vector<float> want = scores_of(*one.engine, net, t);
    check_scaled(spec + " " + net.tensors[t].name + " scores of two ranks after two steps",
                 rank_scores[0][t].data(), want.data(), want.size(), scores_tol);
    BOOST_CHECK_MESSAGE(
        rank_scores[0][t] != scores[t],
        spec << " " << net.tensors[t].name << ": the steps did not move the scores");
  }
}

// ---- IteRand through the trainer -----------------------------------------------------------

// n random 1x28x28 examples of 10 classes (levels: Fashion-MNIST's normalisation).
popup::DataSplit random_split(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  popup::DataSplit s;
  s.shape = {1, 28, 28};
  s.classes = 10;
  s.n = n;
  for (int64_t k = 0; k < n * 28 * 28; ++k) s.pixels.push_back(static_cast<uint8_t>(rng() % 256));
  for (int v = 0; v < 256; ++v) s.levels.push_back(static_cast<float>((v / 255.0 - 0.286) / 0.353));
  for (int64_t i = 0; i < n; ++i) s.labels.push_back(static_cast<int32_t>(rng() % 10));
  return s;
}

// What an IteRand run ends with: its mask (with the redraw record of the kept weights), the
// last epoch's results, and from its checkpoint every scored layer's scores and redraw counts
// (dropped weights included).
struct IterandResult {
  popup::Mask mask;
  popup::EpochReport last;
  std::vector<std::vector<float>> scores;
  std::vector<std::vector<uint16_t>> counts;
};

IterandResult iterand_run(const popup::Recipe& recipe, const popup::Dataset& data,
                          const popup::TrainConfig& config, bool cuda, const TempDir& dir) {
  const Network net = popup::arch_network(recipe.arch, recipe.input, recipe.classes);
  popup::DeviceChoice device;
  device.kind = cuda ? popup::DeviceChoice::cuda : popup::DeviceChoice::cpu;
  std::string note;
  popup::Trainer trainer(
      recipe, popup::recipe_generate(recipe), data, config,
      popup::executor_create(net, popup::trainer_executor_config(config), device, note));
  trainer.run({});
  IterandResult r;
  r.mask = trainer.mask();
  r.last = trainer.last_epoch();
  const std::string path = dir.file(cuda ? "cuda.ckpt" : "cpu.ckpt");
  trainer.write_checkpoint(path);
  const popup::PopupFile f = popup::popup_file_read(path, popup::FileKind::checkpoint);
  for (const popup::TensorSpec& spec : net.tensors) {
    const popup::Tensor* scores = nullptr;
    const popup::Tensor* counts = nullptr;
    for (const popup::Tensor& x : f.tensors) {
      if (x.info.name == "scores." + spec.name) scores = &x;
      if (x.info.name == "redraws." + spec.name) counts = &x;
    }
    BOOST_REQUIRE_MESSAGE(scores && counts,
                          "checkpoint lacks the scores or redraws of " << spec.name);
    const size_t n = static_cast<size_t>(spec.numel());
    BOOST_REQUIRE_EQUAL(scores->f32.size(), n);
    BOOST_REQUIRE_EQUAL(counts->u8.size(), n * sizeof(uint16_t));
    r.scores.push_back(scores->f32);
    r.counts.emplace_back(n);
    std::memcpy(r.counts.back().data(), counts->u8.data(), counts->u8.size());
  }
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cuda_parity, *utf::precondition(&cuda_device))

BOOST_AUTO_TEST_CASE(conv_relu_maxpool_linear_match_cpu) {
  check_network("plain network", plain_network(), 16, 0);
}

// Max-pool 3x3/2 pad 1 on an odd and an even size, on random values and on small integers
// (exact in fp32: many windows hold equal maxima, and the GPU must give the gradient to the
// input the CPU picks, the first maximum in row-major order); then the ImageNet stem network.
BOOST_AUTO_TEST_CASE(maxpool_3x3_stride_2_pad_1_matches_cpu) {
  for (const int64_t size : {7, 8})
    for (const bool relu : {false, true}) {
      const std::string what = "max-pool network " + std::to_string(size) + (relu ? " relu" : "");
      check_network(what, pool_network(size, relu), 8, 0);
      Problem ties(pool_network(size, relu), 8, 41);
      std::mt19937_64 rng(42);
      for (float& v : ties.images) v = static_cast<float>(rng() % 3);          // 0, 1, 2
      for (float& v : ties.weights[0]) v = static_cast<float>(rng() % 3) - 1;  // -1, 0, 1
      check_problem(what + " ties", ties, 0, false);
    }
  check_network("ImageNet stem network", imagenet_stem_network(), 16, 0.1f);
}

BOOST_AUTO_TEST_CASE(batchnorm_add_avgpool_shortcut_match_cpu) {
  check_network("residual network", residual_network(), 16, 0);
}

BOOST_AUTO_TEST_CASE(flat_batchnorm_and_label_smoothing_match_cpu) {
  check_network("flat network", flat_network(), 16, 0.1f);
}

BOOST_AUTO_TEST_CASE(affine_batchnorm_matches_cpu) {
  check_network("residual network, affine BatchNorm", residual_network(), 16, 0, true);
  check_network("flat network, affine BatchNorm", flat_network(), 16, 0.1f, true);
  check_network("BatchNorm on the input, affine", input_batchnorm_network(), 8, 0, true);
}

BOOST_AUTO_TEST_CASE(small_odd_batch_matches_cpu) {
  check_network("plain network, batch 3", plain_network(), 3, 0);
}

// A split held on the device and cut there by index, with the crop and flip of CIFAR
// augmentation, gives the batches the loader builds on the host: the same logits, bit for bit.
BOOST_AUTO_TEST_CASE(batches_cut_on_the_device_equal_the_loaders) {
  const Network net = residual_network();  // 3x8x8 input, 10 classes
  const Problem p(net, 16, 21);
  popup::DataSplit split;
  split.shape = net.input;
  split.classes = net.classes;
  split.n = 37;
  for (const double v : normal_values(static_cast<size_t>(split.n * 3 * 8 * 8), 1, 22))
    split.pixels.push_back(static_cast<uint8_t>(std::lround(std::fabs(v) * 80) % 256));
  for (int64_t i = 0; i < split.n; ++i) split.labels.push_back(static_cast<int32_t>(i % 10));
  split.levels = floats(normal_values(3 * 256, 1, 23));
  split.levels[0] = -0.5f, split.levels[256] = 0.25f, split.levels[512] = 1.5f;  // padding
  std::unique_ptr<Executor> gpu = backend(net, true, 16);
  for (size_t t = 0; t < net.tensors.size(); ++t) gpu->set_weights(t, p.weights[t].data());
  const int data = gpu->data_upload(split);
  BOOST_REQUIRE(data >= 0);
  for (const bool augment : {false, true}) {
    BOOST_TEST_CONTEXT("augment " << augment) {
      popup::BatchLoader host(split, 16, true, augment, 4, 1);
      popup::BatchLoader device(split, 16, true, augment, 4, 1, 0, /*images=*/false);
      popup::Batch a, b;
      double host_loss = 0;
      while (host.next(a)) {
        BOOST_REQUIRE(device.next(b));
        host_loss += gpu->forward(a.images, a.labels, a.n, false).loss_sum;
        const std::vector<float> want(gpu->logits(), gpu->logits() + a.n * net.classes);
        gpu->forward_queue_examples(data, b.examples, b.draws, b.n, false);
        const std::vector<float> got(gpu->logits(), gpu->logits() + b.n * net.classes);
        BOOST_TEST(got == want, boost::test_tools::per_element());
      }
      BOOST_TEST(gpu->stats_take().loss_sum == host_loss);
    }
  }
  BOOST_CHECK_THROW(gpu->forward_queue_examples(data + 1, nullptr, nullptr, 1, false),
                    popup::InvalidArgument);
  const int64_t outside = split.n;
  BOOST_CHECK_THROW(gpu->forward_queue_examples(data, &outside, nullptr, 1, false),
                    popup::InvalidArgument);
}

BOOST_AUTO_TEST_CASE(score_engine_masks_are_identical_with_ties_nan_and_infinities) {
  const Network net = popup::arch_network("conv4", {1, 28, 28}, 10);
  std::vector<std::vector<float>> weights, scores;
  for (size_t t = 0; t < net.tensors.size(); ++t) {
    weights.push_back(floats(normal_values(static_cast<size_t>(net.tensors[t].numel()), 0.1, t)));
    scores.push_back(tied_scores(net.tensors[t].numel(), 50 + t));
  }
  for (const double k : {0.5, 0.1, 0.93, 1.0}) {
    BOOST_TEST_CONTEXT("k " << k) {
      Run runs[2];
      runs_load(runs, net, weights, scores, k, popup::OptimizerConfig(), 8);
      check_masks_identical("conv4", runs, net);
      for (size_t t = 0; t < net.tensors.size(); ++t) {
        const std::vector<uint8_t> m = mask_of(*runs[1].engine, net, t);
        const int64_t n = net.tensors[t].numel();
        const int64_t kept = std::count(m.begin(), m.end(), uint8_t{1});
        BOOST_CHECK_EQUAL(kept, t == 0 ? n : popup::topk_keep_count(n, k));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(score_engine_state_round_trips) {
  const Network net = plain_network();
  const Problem p(net, 4, 3);
  std::vector<std::vector<float>> scores;
  for (const auto& w : p.weights) scores.push_back(tied_scores(static_cast<int64_t>(w.size()), 9));
  popup::OptimizerConfig adam;
  adam.kind = popup::OptimizerKind::adam;
  Run runs[2];
  runs_load(runs, net, p.weights, scores, 0.5, adam, 4);
  ScoreEngine& gpu = *runs[1].engine;
  BOOST_TEST((gpu.state_names() == std::vector<std::string>{"adam_m", "adam_v"}));
  std::vector<float> in = floats(normal_values(p.weights[1].size(), 1, 5)), out(in.size());
  gpu.set_state("adam_v", 1, in.data());
  gpu.state("adam_v", 1, out.data());
  BOOST_TEST(in == out);
  gpu.set_steps(41);
  BOOST_CHECK_EQUAL(gpu.steps(), 41);
  BOOST_CHECK_THROW(gpu.scores(0, out.data()), popup::InvalidArgument);  // dense: no scores
  BOOST_CHECK_THROW(gpu.state("momentum_v", 1, out.data()), popup::InvalidArgument);
  BOOST_CHECK_THROW(gpu.mask(99, nullptr), popup::InvalidArgument);
}

BOOST_AUTO_TEST_CASE(conv4_training_step_matches_cpu) {
  popup::OptimizerConfig sgd;  // momentum 0.9, weight decay 1e-4: the paper's
  check_training_step("conv4", {3, 32, 32}, 64, sgd);
}

BOOST_AUTO_TEST_CASE(conv4_adam_step_matches_cpu) {
  popup::OptimizerConfig adam;
  adam.kind = popup::OptimizerKind::adam;
  check_training_step("conv4", {1, 28, 28}, 32, adam);
}

BOOST_AUTO_TEST_CASE(resnet18_training_step_matches_cpu) {
  popup::OptimizerConfig sgd;
  sgd.nesterov = true;
  sgd.weight_decay = 5e-4;
  check_training_step("resnet18", {3, 32, 32}, 32, sgd, true);
}

// The registry's ResNets at small batches: as accurate as the CPU against the double reference.
BOOST_AUTO_TEST_CASE(resnet_gradients_are_as_accurate_as_the_cpus) {
  check_gradients_like_cpu("resnet18", popup::arch_network("resnet18", {3, 32, 32}, 10), 8);
  check_gradients_like_cpu("resnet50", popup::arch_network("resnet50", {3, 64, 64}, 10), 8);
}

BOOST_AUTO_TEST_CASE(resnet50_training_step_matches_cpu) {
  popup::OptimizerConfig sgd;
  check_training_step("resnet50", {3, 64, 64}, 8, sgd, true);
}

// IteRand: a redraw event every 2 steps redraws 30% of the dropped weights from the seeds;
// the CUDA engine scatters the values the CPU engine sets (ScoreEngine::set_weights_at), so
// both runs must pick the same weights from the same masks, count the same redraws, and end
// with the same masks and scores. Masks are compared exactly: the backends' scores differ by
// rounding only (scores_tol), far below the gaps between neighbouring scores of a layer, and
// one flip would change every later pick of that layer.
BOOST_AUTO_TEST_CASE(iterand_redraws_match_cpu) {
  popup::Recipe recipe;
  recipe.arch = "conv4:width=0.125";
  recipe.input = {1, 28, 28};
  recipe.classes = 10;
  recipe.init = popup::InitKind::kaiming_normal;
  recipe.seed = 5;
  recipe = popup::recipe_validated(recipe);
  popup::Dataset data;
  data.name = "synthetic";
  data.train = random_split(48, 61);
  data.test = random_split(16, 62);
  popup::TrainConfig config;
  config.method = popup::Method::iterand;
  config.rerandomize_every = 2;
  config.rerandomize_rate = 0.3;
  config.batch_size = 16;  // 3 steps an epoch, 9 in all: events after steps 2, 4, 6 and 8
  config.schedule.epochs = 3;
  config.seed = 3;
  TempDir dir;
  const IterandResult cpu = iterand_run(recipe, data, config, false, dir),
                      gpu = iterand_run(recipe, data, config, true, dir);
  BOOST_CHECK_MESSAGE(std::fabs(gpu.last.train_loss - cpu.last.train_loss) <=
                          loss_rtol * std::fabs(cpu.last.train_loss),
                      "train loss " << gpu.last.train_loss << " against " << cpu.last.train_loss);
  BOOST_REQUIRE_EQUAL(gpu.mask.redraw, popup::kRedrawVersion);
  BOOST_REQUIRE_EQUAL(cpu.mask.redraw, popup::kRedrawVersion);
  BOOST_REQUIRE_EQUAL(gpu.mask.layers.size(), cpu.mask.layers.size());
  BOOST_REQUIRE_EQUAL(gpu.mask.redraws.size(), cpu.mask.redraws.size());
  int64_t redrawn = 0, kept_redrawn = 0;
  for (size_t t = 0; t < cpu.mask.layers.size(); ++t) {
    const std::string& name = cpu.mask.layers[t].name;
    BOOST_TEST_CONTEXT(name) {
      BOOST_CHECK(gpu.mask.layers[t].bits == cpu.mask.layers[t].bits);
      BOOST_CHECK_EQUAL(gpu.mask.layers[t].kept, cpu.mask.layers[t].kept);
      BOOST_CHECK(gpu.counts[t] == cpu.counts[t]);  // every weight's, dropped ones included
      BOOST_CHECK(gpu.mask.redraws[t].index == cpu.mask.redraws[t].index);
      BOOST_CHECK(gpu.mask.redraws[t].count == cpu.mask.redraws[t].count);
      check_scaled(name + " scores after the IteRand run", gpu.scores[t].data(),
                   cpu.scores[t].data(), cpu.scores[t].size(), scores_tol);
    }
    for (const uint16_t c : cpu.counts[t]) redrawn += c > 0;
    kept_redrawn += static_cast<int64_t>(cpu.mask.redraws[t].index.size());
  }
  BOOST_TEST_MESSAGE("iterand parity: " << redrawn << " weights redrawn, " << kept_redrawn
                                        << " of them kept at the end");
  BOOST_CHECK_MESSAGE(redrawn > 0, "no event redrew a weight: the comparison proves nothing");
  BOOST_CHECK_MESSAGE(kept_redrawn > 0, "no redrawn weight is kept: the masks record nothing");
}

// ---- data-parallel runs --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(two_ranks_on_one_gpu_sum_gradients_through_the_host) {
  check_data_parallel("plain network, 2 ranks on cuda:0", plain_network(), 16, false, 0, 0);
  check_data_parallel("residual network, affine BatchNorm, 2 ranks on cuda:0", residual_network(),
                      16, true, 0, 0);
}

BOOST_AUTO_TEST_CASE(two_ranks_on_two_gpus_sum_gradients_with_nccl,
                     *utf::precondition(&two_cuda_devices)) {
  check_data_parallel("plain network, ranks on cuda:0 and cuda:1", plain_network(), 16, false, 0,
                      1);
  check_data_parallel("residual network, affine BatchNorm, ranks on cuda:0 and cuda:1",
                      residual_network(), 16, true, 0, 1);
}

// On two GPUs where there are two (NCCL), else both on cuda:0 (through the host).
BOOST_AUTO_TEST_CASE(two_ranks_score_engine_steps_agree) {
  const int second = cuda_devices() >= 2 ? 1 : 0;
  check_data_parallel_steps("conv4", {1, 28, 28}, 32, 0, second);
}

BOOST_AUTO_TEST_CASE(sync_bn_is_refused_with_two_ranks) {
  const Network net = residual_network();
  const std::vector<std::string> errors = ranks_run(
      2, [&](int, popup::Communicator& comm) { rank_backend(net, 0, comm, 8, false, true); });
  for (size_t r = 0; r < errors.size(); ++r)
    BOOST_CHECK_MESSAGE(
        errors[r].find("--sync-bn is not implemented on the CUDA backend yet") != std::string::npos,
        "rank " << r << ": '" << errors[r] << "'");
}

BOOST_AUTO_TEST_SUITE_END()
