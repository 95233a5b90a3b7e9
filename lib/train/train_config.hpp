// The training configuration (DESIGN.md §4): method, fraction kept, optimiser, schedule and data
// options; the defaults each --method gives what the command line did not, and the
// popup.train.* metadata that records a configuration in masks, scores and checkpoints.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/executor.hpp"
#include "format/safetensors.hpp"
#include "train/method.hpp"
#include "train/optimizer.hpp"
#include "train/schedule.hpp"

namespace popup {

struct TrainConfig {
  Method method = Method::edge_popup;
  // Affine BatchNorm, trained (the "+BN" variants): gamma (from 1) and beta (from 0) of every
  // BatchNorm by the optimiser kind and hyperparameters of the method's parameters (weight
  // decay included, as PyTorch's default applies it), with their own state; recorded as
  // popup.train.learn_bn = 1 (absent otherwise) and written into masks and checkpoints.
  // Networks without BatchNorm refuse it (InvalidArgument "--learn-bn"); dense training of a
  // network with BatchNorm needs it (the learned dense baseline trains every parameter).
  bool learn_bn = false;
  double k = 0.5;           // fraction of weights kept per layer (global: overall)
  int64_t ramp_epochs = 0;  // global: cubic ramp of the fraction kept over these epochs
  double score_init = 0;    // supermask: every initial logit
  // iterand (redraw.hpp): every this many optimiser steps, each weight the mask drops is
  // redrawn with probability rerandomize_rate (the paper's K_per = 300 and r = 0.1).
  int64_t rerandomize_every = 300;
  double rerandomize_rate = 0.1;
  bool first_layer_dense = false;  // keep every weight of the first layer
  bool last_layer_dense = false;   // ... of the last layer
  int64_t batch_size = 128;
  uint64_t seed = 0;  // score initialisation and data order
  OptimizerConfig optimizer;
  ScheduleConfig schedule;  // base lr, epochs, warm-up
  double label_smoothing = 0;
  std::string data_name;    // recorded in the mask (popup.train.data)
  double val_split = 0;     // recorded
  int64_t limit_train = 0;  // recorded: only the first N training / test images (0: all)
  int64_t limit_test = 0;
  // Image folders (images:DIR, imagenet:DIR): the input size S, recorded as
  // popup.train.image_size, and the class names, recorded as popup.data.classes (a JSON array
  // of strings, in label order); 0 and empty otherwise, and then not recorded.
  int64_t image_size = 0;
  std::vector<std::string> classes;
  // The executor's number format (scores, masks and updates stay fp32); recorded only when
  // bf16, so that fp32 masks keep the keys and bytes they always had.
  Precision precision = Precision::fp32;
  // The CPU's convolution algorithm (ExecutorConfig::conv_algo), and the executor's resolved
  // plan of it (set by the Trainer; given beforehand, it is replayed: a resumed run). Both
  // recorded (popup.train.conv_algo, popup.train.conv_plan) only when not direct.
  ConvAlgo conv_algo = ConvAlgo::direct;
  std::vector<ConvAlgo> conv_plan;
  // Data-parallel training (DESIGN.md §8): the number of ranks, each training its share of
  // every batch, recorded as popup.train.ranks when above 1 (a checkpoint resumes only with
  // as many); sync_bn: BatchNorm statistics of the whole batch (popup.train.sync_bn = 1,
  // absent otherwise).
  int64_t ranks = 1;
  bool sync_bn = false;
};

// The defaults of --method for what the command line did not give (DESIGN.md §4): dense with
// SGD lr 0.01 (momentum 0.9, wd 1e-4, cosine: the paper's learned dense baseline), dense with
// Adam lr 3e-4, batch 60, constant rate (the lottery-ticket papers' baseline); supermask lr
// 200 and weight decay 0 (Zhou et al.'s high rates, no decay of the logits). Other methods
// keep edge-popup's.
struct GivenOptions {
  bool lr = false, weight_decay = false, batch_size = false, schedule = false;
};
void train_config_method_defaults(TrainConfig& config, const GivenOptions& given);

// Training options as popup.train.* metadata (written in masks and checkpoints; a checkpoint
// resumes only under the same keys).
Metadata train_config_metadata(const TrainConfig& config);

// popup.data.classes: the class names as a JSON array of strings.
std::string classes_json(const std::vector<std::string>& classes);

// The class names a file records in popup.data.classes, in label order; empty when it records
// none. Throws FormatError naming `file` when the value is not a JSON array.
std::vector<std::string> classes_recorded(const Metadata& metadata, const std::string& file);

// popup-eval: a data set's class names (image folders) against the popup.data.classes of
// `file`'s metadata, when both have them. Throws MismatchError naming the data set and the
// file, and the first class that differs.
void classes_check(const std::string& data_name, const std::vector<std::string>& classes,
                   const Metadata& metadata, const std::string& file);

// Check every popup.train.* value of a file's metadata that this build knows (those above, the
// results and the per-layer density.* and alpha.* keys): names among the known ones, flags 0 or
// 1, integers and finite numbers in range (batch_size 1 .. 65536, as popup-train accepts).
// Throws FormatError naming `file` and the key, quoting at most 40 bytes of the value. Keys
// this build does not know are provenance only and never used.
void train_metadata_check(const Metadata& metadata, const std::string& file);

// The convolution plan a file records (popup.train.conv_plan), one entry per convolution of
// `net`; empty when the key is absent. Throws FormatError naming `file` when it is not direct
// or winograd for each of them.
std::vector<ConvAlgo> conv_plan_recorded(const Metadata& metadata, const Network& net,
                                         const std::string& file);

}  // namespace popup
