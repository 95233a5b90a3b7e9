// Softmax cross-entropy over plain logits, as PyTorch's CrossEntropyLoss(label_smoothing=eps)
// computes it, with top-1 / top-5 counts and the gradient of the mean loss.
#pragma once

#include <cstdint>

namespace popup {

// Sums over the examples of one forward.
struct BatchStats {
  double loss_sum = 0;   // sum of the per-example losses (smoothed if configured)
  int64_t correct1 = 0;  // top-1 correct
  int64_t correct5 = 0;  // top-5 correct (top-min(5, classes))
};

// Throws InvalidArgument naming the first label outside [0, classes).
void labels_check(const int32_t* labels, int64_t n, int64_t classes);

// logits [n, classes] row-major, labels in [0, classes) (checked by labels_check).
// Per example: loss = (1-eps)(-log p_y) + eps * mean_c(-log p_c); the stats hold the sums.
// An example is top-K correct when fewer than K classes rank ahead of its label: those with a
// greater logit, and those with an equal logit and a lower index (the first maximum wins, as
// std::max_element and torch.argmax pick it; all-equal logits are not all correct). A NaN
// logit of the label ranks it last.
// When diff is not null it receives d(mean loss)/d logits = (softmax - target) / n, with
// target = (1-eps) onehot(y) + eps/classes.
BatchStats softmax_cross_entropy(const float* logits, const int32_t* labels, int64_t n,
                                 int64_t classes, float label_smoothing, float* diff);

}  // namespace popup
