// The in-process communicator (dist/communicator_threads.hpp) with 2, 3 and 4 ranks, one thread
// each: sums bit-identical to a serial loop in rank order (values whose sum depends on the
// order; sizes 0, 1, not divisible by N, large), started sums equal to blocking ones, broadcast,
// all_gather, traffic(), and abort() waking the ranks that wait. The MPI plugin is checked the
// same way under mpirun by tests/tools/comm-check.cpp.
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <iterator>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "dist/communicator_threads.hpp"
#include "error.hpp"

namespace {

using popup::Communicator;

// Runs body(comm) on every rank's thread; returns each rank's error text ("" when none).
// Boost.Test's checks are not thread-safe: the bodies only record, the test checks after.
std::vector<std::string> run_ranks(int n, const std::function<void(Communicator&)>& body) {
  auto comms = popup::communicators_in_process(n);
  std::vector<std::string> errors(static_cast<size_t>(n));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      try {
        body(*comms[static_cast<size_t>(r)]);
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(r)] = e.what();
      }
    });
  for (std::thread& t : threads) t.join();
  return errors;
}

// Rank r's element i: 1e8, 1 and -1e8 in turns (their float sum depends on the order: 1 is
// lost after 1e8 but not after -1e8 + 1e8), with small and large values of both signs between.
template <typename T>
T value(int rank, int64_t i) {
  if constexpr (std::is_integral_v<T>) return (rank * 1000003 + i * 7919) % 2000003 - 1000001;
  const double special[] = {1e8, 1, -1e8, 1e-3, 3.3e7, -7.25};
  if (i % 3 == 0) return static_cast<T>(special[static_cast<size_t>(rank + i / 3) % 6]);
  return static_cast<T>(std::ldexp(1.0 + 0.37 * static_cast<double>((rank * 31 + i) % 97),
                                   static_cast<int>((i * 13 + rank * 5) % 40) - 20) *
                        ((i + rank) % 2 ? -1 : 1));
}

// ((x_0 + x_1) + x_2) + ..., in T.
template <typename T>
std::vector<T> serial_sum(int ranks, int64_t n) {
  std::vector<T> sum(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    T s = value<T>(0, i);
    for (int r = 1; r < ranks; ++r) s = s + value<T>(r, i);
    sum[static_cast<size_t>(i)] = s;
  }
  return sum;
}

// The index of the first element whose bits differ, -1 when none.
template <typename T>
int64_t first_difference(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0) return static_cast<int64_t>(i);
  return -1;
}

const int64_t kSizes[] = {0, 1, 2, 3, 5, 7, 1001, (1 << 20) + 3};

// Every rank sums its values; every rank's result must be the serial sum's bits.
template <typename T>
void check_sums(int ranks) {
  for (const int64_t n : kSizes) {
    std::vector<std::vector<T>> results(static_cast<size_t>(ranks));
    const auto errors = run_ranks(ranks, [&](Communicator& comm) {
      std::vector<T>& mine = results[static_cast<size_t>(comm.rank())];
      for (int64_t i = 0; i < n; ++i) mine.push_back(value<T>(comm.rank(), i));
      comm.sum(mine.data(), n);
    });
    const std::vector<T> want = serial_sum<T>(ranks, n);
    for (int r = 0; r < ranks; ++r) {
      BOOST_TEST(errors[static_cast<size_t>(r)] == "");
      const int64_t at = first_difference(results[static_cast<size_t>(r)], want);
      BOOST_TEST(at == -1, ranks << " ranks, n " << n << ", rank " << r
                                 << ": the first differing element is " << at);
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(communicator)

BOOST_AUTO_TEST_CASE(the_order_matters_for_these_values) {
  // Otherwise the tests below could not tell the rank order from another one.
  std::vector<float> forward = serial_sum<float>(3, 1001), backward(1001);
  for (int64_t i = 0; i < 1001; ++i)
    backward[static_cast<size_t>(i)] =
        (value<float>(2, i) + value<float>(1, i)) + value<float>(0, i);
  BOOST_TEST(first_difference(forward, backward) != -1);
}

BOOST_AUTO_TEST_CASE(float_sums_are_rank_ordered) {
  for (const int ranks : {1, 2, 3, 4}) check_sums<float>(ranks);
}

BOOST_AUTO_TEST_CASE(double_and_int64_sums_are_rank_ordered) {
  for (const int ranks : {2, 3, 4}) {
    check_sums<double>(ranks);
    check_sums<int64_t>(ranks);
  }
}

BOOST_AUTO_TEST_CASE(started_sums_equal_blocking_ones) {
  const int64_t buckets[] = {1001, 0, 7, (1 << 18) + 1};
  for (const int ranks : {2, 3, 4}) {
    std::vector<std::vector<std::vector<float>>> results(static_cast<size_t>(ranks));
    const auto errors = run_ranks(ranks, [&](Communicator& comm) {
      auto& mine = results[static_cast<size_t>(comm.rank())];
      for (int step = 0; step < 2; ++step) {  // the same buckets twice, as training steps
        mine.assign(std::size(buckets), {});
        for (size_t b = 0; b < std::size(buckets); ++b) {
          for (int64_t i = 0; i < buckets[b]; ++i) mine[b].push_back(value<float>(comm.rank(), i));
          comm.sum_start(mine[b].data(), buckets[b]);
          comm.sum_progress();
        }
        comm.sum_finish();
      }
    });
    for (int r = 0; r < ranks; ++r) {
      BOOST_TEST(errors[static_cast<size_t>(r)] == "");
      for (size_t b = 0; b < std::size(buckets); ++b) {
        const int64_t at = first_difference(results[static_cast<size_t>(r)][b],
                                            serial_sum<float>(ranks, buckets[b]));
        BOOST_TEST(at == -1, ranks << " ranks, rank " << r << ", bucket " << b
                                   << ": the first differing element is " << at);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(traffic_counts_the_float_sums) {
  std::vector<popup::CommTraffic> traffic(3);
  run_ranks(3, [&](Communicator& comm) {
    std::vector<float> data(1001, 1.0f);
    std::vector<double> d(10, 1.0);
    comm.sum(data.data(), 1001);
    comm.sum(d.data(), 10);  // not a float sum: not counted
    comm.sum_start(data.data(), 500);
    comm.sum_finish();
    traffic[static_cast<size_t>(comm.rank())] = comm.traffic();
  });
  for (const popup::CommTraffic& t : traffic) {
    BOOST_TEST(t.sums == 2);
    BOOST_TEST(t.floats == 1501);
    // Reduce-scatter and all-gather each send (N - 1) / N of the floats.
    BOOST_TEST(t.bytes_sent == 2 * 1001 * 4 * 2 / 3 + 2 * 500 * 4 * 2 / 3);
    BOOST_TEST(t.seconds >= 0);
  }
}

BOOST_AUTO_TEST_CASE(broadcast_and_all_gather) {
  for (const int ranks : {2, 3, 4}) {
    std::vector<std::vector<int32_t>> broadcasts(static_cast<size_t>(ranks));
    std::vector<std::vector<int32_t>> gathered(static_cast<size_t>(ranks));
    const auto errors = run_ranks(ranks, [&](Communicator& comm) {
      const size_t r = static_cast<size_t>(comm.rank());
      for (int root = 0; root < ranks; ++root) {
        std::vector<int32_t> data(100, comm.rank() == root ? 10 * root + 1 : -1);
        comm.broadcast(data.data(), 400, root);
        broadcasts[r].push_back(data[0]);
        broadcasts[r].push_back(data[99]);
      }
      const int32_t mine[2] = {comm.rank(), -comm.rank()};
      gathered[r].resize(2 * static_cast<size_t>(ranks));
      comm.all_gather(mine, gathered[r].data(), sizeof mine);
      comm.barrier();
    });
    std::vector<int32_t> want_broadcast, want_gathered;
    for (int root = 0; root < ranks; ++root) {
      want_broadcast.insert(want_broadcast.end(), {10 * root + 1, 10 * root + 1});
      want_gathered.insert(want_gathered.end(), {root, -root});
    }
    for (int r = 0; r < ranks; ++r) {
      BOOST_TEST(errors[static_cast<size_t>(r)] == "");
      BOOST_TEST(broadcasts[static_cast<size_t>(r)] == want_broadcast);
      BOOST_TEST(gathered[static_cast<size_t>(r)] == want_gathered);
    }
  }
}

BOOST_AUTO_TEST_CASE(abort_wakes_the_ranks_that_wait) {
  for (const int ranks : {2, 3, 4}) {
    const auto errors = run_ranks(ranks, [&](Communicator& comm) {
      if (comm.rank() == ranks - 1) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the others wait first
        comm.abort(3);
      }
      std::vector<float> data(10, 1.0f);
      comm.sum(data.data(), 10);  // never completes: the last rank aborts instead
    });
    for (int r = 0; r < ranks - 1; ++r)
      BOOST_TEST(errors[static_cast<size_t>(r)] == "another rank aborted");
    BOOST_TEST(errors[static_cast<size_t>(ranks - 1)] ==
               "rank " + std::to_string(ranks - 1) + " aborted with status 3");
  }
}

BOOST_AUTO_TEST_CASE(a_communicator_needs_a_rank) {
  BOOST_CHECK_THROW(popup::communicators_in_process(0), popup::InvalidArgument);
}

BOOST_AUTO_TEST_SUITE_END()
