// Inference over a split in fixed-size batches (the last one smaller), in data order; the
// executor may run ahead (forward_queue) and its sums are taken once at the end; and
// popup-eval's JSON report of the result.
#include "train/evaluate.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "dist/communicator.hpp"
#include "format/json_write.hpp"
#include "train/method.hpp"

namespace popup {

void executor_load_state(Executor& exec, const std::vector<Tensor>& state) {
  std::vector<NamedArray> stats = exec.running_stats();
  for (NamedArray& a : stats)
    for (const Tensor& s : state)
      if (s.info.name == a.name && s.f32.size() == a.values.size()) a.values = s.f32;
  exec.set_running_stats(stats);
  // affine BatchNorm: "<bn>.weight" and "<bn>.bias", named after the running statistics
  const std::string tail = ".running_mean";
  size_t b = 0;
  for (const NamedArray& a : stats) {
    if (b >= exec.bn_count()) break;
    if (a.name.size() <= tail.size() ||
        a.name.compare(a.name.size() - tail.size(), tail.size(), tail) != 0)
      continue;
    const std::string bn = a.name.substr(0, a.name.size() - tail.size());
    const auto c = static_cast<size_t>(exec.bn_channels(b));
    std::vector<float> gamma(c, 1.0f), beta(c, 0.0f);
    for (const Tensor& s : state) {
      if (s.info.name == bn + ".weight" && s.f32.size() == c) gamma = s.f32;
      if (s.info.name == bn + ".bias" && s.f32.size() == c) beta = s.f32;
    }
    exec.set_bn_params(b++, gamma.data(), beta.data());
  }
}

std::string eval_result_json(const EvalResult& r, int64_t classes, const std::string& file,
                             const std::string& data, const std::string& split,
                             const std::vector<EvalResult>& sampled, uint64_t sample_seed) {
  const auto count = [&](int64_t truth, int64_t predicted) {
    return r.confusion[static_cast<size_t>(truth * classes + predicted)];
  };
  JsonWriter w;
  w.object_begin().key("file").string(file).key("data").string(data).key("split").string(split);
  w.key("images").integer(r.n).key("top1").number(r.top1).key("top5").number(r.top5);
  w.key("loss").number(r.loss).key("images_per_second");
  w.number(r.seconds > 0 ? static_cast<double>(r.n) / r.seconds : 0);
  w.key("per_class_accuracy").array_begin();
  for (int64_t c = 0; c < classes; ++c) {
    int64_t total = 0;
    for (int64_t p = 0; p < classes; ++p) total += count(c, p);
    w.number(total ? static_cast<double>(count(c, c)) / static_cast<double>(total) : 0.0);
  }
  w.array_end().key("confusion").array_begin();
  for (int64_t c = 0; c < classes; ++c) {
    w.array_begin();
    for (int64_t p = 0; p < classes; ++p) w.integer(count(c, p));
    w.array_end();
  }
  w.array_end();
  if (!sampled.empty()) {
    const SampleSummary s = eval_samples_summary(sampled);
    w.key("samples").object_begin().key("n").unsigned_integer(sampled.size());
    w.key("seed").unsigned_integer(sample_seed).key("top1").array_begin();
    for (const EvalResult& e : sampled) w.number(e.top1);
    w.array_end().key("top1_mean").number(s.mean).key("top1_sd").number(s.sd);
    w.key("top1_min").number(s.min).key("top1_max").number(s.max).object_end();
  }
  return w.non_finite_member().object_end().text() + "\n";
}

EvalResult evaluate(Executor& exec, const DataSplit& split, int64_t batch, bool confusion, int data,
                    bool logits, Communicator* comm) {
  EvalResult r;
  const auto start = std::chrono::steady_clock::now();
  const int64_t classes = split.classes;
  if (confusion) r.confusion.assign(static_cast<size_t>(classes * classes), 0);
  BatchLoader loader(split, batch, /*shuffle=*/false, /*augment=*/false, 0, 0, 0,
                     /*images=*/data < 0, comm ? comm->rank() : 0, comm ? comm->size() : 1);
  Batch b;
  while (loader.next(b)) {
    if (b.n == 0) continue;  // a rank's empty share of the last batch
    // Queued: a backend may run ahead; the sums are taken once at the end. The confusion
    // matrix needs each batch's logits.
    if (data >= 0)
      exec.forward_queue_examples(data, b.examples, nullptr, b.n, /*training=*/false);
    else
      exec.forward_queue(b.images, b.labels, b.n, /*training=*/false);
    r.n += b.n;
    if (logits) {
      const float* values = exec.logits();
      r.logits.insert(r.logits.end(), values, values + b.n * classes);
      r.labels.insert(r.labels.end(), b.labels, b.labels + b.n);
    }
    if (confusion) {
      const float* values = exec.logits();
      for (int64_t i = 0; i < b.n; ++i) {
        const float* row = values + i * classes;
        const int64_t predicted = std::max_element(row, row + classes) - row;
        ++r.confusion[static_cast<size_t>(b.labels[i] * classes + predicted)];
      }
    }
  }
  const BatchStats s = exec.stats_take();
  int64_t correct1 = s.correct1, correct5 = s.correct5;
  double loss = s.loss_sum;
  if (comm) {  // every rank's share, summed in rank order: the same result on every rank
    int64_t counts[3] = {r.n, correct1, correct5};
    comm->sum(counts, 3);
    r.n = counts[0], correct1 = counts[1], correct5 = counts[2];
    comm->sum(&loss, 1);
    if (confusion) comm->sum(r.confusion.data(), static_cast<int64_t>(r.confusion.size()));
  }
  if (r.n > 0) {
    r.top1 = static_cast<double>(correct1) / static_cast<double>(r.n);
    r.top5 = static_cast<double>(correct5) / static_cast<double>(r.n);
    r.loss = loss / static_cast<double>(r.n);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

std::vector<EvalResult> evaluate_supermask_samples(Executor& exec, const Mask& mask,
                                                   const std::vector<std::vector<float>>& weights,
                                                   const std::vector<std::vector<float>>& logits,
                                                   const DataSplit& split, int64_t batch,
                                                   int64_t samples, uint64_t seed, int data) {
  std::vector<EvalResult> results;
  std::vector<float> eff;
  std::vector<uint8_t> keep;
  for (int64_t j = 0; j < samples; ++j) {
    for (size_t t = 0; t < weights.size(); ++t) {
      const int64_t n = static_cast<int64_t>(weights[t].size());
      eff = weights[t];
      if (!mask_layer_dense(mask, t)) {
        keep.resize(static_cast<size_t>(n));
        supermask_sample(logits.at(t).data(), n, seed, RandomStream::supermask_eval,
                         static_cast<uint32_t>(j), static_cast<uint32_t>(t), keep.data());
        for (int64_t i = 0; i < n; ++i)
          if (!keep[static_cast<size_t>(i)]) eff[static_cast<size_t>(i)] = 0.0f;
      }
      exec.set_weights(t, eff.data());
    }
    results.push_back(evaluate(exec, split, batch, false, data));
  }
  return results;
}

SampleSummary eval_samples_summary(const std::vector<EvalResult>& results) {
  SampleSummary s;
  if (results.empty()) return s;
  s.min = s.max = results[0].top1;
  for (const EvalResult& r : results) {
    s.mean += r.top1;
    s.min = std::min(s.min, r.top1);
    s.max = std::max(s.max, r.top1);
  }
  const double n = static_cast<double>(results.size());
  s.mean /= n;
  if (results.size() > 1) {
    double squares = 0;
    for (const EvalResult& r : results) squares += (r.top1 - s.mean) * (r.top1 - s.mean);
    s.sd = std::sqrt(squares / (n - 1));
  }
  return s;
}

}  // namespace popup
