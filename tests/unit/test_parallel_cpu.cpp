// Unit tests of data-parallel training on the CPU executor (DESIGN.md §8): N ranks as threads
// of one process (communicators_in_process), each with its own executor on a contiguous share
// of a batch, against one executor on the whole batch: the gradient of the global mean loss,
// the same bits on every rank, SyncBatchNorm's statistics and gradients, and the bucketed,
// overlapped reduction against blocking sums. A disabled suite measures the backward with and
// without the reduction (run it with --run_test=parallel_cpu_bench).
#include <omp.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "backend/executor.hpp"
#include "check_close.hpp"
#include "cpu/executor_cpu.hpp"
#include "dist/communicator.hpp"
#include "dist/communicator_threads.hpp"
#include "dist/launch.hpp"
#include "error.hpp"
#include "net/network.hpp"
#include "test_networks.hpp"

using popup::Communicator;
using popup::CpuReduceOptions;
using popup::CpuReduceTimes;
using popup::Executor;
using popup::ExecutorConfig;
using popup::NamedArray;
using popup::Network;
using namespace test_networks;

namespace {

// ---- tolerances ----------------------------------------------------------------------------

// N ranks and one process compute the same real numbers in fp32, summed in other orders: the
// single process sums each weight gradient over all n examples inside oneDNN's
// backward-weights, the ranks over their shares and then across ranks; the loss gradient is
// rounded once more (divided by n, then scaled by n / M); SyncBatchNorm's statistics are
// combined in double (Chan) where oneDNN uses fp32, and its backward sums in double. Each side
// is within test_executor_cpu's bounds of the exact value (rtol 1e-4, atol 1e-5 of the
// tensor's largest magnitude: sums of up to ~500 terms through BatchNorm's cancelling
// backward), so they are within twice those of each other. (Observed: at most 15% of these
// bounds.)
constexpr double grad_rtol = 2e-4, grad_atol = 2e-5;
// Running statistics: fp32 moving averages of batch moments, combined over the ranks in
// double; test_executor_cpu's 1e-5 / 1e-6, twice.
constexpr double stats_rtol = 2e-5, stats_atol = 2e-6;
// Per-rank (unsynchronised) statistics of a share differ from the whole batch's by sampling:
// O(1 / sqrt(share)) relative, far above stats_rtol; the test asks for at least this.
constexpr double unsynced_min_gap = 1e-3;

// check_close.hpp's check, for whole arrays of the same length.
void check_close(const std::string& what, const std::vector<float>& got,
                 const std::vector<float>& want, double rtol, double atol_scale) {
  BOOST_REQUIRE_EQUAL(got.size(), want.size());
  popup_test::check_close(what, got.data(), want, rtol, atol_scale);
}

// The same bits; names the first differing index.
void check_same_bits(const std::string& what, const std::vector<float>& got,
                     const std::vector<float>& want) {
  BOOST_REQUIRE_EQUAL(got.size(), want.size());
  size_t first = want.size();
  for (size_t k = 0; k < want.size() && first == want.size(); ++k)
    if (std::memcmp(&got[k], &want[k], sizeof(float)) != 0) first = k;
  BOOST_CHECK_MESSAGE(first == want.size(), what << ": differs first at index " << first << ": "
                                                 << (first < got.size() ? got[first] : 0.f)
                                                 << " vs "
                                                 << (first < want.size() ? want[first] : 0.f));
}

// ---- a stricter communicator -------------------------------------------------------------

// The in-process communicator with started sums that read their data when started (as an MPI
// transfer may) and check at sum_finish that nothing wrote it since (the contract): a sum
// started before the backward has finished its gradients, or a gradient written after its sum
// started, gives wrong results or an error here rather than passing unseen.
class StrictCommunicator final : public Communicator {
 public:
  explicit StrictCommunicator(Communicator& inner) : inner_(inner) {}
  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  int local_rank() const override { return inner_.local_rank(); }
  std::string name() const override { return "strict " + inner_.name(); }
  void sum(float* data, int64_t n) override { inner_.sum(data, n); }
  void sum(double* data, int64_t n) override { inner_.sum(data, n); }
  void sum(int64_t* data, int64_t n) override { inner_.sum(data, n); }
  void sum_start(float* data, int64_t n) override {
    started_.push_back({data, std::vector<float>(data, data + n)});
  }
  void sum_progress() override { inner_.sum_progress(); }
  void sum_finish() override {
    for (Started& s : started_) {
      if (std::memcmp(s.data, s.copy.data(), s.copy.size() * sizeof(float)) != 0)
        throw popup::Error("", "the data of a started sum changed before sum_finish");
      inner_.sum(s.copy.data(), static_cast<int64_t>(s.copy.size()));
      std::copy(s.copy.begin(), s.copy.end(), s.data);
    }
    started_.clear();
  }
  void broadcast(void* data, int64_t bytes, int root) override {
    inner_.broadcast(data, bytes, root);
  }
  void all_gather(const void* mine, void* all, int64_t bytes) override {
    inner_.all_gather(mine, all, bytes);
  }
  void barrier() override { inner_.barrier(); }
  [[noreturn]] void abort(int status) override {
    inner_.abort(status);
    throw popup::Error("", "abort returned");  // not reached
  }
  popup::CommTraffic traffic() const override { return inner_.traffic(); }

 private:
  struct Started {
    float* data;
    std::vector<float> copy;
  };
  Communicator& inner_;
  std::vector<Started> started_;
};

// ---- running the ranks ----------------------------------------------------------------------

struct Setup {
  bool affine_bn = false;
  bool sync_bn = false;
  CpuReduceOptions reduce;
  int steps = 2;  // training steps on the same batch (running statistics move twice)
};

// What one executor gives after its steps.
struct Outcome {
  std::vector<std::vector<float>> grads;     // per tensor
  std::vector<std::vector<float>> bn_grads;  // per affine BatchNorm: dgamma then dbeta
  std::vector<std::vector<float>> stats;     // running statistics, network order
  CpuReduceTimes times;
};

// Examples [start, start + count) of the problem on one executor (rank of comm, or alone).
Outcome run_share(const Problem& p, int64_t start, int64_t count, Communicator* comm,
                  const Setup& setup) {
  ExecutorConfig config;
  config.max_batch = count;
  config.affine_bn = setup.affine_bn;
  config.comm = comm;
  config.sync_bn = setup.sync_bn;
  const std::unique_ptr<Executor> executor =
      popup::executor_cpu_create(p.net, config, setup.reduce);
  for (size_t t = 0; t < p.weights.size(); ++t) executor->set_weights(t, p.weights[t].data());
  for (size_t b = 0; b < executor->bn_count(); ++b) {  // gamma and beta away from 1 and 0
    const auto c = static_cast<size_t>(executor->bn_channels(b));
    std::vector<float> gamma(c), beta(c);
    for (size_t k = 0; k < c; ++k) {
      gamma[k] = 1.0f + 0.05f * static_cast<float>((k + b) % 7);
      beta[k] = 0.1f * static_cast<float>((k + 2 * b) % 5) - 0.2f;
    }
    executor->set_bn_params(b, gamma.data(), beta.data());
  }
  Outcome out;
  for (const auto& spec : p.net.tensors) out.grads.emplace_back(spec.numel());
  std::vector<float*> grads;
  for (auto& g : out.grads) grads.push_back(g.data());
  const int64_t per_example = p.net.input.c * p.net.input.h * p.net.input.w;
  for (int step = 0; step < setup.steps; ++step) {
    executor->forward(p.images.data() + start * per_example, p.labels.data() + start, count, true);
    executor->backward(grads);
  }
  for (size_t b = 0; b < executor->bn_count(); ++b) {
    const auto c = static_cast<size_t>(executor->bn_channels(b));
    std::vector<float> both(2 * c);
    executor->bn_grads(b, both.data(), both.data() + c);
    out.bn_grads.push_back(both);
  }
  for (const NamedArray& a : executor->running_stats()) out.stats.push_back(a.values);
  if (comm) out.times = popup::executor_cpu_reduce_times(*executor);
  return out;
}

// Runs fn(r) on threads 0 .. ranks-1 (one OpenMP thread each) and rethrows the first failure;
// a failing rank aborts the communicator so that the others do not wait for it forever.
template <typename F>
void threads_run(int ranks, const std::vector<std::unique_ptr<Communicator>>* comms, const F& fn) {
  std::vector<std::exception_ptr> failures(static_cast<size_t>(ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      omp_set_num_threads(1);
      try {
        fn(r);
      } catch (...) {
        failures[static_cast<size_t>(r)] = std::current_exception();
        if (comms) try {
            (*comms)[static_cast<size_t>(r)]->abort(1);
          } catch (...) {
          }
      }
    });
  for (auto& t : threads) t.join();
  for (const auto& f : failures)
    if (f) std::rethrow_exception(f);
}

// The problem split into contiguous shares, one rank each (through StrictCommunicator).
std::vector<Outcome> run_ranks(const Problem& p, const std::vector<int64_t>& shares,
                               const Setup& setup) {
  const int ranks = static_cast<int>(shares.size());
  const auto comms = popup::communicators_in_process(ranks);
  std::vector<Outcome> outcomes(shares.size());
  threads_run(ranks, &comms, [&](int r) {
    int64_t start = 0;
    for (int k = 0; k < r; ++k) start += shares[static_cast<size_t>(k)];
    StrictCommunicator strict(*comms[static_cast<size_t>(r)]);
    outcomes[static_cast<size_t>(r)] =
        run_share(p, start, shares[static_cast<size_t>(r)], &strict, setup);
  });
  return outcomes;
}

// The whole batch in one process (on a thread of its own, one OpenMP thread, as the ranks).
Outcome run_whole(const Problem& p, const Setup& setup) {
  Outcome out;
  threads_run(1, nullptr, [&](int) { out = run_share(p, 0, p.n, nullptr, setup); });
  return out;
}

// Every rank has the same bits as rank 0: gradients, BatchNorm gradients and (with
// `stats`) running statistics.
void check_ranks_agree(const std::vector<Outcome>& ranks, bool stats) {
  for (size_t r = 1; r < ranks.size(); ++r) {
    const std::string rank = "rank " + std::to_string(r) + " vs rank 0: ";
    for (size_t t = 0; t < ranks[0].grads.size(); ++t)
      check_same_bits(rank + "gradient " + std::to_string(t), ranks[r].grads[t], ranks[0].grads[t]);
    for (size_t b = 0; b < ranks[0].bn_grads.size(); ++b)
      check_same_bits(rank + "bn_grads " + std::to_string(b), ranks[r].bn_grads[b],
                      ranks[0].bn_grads[b]);
    if (stats)
      for (size_t s = 0; s < ranks[0].stats.size(); ++s)
        check_same_bits(rank + "running stat " + std::to_string(s), ranks[r].stats[s],
                        ranks[0].stats[s]);
  }
}

// Rank 0 against the whole batch in one process.
void check_matches_whole(const Outcome& rank, const Outcome& whole, bool stats) {
  for (size_t t = 0; t < whole.grads.size(); ++t)
    check_close("gradient " + std::to_string(t), rank.grads[t], whole.grads[t], grad_rtol,
                grad_atol);
  for (size_t b = 0; b < whole.bn_grads.size(); ++b)
    check_close("bn_grads " + std::to_string(b), rank.bn_grads[b], whole.bn_grads[b], grad_rtol,
                grad_atol);
  if (stats)
    for (size_t s = 0; s < whole.stats.size(); ++s)
      check_close("running stat " + std::to_string(s), rank.stats[s], whole.stats[s], stats_rtol,
                  stats_atol);
}

// The largest |a - b| over the running statistics, relative to the largest |b|.
double stats_gap(const Outcome& a, const Outcome& b) {
  double gap = 0, scale = 0;
  for (size_t s = 0; s < b.stats.size(); ++s)
    for (size_t k = 0; k < b.stats[s].size(); ++k) {
      gap = std::max(gap, std::fabs(static_cast<double>(a.stats[s][k]) - b.stats[s][k]));
      scale = std::max(scale, std::fabs(static_cast<double>(b.stats[s][k])));
    }
  return gap / scale;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(parallel_cpu)

// (a) Without BatchNorm: N ranks give the gradient of the global mean loss, the same bits on
// every rank; even and uneven shares (e), 2 and 3 ranks.
BOOST_AUTO_TEST_CASE(gradients_without_batchnorm) {
  for (const std::vector<int64_t>& shares :
       {std::vector<int64_t>{4, 4}, {3, 2}, {3, 3, 2}, {1, 4, 2}}) {
    int64_t n = 0;
    for (int64_t s : shares) n += s;
    BOOST_TEST_CONTEXT("shares of " << n << " over " << shares.size() << " ranks") {
      const Problem p(plain_network(), n, 11);
      const Setup setup;
      const Outcome whole = run_whole(p, setup);
      const std::vector<Outcome> ranks = run_ranks(p, shares, setup);
      check_ranks_agree(ranks, true);
      check_matches_whole(ranks[0], whole, true);
    }
  }
}

// One rank is the single process, bit for bit (nothing scaled, summed or reordered).
BOOST_AUTO_TEST_CASE(one_rank_is_the_single_process) {
  const Problem p(plain_network(), 5, 12);
  const Outcome whole = run_whole(p, Setup());
  const std::vector<Outcome> ranks = run_ranks(p, {5}, Setup());
  for (size_t t = 0; t < whole.grads.size(); ++t)
    check_same_bits("gradient " + std::to_string(t), ranks[0].grads[t], whole.grads[t]);
}

// (b) SyncBatchNorm: N ranks compute what one process does with the whole batch: gradients,
// gamma/beta gradients (affine or not) and running statistics; BatchNorms in blocked layouts
// (convolutions), on flat activations and on the images themselves; uneven shares.
BOOST_AUTO_TEST_CASE(sync_batchnorm_matches_the_whole_batch) {
  struct Case {
    std::string name;
    Network net;
    std::vector<int64_t> shares;
  };
  const std::vector<Case> cases{{"residual", residual_network(), {3, 3}},
                                {"residual", residual_network(), {4, 3, 2}},
                                {"imagenet stem", imagenet_stem_network(), {2, 3}},
                                {"flat", flat_network(), {5, 3}},
                                {"input batchnorm", input_batchnorm_network(), {2, 2, 3}}};
  for (const Case& c : cases)
    for (const bool affine : {false, true}) {
      int64_t n = 0;
      for (int64_t s : c.shares) n += s;
      BOOST_TEST_CONTEXT(c.name << ", " << n << " over " << c.shares.size() << " ranks, affine "
                                << affine) {
        const Problem p(c.net, n, 21);
        Setup setup;
        setup.affine_bn = affine;
        const Outcome whole = run_whole(p, setup);
        setup.sync_bn = true;
        const std::vector<Outcome> ranks = run_ranks(p, c.shares, setup);
        check_ranks_agree(ranks, true);
        check_matches_whole(ranks[0], whole, true);
      }
    }
}

// (c) Without sync_bn each rank normalises with its own share's statistics: its running
// statistics are not the whole batch's (which is why sync_bn exists), its gradients still the
// same bits on every rank.
BOOST_AUTO_TEST_CASE(unsynchronised_batchnorm_differs) {
  const Problem p(residual_network(), 6, 31);
  Setup setup;
  setup.affine_bn = true;
  const Outcome whole = run_whole(p, setup);
  const std::vector<Outcome> ranks = run_ranks(p, {3, 3}, setup);
  check_ranks_agree(ranks, false);
  for (const Outcome& rank : ranks) BOOST_TEST(stats_gap(rank, whole) > unsynced_min_gap);
  BOOST_TEST(stats_gap(ranks[0], ranks[1]) > unsynced_min_gap);
}

// (d) The bucket plan and the overlap change when the sums run, not what they give: per-tensor
// sums, small and large buckets, and blocking sums after the backward give the same bits.
BOOST_AUTO_TEST_CASE(buckets_and_overlap_give_the_same_bits) {
  const Problem p(residual_network(), 5, 41);
  std::vector<Outcome> reference;
  for (const int64_t bytes : {int64_t{0}, int64_t{64}, int64_t{4096}, int64_t{1} << 20})
    for (const bool overlap : {true, false}) {
      BOOST_TEST_CONTEXT("buckets of " << bytes << " bytes, overlap " << overlap) {
        Setup setup;
        setup.affine_bn = true;
        setup.reduce.bucket_bytes = bytes;
        setup.reduce.overlap = overlap;
        const std::vector<Outcome> ranks = run_ranks(p, {3, 2}, setup);
        check_ranks_agree(ranks, false);
        const int64_t tensors = static_cast<int64_t>(p.net.tensors.size());
        const int64_t batchnorms = 6;  // the residual network's (affine: one sum each)
        if (bytes == 0) BOOST_TEST(ranks[0].times.buckets == tensors + batchnorms);
        if (bytes == int64_t{1} << 20) BOOST_TEST(ranks[0].times.buckets == 1);
        if (reference.empty()) {
          reference = ranks;
          continue;
        }
        for (size_t r = 0; r < ranks.size(); ++r) {
          for (size_t t = 0; t < ranks[r].grads.size(); ++t)
            check_same_bits("gradient " + std::to_string(t), ranks[r].grads[t],
                            reference[r].grads[t]);
          for (size_t b = 0; b < ranks[r].bn_grads.size(); ++b)
            check_same_bits("bn_grads " + std::to_string(b), ranks[r].bn_grads[b],
                            reference[r].bn_grads[b]);
        }
      }
    }
}

// Gradients not asked for are neither computed nor summed, and the others still agree.
BOOST_AUTO_TEST_CASE(gradients_not_asked_for) {
  const Problem p(plain_network(), 6, 51);
  const auto comms = popup::communicators_in_process(2);
  std::vector<std::vector<float>> got(2);
  threads_run(2, &comms, [&](int r) {
    ExecutorConfig config;
    config.max_batch = 3;
    config.comm = comms[static_cast<size_t>(r)].get();
    const auto executor = popup::executor_cpu_create(p.net, config);
    for (size_t t = 0; t < p.weights.size(); ++t) executor->set_weights(t, p.weights[t].data());
    std::vector<float> last(static_cast<size_t>(p.net.tensors.back().numel()));
    std::vector<float*> grads(p.net.tensors.size(), nullptr);
    grads.back() = last.data();
    const int64_t per = p.net.input.c * p.net.input.h * p.net.input.w;
    executor->forward(p.images.data() + 3 * r * per, p.labels.data() + 3 * r, 3, true);
    executor->backward(grads);
    got[static_cast<size_t>(r)] = last;
  });
  check_same_bits("last gradient, rank 1 vs 0", got[1], got[0]);
  const Outcome whole = run_whole(p, Setup{false, false, {}, 1});
  check_close("last gradient", got[0], whole.grads.back(), grad_rtol, grad_atol);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(parallel_cpu_bench, *boost::unit_test::disabled())

// Times the backward of 2 ranks of 64 examples (1 OpenMP thread each) on conv4 over
// Fashion-MNIST shapes and resnet18 over CIFAR shapes: without a communicator, with the
// overlapped bucketed reduction, and with blocking sums after the backward. The ranks are
// threads of this process, or, under mpirun (e.g. mpirun -np 2 -x OMP_NUM_THREADS=1
// unit_tests --run_test=parallel_cpu_bench), the launcher's processes over libpopup-mpi.so.
// Disabled: it takes a while and prints figures (POPUP_BENCH_STEPS, default 3;
// POPUP_BENCH_ARCH, default both).
BOOST_AUTO_TEST_CASE(backward) {
  const char* steps_env = std::getenv("POPUP_BENCH_STEPS");
  const int steps = steps_env ? std::atoi(steps_env) : 3;
  const char* arch_env = std::getenv("POPUP_BENCH_ARCH");
  const std::unique_ptr<Communicator> launched = popup::communicator_from_launcher();
  const int ranks = launched ? launched->size() : 2;
  constexpr int64_t share = 64;
  struct Bench {
    std::string arch;
    popup::InputShape input;
  };
  const std::vector<Bench> benches{{"conv4", {1, 28, 28}}, {"resnet18", {3, 32, 32}}};
  for (const Bench& bench : benches) {
    if (arch_env && bench.arch != arch_env) continue;
    const Network net = popup::arch_network(bench.arch, bench.input, 10);
    const Problem p(net, share * ranks, 61);
    struct Mode {
      const char* name;
      bool comm;
      CpuReduceOptions reduce;
      bool sync_bn = false;
    };
    const std::vector<Mode> modes{
        {"local (no reduction)", false, {}},
        {"per-tensor, overlap", true, {0, true}},
        {"1 MB buckets, overlap", true, {int64_t{1} << 20, true}},
        {"4 MB buckets, overlap", true, {int64_t{4} << 20, true}},
        {"per-tensor, blocking after", true, {0, false}},
        {"4 MB buckets, blocking after", true, {int64_t{4} << 20, false}},
        {"4 MB buckets, overlap, sync_bn", true, {int64_t{4} << 20, true}, true}};
    for (const Mode& mode : modes) {
      std::vector<double> backward(static_cast<size_t>(ranks), 0), finish(backward),
          steps_time(backward), forward(backward);
      int64_t buckets = 0, floats = 0;
      const auto rank_run = [&](int r, Communicator* comm) {
        ExecutorConfig config;
        config.max_batch = share;
        config.comm = mode.comm ? comm : nullptr;
        config.sync_bn = mode.sync_bn;
        const auto executor = popup::executor_cpu_create(p.net, config, mode.reduce);
        for (size_t t = 0; t < p.weights.size(); ++t) executor->set_weights(t, p.weights[t].data());
        std::vector<std::vector<float>> storage;
        std::vector<float*> grads;
        for (const auto& spec : p.net.tensors) storage.emplace_back(spec.numel());
        for (auto& g : storage) grads.push_back(g.data());
        const int64_t per = p.net.input.c * p.net.input.h * p.net.input.w;
        const auto k = static_cast<size_t>(r);
        for (int step = 0; step <= steps; ++step) {  // step 0 warms up
          if (comm) comm->barrier();
          const auto forward_start = std::chrono::steady_clock::now();
          executor->forward(p.images.data() + share * r * per, p.labels.data() + share * r, share,
                            true);
          const double forward_seconds =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - forward_start)
                  .count();
          if (comm) comm->barrier();
          const auto start = std::chrono::steady_clock::now();
          executor->backward(grads);
          const double seconds =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          if (step == 0) continue;
          backward[k] += seconds / steps;
          forward[k] += forward_seconds / steps;
          if (!mode.comm) continue;
          const CpuReduceTimes times = popup::executor_cpu_reduce_times(*executor);
          finish[k] += times.finish / steps;
          steps_time[k] += times.steps / steps;
          if (r == 0) buckets = times.buckets, floats = times.floats;
        }
      };
      if (launched) {
        const int r = launched->rank();
        rank_run(r, launched.get());
        if (r != 0) continue;
      } else {
        const auto comms = popup::communicators_in_process(ranks);
        threads_run(ranks, &comms,
                    [&](int r) { rank_run(r, comms[static_cast<size_t>(r)].get()); });
      }
      std::printf(
          "%-9s %-32s forward %7.1f ms, backward %7.1f ms (steps %7.1f ms, wait for sums %6.1f "
          "ms; %lld sums, %.1f MB)\n",
          bench.arch.c_str(), mode.name, 1e3 * forward[0], 1e3 * backward[0], 1e3 * steps_time[0],
          1e3 * finish[0], static_cast<long long>(buckets), 4e-6 * static_cast<double>(floats));
      std::fflush(stdout);
    }
  }
  if (launched) std::printf("rank %d: %s\n", launched->rank(), launched->name().c_str());
}

BOOST_AUTO_TEST_SUITE_END()
