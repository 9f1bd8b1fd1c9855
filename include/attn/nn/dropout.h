// Dropout (torch.nn.Dropout): attn::dropout in training mode, the identity in eval mode
// (module.eval()). See attn/ops/dropout.h for the scaling and the Philox mask.
#pragma once
#include "attn/core/random.h"
#include "attn/nn/module.h"

namespace attn::nn {

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
  std::string extra_repr() const override;

  double p;
  // The generator for the masks; nullptr (the default) uses attn::default_generator(). Not owned.
  Generator* generator = nullptr;
};

}  // namespace attn::nn
