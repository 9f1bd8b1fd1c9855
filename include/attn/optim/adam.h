// Adam (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization"), with the AMSGrad variant
// (Reddi et al. 2018), and AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay
// Regularization"): exactly torch.optim.Adam / torch.optim.AdamW. Per parameter p with gradient g,
// at step t = 1, 2, ... of that parameter:
//   g = -g                                  if maximize
//   Adam:  g = g + weight_decay * p         (L2 penalty coupled into the gradient)
//   AdamW: p = p * (1 - lr * weight_decay)  (decoupled decay, before the Adam update)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   vmax = max(vmax, v) and use vmax for v  if amsgrad
//   p = p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// State per parameter: step, exp_avg (m), exp_avg_sq (v), max_exp_avg_sq (vmax, amsgrad only).
// Note eps is added after the bias correction of sqrt(v), as in PyTorch (not to sqrt(v_hat) of
// the paper's Algorithm 1 in a different place), so results match PyTorch, not the paper's text.
#pragma once
#include <utility>

#include "attn/optim/optimizer.h"

namespace attn::optim {

struct AdamOptions {
  double lr = 1e-3;
  std::pair<double, double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool amsgrad = false;
  bool maximize = false;
};

// AdamW's options: the same fields, but weight_decay defaults to 1e-2 as in torch.optim.AdamW.
struct AdamWOptions {
  double lr = 1e-3;
  std::pair<double, double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
  bool maximize = false;
  operator AdamOptions() const { return {lr, betas, eps, weight_decay, amsgrad, maximize}; }
};

class Adam : public detail::OptimizerWithOptions<AdamOptions> {
 public:
  explicit Adam(std::vector<Tensor> params, double lr = 1e-3, std::pair<double, double> betas = {0.9, 0.999},
                double eps = 1e-8, double weight_decay = 0.0, bool amsgrad = false);
  Adam(std::vector<Tensor> params, const AdamOptions& options);
  explicit Adam(std::vector<ParamGroup<AdamOptions>> groups);

  void step() override;
  StateDict state_dict() const override;
  void load_state_dict(const StateDict& state) override;

 protected:
  struct State {
    int64_t step = 0;
    Tensor exp_avg, exp_avg_sq, max_exp_avg_sq;
  };
  Adam(std::vector<ParamGroup<AdamOptions>> groups, bool decoupled_weight_decay);
  const char* name() const { return decoupled_ ? "AdamW" : "Adam"; }

 private:
  void init();
  bool decoupled_ = false;
  std::vector<State> state_;  // per parameter index; step == 0 until its first step
};

// Adam with decoupled weight decay. Same state dict layout as Adam.
class AdamW : public Adam {
 public:
  explicit AdamW(std::vector<Tensor> params, double lr = 1e-3, std::pair<double, double> betas = {0.9, 0.999},
                 double eps = 1e-8, double weight_decay = 1e-2, bool amsgrad = false);
  AdamW(std::vector<Tensor> params, const AdamWOptions& options);
  explicit AdamW(std::vector<ParamGroup<AdamWOptions>> groups);
};

}  // namespace attn::optim
