// Optimizer base: gradient clearing, learning-rate accessors, parameter checks and the state-dict
// plumbing shared by SGD and Adam/AdamW (see attn/optim/optimizer.h for the layout).
#include "attn/optim/optimizer.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "attn/core/autograd.h"

namespace attn::optim {

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (size_t g = 0; g < num_param_groups(); ++g)
    for (const Tensor& p : group_params(g)) {
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      if (set_to_none)
        Tensor(p).set_grad(Tensor());
      else
        grad.zero_();
    }
}

void Optimizer::set_lr(double lr) {
  for (size_t g = 0; g < num_param_groups(); ++g) set_group_lr(g, lr);
}

std::vector<Tensor> Optimizer::parameters() const {
  std::vector<Tensor> out;
  for (size_t g = 0; g < num_param_groups(); ++g)
    for (const Tensor& p : group_params(g)) out.push_back(p);
  return out;
}

std::optional<double> Optimizer::initial_lr(size_t group) const {
  ATTN_CHECK(group < num_param_groups(), "optimizer: param group ", group, " out of range (", num_param_groups(),
             " groups)");
  return group < initial_lrs_.size() ? initial_lrs_[group] : std::nullopt;
}

void Optimizer::set_initial_lr(size_t group, double lr) {
  ATTN_CHECK(group < num_param_groups(), "optimizer: param group ", group, " out of range (", num_param_groups(),
             " groups)");
  if (initial_lrs_.size() < num_param_groups()) initial_lrs_.resize(num_param_groups());
  initial_lrs_[group] = lr;
}

namespace detail {

size_t check_params(const char* who, const std::vector<std::vector<Tensor>*>& groups) {
  ATTN_CHECK(!groups.empty(), who, ": needs at least one parameter group");
  std::set<const TensorImpl*> seen;
  size_t n = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    for (size_t i = 0; i < groups[g]->size(); ++i) {
      const Tensor& p = (*groups[g])[i];
      ATTN_CHECK(p.defined(), who, ": parameter ", i, " of group ", g, " is an undefined tensor");
      ATTN_CHECK(p.is_floating_point(), who, ": parameter ", i, " of group ", g, " is ", p.describe(),
                 "; only float32/float64 tensors can be optimized");
      // The update loops run over the raw buffer; nn parameters are always contiguous.
      ATTN_CHECK(p.is_contiguous(), who, ": parameter ", i, " of group ", g, " (", p.describe(),
                 ") is not contiguous");
      ATTN_CHECK(p.is_leaf(), who, ": parameter ", i, " of group ", g, " is not a leaf tensor (it has a grad_fn)");
      ATTN_CHECK(seen.insert(&p.impl()).second, who, ": parameter ", i, " of group ", g,
                 " appears more than once (a tensor may belong to one group only)");
      ++n;
    }
  }
  return n;
}

Tensor hyper(double v) { return scalar_tensor(v, kFloat64); }

const Tensor* find_entry(const StateDict& sd, const std::string& name) {
  for (const auto& [k, t] : sd)
    if (k == name) return &t;
  return nullptr;
}

double read_hyper(const StateDict& sd, const std::string& name, const char* who) {
  const Tensor* t = find_entry(sd, name);
  ATTN_CHECK(t, who, ".load_state_dict: missing entry '", name, "'");
  ATTN_CHECK(t->defined() && t->numel() == 1, who, ".load_state_dict: entry '", name,
             "' must hold one number, got ", t->defined() ? t->describe() : "an undefined tensor");
  return t->item<double>();
}

namespace {

// Parses "<digits>" fully; false on anything else.
bool parse_index(std::string_view s, size_t* out) {
  if (s.empty() || s.size() > 18) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// Splits "<prefix><index>.<rest>"; false when the key does not have that form.
bool split_key(const std::string& key, std::string_view prefix, size_t* index, std::string* rest) {
  if (key.compare(0, prefix.size(), prefix) != 0) return false;
  const size_t dot = key.find('.', prefix.size());
  if (dot == std::string::npos) return false;
  if (!parse_index(std::string_view(key).substr(prefix.size(), dot - prefix.size()), index)) return false;
  *rest = key.substr(dot + 1);
  return true;
}

}  // namespace

void check_state_layout(const StateDict& sd, const Optimizer& opt, const char* who,
                        const std::vector<std::string>& buffers, const std::vector<std::string>& group_keys) {
  const size_t groups = opt.num_param_groups();
  size_t offset = 0;
  for (size_t g = 0; g < groups; ++g) {
    const std::string key = "param_groups." + std::to_string(g) + ".params";
    const Tensor* ids = find_entry(sd, key);
    ATTN_CHECK(ids, who, ".load_state_dict: missing entry '", key, "' (the state dict has fewer groups than the ",
               groups, " of this optimizer?)");
    const size_t n = opt.group_params(g).size();
    ATTN_CHECK(ids->defined() && ids->dtype() == kInt64 && ids->dim() == 1, who, ".load_state_dict: '", key,
               "' must be a 1-D int64 tensor, got ", ids->defined() ? ids->describe() : "undefined");
    ATTN_CHECK(size_t(ids->numel()) == n, who, ".load_state_dict: group ", g, " has ", ids->numel(),
               " parameters in the state dict but ", n, " in this optimizer");
    const std::vector<int64_t> v = to_int64_vector(*ids);
    for (size_t i = 0; i < n; ++i)
      ATTN_CHECK(v[i] == int64_t(offset + i), who, ".load_state_dict: '", key, "'[", i, "] is ", v[i], ", expected ",
                 offset + i, " (parameters are numbered across groups in order)");
    offset += n;
  }
  for (const auto& [key, t] : sd) {
    size_t idx = 0;
    std::string rest;
    if (split_key(key, "param_groups.", &idx, &rest)) {
      ATTN_CHECK(idx < groups, who, ".load_state_dict: entry '", key, "' names group ", idx, " but this optimizer has ",
                 groups, " groups");
      const bool known = rest == "params" || rest == "initial_lr" ||
                         std::find(group_keys.begin(), group_keys.end(), rest) != group_keys.end();
      ATTN_CHECK(known, who, ".load_state_dict: unknown group option in '", key, "'");
    } else if (split_key(key, "state.", &idx, &rest)) {
      ATTN_CHECK(idx < offset, who, ".load_state_dict: entry '", key, "' names parameter ", idx,
                 " but this optimizer has ", offset, " parameters");
      ATTN_CHECK(std::find(buffers.begin(), buffers.end(), rest) != buffers.end(), who,
                 ".load_state_dict: unknown state entry '", key, "' (is this the state of a different optimizer?)");
    } else {
      ATTN_FAIL(who, ".load_state_dict: unexpected entry '", key, "' (expected state.<i>.<buffer> or param_groups.<g>.<option>)");
    }
  }
}

Tensor read_buffer(const StateDict& sd, size_t index, const std::string& buffer, const Tensor& param, const char* who) {
  const std::string key = "state." + std::to_string(index) + "." + buffer;
  const Tensor* t = find_entry(sd, key);
  if (!t) return Tensor();
  ATTN_CHECK(t->defined(), who, ".load_state_dict: entry '", key, "' is an undefined tensor");
  ATTN_CHECK(t->shape() == param.shape(), who, ".load_state_dict: entry '", key, "' has shape ", shape_str(t->shape()),
             " but parameter ", index, " has shape ", shape_str(param.shape()));
  ATTN_CHECK(t->is_floating_point(), who, ".load_state_dict: entry '", key, "' is ", t->describe(),
             ", expected a floating-point tensor");
  NoGradGuard no_grad;
  // A fresh buffer: the optimizer updates it in place and must not write into the caller's tensors.
  Tensor out = empty(param.shape(), param.dtype());
  out.copy_(*t);
  return out;
}

}  // namespace detail
}  // namespace attn::optim
