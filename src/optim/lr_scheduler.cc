// Learning-rate schedulers (see attn/optim/lr_scheduler.h). Each get_lr() transcribes the
// expression of torch.optim.lr_scheduler 1.13 in the same evaluation order, in double, so that the
// sequences are bit-identical to PyTorch's.
#include "attn/optim/lr_scheduler.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace attn::optim {
namespace {

// Python's a % b for b > 0: the result has the sign of b.
int64_t py_mod(int64_t a, int64_t b) { return ((a % b) + b) % b; }

const Tensor& entry(const StateDict& sd, const std::string& name) {
  const Tensor* t = detail::find_entry(sd, name);
  ATTN_CHECK(t && t->defined(), "LRScheduler.load_state_dict: missing entry '", name, "'");
  return *t;
}

}  // namespace

LRScheduler::LRScheduler(Optimizer& optimizer) : optimizer_(optimizer) {
  for (size_t g = 0; g < optimizer.num_param_groups(); ++g) {
    if (!optimizer.initial_lr(g)) optimizer.set_initial_lr(g, optimizer.group_lr(g));
    base_lrs_.push_back(*optimizer.initial_lr(g));
  }
}

void LRScheduler::step() {
  ++step_count_;
  ++last_epoch_;
  const std::vector<double> lrs = get_lr();
  last_lr_.clear();
  for (size_t g = 0; g < lrs.size(); ++g) {
    optimizer_.set_group_lr(g, lrs[g]);
    last_lr_.push_back(lrs[g]);
  }
}

StateDict LRScheduler::state_dict() const {
  return {{"last_epoch", scalar_tensor(double(last_epoch_), kInt64)},
          {"step_count", scalar_tensor(double(step_count_), kInt64)},
          {"base_lrs", tensor<double>(base_lrs_)},
          {"last_lr", tensor<double>(last_lr_)}};
}

void LRScheduler::load_state_dict(const StateDict& sd) {
  const size_t groups = optimizer_.num_param_groups();
  for (const auto& [k, t] : sd)
    ATTN_CHECK(k == "last_epoch" || k == "step_count" || k == "base_lrs" || k == "last_lr",
               "LRScheduler.load_state_dict: unexpected entry '", k, "'");
  const Tensor &le = entry(sd, "last_epoch"), &sc = entry(sd, "step_count");
  const Tensor &base = entry(sd, "base_lrs"), &last = entry(sd, "last_lr");
  ATTN_CHECK(le.numel() == 1 && sc.numel() == 1, "LRScheduler.load_state_dict: last_epoch and step_count must be scalars");
  for (const Tensor* t : {&base, &last})
    ATTN_CHECK(t->dim() == 1 && size_t(t->numel()) == groups, "LRScheduler.load_state_dict: base_lrs and last_lr must "
               "hold one rate per param group (", groups, "), got ", t->describe());
  last_epoch_ = le.item<int64_t>();
  step_count_ = sc.item<int64_t>();
  base_lrs_ = to_double_vector(base);
  last_lr_ = to_double_vector(last);
}

// --- StepLR ---------------------------------------------------------------------------------------

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  ATTN_CHECK(step_size > 0, "StepLR: step_size must be positive, got ", step_size);
  initial_step();
}

std::vector<double> StepLR::get_lr() {
  std::vector<double> out;
  for (size_t g = 0; g < optimizer_.num_param_groups(); ++g) {
    const double lr = optimizer_.group_lr(g);
    out.push_back(last_epoch_ == 0 || last_epoch_ % step_size_ != 0 ? lr : lr * gamma_);
  }
  return out;
}

// --- CosineAnnealingLR ----------------------------------------------------------------------------

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min)
    : LRScheduler(optimizer), t_max_(T_max), eta_min_(eta_min) {
  ATTN_CHECK(T_max > 0, "CosineAnnealingLR: T_max must be positive, got ", T_max);
  initial_step();
}

std::vector<double> CosineAnnealingLR::get_lr() {
  constexpr double pi = std::numbers::pi;  // == Python's math.pi
  const double T = double(t_max_), e = double(last_epoch_);
  std::vector<double> out;
  for (size_t g = 0; g < optimizer_.num_param_groups(); ++g) {
    const double lr = optimizer_.group_lr(g);
    if (last_epoch_ == 0)
      out.push_back(lr);
    else if (py_mod(last_epoch_ - 1 - t_max_, 2 * t_max_) == 0)
      // The step after the minimum of a period: the recursion below would divide by 1 + cos(pi) = 0.
      out.push_back(lr + (base_lrs_[g] - eta_min_) * (1 - std::cos(pi / T)) / 2);
    else
      out.push_back((1 + std::cos(pi * e / T)) / (1 + std::cos(pi * (e - 1) / T)) * (lr - eta_min_) + eta_min_);
  }
  return out;
}

// --- LinearLR -------------------------------------------------------------------------------------

LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor, int64_t total_iters)
    : LRScheduler(optimizer), start_factor_(start_factor), end_factor_(end_factor), total_iters_(total_iters) {
  // PyTorch's bounds; start_factor 0 would make the recursion divide by zero, so it is refused here.
  ATTN_CHECK(start_factor > 0.0 && start_factor <= 1.0, "LinearLR: start_factor must be in (0, 1], got ", start_factor);
  ATTN_CHECK(end_factor >= 0.0 && end_factor <= 1.0, "LinearLR: end_factor must be in [0, 1], got ", end_factor);
  ATTN_CHECK(total_iters > 0, "LinearLR: total_iters must be positive, got ", total_iters);
  initial_step();
}

std::vector<double> LinearLR::get_lr() {
  std::vector<double> out;
  for (size_t g = 0; g < optimizer_.num_param_groups(); ++g) {
    const double lr = optimizer_.group_lr(g);
    if (last_epoch_ == 0)
      out.push_back(lr * start_factor_);
    else if (last_epoch_ > total_iters_)
      out.push_back(lr);
    else
      out.push_back(lr * (1. + (end_factor_ - start_factor_) /
                                   (double(total_iters_) * start_factor_ +
                                    double(last_epoch_ - 1) * (end_factor_ - start_factor_))));
  }
  return out;
}

// --- LambdaLR -------------------------------------------------------------------------------------

LambdaLR::LambdaLR(Optimizer& optimizer, Lambda lr_lambda)
    : LambdaLR(optimizer, std::vector<Lambda>(optimizer.num_param_groups(), lr_lambda)) {}

LambdaLR::LambdaLR(Optimizer& optimizer, std::vector<Lambda> lr_lambdas)
    : LRScheduler(optimizer), lambdas_(std::move(lr_lambdas)) {
  ATTN_CHECK(lambdas_.size() == optimizer.num_param_groups(), "LambdaLR: expected ", optimizer.num_param_groups(),
             " lr_lambdas (one per param group), got ", lambdas_.size());
  for (size_t g = 0; g < lambdas_.size(); ++g) ATTN_CHECK(bool(lambdas_[g]), "LambdaLR: lr_lambda ", g, " is empty");
  initial_step();
}

std::vector<double> LambdaLR::get_lr() {
  std::vector<double> out;
  for (size_t g = 0; g < lambdas_.size(); ++g) out.push_back(base_lrs_[g] * lambdas_[g](last_epoch_));
  return out;
}

// --- NoamLR ---------------------------------------------------------------------------------------

NoamLR::NoamLR(Optimizer& optimizer, int64_t d_model, int64_t warmup_steps, double factor)
    : LRScheduler(optimizer), d_model_(d_model), warmup_(warmup_steps), factor_(factor) {
  ATTN_CHECK(d_model > 0 && warmup_steps > 0, "NoamLR: d_model and warmup_steps must be positive, got ", d_model, " and ",
             warmup_steps);
  initial_step();
}

double NoamLR::rate(int64_t step, int64_t d_model, int64_t warmup_steps, double factor) {
  // Epoch 0 would give min(inf, 0) = 0: the Annotated Transformer treats it as step 1.
  const double s = double(std::max<int64_t>(step, 1));
  return factor * (std::pow(double(d_model), -0.5) * std::min(std::pow(s, -0.5), s * std::pow(double(warmup_steps), -1.5)));
}

std::vector<double> NoamLR::get_lr() {
  return std::vector<double>(optimizer_.num_param_groups(), rate(last_epoch_, d_model_, warmup_, factor_));
}

}  // namespace attn::optim
