// Loss modules.
#include "attn/nn/loss.h"

namespace attn::nn {

CrossEntropyLoss::CrossEntropyLoss(const Tensor& w, int64_t ignore, Reduction red, double smoothing)
    : ignore_index(ignore), reduction(red), label_smoothing(smoothing) {
  ATTN_CHECK(smoothing >= 0.0 && smoothing <= 1.0, "CrossEntropyLoss: label_smoothing must be in [0, 1], got ", smoothing);
  if (w.defined()) weight = register_buffer("weight", w);
}

Tensor CrossEntropyLoss::forward(const Tensor& input, const Tensor& target) {
  return cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing);
}

NLLLoss::NLLLoss(const Tensor& w, int64_t ignore, Reduction red) : ignore_index(ignore), reduction(red) {
  if (w.defined()) weight = register_buffer("weight", w);
}

Tensor NLLLoss::forward(const Tensor& input, const Tensor& target) {
  return nll_loss(input, target, weight, ignore_index, reduction);
}

}  // namespace attn::nn
