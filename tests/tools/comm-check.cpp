// Test and developer tool (not installed): the communicator of the ranks a launcher started
// (dist/launch.hpp), checked and timed. Built into BUILD/tests/comm-check; links no MPI library.
//   mpirun -np N comm-check            every rank makes every rank's input from a seed and checks
//                                      that sum() gives the rank-ordered sums exactly, started
//                                      sums the same, broadcast, all_gather and traffic(); rank 0
//                                      prints "comm-check: ok ..." (exit 0) or the first failure
//                                      of each failing rank goes to stderr (exit 1)
//   mpirun -np N comm-check bench REPS BYTES...   rank 0 prints "bytes seconds bytes/s started_s
//                                      exposed_s" per size: medians over REPS of the slowest
//                                      rank's float sum(), blocking, started (sum_start +
//                                      sum_finish), and started beside work with sum_progress()
//                                      (the time beyond the work's)
// Exit 2 without a launcher (one process), 1 when the communicator cannot start.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <iterator>
#include <string>
#include <type_traits>
#include <vector>

#include "dist/launch.hpp"
#include "error.hpp"

namespace {

using popup::Communicator;

// splitmix64: the inputs, a pure function of (seed, rank, index).
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Values whose sum depends on the order: magnitudes from 2^-20 to 2^27 of either sign, and
// every seventh element one of 1e8, 1, -1e8 (so that 1 vanishes or not by the order).
double input(uint64_t seed, int rank, int64_t i) {
  const uint64_t h = mix(seed * 0x100000001b3ULL ^
                         mix(static_cast<uint64_t>(rank) << 40 ^ static_cast<uint64_t>(i)));
  if (i % 7 == 3) {
    const double special[] = {1e8, 1, -1e8};
    return special[(static_cast<uint64_t>(rank) + h % 3) % 3];
  }
  const double mantissa = 1.0 + static_cast<double>(h >> 40) / static_cast<double>(1ULL << 24);
  const int exponent = static_cast<int>((h >> 8) % 48) - 20;
  return ((h & 1) ? -1.0 : 1.0) * std::ldexp(mantissa, exponent);
}

template <typename T>
T input_as(uint64_t seed, int rank, int64_t i) {
  if constexpr (std::is_same_v<T, int64_t>)
    return static_cast<int64_t>(
               mix(seed ^ mix(static_cast<uint64_t>(rank) << 40 ^ static_cast<uint64_t>(i)))) >>
           2;
  else
    return static_cast<T>(input(seed, rank, i));
}

// This rank's input and the expected sum: ((x_0 + x_1) + x_2) + ... in T.
template <typename T>
void inputs(uint64_t seed, int rank, int size, int64_t n, std::vector<T>& mine,
            std::vector<T>& expected) {
  mine.resize(static_cast<size_t>(n));
  expected.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    T sum = input_as<T>(seed, 0, i);
    for (int r = 1; r < size; ++r) sum = sum + input_as<T>(seed, r, i);
    expected[static_cast<size_t>(i)] = sum;
    mine[static_cast<size_t>(i)] = input_as<T>(seed, rank, i);
  }
}

struct Failures {
  int64_t count = 0;
  std::string first;
  void add(const std::string& what) {
    if (count++ == 0) first = what;
  }
};

// Every digit of a float or double; integers as they are.
template <typename T>
std::string text(T value) {
  if constexpr (std::is_integral_v<T>) return std::to_string(value);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", static_cast<double>(value));
  return buf;
}

// Equal bits, or a failure naming the first differing index.
template <typename T>
void compare(const std::vector<T>& got, const std::vector<T>& want, const std::string& what,
             Failures& failures) {
  for (size_t i = 0; i < want.size(); ++i)
    if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0) {
      failures.add(what + ": element " + std::to_string(i) + " is " + text(got[i]) + ", expected " +
                   text(want[i]));
      return;
    }
}

const int64_t kSizes[] = {0, 1, 2, 3, 5, 1000, 65537, 1000003};

template <typename T>
void check_blocking(Communicator& comm, const char* type, Failures& failures) {
  std::vector<T> mine, expected;
  for (const int64_t n : kSizes) {
    inputs(static_cast<uint64_t>(n) + 11, comm.rank(), comm.size(), n, mine, expected);
    comm.sum(mine.data(), n);
    compare(mine, expected, std::string("sum(") + type + ") of " + std::to_string(n), failures);
  }
}

// Three steps of five started sums each (the same sizes every step, as buckets), with
// sum_progress() between pieces of work that take the ranks different times.
void check_started(Communicator& comm, Failures& failures) {
  const int64_t buckets[] = {1000003, 3, 65537, 0, 250000};
  std::vector<std::vector<float>> data(std::size(buckets)), expected(std::size(buckets));
  for (int step = 0; step < 3; ++step) {
    for (size_t b = 0; b < std::size(buckets); ++b) {
      inputs(static_cast<uint64_t>(step * 100 + b), comm.rank(), comm.size(), buckets[b], data[b],
             expected[b]);
      comm.sum_start(data[b].data(), buckets[b]);
      const auto until = std::chrono::steady_clock::now() +
                         std::chrono::microseconds(200 * ((comm.rank() + b + step) % 3));
      while (std::chrono::steady_clock::now() < until) comm.sum_progress();
    }
    comm.sum_progress();
    comm.sum_finish();
    for (size_t b = 0; b < std::size(buckets); ++b)
      compare(data[b], expected[b],
              "started sum " + std::to_string(b) + " of step " + std::to_string(step), failures);
  }
}

void check_others(Communicator& comm, Failures& failures) {
  const int size = comm.size();
  for (int root = 0; root < size; ++root) {
    std::vector<int32_t> values(1001, comm.rank() == root ? root * 7 + 1 : -1);
    comm.broadcast(values.data(), static_cast<int64_t>(values.size() * sizeof(int32_t)), root);
    if (std::count(values.begin(), values.end(), root * 7 + 1) != 1001)
      failures.add("broadcast from rank " + std::to_string(root));
  }
  const std::string mine = "rank " + std::to_string(comm.rank() + 1000);  // the same length
  std::vector<char> all(mine.size() * static_cast<size_t>(size));
  comm.all_gather(mine.data(), all.data(), static_cast<int64_t>(mine.size()));
  for (int r = 0; r < size; ++r)
    if (std::string(all.data() + r * mine.size(), mine.size()) !=
        "rank " + std::to_string(r + 1000))
      failures.add("all_gather: rank " + std::to_string(r) + "'s part");
  comm.barrier();
  if (comm.local_rank() < 0 || comm.local_rank() >= size) failures.add("local_rank out of range");
}

int check(Communicator& comm) {
  Failures failures;
  const auto start = std::chrono::steady_clock::now();
  check_blocking<float>(comm, "float", failures);
  check_blocking<double>(comm, "double", failures);
  check_blocking<int64_t>(comm, "int64", failures);
  check_started(comm, failures);
  check_others(comm, failures);
  // Traffic: the float sums above, blocking (one per size) and started (5 per step, 3 steps).
  const popup::CommTraffic t = comm.traffic();
  int64_t floats = 0, bytes = 0, sums = 0;
  const int size = comm.size();
  for (const int64_t n : kSizes) {
    ++sums, floats += n, bytes += 2 * n * 4 * (size - 1) / size;
  }
  for (int step = 0; step < 3; ++step)
    for (const int64_t n : {1000003, 3, 65537, 0, 250000}) {
      ++sums, floats += n, bytes += 2 * n * 4 * (size - 1) / size;
    }
  if (t.sums != sums || t.floats != floats || t.bytes_sent != bytes || !(t.seconds > 0))
    failures.add("traffic(): " + std::to_string(t.sums) + " sums, " + std::to_string(t.floats) +
                 " floats, " + std::to_string(t.bytes_sent) + " bytes, expected " +
                 std::to_string(sums) + ", " + std::to_string(floats) + ", " +
                 std::to_string(bytes));
  if (failures.count > 0)
    std::fprintf(stderr, "comm-check: rank %d: %" PRId64 " failures, the first: %s\n", comm.rank(),
                 failures.count, failures.first.c_str());
  int64_t failing_ranks = failures.count > 0 ? 1 : 0;
  comm.sum(&failing_ranks, 1);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (comm.rank() == 0 && failing_ranks == 0)
    std::printf("comm-check: ok (%s, local rank %d; %" PRId64 " float sums, %.2f s)\n",
                comm.name().c_str(), comm.local_rank(), t.sums, seconds);
  return failing_ranks == 0 ? 0 : 1;
}

// The slowest rank's seconds for `f`, each rank starting after a barrier.
template <typename F>
double slowest(Communicator& comm, F f) {
  comm.barrier();
  const auto start = std::chrono::steady_clock::now();
  f();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<double> all(static_cast<size_t>(comm.size()));
  comm.all_gather(&seconds, all.data(), sizeof seconds);
  return *std::max_element(all.begin(), all.end());
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// Compute without memory traffic: `iterations` dependent multiplications.
void spin(int64_t iterations) {
  volatile double x = 1;
  for (int64_t i = 0; i < iterations; ++i) x = x * 1.0000001;
}

// Multiplications per 100 us on this rank (the slowest rank's count is the same work for all).
int64_t spin_per_100us(Communicator& comm) {
  const int64_t trial = 1000000;
  const double seconds = slowest(comm, [&] { spin(trial); });
  return std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(trial) * 100e-6 / seconds));
}

int bench(Communicator& comm, int reps, const std::vector<int64_t>& sizes) {
  if (comm.rank() == 0)
    std::printf(
        "# %s\n# bytes seconds bytes/s started_seconds exposed_seconds\n"
        "# (exposed: what a started sum adds to compute of twice its time that calls "
        "sum_progress() every 100 us)\n",
        comm.name().c_str());
  const int64_t chunk = spin_per_100us(comm);
  for (const int64_t bytes : sizes) {
    const int64_t n = bytes / 4;
    std::vector<float> data(static_cast<size_t>(n), 0.0f);  // zeros: no overflow, no denormals
    comm.sum(data.data(), n);                               // the first, allocating, not timed
    std::vector<double> blocking, started, alone, beside;
    for (int r = 0; r < reps; ++r) {
      blocking.push_back(slowest(comm, [&] { comm.sum(data.data(), n); }));
      started.push_back(slowest(comm, [&] {
        comm.sum_start(data.data(), n);
        comm.sum_finish();
      }));
    }
    const double s = median(blocking);
    const int64_t chunks = std::max<int64_t>(1, static_cast<int64_t>(2 * s / 100e-6));
    const auto work = [&] {
      for (int64_t c = 0; c < chunks; ++c) {
        spin(chunk);
        comm.sum_progress();
      }
    };
    for (int r = 0; r < reps; ++r) {
      alone.push_back(slowest(comm, work));
      beside.push_back(slowest(comm, [&] {
        comm.sum_start(data.data(), n);
        work();
        comm.sum_finish();
      }));
    }
    if (comm.rank() == 0)
      std::printf("%" PRId64 " %.9f %.6g %.9f %.9f\n", n * 4, s, static_cast<double>(n * 4) / s,
                  median(started), median(beside) - median(alone));
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    const bool bench_mode = !args.empty() && args[0] == "bench";
    std::vector<int64_t> sizes;
    int reps = 0;
    if (bench_mode) {
      if (args.size() < 3) {
        std::fprintf(stderr, "usage: comm-check [bench REPS BYTES...]\n");
        return 2;
      }
      reps = std::stoi(args[1]);
      for (size_t i = 2; i < args.size(); ++i) sizes.push_back(std::stoll(args[i]));
    } else if (!args.empty()) {
      std::fprintf(stderr, "usage: comm-check [bench REPS BYTES...]\n");
      return 2;
    }
    std::unique_ptr<Communicator> comm = popup::communicator_from_launcher();
    if (!comm) {
      std::fprintf(stderr, "comm-check: no launcher: run it as mpirun -np N (N >= 2) comm-check\n");
      return 2;
    }
    try {
      return bench_mode ? bench(*comm, reps, sizes) : check(*comm);
    } catch (const std::exception& e) {
      // The other ranks may wait in a collective for this one: end them all.
      std::fprintf(stderr, "comm-check: rank %d: error: %s\n", comm->rank(), e.what());
      comm->abort(1);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "comm-check: error: %s\n", e.what());
    return 1;
  }
}
