// A scripted executor for trainer tests: fixed gradients, remembers the weights it was given;
// the small recipe, a split of zeros and a trainer set up over them (test_trainer.cpp,
// test_methods.cpp).
#pragma once

#include <functional>
#include <memory>

#include "train/trainer.hpp"

namespace scripted {

using namespace popup;

// Returns fixed gradients and remembers the weights it was given.
class ScriptedExecutor : public Executor {
 public:
  explicit ScriptedExecutor(const Network& net) : net_(net), weights_(net.tensors.size()) {}
  void set_weights(size_t t, const float* w) override {
    weights_[t].assign(w, w + net_.tensors[t].numel());
  }
  BatchStats forward(const float*, const int32_t*, int64_t n, bool training) override {
    logits_.assign(static_cast<size_t>(n * net_.classes), 0.0f);
    if (training) ++forwards_;
    return {static_cast<double>(n) * 0.5, n / 2, n};
  }
  void backward(const std::vector<float*>& grads) override {
    for (size_t t = 0; t < grads.size(); ++t)
      if (grads[t])
        for (int64_t i = 0; i < net_.tensors[t].numel(); ++i) grads[t][i] = gradient(t, i);
  }
  const float* logits() override { return logits_.data(); }
  std::vector<NamedArray> running_stats() const override { return {}; }
  void set_running_stats(const std::vector<NamedArray>&) override {}

  static float gradient(size_t t, int64_t i) {
    return static_cast<float>((i % 7) - 3) * 0.01f * static_cast<float>(t + 1);
  }
  const std::vector<float>& weights(size_t t) const { return weights_[t]; }
  int forwards() const { return forwards_; }

 private:
  Network net_;
  std::vector<std::vector<float>> weights_;
  std::vector<float> logits_;
  int forwards_ = 0;
};

inline Recipe small_recipe() {
  Recipe r;
  r.arch = "fc:width=0.1";
  r.input = {1, 4, 4};
  r.classes = 3;
  r.init = InitKind::kaiming_normal;
  r.seed = 5;
  return recipe_validated(r);
}

// n examples of zeros with labels 0, 1, 2, ...
inline DataSplit zero_split(int64_t n) {
  DataSplit s;
  s.shape = {1, 4, 4};
  s.classes = 3;
  s.n = n;
  s.pixels.assign(static_cast<size_t>(n * 16), 0);
  s.levels.assign(256, 0.0f);
  for (int64_t i = 0; i < n; ++i) s.labels.push_back(static_cast<int32_t>(i % 3));
  return s;
}

struct Setup {
  Recipe recipe = small_recipe();
  Dataset data;
  TrainConfig config;
  ScriptedExecutor* exec = nullptr;
  std::unique_ptr<Trainer> trainer;

  explicit Setup(bool first_dense = false, Method method = Method::edge_popup, double k = 0.5,
                 const std::function<void(TrainConfig&)>& adjust = nullptr) {
    data.name = "synthetic";
    data.train = zero_split(8);
    data.test = zero_split(6);
    config.batch_size = 8;  // one step per epoch
    config.schedule.epochs = 2;
    config.first_layer_dense = first_dense;
    config.method = method;
    config.k = k;
    config.optimizer.weight_decay = 0.01;
    if (adjust) adjust(config);
    const Network net = arch_network(recipe.arch, recipe.input, recipe.classes);
    auto scripted = std::make_unique<ScriptedExecutor>(net);
    exec = scripted.get();
    trainer = std::make_unique<Trainer>(recipe, recipe_generate(recipe), data, config,
                                        std::move(scripted));
  }
};

}  // namespace scripted

namespace scripted {

// The scripted executor with affine BatchNorm (ExecutorConfig::affine_bn): fixed gradients of
// every gamma and beta, remembers the gamma and beta it was given, and running statistics
// per BatchNorm (mean 0.25, var 2) as a network with BatchNorm has them.
class ScriptedBnExecutor : public ScriptedExecutor {
 public:
  explicit ScriptedBnExecutor(const Network& net) : ScriptedExecutor(net) {
    for (const Op& op : net.ops)
      if (op.kind == OpKind::batchnorm) {
        names_.push_back(op.name);
        gamma_.emplace_back(static_cast<size_t>(op.c), 1.0f);
        beta_.emplace_back(static_cast<size_t>(op.c), 0.0f);
      }
  }
  std::vector<NamedArray> running_stats() const override {
    std::vector<NamedArray> stats;
    for (size_t b = 0; b < names_.size(); ++b) {
      stats.push_back({names_[b] + ".running_mean", std::vector<float>(gamma_[b].size(), 0.25f)});
      stats.push_back({names_[b] + ".running_var", std::vector<float>(gamma_[b].size(), 2.0f)});
    }
    return stats;
  }
  size_t bn_count() const override { return names_.size(); }
  int64_t bn_channels(size_t b) const override { return static_cast<int64_t>(gamma_.at(b).size()); }
  void set_bn_params(size_t b, const float* gamma, const float* beta) override {
    gamma_.at(b).assign(gamma, gamma + gamma_[b].size());
    beta_.at(b).assign(beta, beta + beta_[b].size());
    ++bn_sets_;
  }
  void bn_params(size_t b, float* gamma, float* beta) const override {
    std::copy(gamma_.at(b).begin(), gamma_[b].end(), gamma);
    std::copy(beta_.at(b).begin(), beta_[b].end(), beta);
  }
  void bn_grads(size_t b, float* dgamma, float* dbeta) const override {
    for (size_t c = 0; c < gamma_.at(b).size(); ++c) {
      dgamma[c] = bn_gradient(b, c, false);
      dbeta[c] = bn_gradient(b, c, true);
    }
  }

  static float bn_gradient(size_t b, size_t c, bool beta) {
    return static_cast<float>(static_cast<int64_t>((c + (beta ? 2 : 0)) % 5) - 2) * 0.001f *
           static_cast<float>(b + 1);
  }
  const std::vector<std::string>& names() const { return names_; }
  const std::vector<float>& gamma(size_t b) const { return gamma_.at(b); }
  const std::vector<float>& beta(size_t b) const { return beta_.at(b); }
  int bn_sets() const { return bn_sets_; }

 private:
  std::vector<std::string> names_;
  std::vector<std::vector<float>> gamma_, beta_;
  int bn_sets_ = 0;
};

// resnet18 (the smallest network with BatchNorm) on the 1x4x4 inputs of zero_split.
inline Recipe resnet_recipe() {
  Recipe r = small_recipe();
  r.arch = "resnet18";
  return recipe_validated(r);
}

}  // namespace scripted
