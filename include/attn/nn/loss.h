// Loss modules (torch.nn.CrossEntropyLoss, NLLLoss, MSELoss): the options of attn/ops/loss.h held
// in a module, with forward(input, target). A class weight is registered as a buffer named
// "weight", as PyTorch's _WeightedLoss does, so it appears in state_dict and follows to(dtype).
#pragma once
#include "attn/nn/module.h"
#include "attn/ops/loss.h"

namespace attn::nn {

class CrossEntropyLoss : public Module {
 public:
  explicit CrossEntropyLoss(const Tensor& weight = Tensor(), int64_t ignore_index = -100,
                            Reduction reduction = Reduction::Mean, double label_smoothing = 0.0);
  Tensor forward(const Tensor& input, const Tensor& target);
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }

  Tensor weight;  // [C] or undefined
  int64_t ignore_index;
  Reduction reduction;
  double label_smoothing;
};

class NLLLoss : public Module {
 public:
  explicit NLLLoss(const Tensor& weight = Tensor(), int64_t ignore_index = -100, Reduction reduction = Reduction::Mean);
  Tensor forward(const Tensor& input, const Tensor& target);
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }

  Tensor weight;
  int64_t ignore_index;
  Reduction reduction;
};

class MSELoss : public Module {
 public:
  explicit MSELoss(Reduction reduction = Reduction::Mean) : reduction(reduction) {}
  Tensor forward(const Tensor& input, const Tensor& target) { return mse_loss(input, target, reduction); }
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }

  Reduction reduction;
};

}  // namespace attn::nn
