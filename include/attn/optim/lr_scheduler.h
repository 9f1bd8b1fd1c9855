// Learning-rate schedulers with torch.optim.lr_scheduler's semantics: a scheduler is attached to
// an optimizer, sets its learning rate on construction (epoch 0), and step() — called once per
// epoch or per iteration, after optimizer.step() — advances last_epoch and writes the new rate
// into every param group. get_last_lr() returns what the last step set.
//
// StepLR, CosineAnnealingLR and LinearLR use PyTorch's recursive ("chainable") update, which
// multiplies the optimizer's current lr; the sequences therefore match PyTorch's to the last bit,
// and several schedulers may be chained on one optimizer as in PyTorch. LambdaLR and NoamLR are
// closed forms of last_epoch.
//
//   StepLR             lr *= gamma every step_size epochs
//   CosineAnnealingLR  lr = eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2
//                      (SGDR without restarts, Loshchilov & Hutter 2017)
//   LinearLR           factor goes linearly from start_factor to end_factor over total_iters
//                      epochs: linear warmup (start_factor < 1 = end_factor) or linear decay
//   LambdaLR           lr = base_lr * lambda(epoch)
//   NoamLR             lr = factor * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)
//                      (Vaswani et al. 2017, eq. 3; "Noam" after the Annotated Transformer),
//                      with step = max(last_epoch, 1): the rate itself, not a multiplier of
//                      the optimizer's lr (build the optimizer with any lr, e.g. 1.0).
//
// Deliberately not here: the deprecated step(epoch) form and ReduceLROnPlateau.
#pragma once
#include <functional>
#include <vector>

#include "attn/optim/optimizer.h"

namespace attn::optim {

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // Advances one epoch (or iteration) and sets the optimizer's learning rates.
  void step();
  // The learning rate of each param group set by the last step (or by the constructor).
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  int64_t last_epoch() const { return last_epoch_; }

  // last_epoch, step count, base and last learning rates (float64 / int64 tensors), so a resumed
  // run continues the same schedule. Load into a scheduler of the same kind on the same optimizer
  // (whose lrs come back with the optimizer's own state dict).
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);

 protected:
  explicit LRScheduler(Optimizer& optimizer);
  // The new rate per group for last_epoch_ (already advanced); may read the optimizer's lrs.
  virtual std::vector<double> get_lr() = 0;
  // Each concrete constructor ends with this (a virtual call cannot happen in the base constructor).
  void initial_step() {
    step_count_ = 0;
    step();
  }

  Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  int64_t last_epoch_ = -1;
  int64_t step_count_ = 0;
  std::vector<double> last_lr_;
};

class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);

 private:
  std::vector<double> get_lr() override;
  int64_t step_size_;
  double gamma_;
};

class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0.0);

 private:
  std::vector<double> get_lr() override;
  int64_t t_max_;
  double eta_min_;
};

class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0, int64_t total_iters = 5);

 private:
  std::vector<double> get_lr() override;
  double start_factor_, end_factor_;
  int64_t total_iters_;
};

class LambdaLR : public LRScheduler {
 public:
  using Lambda = std::function<double(int64_t epoch)>;
  LambdaLR(Optimizer& optimizer, Lambda lr_lambda);
  // One function per param group.
  LambdaLR(Optimizer& optimizer, std::vector<Lambda> lr_lambdas);

 private:
  std::vector<double> get_lr() override;
  std::vector<Lambda> lambdas_;
};

class NoamLR : public LRScheduler {
 public:
  NoamLR(Optimizer& optimizer, int64_t d_model, int64_t warmup_steps, double factor = 1.0);
  // The schedule as a function of the step, for plotting or for use in a LambdaLR.
  static double rate(int64_t step, int64_t d_model, int64_t warmup_steps, double factor);

 private:
  std::vector<double> get_lr() override;
  int64_t d_model_, warmup_;
  double factor_;
};

}  // namespace attn::optim
