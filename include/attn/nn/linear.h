// Linear (torch.nn.Linear): y = x W^T + b, x [..., in_features] -> y [..., out_features], with
// weight W [out_features, in_features] and bias b [out_features]. Initialised as PyTorch does:
// kaiming_uniform_(W, a = sqrt(5)), which is U(-1/sqrt(in), 1/sqrt(in)), and b ~ U(-1/sqrt(in),
// 1/sqrt(in)) (both 0-width when in_features is 0). Identity (torch.nn.Identity) returns its input.
#pragma once
#include "attn/core/random.h"
#include "attn/nn/module.h"

namespace attn::nn {

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, DType dtype = kFloat32);
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
  // Re-draws weight and bias from the default initialisation (uses `gen`, or the default generator).
  void reset_parameters(Generator* gen = nullptr);
  std::string extra_repr() const override;

  // Public fields named like PyTorch's attributes (linear.weight, linear.bias).
  int64_t in_features, out_features;
  Tensor weight;  // [out_features, in_features]
  Tensor bias;    // [out_features]; undefined when constructed with bias = false
};

class Identity : public Module {
 public:
  Tensor forward(const Tensor& x) { return x; }
  Tensor operator()(const Tensor& x) { return forward(x); }
};

}  // namespace attn::nn
