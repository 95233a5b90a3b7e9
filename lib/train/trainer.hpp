// Training (DESIGN.md §4), backend-independent: scores per weight, per-layer top-k masks,
// w_eff = w * mask handed to the executor, the straight-through score gradient
// dL/ds = dL/dw_eff * w * sign(s), the optimiser and the schedule; evaluation each epoch;
// checkpoints that resume to the identical mask; iterand redraws dropped weights every K
// steps (redraw.hpp) on the edge-popup engine. The other methods (global, biprop, dense,
// supermask) run the same loop over a MethodEngine (method_engine.hpp). With learn_bn the
// trainer also steps every BatchNorm's gamma and beta (Executor::bn_grads, set_bn_params).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "train/evaluate.hpp"
#include "backend/executor.hpp"
#include "format/mask.hpp"
#include "train/method.hpp"
#include "train/method_engine.hpp"
#include "train/optimizer.hpp"
#include "format/popup_file.hpp"
#include "train/redraw.hpp"
#include "train/schedule.hpp"
#include "train/score_engine.hpp"
#include "train/train_config.hpp"

namespace popup {

class Communicator;

// The executor a Trainer needs for this configuration (max_batch = batch size, smoothing,
// precision, affine_bn = learn_bn; comm and sync_bn for a data-parallel rank).
ExecutorConfig trainer_executor_config(const TrainConfig& config, Communicator* comm = nullptr);

struct EpochReport {
  int64_t epoch = 0;  // 1-based, of epochs
  int64_t epochs = 0;
  double lr = 0;
  double train_loss = 0, train_acc = 0;
  double val_acc = -1;  // -1 without a validation split
  double test_loss = 0, test_acc = 0;
  double images_per_second = 0;  // training images per second of this epoch
  double data_share = 0;         // the share of its training time spent waiting for data
  double seconds = 0;            // wall time of the epoch, evaluation included
  std::string device;            // what trained it: Executor::device_name()
  int64_t kept_redrawn = -1;     // iterand: kept weights with a redraw record (-1: other methods)
  // Data-parallel: the ranks, and per training step of the epoch the seconds this rank spent
  // in the gradient sums and the bytes it sent for them (Communicator::traffic).
  int64_t ranks = 1;
  double reduce_seconds = 0, reduce_bytes = 0;
};

struct StepReport {
  int64_t epoch = 0, batch = 0, batches = 0;
  double loss = 0, acc = 0;  // running means over the epoch so far
  double images_per_second = 0;
  double batch_seconds = 0;  // wall time per batch so far (for the ETA)
  double data_share = 0;     // the fraction of that time spent waiting for data
};

// When checkpoints are written besides on a stop: every `epochs` epochs (at an epoch's end,
// after its evaluation), every `steps` optimiser steps (counted over the whole run, resumed
// parts included) and every `seconds` of wall time since the last one was written; 0: never.
// A step or time checkpoint due at the last batch of an epoch waits for the epoch's end.
struct CheckpointEvery {
  int64_t epochs = 0, steps = 0;
  double seconds = 0;
};

// popup-train --checkpoint-every: "N" or "Nepochs", "Nsteps", "Ns", "Nmin", "Nh" (N from 1 to
// 10^9; "0", as before units, asks for none), set in `every`. Throws
// InvalidArgument("--checkpoint-every", ...).
void checkpoint_every_parse(const std::string& text, CheckpointEvery& every);

struct TrainHooks {
  std::function<void(const StepReport&)> on_step;
  std::function<void(const EpochReport&)> on_epoch;
  const std::atomic<bool>* stop = nullptr;  // set (e.g. by SIGINT): finish the step, return
  std::string checkpoint_path;              // "" for none
  CheckpointEvery checkpoint_every;         // all 0: only when stopped
};

// Data-parallel training (DESIGN.md §8), with a communicator of config.ranks ranks: every rank
// runs a Trainer of the same recipe, data and configuration on its share of each batch
// (BatchLoader's shares); the executor (made with trainer_executor_config(config, comm)) sums
// the gradients over the ranks, so every rank takes the same optimiser step and finds the same
// masks. Per step the ranks agree on the batch's size, on a stop (a signal seen by any rank) and
// on rank 0's clock for time checkpoints; a step in which some rank's share is empty (the last
// batch holding fewer images than ranks, or a share whose every image was unreadable) is
// skipped by all. Statistics and evaluations are summed over the ranks; without sync_bn the
// BatchNorm running statistics of rank 0 are the run's (handed to the others before each
// evaluation, as DistributedDataParallel broadcasts its buffers). Only rank 0 writes
// checkpoints; replicas_check() compares every rank's result with rank 0's.
class Trainer {
 public:
  // `executor` runs the network (created for the recipe with max_batch = batch size); null
  // selects the CPU backend. `comm`: one rank of a data-parallel run (outlives the trainer).
  Trainer(const Recipe& recipe, std::vector<std::vector<float>> weights, const Dataset& data,
          const TrainConfig& config, std::unique_ptr<Executor> executor = nullptr,
          Communicator* comm = nullptr);
  ~Trainer();

  // Continue from a checkpoint written by a trainer of the same recipe and configuration
  // (MismatchError otherwise). Checkpoint I/O (resume, write_checkpoint): checkpoint.cpp.
  void resume(const PopupFile& checkpoint);

  // Train to the last epoch, or until hooks.stop is set (then returns with stopped() true,
  // after writing the checkpoint if a path was given). Throws DivergenceError.
  void run(const TrainHooks& hooks);
  bool stopped() const { return stopped_; }
  bool finished() const;

  // current masks, BatchNorm statistics (with learn_bn, each BatchNorm's "<bn>.weight" and
  // "<bn>.bias" first, PyTorch's order), popup.train.* keys and results
  Mask mask() const;
  // dense: the trained weights as a weights file with the popup.train.* keys and, for a
  // network with BatchNorm, the state tensors of mask() (writes, commits)
  void write_weights(OutputFile& out) const;
  void write_scores(const std::string& path) const;
  void write_scores(OutputFile& out) const;  // writes and commits
  void write_checkpoint(const std::string& path) const;
  const EpochReport& last_epoch() const { return last_; }

  // Data-parallel: a CRC-32 of this rank's scores, masks and BatchNorm state gathered from
  // every rank; throws Error naming the first rank whose CRC differs from rank 0's. Nothing
  // without a communicator.
  void replicas_check() const;

 private:
  void stats_take();
  void running_stats_share();  // data-parallel, without sync_bn: rank 0's to every rank
  bool writer() const;         // writes checkpoints: rank 0, or the only process
  bool next_batch(BatchLoader& loader, Batch& b, const std::string& checkpoint_path);
  void keep_fraction_apply();  // global: the ramp's fraction for epoch_
  void bn_step(double lr);     // learn_bn: one optimiser step of every gamma and beta
  void bn_hand();              // learn_bn: gamma and beta to the executor
  Metadata results_metadata() const;
  std::vector<Tensor> state_tensors() const;  // BatchNorm: gamma, beta (learn_bn), statistics
  EpochReport finish_epoch(double lr, double seconds, double train_seconds, int64_t trained);

  Recipe recipe_;
  TrainConfig config_;
  const Dataset& data_;
  Network net_;
  std::vector<bool> dense_;  // layers whose mask keeps every weight (no scores)
  std::unique_ptr<Executor> exec_;
  Communicator* comm_ = nullptr;         // data-parallel: this rank's (null: one process)
  std::unique_ptr<ScoreEngine> engine_;  // frozen weights, scores, masks, optimiser state
  MethodEngine* method_ = nullptr;       // engine_ for the methods other than edge-popup
  std::unique_ptr<RedrawState> redraw_;  // iterand: the redraw counts
  double keep_fraction_ = -1;            // global: the fraction applied last
  // learn_bn: per BatchNorm (network order, Executor::bn_* numbering) its name, gamma and
  // beta (the trainer's copies, handed to the executor after each step), and their optimiser
  // (tensor 2b: gamma of BatchNorm b, 2b + 1: its beta).
  std::vector<std::string> bn_names_;
  std::vector<std::vector<float>> bn_gamma_, bn_beta_, bn_dgamma_, bn_dbeta_;
  std::unique_ptr<Optimizer> bn_optimizer_;
  int data_train_ = -1, data_val_ = -1, data_test_ = -1;  // splits the executor holds, or -1
  int64_t epoch_ = 0, batch_ = 0;                         // position: next batch to train
  double loss_sum_ = 0;
  int64_t correct_ = 0, seen_ = 0;  // this epoch so far, as far as statistics were taken
  int64_t queued_ = 0;              // images trained whose statistics were not taken yet
  bool stopped_ = false;
  EpochReport last_;
};

}  // namespace popup
