// Optimizer: the base of attn's gradient-descent optimizers (SGD, Adam, AdamW), with PyTorch's
// semantics and vocabulary (torch.optim.Optimizer). An optimizer holds references to parameter
// tensors, grouped into param groups that each carry their own hyperparameters; step() updates
// every parameter that has a gradient in place, zero_grad() clears the gradients.
//
// What it deliberately is not: a closure-based API (no `step(closure)`; attn has no L-BFGS), nor
// a Module-aware one — optimizers take tensors, exactly as in PyTorch (`model.parameters()`).
//
// Resuming bit for bit: state_dict() exports every per-parameter buffer and every group's
// hyperparameters as named tensors, laid out like PyTorch's optimizer state dict:
//   state.<i>.<buffer>          e.g. state.0.exp_avg, state.3.momentum_buffer, state.0.step
//   param_groups.<g>.<option>   0-d float64, e.g. param_groups.0.lr
//   param_groups.<g>.params     1-D int64: the indices <i> of the group's parameters
// where <i> numbers parameters across all groups in order. load_state_dict() into an optimizer
// built over the same parameters restores them exactly, so training continues as if never
// interrupted. (`step` is int64 here; PyTorch 1.13 keeps it as a float32 0-d tensor.)
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "attn/core/tensor.h"

namespace attn::optim {

// Named tensors in a fixed order: the same type as attn::nn::Module::state_dict() and io's
// save_state_dict(), so an optimizer's state can be written next to the model's.
using StateDict = std::vector<std::pair<std::string, Tensor>>;

// One group of parameters sharing hyperparameters (PyTorch's param_groups entries).
template <class Options>
struct ParamGroup {
  std::vector<Tensor> params;
  Options options;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // Updates every parameter whose .grad is defined (others are skipped, their state untouched).
  // Runs without recording autograd history.
  virtual void step() = 0;
  // set_to_none (the default, as in PyTorch >= 2.0) drops the gradients; false zeroes them in place.
  void zero_grad(bool set_to_none = true);

  virtual size_t num_param_groups() const = 0;
  virtual const std::vector<Tensor>& group_params(size_t group) const = 0;
  virtual double group_lr(size_t group) const = 0;
  virtual void set_group_lr(size_t group, double lr) = 0;

  // The learning rate of the first group, and a setter for every group (the common case of a
  // single group; schedulers use the per-group accessors).
  double lr() const { return group_lr(0); }
  void set_lr(double lr);
  // All parameters, group by group: index i here is the <i> of the state dict.
  std::vector<Tensor> parameters() const;

  // The learning rate a scheduler started from (PyTorch's group['initial_lr']): recorded by the
  // first scheduler attached, so a second, chained scheduler starts from the same base.
  std::optional<double> initial_lr(size_t group) const;
  void set_initial_lr(size_t group, double lr);

  // See the file comment. Tensors alias the live buffers (as in PyTorch): save or clone them
  // before the next step() if a snapshot is wanted.
  virtual StateDict state_dict() const = 0;
  // Restores a state_dict() of an optimizer of the same kind over parameters of the same shapes
  // in the same groups. Throws attn::Error naming the entry on any mismatch or unknown key.
  virtual void load_state_dict(const StateDict& state) = 0;

 protected:
  std::vector<std::optional<double>> initial_lrs_;
};

namespace detail {

// Holds the groups of an optimizer whose hyperparameters are `Options` (which has a `double lr`),
// and implements the per-group accessors. Checks what every optimizer requires of parameters.
template <class Options>
class OptimizerWithOptions : public Optimizer {
 public:
  size_t num_param_groups() const override { return groups_.size(); }
  const std::vector<Tensor>& group_params(size_t g) const override { return group(g).params; }
  double group_lr(size_t g) const override { return group(g).options.lr; }
  void set_group_lr(size_t g, double lr) override { groups_.at(g).options.lr = lr; }
  std::vector<ParamGroup<Options>>& param_groups() { return groups_; }
  const std::vector<ParamGroup<Options>>& param_groups() const { return groups_; }

 protected:
  const ParamGroup<Options>& group(size_t g) const {
    ATTN_CHECK(g < groups_.size(), "optimizer: param group ", g, " out of range (", groups_.size(), " groups)");
    return groups_[g];
  }
  std::vector<ParamGroup<Options>> groups_;
};

// Validates the parameters of all groups (defined, floating point, contiguous, leaf, no tensor in
// two places) and returns their total count. `who` names the optimizer in messages.
size_t check_params(const char* who, const std::vector<std::vector<Tensor>*>& groups);

// Helpers for state dicts: 0-d float64 tensors for hyperparameters, lookup with clear errors.
Tensor hyper(double v);
const Tensor* find_entry(const StateDict& sd, const std::string& name);
double read_hyper(const StateDict& sd, const std::string& name, const char* who);
// Checks that sd's param_groups.<g>.params match the optimizer's groups, and that every key is
// one of `known` per-parameter buffers or a group option in `group_keys`.
void check_state_layout(const StateDict& sd, const Optimizer& opt, const char* who,
                        const std::vector<std::string>& buffers, const std::vector<std::string>& group_keys);
// A per-parameter buffer from sd, checked against the parameter's shape and converted to its dtype;
// undefined when absent. The result is a fresh copy.
Tensor read_buffer(const StateDict& sd, size_t index, const std::string& buffer, const Tensor& param, const char* who);

}  // namespace detail
}  // namespace attn::optim
