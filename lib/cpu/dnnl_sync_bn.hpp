// SyncBatchNorm on the CPU (DESIGN.md §8): the host code that a data-parallel plan runs between
// oneDNN primitives so that a training BatchNorm uses the statistics of the global batch (every
// rank's share), forward and backward, as one process with the whole batch would.
#pragma once

#include <cstdint>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

namespace popup {

class Communicator;

// Where element (n, c, h, w) of an f32 activation lies: offset0 + n sn + (c / block) sb +
// h sh + w sw + c % block. Covers the plain layouts (block 1: nchw, nhwc, nc) and oneDNN's
// channel-blocked ones (nChw8c, nChw16c, ...); h = w = 1 for [n, c].
struct DnnlChannelLayout {
  int64_t n = 0, c = 0, h = 1, w = 1;
  int64_t block = 1;
  int64_t sn = 0, sb = 0, sh = 0, sw = 0;
  int64_t offset0 = 0;
};

// The layout of md; throws popup::Error for one it does not cover (other data types, blocking
// over other dimensions than the channels).
DnnlChannelLayout dnnl_channel_layout(const dnnl::memory::desc& md);

// One BatchNorm of one plan: its shape, and buffers sized once so that the steps do not
// allocate.
struct DnnlSyncBn {
  DnnlSyncBn(Communicator* comm, const dnnl::memory::desc& md, float epsilon);

  Communicator* comm;
  DnnlChannelLayout layout;  // of the input, its output and their gradients
  float epsilon;
  int64_t local_count;                      // values per channel on this rank (n h w)
  int64_t global_count = 0;                 // over all ranks, set by the last training forward
  std::vector<double> mine, all;            // all_gather of (count, mean, var)
  std::vector<double> sum_dy, sum_dy_xhat;  // per channel, this rank's
  std::vector<float> sums;                  // [2, c]: sum(dy xhat), sum(dy), then over ranks
};

// Training forward, after oneDNN computed this rank's batch statistics into mean and var
// (biased variance, c floats each): replaces them with the global batch's, and sets
// global_count.
void dnnl_sync_bn_stats(DnnlSyncBn& bn, float* mean, float* var);

// Backward with the global mean and var of the forward: dgamma = sum_g(dy xhat) and
// dbeta = sum_g(dy) over every rank (rank-ordered sum) into diff_scale_shift ([2, c], null to
// skip) and, unless dx is null, dx = gamma / sigma (dy - dbeta / M - xhat dgamma / M) with M
// the global count per channel. gamma null: 1. x, dy and dx are in bn.layout.
void dnnl_sync_bn_backward(DnnlSyncBn& bn, const float* x, const float* dy, float* dx,
                           const float* mean, const float* var, const float* gamma,
                           float* diff_scale_shift);

}  // namespace popup
