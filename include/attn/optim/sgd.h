// Stochastic gradient descent with momentum (Polyak 1964; the Nesterov form of Sutskever et al.
// 2013), exactly torch.optim.SGD. With g the gradient of parameter p at this step:
//   g = -g                      if maximize
//   g = g + weight_decay * p    if weight_decay != 0  (L2 penalty, coupled into the gradient)
//   if momentum != 0:
//     b = g                                     on the parameter's first step
//     b = momentum * b + (1 - dampening) * g    afterwards
//     g = g + momentum * b  if nesterov,  else  g = b
//   p = p - lr * g
// State per parameter: momentum_buffer (only when momentum != 0).
#pragma once
#include "attn/optim/optimizer.h"

namespace attn::optim {

struct SGDOptions {
  double lr = 1e-3;  // torch.optim.SGD requires lr explicitly; the positional constructor does too
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
  bool maximize = false;
};

class SGD : public detail::OptimizerWithOptions<SGDOptions> {
 public:
  SGD(std::vector<Tensor> params, double lr, double momentum = 0.0, double dampening = 0.0, double weight_decay = 0.0,
      bool nesterov = false);
  SGD(std::vector<Tensor> params, const SGDOptions& options);
  explicit SGD(std::vector<ParamGroup<SGDOptions>> groups);

  void step() override;
  StateDict state_dict() const override;
  void load_state_dict(const StateDict& state) override;

 private:
  void init();
  std::vector<Tensor> momentum_buffer_;  // per parameter index; undefined until its first step
};

}  // namespace attn::optim
