// Softmax cross-entropy with label smoothing, top-1/top-5 counts and the logit gradient.
#include "train/softmax_cross_entropy.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "error.hpp"

namespace popup {

void labels_check(const int32_t* labels, int64_t n, int64_t classes) {
  for (int64_t i = 0; i < n; ++i)
    if (labels[i] < 0 || labels[i] >= classes)
      throw InvalidArgument("", "label " + std::to_string(labels[i]) + " of example " +
                                    std::to_string(i) + " is outside [0, " +
                                    std::to_string(classes) + ")");
}

BatchStats softmax_cross_entropy(const float* logits, const int32_t* labels, int64_t n,
                                 int64_t classes, float label_smoothing, float* diff) {
  BatchStats stats;
  const double eps = label_smoothing;
  const int64_t top5 = std::min<int64_t>(5, classes);
  for (int64_t i = 0; i < n; ++i) {
    const float* z = logits + i * classes;
    const int32_t y = labels[i];
    // log-sum-exp in double, shifted by the largest logit
    const double z_max = *std::max_element(z, z + classes);
    double sum_exp = 0, sum_z = 0;
    // classes ranked ahead of the label (softmax_cross_entropy.hpp); a NaN ranks last
    int64_t ahead = std::isnan(z[y]) ? classes : 0;
    for (int64_t c = 0; c < classes; ++c) {
      sum_exp += std::exp(z[c] - z_max);
      sum_z += z[c];
      if (z[c] > z[y] || (z[c] == z[y] && c < y)) ++ahead;
    }
    const double log_sum = z_max + std::log(sum_exp);
    const double nll = log_sum - z[y];                  // -log p_y
    const double mean_nll = log_sum - sum_z / classes;  // mean_c(-log p_c)
    stats.loss_sum += (1 - eps) * nll + eps * mean_nll;
    if (ahead < 1) ++stats.correct1;
    if (ahead < top5) ++stats.correct5;
    if (diff) {
      for (int64_t c = 0; c < classes; ++c) {
        const double p = std::exp(z[c] - log_sum);
        const double target = (c == y ? 1 - eps : 0) + eps / classes;
        diff[i * classes + c] = static_cast<float>((p - target) / n);
      }
    }
  }
  return stats;
}

}  // namespace popup
