// popup-bench (make bench): throughput of edge-popup training and evaluation steps, per
// workload, on the CPU or a GPU, beside the machine's own fp32 limit measured in the same run.
// Not a test: it never gates CI. Each workload runs in its own process, so that its peak
// resident memory is its own. A training step is what popup-train does per batch: the batch
// from the loader (shuffled, augmented for 3x32x32 inputs), forward, backward, the
// straight-through score gradient, the SGD update, the per-layer top-k and w * mask.
// --loader DATA measures the streamed image pipeline alone instead (loader_bench.hpp).
#include <omp.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "net/arch.hpp"
#include "data/dataset.hpp"
#include "backend/device.hpp"
#include "error.hpp"
#include "format/json_write.hpp"
#include "loader_bench.hpp"
#include "machine_peak.hpp"
#include "format/number_text.hpp"
#include "train/topk.hpp"
#include "init/weights_generate.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Workload {
  std::string arch;
  popup::InputShape input;
};

struct Options {
  std::vector<std::string> workloads;  // "arch@CxHxW"
  std::vector<std::string> archs;      // with --input
  std::string input = "3x32x32", device = "auto", json, precision = "fp32", conv_algo = "direct";
  std::vector<int64_t> batches{128};
  double k = 0.5;
  int64_t classes = 10;
  int warmup = 5, steps = 100, windows = 5, threads = 0;
  bool no_peak = false;
  popup_bench::LoaderOptions loader;  // --loader: the data pipeline alone
};

// The issue's standard set: the paper's small networks on Fashion-MNIST's shape, and conv4 and
// ResNet-18 on CIFAR's.
const char* const kStandard[] = {"fc@1x28x28", "conv4@1x28x28", "conv6@1x28x28", "conv4@3x32x32",
                                 "resnet18@3x32x32"};

double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Multiply-adds of one forward pass per example, counted as 2 FLOP each: convolutions and
// linear layers (what the machine's limit is about; ReLU, pooling, BatchNorm are noise).
// Training adds the weight gradient (as much again) and the data gradient (as much again,
// except for the first layer, whose input needs none).
double train_flop_per_image(const popup::Network& net, double& forward) {
  forward = 0;
  double first = 0;
  for (const popup::Op& op : net.ops) {
    if (op.tensor < 0) continue;
    const double macs = static_cast<double>(net.tensors[static_cast<size_t>(op.tensor)].numel()) *
                        static_cast<double>(op.h * op.w);
    if (op.inputs[0] < 0) first += 2 * macs;
    forward += 2 * macs;
  }
  return 3 * forward - first;
}

struct Row {
  double train_ips = 0, eval_ips = 0, step_ms = 0, rss_mb = 0, gflop_train = 0;
  double data = 0, forward = 0, backward = 0, optimizer = 0, topk = 0, masked = 0;  // ms/step
  std::string device, precision, conv_plan;
};

// A synthetic split shaped like the workload's data: 8 batches of uniformly random 8-bit
// images, normalised to mean 0 and standard deviation 1.
popup::DataSplit synthetic_split(const popup::InputShape& shape, int64_t batch, int64_t classes) {
  popup::DataSplit s;
  s.shape = shape;
  s.classes = classes;
  s.n = 8 * batch;
  std::mt19937_64 rng(7);
  s.pixels.resize(static_cast<size_t>(s.n * s.example_size()));
  for (uint8_t& v : s.pixels) v = static_cast<uint8_t>(rng() % 256);
  for (int64_t i = 0; i < s.n; ++i)
    s.labels.push_back(static_cast<int32_t>(rng() % static_cast<uint64_t>(classes)));
  for (int64_t c = 0; c < shape.c; ++c)
    for (int x = 0; x < 256; ++x) s.levels.push_back(static_cast<float>((x - 127.5) / 73.9));
  return s;
}

Row bench(const Options& o, const Workload& w, int64_t batch) {
  const popup::Network net = popup::arch_network(w.arch, w.input, o.classes);
  popup::ExecutorConfig config;
  config.max_batch = batch;
  config.precision = popup::precision_parse(o.precision);
  config.conv_algo = popup::conv_algo_parse(o.conv_algo);
  std::string note;
  popup::DeviceChoice device = popup::device_parse(o.device);
  device.quiet_fallback = o.device == "auto";  // the device is in every row
  std::unique_ptr<popup::Executor> exec = popup::executor_create(net, config, device, note);
  if (!note.empty()) std::fprintf(stderr, "popup-bench: %s\n", note.c_str());
  std::unique_ptr<popup::ScoreEngine> engine = exec->score_engine(popup::OptimizerConfig());
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<float> uniform(-1, 1);
  for (size_t t = 0; t < net.tensors.size(); ++t) {
    const popup::TensorSpec& spec = net.tensors[t];
    std::vector<float> weights(static_cast<size_t>(spec.numel())), scores(weights.size());
    popup::weights_generate(popup::InitKind::signed_constant, 1.0, 1, static_cast<uint32_t>(t),
                            spec, weights.data());
    for (float& v : scores) v = uniform(rng) / std::sqrt(static_cast<float>(spec.fan_in));
    engine->load(t, spec.numel(), weights.data(), scores.data(),
                 popup::topk_keep_count(spec.numel(), o.k));
  }
  engine->refresh();
  const popup::DataSplit split = synthetic_split(w.input, batch, o.classes);
  const int data = exec->data_upload(split);
  const bool augment = w.input.c == 3 && w.input.h == 32;  // CIFAR: crop and flip, as popup-train
  Row r;
  r.device = exec->device_name();
  r.precision = o.precision;
  r.conv_plan = popup::conv_plan_text(exec->conv_plan());
  const bool gpu = r.device != "cpu";
  // Steps over endless epochs of the split; each returns the seconds spent waiting for data.
  int64_t epoch = 0;
  auto loader =
      std::make_unique<popup::BatchLoader>(split, batch, true, augment, 1, epoch, 0, data < 0);
  popup::Batch b;
  const auto next_batch = [&] {
    if (!loader->next(b)) {
      loader = std::make_unique<popup::BatchLoader>(split, batch, true, augment, 1, ++epoch, 0,
                                                    data < 0);
      loader->next(b);
    }
  };
  const auto forward = [&](bool training) {
    if (data >= 0)
      exec->forward_queue_examples(data, b.examples, training ? b.draws : nullptr, b.n, training);
    else
      exec->forward_queue(b.images, b.labels, b.n, training);
  };
  std::vector<double> step, data_wait, fwd, bwd, opt, topk, masked;
  const auto train_step = [&](bool record) {
    const Clock::time_point t0 = Clock::now();
    next_batch();
    const Clock::time_point t1 = Clock::now();
    forward(true);
    const Clock::time_point t2 = Clock::now();
    const popup::StepProfile before = record ? engine->profile() : popup::StepProfile();
    engine->step(0.1);
    if (!gpu) exec->stats_take();
    const Clock::time_point t3 = Clock::now();
    if (!record) return;
    const popup::StepProfile after = engine->profile();
    data_wait.push_back(seconds(t0, t1));
    fwd.push_back(seconds(t1, t2));
    bwd.push_back(after.backward - before.backward);
    opt.push_back(after.optimizer - before.optimizer);
    topk.push_back(after.topk - before.topk);
    masked.push_back(after.masked_weights - before.masked_weights);
    step.push_back(seconds(t0, t3));
  };
  for (int i = 0; i < o.warmup; ++i) train_step(false);
  exec->stats_take();
  if (gpu) {  // asynchronous: whole windows, ended by waiting for the device
    for (int wdw = 0; wdw < o.windows; ++wdw) {
      const Clock::time_point t0 = Clock::now();
      for (int i = 0; i < o.steps; ++i) train_step(false);
      exec->stats_take();
      step.push_back(seconds(t0, Clock::now()) / o.steps);
    }
  } else {  // each part's median over the steps, as the step's own
    for (int i = 0; i < o.steps; ++i) train_step(true);
    r.data = 1000 * median(data_wait);
    r.forward = 1000 * median(fwd);
    r.backward = 1000 * median(bwd);
    r.optimizer = 1000 * median(opt);
    r.topk = 1000 * median(topk);
    r.masked = 1000 * median(masked);
  }
  r.step_ms = 1000 * median(step);
  r.train_ips = static_cast<double>(batch) / median(step);
  // Evaluation: inference forwards of the same batches (masks fixed).
  std::vector<double> eval;
  const auto eval_steps = [&](int count) {
    const Clock::time_point t0 = Clock::now();
    for (int i = 0; i < count; ++i) {
      next_batch();
      forward(false);
    }
    exec->stats_take();
    return seconds(t0, Clock::now()) / count;
  };
  eval_steps(o.warmup);
  if (gpu)
    for (int wdw = 0; wdw < o.windows; ++wdw) eval.push_back(eval_steps(o.steps));
  else
    for (int i = 0; i < o.steps; ++i) eval.push_back(eval_steps(1));
  r.eval_ips = static_cast<double>(batch) / median(eval);
  double forward_flop = 0;
  r.gflop_train = train_flop_per_image(net, forward_flop) * r.train_ips / 1e9;
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  r.rss_mb = static_cast<double>(usage.ru_maxrss) / 1024;
  return r;
}

std::string num(double v) { return popup::double_format(v); }

std::string row_json(const Workload& w, int64_t batch, int threads, const Row& r, double peak) {
  const std::string input = popup::input_shape_format(w.input);
  popup::JsonWriter j;
  j.object_begin().key("workload").string(w.arch + "@" + input).key("arch").string(w.arch);
  j.key("input").string(input).key("batch").integer(batch).key("threads").integer(threads);
  j.key("device").string(r.device).key("precision").string(r.precision);
  j.key("conv_plan").string(r.conv_plan);
  j.key("images_per_second").number(r.train_ips).key("eval_images_per_second").number(r.eval_ips);
  j.key("step_ms_median").number(r.step_ms).key("peak_rss_mb").number(r.rss_mb);
  j.key("train_gflops").number(r.gflop_train);
  j.key("percent_of_fp32_peak").number(peak > 0 ? 100 * r.gflop_train / peak : 0);
  j.key("ms_per_step").object_begin().key("data").number(r.data).key("forward").number(r.forward);
  j.key("backward").number(r.backward).key("optimizer").number(r.optimizer);
  j.key("topk").number(r.topk).key("masked_weights").number(r.masked).object_end();
  return j.object_end().text() + "\n";
}

std::string machine_json(int threads, double peak, double sgemm) {
  popup::JsonWriter j;
  j.object_begin().key("machine").object_begin().key("threads").integer(threads);
  j.key("fp32_fma_peak_gflops").number(peak).key("sgemm_gflops").number(sgemm).object_end();
  return j.object_end().text() + "\n";
}

// Runs f in a child process (its own peak memory; OpenMP is never started in the parent, so
// forking stays safe); the child writes its result to the pipe. False when it failed.
template <typename F>
bool in_child(F&& f, std::string& result) {
  int fds[2];
  if (pipe(fds) != 0) throw popup::Error("", "pipe failed");
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) throw popup::Error("", "fork failed");
  if (pid == 0) {
    close(fds[0]);
    int code = 0;
    try {
      const std::string text = f();
      if (write(fds[1], text.data(), text.size()) != static_cast<ssize_t>(text.size())) code = 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "popup-bench: error: %s\n", e.what());
      code = 1;
    }
    std::fflush(stdout);
    _exit(code);
  }
  close(fds[1]);
  result.clear();
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;)
    result.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int run(const Options& o) {
  std::vector<Workload> workloads;
  for (const std::string& a : o.archs) workloads.push_back({a, popup::input_shape_parse(o.input)});
  std::vector<std::string> named = o.workloads;
  if (workloads.empty() && named.empty()) named.assign(std::begin(kStandard), std::end(kStandard));
  for (const std::string& spec : named) {
    const size_t at = spec.find('@');
    if (at == std::string::npos)
      throw popup::InvalidArgument("--workload", "expected ARCH@CxHxW, got '" + spec + "'");
    workloads.push_back({spec.substr(0, at), popup::input_shape_parse(spec.substr(at + 1))});
  }
  for (const Workload& w : workloads) popup::arch_network(w.arch, w.input, o.classes);  // first
  std::FILE* json = nullptr;
  if (!o.json.empty() && !(json = std::fopen(o.json.c_str(), "w")))
    throw popup::IoError(o.json, "cannot open for writing");
  const int threads = o.threads > 0 ? o.threads : omp_get_num_procs();
  std::string text;
  double peak = 0, sgemm = 0;
  if (!o.no_peak && in_child(
                        [&] {
                          omp_set_num_threads(threads);
                          return num(popup::fma_peak_gflops(threads)) + " " +
                                 num(popup::sgemm_gflops(threads));
                        },
                        text)) {
    std::sscanf(text.c_str(), "%lf %lf", &peak, &sgemm);
    std::printf(
        "# machine: %d threads, fp32 FMA peak %.1f GFLOP/s (measured), SGEMM 2048^3 %.1f GFLOP/s\n",
        threads, peak, sgemm);
    if (json) std::fputs(machine_json(threads, peak, sgemm).c_str(), json);
  }
  std::printf(
      "# edge-popup k %g, SGD, %s, --conv-algo %s; median over %d steps after %d warm-up "
      "steps (GPU: of %d windows); ms per step: data / forward / backward / optimiser / "
      "top-k / w*mask\n",
      o.k, o.precision.c_str(), o.conv_algo.c_str(), o.steps, o.warmup, o.windows);
  std::printf("%-20s %5s %11s %10s %8s %7s %6s  %s\n", "workload", "batch", "train img/s",
              "eval img/s", "RSS MB", "GFLOP/s", "%peak", "ms/step: data fwd bwd opt topk w*m");
  int failures = 0;
  for (const Workload& w : workloads)
    for (const int64_t batch : o.batches) {
      const std::string name = w.arch + "@" + popup::input_shape_format(w.input);
      const bool ok = in_child(
          [&] {
            omp_set_num_threads(threads);
            const Row r = bench(o, w, batch);
            std::printf(
                "%-20s %5lld %11.2f %10.1f %8.0f %7.1f %6.1f  %.2f %.1f %.1f %.2f %.2f %.2f\n",
                name.c_str(), static_cast<long long>(batch), r.train_ips, r.eval_ips, r.rss_mb,
                r.gflop_train, peak > 0 ? 100 * r.gflop_train / peak : 0, r.data, r.forward,
                r.backward, r.optimizer, r.topk, r.masked);
            if (o.conv_algo != "direct") std::printf("  conv plan: %s\n", r.conv_plan.c_str());
            return row_json(w, batch, threads, r, peak);
          },
          text);
      if (!ok) {
        std::printf("%-20s %5lld  failed\n", name.c_str(), static_cast<long long>(batch));
        ++failures;
        continue;
      }
      if (json) std::fputs(text.c_str(), json);
    }
  if (json && std::fclose(json) != 0) throw popup::IoError(o.json, "write error");
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Training and evaluation images/s of edge-popup steps, per workload, beside the "
      "machine's measured fp32 limit.",
      "popup-bench"};
  Options o;
  app.add_option("--workload", o.workloads,
                 "ARCH@CxHxW, e.g. conv4@1x28x28 (default: the "
                 "standard set)")
      ->delimiter(',');
  app.add_option("--arch", o.archs, "Architectures on --input instead")->delimiter(',');
  app.add_option("--input", o.input, "Input shape for --arch (default 3x32x32)");
  app.add_option("--batch", o.batches, "Batch sizes (default 128)")
      ->delimiter(',')
      ->check(CLI::Range(int64_t{1}, int64_t{65536}));
  app.add_option("--device", o.device, "auto (default), cpu, cuda, cuda:N");
  app.add_option("--precision", o.precision, "fp32 (default) or bf16 (CPU)");
  app.add_option("--conv-algo", o.conv_algo,
                 "CPU 3x3 convolutions: direct (default), winograd or auto");
  app.add_option("--k", o.k, "Fraction kept (default 0.5)")->check(CLI::Range(1e-9, 1.0));
  app.add_option("--warmup", o.warmup, "Warm-up steps (default 5)")->check(CLI::Range(0, 100000));
  app.add_option("--steps", o.steps, "Measured steps (default 100; GPU: per window)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--windows", o.windows, "GPU: timed windows (default 5)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--threads", o.threads, "CPU threads (default: all cores)")
      ->check(CLI::Range(1, 1024));
  app.add_flag("--no-peak", o.no_peak, "Skip measuring the machine's fp32 limit");
  app.add_option("--json", o.json, "Also write one JSON object per row to FILE");
  app.add_option("--classes", o.classes, "Classes of the last layer (default 10)")
      ->check(CLI::Range(int64_t{2}, int64_t{100000}));
  app.add_option("--loader", o.loader.data,
                 "Instead: images/s of the streamed training pipeline alone on this image-folder "
                 "data set (images:DIR or imagenet:DIR), one epoch (see --loader-images)");
  app.add_option("--workers", o.loader.workers, "--loader: decoding threads (default 2)")
      ->check(CLI::Range(1, 256));
  app.add_option("--loader-images", o.loader.images,
                 "--loader: stop after N images (default 0: one epoch)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  app.add_flag("--full-decode", o.loader.full_decode,
               "--loader: decode JPEGs at full size, as torchvision does (default: DCT-scaled "
               "when the crop allows)");
  app.add_option("--image-size", o.loader.size, "--loader: output S x S (default 224)")
      ->check(CLI::Range(int64_t{16}, int64_t{1024}));
  CLI11_PARSE(app, argc, argv);
  try {
    if (!o.loader.data.empty()) {
      // --batch: the first size given, else 64
      o.loader.batch = app.count("--batch") ? o.batches.front() : 64;
      std::FILE* json = o.json.empty() ? nullptr : std::fopen(o.json.c_str(), "w");
      if (!o.json.empty() && !json) throw popup::IoError(o.json, "cannot open for writing");
      popup_bench::loader_bench(o.loader, json);
      if (json && std::fclose(json) != 0) throw popup::IoError(o.json, "write error");
      return 0;
    }
    return run(o);
  } catch (const popup::Error& e) {
    std::fprintf(stderr, "popup-bench: error: %s\n", e.what());
    return 1;
  }
}
