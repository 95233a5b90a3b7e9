// popup-bench: training and evaluation throughput of edge-popup steps on synthetic data, per
// architecture and batch size, on the chosen backend. Not a test: `make gpu-check` runs it on
// the GPU beside the PyTorch reference (scripts/pytorch-edgepopup-bench.py); it never gates CI.
// A training step is what popup-train does per batch: forward, backward, straight-through score
// gradient, SGD update, top-k masks; the images come from host memory as the loader gives them.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "arch.hpp"
#include "device.hpp"
#include "error.hpp"
#include "json.hpp"
#include "number_text.hpp"
#include "topk.hpp"
#include "weights_generate.hpp"

namespace {

struct Options {
  std::vector<std::string> archs{"conv4"};
  std::vector<int64_t> batches{128};
  std::string input = "3x32x32", device = "auto", json;
  double k = 0.5;
  int warmup = 10, steps = 20, windows = 5, threads = 0;
};

struct Row {
  std::string arch, device;
  int64_t batch = 0;
  double train_ips = 0, eval_ips = 0, step_ms = 0;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

Row bench(const Options& o, const std::string& arch, int64_t batch) {
  const popup::InputShape input = popup::input_shape_parse(o.input);
  const popup::Network net = popup::arch_network(arch, input, 10);
  popup::ExecutorConfig config;
  config.max_batch = batch;
  popup::DeviceChoice device = popup::device_parse(o.device);
  std::string note;
  std::unique_ptr<popup::Executor> exec = popup::executor_create(net, config, device, note);
  if (!note.empty()) std::fprintf(stderr, "popup-bench: %s\n", note.c_str());
  std::unique_ptr<popup::ScoreEngine> engine = exec->score_engine(popup::OptimizerConfig());
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<float> uniform(-1, 1);
  for (size_t t = 0; t < net.tensors.size(); ++t) {
    const popup::TensorSpec& spec = net.tensors[t];
    std::vector<float> w(static_cast<size_t>(spec.numel())), s(w.size());
    popup::weights_generate(popup::InitKind::signed_constant, 1.0, 1, static_cast<uint32_t>(t),
                            spec, w.data());
    for (float& v : s) v = uniform(rng) / std::sqrt(static_cast<float>(spec.fan_in));
    engine->load(t, spec.numel(), w.data(), s.data(), popup::topk_keep_count(spec.numel(), o.k));
  }
  engine->refresh();
  // Four different batches, cycled, as a loader would hand them over.
  const int64_t image = input.c * input.h * input.w;
  std::vector<std::vector<float>> images(4, std::vector<float>(static_cast<size_t>(batch * image)));
  std::vector<std::vector<int32_t>> labels(4, std::vector<int32_t>(static_cast<size_t>(batch)));
  std::normal_distribution<float> normal;
  for (int b = 0; b < 4; ++b) {
    for (float& v : images[b]) v = normal(rng);
    for (int32_t& l : labels[b]) l = static_cast<int32_t>(rng() % 10);
  }
  const auto train_steps = [&](int count) {
    for (int i = 0; i < count; ++i) {
      exec->forward_queue(images[i % 4].data(), labels[i % 4].data(), batch, true);
      engine->step(0.1);
    }
    exec->stats_take();  // waits for the device
  };
  const auto eval_steps = [&](int count) {
    for (int i = 0; i < count; ++i)
      exec->forward_queue(images[i % 4].data(), labels[i % 4].data(), batch, false);
    exec->stats_take();
  };
  train_steps(o.warmup);
  std::vector<double> train, eval;
  for (int w = 0; w < o.windows; ++w) {
    auto t0 = std::chrono::steady_clock::now();
    train_steps(o.steps);
    train.push_back(seconds_since(t0));
  }
  eval_steps(o.warmup);
  for (int w = 0; w < o.windows; ++w) {
    auto t0 = std::chrono::steady_clock::now();
    eval_steps(o.steps);
    eval.push_back(seconds_since(t0));
  }
  Row r;
  r.arch = arch;
  r.device = exec->device_name();
  r.batch = batch;
  const double images_per_window = static_cast<double>(o.steps * batch);
  r.train_ips = images_per_window / median(train);
  r.eval_ips = images_per_window / median(eval);
  r.step_ms = 1000 * median(train) / o.steps;
  return r;
}

void run(const Options& o) {
  if (o.threads > 0) omp_set_num_threads(o.threads);
  std::FILE* json = nullptr;
  if (!o.json.empty() && !(json = std::fopen(o.json.c_str(), "w")))
    throw popup::IoError(o.json, "cannot open for writing");
  std::printf("# popup-bench: edge-popup k %g, SGD, input %s, %d warm-up steps, median of %d "
              "windows of %d steps\n%-20s %6s %14s %14s %10s\n",
              o.k, o.input.c_str(), o.warmup, o.windows, o.steps, "arch", "batch",
              "train img/s", "eval img/s", "step ms");
  for (const std::string& arch : o.archs)
    for (const int64_t batch : o.batches) {
      const Row r = bench(o, arch, batch);
      std::printf("%-20s %6lld %14.1f %14.1f %10.3f\n", r.arch.c_str(),
                  static_cast<long long>(r.batch), r.train_ips, r.eval_ips, r.step_ms);
      std::fflush(stdout);
      if (json)
        std::fprintf(json,
                     "{\"impl\":\"popup\",\"arch\":%s,\"batch\":%lld,\"device\":%s,\"input\":%s,"
                     "\"images_per_second\":%s,\"eval_images_per_second\":%s,"
                     "\"step_ms_median\":%s}\n",
                     popup::json_quote(r.arch).c_str(), static_cast<long long>(r.batch),
                     popup::json_quote(r.device).c_str(), popup::json_quote(o.input).c_str(),
                     popup::double_format(r.train_ips).c_str(),
                     popup::double_format(r.eval_ips).c_str(),
                     popup::double_format(r.step_ms).c_str());
    }
  if (json && std::fclose(json) != 0) throw popup::IoError(o.json, "write error");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Training and evaluation images/s of edge-popup on synthetic data.", "popup-bench"};
  Options o;
  app.add_option("--arch", o.archs, "Architectures (default conv4)")->delimiter(',');
  app.add_option("--batch", o.batches, "Batch sizes (default 128)")->delimiter(',')
      ->check(CLI::Range(int64_t{1}, int64_t{65536}));
  app.add_option("--input", o.input, "Input shape CxHxW (default 3x32x32)");
  app.add_option("--device", o.device, "auto (default), cpu, cuda, cuda:N");
  app.add_option("--k", o.k, "Fraction kept (default 0.5)")->check(CLI::Range(1e-9, 1.0));
  app.add_option("--warmup", o.warmup, "Warm-up steps (default 10)")->check(CLI::Range(0, 100000));
  app.add_option("--steps", o.steps, "Steps per timed window (default 20)")->check(CLI::Range(1, 100000));
  app.add_option("--windows", o.windows, "Timed windows (default 5)")->check(CLI::Range(1, 1000));
  app.add_option("--threads", o.threads, "CPU threads")->check(CLI::Range(1, 1024));
  app.add_option("--json", o.json, "Also write one JSON object per row to FILE");
  CLI11_PARSE(app, argc, argv);
  try {
    run(o);
  } catch (const popup::Error& e) {
    std::fprintf(stderr, "popup-bench: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
