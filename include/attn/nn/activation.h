// Activation and softmax modules (torch.nn.ReLU, GELU, Tanh, Sigmoid, SiLU, Softmax, LogSoftmax):
// parameter-free wrappers of the functions in attn/ops/unary.h and attn/ops/softmax.h, for use in
// Sequential and for PyTorch-like model code.
#pragma once
#include <string>

#include "attn/nn/module.h"

namespace attn::nn {

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
};

// approximate: "none" (x * Phi(x), exact) or "tanh" (the BERT / GPT-2 approximation).
class GELU : public Module {
 public:
  explicit GELU(std::string approximate = "none");
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
  std::string extra_repr() const override { return "approximate='" + approximate + "'"; }
  std::string approximate;
};

class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
};

class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
};

class SiLU : public Module {
 public:
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
};

class Softmax : public Module {
 public:
  explicit Softmax(int64_t dim) : dim(dim) {}
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
  std::string extra_repr() const override { return "dim=" + std::to_string(dim); }
  int64_t dim;
};

class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(int64_t dim) : dim(dim) {}
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
  std::string extra_repr() const override { return "dim=" + std::to_string(dim); }
  int64_t dim;
};

}  // namespace attn::nn
