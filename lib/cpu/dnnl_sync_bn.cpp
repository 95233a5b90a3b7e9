// SyncBatchNorm on the CPU: the global batch statistics (Chan's pairwise combination of every
// rank's count, mean and variance, in rank order) and the backward pass over the activations'
// own layout, channel blocks in parallel.
#include "cpu/dnnl_sync_bn.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "dist/communicator.hpp"
#include "error.hpp"

namespace popup {
namespace {

// Calls f(c, offset) for every element of the layout; each channel is visited by one thread,
// in the same order whatever the thread count (so per-channel sums are deterministic).
template <typename F>
void layout_for_each(const DnnlChannelLayout& l, const F& f) {
  const int64_t blocks = (l.c + l.block - 1) / l.block;
#pragma omp parallel for schedule(static)
  for (int64_t cb = 0; cb < blocks; ++cb) {
    const int64_t c0 = cb * l.block, count = std::min(l.block, l.c - c0);
    for (int64_t n = 0; n < l.n; ++n)
      for (int64_t h = 0; h < l.h; ++h)
        for (int64_t w = 0; w < l.w; ++w) {
          const int64_t base = l.offset0 + n * l.sn + cb * l.sb + h * l.sh + w * l.sw;
          for (int64_t k = 0; k < count; ++k) f(c0 + k, base + k);
        }
  }
}

}  // namespace

DnnlChannelLayout dnnl_channel_layout(const dnnl::memory::desc& md) {
  const dnnl_memory_desc_t& d = md.data;
  const auto& blocking = d.format_desc.blocking;
  const bool blocked = blocking.inner_nblks == 1 && blocking.inner_idxs[0] == 1;
  if (d.format_kind != dnnl_blocked || d.data_type != dnnl_f32 || (d.ndims != 2 && d.ndims != 4) ||
      !(blocking.inner_nblks == 0 || blocked))
    throw Error("",
                "sync_bn: a BatchNorm activation in a layout the CPU backend does not walk "
                "(it takes f32 plain or channel-blocked layouts)");
  DnnlChannelLayout l;
  l.n = d.dims[0];
  l.c = d.dims[1];
  l.block = blocked ? blocking.inner_blks[0] : 1;
  l.sn = blocking.strides[0];
  l.sb = blocking.strides[1];
  if (d.ndims == 4) {
    l.h = d.dims[2];
    l.w = d.dims[3];
    l.sh = blocking.strides[2];
    l.sw = blocking.strides[3];
  }
  l.offset0 = d.offset0;
  return l;
}

DnnlSyncBn::DnnlSyncBn(Communicator* comm_, const dnnl::memory::desc& md, float epsilon_)
    : comm(comm_), layout(dnnl_channel_layout(md)), epsilon(epsilon_) {
  local_count = layout.n * layout.h * layout.w;
  const auto c = static_cast<size_t>(layout.c);
  mine.assign(1 + 2 * c, 0.0);
  all.assign(static_cast<size_t>(comm->size()) * mine.size(), 0.0);
  sum_dy.assign(c, 0.0);
  sum_dy_xhat.assign(c, 0.0);
  sums.assign(2 * c, 0.f);
}

// Every rank gathers every rank's (count, mean, biased variance) and combines them in rank
// order in double, so every rank gets the same bits: mean = sum_r n_r mean_r / N and
// var = sum_r n_r (var_r + (mean_r - mean)^2) / N. Each rank's variance is already centred
// on its own mean, so no sum of squares minus a squared sum (which cancels catastrophically
// when |mean| >> sigma) is ever formed; one collective per BatchNorm.
void dnnl_sync_bn_stats(DnnlSyncBn& bn, float* mean, float* var) {
  const auto c = static_cast<size_t>(bn.layout.c);
  bn.mine[0] = static_cast<double>(bn.local_count);
  for (size_t k = 0; k < c; ++k) {
    bn.mine[1 + k] = mean[k];
    bn.mine[1 + c + k] = var[k];
  }
  const int64_t bytes = static_cast<int64_t>(bn.mine.size() * sizeof(double));
  bn.comm->all_gather(bn.mine.data(), bn.all.data(), bytes);
  const int ranks = bn.comm->size();
  double total = 0;
  for (int r = 0; r < ranks; ++r) total += bn.all[static_cast<size_t>(r) * bn.mine.size()];
  for (size_t k = 0; k < c; ++k) {
    double m = 0;
    for (int r = 0; r < ranks; ++r) {
      const double* from = bn.all.data() + static_cast<size_t>(r) * bn.mine.size();
      m += from[0] * from[1 + k];
    }
    m /= total;
    double m2 = 0;
    for (int r = 0; r < ranks; ++r) {
      const double* from = bn.all.data() + static_cast<size_t>(r) * bn.mine.size();
      const double d = from[1 + k] - m;
      m2 += from[0] * (from[1 + c + k] + d * d);
    }
    mean[k] = static_cast<float>(m);
    var[k] = static_cast<float>(m2 / total);
  }
  bn.global_count = static_cast<int64_t>(total);
}

void dnnl_sync_bn_backward(DnnlSyncBn& bn, const float* x, const float* dy, float* dx,
                           const float* mean, const float* var, const float* gamma,
                           float* diff_scale_shift) {
  const int64_t c = bn.layout.c;
  std::fill(bn.sum_dy.begin(), bn.sum_dy.end(), 0.0);
  std::fill(bn.sum_dy_xhat.begin(), bn.sum_dy_xhat.end(), 0.0);
  double* sum_dy = bn.sum_dy.data();
  double* sum_dy_xc = bn.sum_dy_xhat.data();  // sum dy (x - mean), times 1/sigma below
  layout_for_each(bn.layout, [&](int64_t k, int64_t o) {
    sum_dy[k] += dy[o];
    sum_dy_xc[k] += static_cast<double>(dy[o]) * (static_cast<double>(x[o]) - mean[k]);
  });
  float* sums = bn.sums.data();
  for (int64_t k = 0; k < c; ++k) {
    const double inv_sigma = 1 / std::sqrt(static_cast<double>(var[k]) + bn.epsilon);
    sums[k] = static_cast<float>(sum_dy_xc[k] * inv_sigma);
    sums[c + k] = static_cast<float>(sum_dy[k]);
  }
  bn.comm->sum(sums, 2 * c);
  if (diff_scale_shift) std::copy(sums, sums + 2 * c, diff_scale_shift);
  if (!dx) return;
  // dx = a dy + b (x - mean) + d per channel, reusing the double buffers for a, b, d
  const auto count = static_cast<double>(bn.global_count);
  std::vector<double>& a = bn.sum_dy;
  std::vector<double>& b = bn.sum_dy_xhat;
  std::vector<double>& d = bn.all;  // at least c long: size() (1 + 2c) doubles
  for (int64_t k = 0; k < c; ++k) {
    const double inv_sigma = 1 / std::sqrt(static_cast<double>(var[k]) + bn.epsilon);
    const double scale = (gamma ? gamma[k] : 1.0) * inv_sigma;
    a[k] = scale;
    b[k] = -scale * inv_sigma * sums[k] / count;
    d[k] = -scale * sums[c + k] / count;
  }
  const double *pa = a.data(), *pb = b.data(), *pd = d.data();
  layout_for_each(bn.layout, [&](int64_t k, int64_t o) {
    dx[o] =
        static_cast<float>(pa[k] * dy[o] + pb[k] * (static_cast<double>(x[o]) - mean[k]) + pd[k]);
  });
}

}  // namespace popup
