// Adam / AdamW (see attn/optim/adam.h). The update follows torch.optim.Adam's single-tensor
// (foreach=False) path op by op in the parameter's dtype, so that float32 results agree with
// PyTorch to within rounding and float64 results agree almost bit for bit:
//   grad.add(param, alpha=wd)              -> g + wd * p
//   exp_avg.mul_(b1).add_(g, alpha=1-b1)   -> m * b1 + (1-b1) * g
//   exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2) -> v * b2 + ((1-b2) * g) * g
//   denom = (v.sqrt() / sqrt(bc2)).add_(eps)
//   param.addcdiv_(m, denom, value=-step_size) -> p + ((-step_size) * m) / denom
// The bias corrections and step size are computed in double from the step count, as Python does.
#include "attn/optim/adam.h"

#include <cmath>

#include "attn/core/autograd.h"
#include "kernels/parallel.h"
#include "optim/optim_util.h"

namespace attn::optim {
namespace {

struct AdamScalars {
  double beta1, beta2, weight_decay, eps, decay_factor, bias_correction2_sqrt, step_size;
  bool maximize, decoupled, amsgrad;
};

// The common case (no maximize, no amsgrad) with the weight-decay choice a template argument: a
// branch-free body over restrict pointers that the compiler vectorises (the step is memory-bound).
// The arithmetic is the general loop's (float madd = one double product and sum, rounded once);
// sqrt and division are correctly rounded in SIMD lanes too, so the result is the same bit for bit.
// v >= 0 (or NaN), so sqrt never has a domain error: this file is compiled without errno
// (CMakeLists.txt), which lets the compiler use SIMD square roots.
template <class T, bool kDecoupled, bool kCoupled>
void adam_plain_range(int64_t i0, int64_t i1, T* __restrict p, const T* __restrict g, T* __restrict m,
                      T* __restrict v, const AdamScalars& s) {
  const T b1 = T(s.beta1), one_m_b1 = T(1.0 - s.beta1), b2 = T(s.beta2), one_m_b2 = T(1.0 - s.beta2);
  const T wd = T(s.weight_decay), decay = T(s.decay_factor), bc2 = T(s.bias_correction2_sqrt), eps = T(s.eps);
  const T neg_step = T(-s.step_size);
#pragma omp simd
  for (int64_t i = i0; i < i1; ++i) {
    T pi = p[i], gi = g[i];
    if constexpr (kDecoupled) pi = pi * decay;
    if constexpr (kCoupled) gi = detail::madd(gi, wd, pi);
    const T mi = detail::madd(m[i] * b1, one_m_b1, gi);
    const T vi = v[i] * b2 + (one_m_b2 * gi) * gi;
    m[i] = mi;
    v[i] = vi;
    const T denom = std::sqrt(vi) / bc2 + eps;
    p[i] = pi + (neg_step * mi) / denom;
  }
}

template <class T, bool kDecoupled, bool kCoupled>
void adam_plain(int64_t n, T* p, const T* g, T* m, T* v, const AdamScalars& s) {
  kernels::parallel_for(0, n, detail::kUpdateGrain, [&](int64_t i0, int64_t i1) {
    adam_plain_range<T, kDecoupled, kCoupled>(i0, i1, p, g, m, v, s);
  });
}

template <class T>
void adam_update(int64_t n, T* p, const T* g, T* m, T* v, T* vmax, const AdamScalars& s) {
  if (!s.maximize && !vmax) {
    if (s.decoupled) return adam_plain<T, true, false>(n, p, g, m, v, s);
    if (s.weight_decay != 0.0) return adam_plain<T, false, true>(n, p, g, m, v, s);
    return adam_plain<T, false, false>(n, p, g, m, v, s);
  }
  const T b1 = T(s.beta1), one_m_b1 = T(1.0 - s.beta1), b2 = T(s.beta2), one_m_b2 = T(1.0 - s.beta2);
  const T wd = T(s.weight_decay), decay = T(s.decay_factor), bc2 = T(s.bias_correction2_sqrt), eps = T(s.eps);
  const T neg_step = T(-s.step_size);
  const bool coupled_wd = !s.decoupled && s.weight_decay != 0.0;
  const bool decoupled_wd = s.decoupled;  // PyTorch's AdamW multiplies even when weight_decay == 0
  kernels::parallel_for(0, n, detail::kUpdateGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      T gi = s.maximize ? -g[i] : g[i];
      if (decoupled_wd) p[i] = p[i] * decay;
      if (coupled_wd) gi = detail::madd(gi, wd, p[i]);
      m[i] = detail::madd(m[i] * b1, one_m_b1, gi);
      v[i] = v[i] * b2 + (one_m_b2 * gi) * gi;
      T second = v[i];
      if (vmax) {
        // torch.maximum propagates NaN; std::max would not.
        vmax[i] = (std::isnan(vmax[i]) || vmax[i] > v[i]) ? vmax[i] : v[i];
        second = vmax[i];
      }
      const T denom = std::sqrt(second) / bc2 + eps;
      p[i] = p[i] + (neg_step * m[i]) / denom;
    }
  });
}

void check_options(const AdamOptions& o, size_t g, const char* who) {
  ATTN_CHECK(o.lr >= 0.0, who, ": invalid learning rate ", o.lr, " in group ", g);
  ATTN_CHECK(o.eps >= 0.0, who, ": invalid epsilon ", o.eps, " in group ", g);
  ATTN_CHECK(o.betas.first >= 0.0 && o.betas.first < 1.0, who, ": invalid beta parameter at index 0: ", o.betas.first,
             " in group ", g);
  ATTN_CHECK(o.betas.second >= 0.0 && o.betas.second < 1.0, who, ": invalid beta parameter at index 1: ",
             o.betas.second, " in group ", g);
  ATTN_CHECK(o.weight_decay >= 0.0, who, ": invalid weight_decay ", o.weight_decay, " in group ", g);
}

std::vector<ParamGroup<AdamOptions>> one_group(std::vector<Tensor> params, const AdamOptions& o) {
  std::vector<ParamGroup<AdamOptions>> gs;
  gs.push_back({std::move(params), o});
  return gs;
}

std::vector<ParamGroup<AdamOptions>> to_adam(std::vector<ParamGroup<AdamWOptions>> groups) {
  std::vector<ParamGroup<AdamOptions>> gs;
  for (auto& g : groups) gs.push_back({std::move(g.params), AdamOptions(g.options)});
  return gs;
}

}  // namespace

Adam::Adam(std::vector<Tensor> params, double lr, std::pair<double, double> betas, double eps, double weight_decay,
           bool amsgrad)
    : Adam(one_group(std::move(params), AdamOptions{lr, betas, eps, weight_decay, amsgrad, false}), false) {}

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options) : Adam(one_group(std::move(params), options), false) {}

Adam::Adam(std::vector<ParamGroup<AdamOptions>> groups) : Adam(std::move(groups), false) {}

Adam::Adam(std::vector<ParamGroup<AdamOptions>> groups, bool decoupled_weight_decay) : decoupled_(decoupled_weight_decay) {
  groups_ = std::move(groups);
  init();
}

AdamW::AdamW(std::vector<Tensor> params, double lr, std::pair<double, double> betas, double eps, double weight_decay,
             bool amsgrad)
    : Adam(one_group(std::move(params), AdamOptions{lr, betas, eps, weight_decay, amsgrad, false}), true) {}

AdamW::AdamW(std::vector<Tensor> params, const AdamWOptions& options)
    : Adam(one_group(std::move(params), options), true) {}

AdamW::AdamW(std::vector<ParamGroup<AdamWOptions>> groups) : Adam(to_adam(std::move(groups)), true) {}

void Adam::init() {
  std::vector<std::vector<Tensor>*> ps;
  for (size_t g = 0; g < groups_.size(); ++g) {
    check_options(groups_[g].options, g, name());
    ps.push_back(&groups_[g].params);
  }
  state_.assign(detail::check_params(name(), ps), State{});
}

void Adam::step() {
  NoGradGuard no_grad;
  size_t index = 0;
  for (auto& group : groups_) {
    const AdamOptions& o = group.options;
    for (Tensor& p : group.params) {
      const size_t i = index++;
      Tensor g = detail::step_grad(p, name(), i);
      if (!g.defined()) continue;
      State& st = state_[i];
      if (st.step == 0) {  // lazy state initialisation, as in PyTorch
        st.exp_avg = zeros(p.shape(), p.dtype());
        st.exp_avg_sq = zeros(p.shape(), p.dtype());
      }
      if (o.amsgrad && !st.max_exp_avg_sq.defined()) st.max_exp_avg_sq = zeros(p.shape(), p.dtype());
      detail::check_state(st.exp_avg, p, name(), i, "exp_avg");
      detail::check_state(st.exp_avg_sq, p, name(), i, "exp_avg_sq");
      if (o.amsgrad) detail::check_state(st.max_exp_avg_sq, p, name(), i, "max_exp_avg_sq");
      st.step += 1;
      // Python: bias_correction = 1 - beta ** step (floats), step_size = lr / bias_correction1.
      const double t = double(st.step);
      const double bc1 = 1.0 - std::pow(o.betas.first, t), bc2 = 1.0 - std::pow(o.betas.second, t);
      AdamScalars s{o.betas.first, o.betas.second, o.weight_decay, o.eps, 1.0 - o.lr * o.weight_decay, std::sqrt(bc2),
                    o.lr / bc1, o.maximize, decoupled_, o.amsgrad};
      ATTN_DISPATCH_FLOATING(p.dtype(), name(), [&] {
        adam_update<scalar_t>(p.numel(), p.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(), st.exp_avg.data_ptr<scalar_t>(),
                              st.exp_avg_sq.data_ptr<scalar_t>(),
                              o.amsgrad ? st.max_exp_avg_sq.data_ptr<scalar_t>() : nullptr, s);
      });
    }
  }
}

StateDict Adam::state_dict() const {
  StateDict sd;
  for (size_t i = 0; i < state_.size(); ++i) {
    const State& st = state_[i];
    if (st.step == 0) continue;
    const std::string pre = "state." + std::to_string(i) + ".";
    sd.emplace_back(pre + "step", scalar_tensor(double(st.step), kInt64));
    sd.emplace_back(pre + "exp_avg", st.exp_avg);
    sd.emplace_back(pre + "exp_avg_sq", st.exp_avg_sq);
    if (st.max_exp_avg_sq.defined()) sd.emplace_back(pre + "max_exp_avg_sq", st.max_exp_avg_sq);
  }
  int64_t offset = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const std::string pre = "param_groups." + std::to_string(g) + ".";
    const AdamOptions& o = groups_[g].options;
    sd.emplace_back(pre + "lr", detail::hyper(o.lr));
    sd.emplace_back(pre + "beta1", detail::hyper(o.betas.first));
    sd.emplace_back(pre + "beta2", detail::hyper(o.betas.second));
    sd.emplace_back(pre + "eps", detail::hyper(o.eps));
    sd.emplace_back(pre + "weight_decay", detail::hyper(o.weight_decay));
    sd.emplace_back(pre + "amsgrad", detail::hyper(o.amsgrad));
    sd.emplace_back(pre + "maximize", detail::hyper(o.maximize));
    if (auto init = initial_lr(g)) sd.emplace_back(pre + "initial_lr", detail::hyper(*init));
    const int64_t n = int64_t(groups_[g].params.size());
    sd.emplace_back(pre + "params", arange(double(offset), double(offset + n)));
    offset += n;
  }
  return sd;
}

void Adam::load_state_dict(const StateDict& sd) {
  const char* who = name();
  detail::check_state_layout(sd, *this, who, {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
                             {"lr", "beta1", "beta2", "eps", "weight_decay", "amsgrad", "maximize"});
  // Read everything first so that a bad entry leaves the optimizer unchanged.
  std::vector<AdamOptions> opts;
  std::vector<std::optional<double>> init;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const std::string pre = "param_groups." + std::to_string(g) + ".";
    AdamOptions o;
    o.lr = detail::read_hyper(sd, pre + "lr", who);
    o.betas = {detail::read_hyper(sd, pre + "beta1", who), detail::read_hyper(sd, pre + "beta2", who)};
    o.eps = detail::read_hyper(sd, pre + "eps", who);
    o.weight_decay = detail::read_hyper(sd, pre + "weight_decay", who);
    o.amsgrad = detail::read_hyper(sd, pre + "amsgrad", who) != 0.0;
    o.maximize = detail::read_hyper(sd, pre + "maximize", who) != 0.0;
    check_options(o, g, who);
    opts.push_back(o);
    init.push_back(detail::find_entry(sd, pre + "initial_lr") ? std::optional(detail::read_hyper(sd, pre + "initial_lr", who))
                                                               : std::nullopt);
  }
  const std::vector<Tensor> params = parameters();
  std::vector<State> state(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string pre = "state." + std::to_string(i) + ".";
    State& st = state[i];
    st.exp_avg = detail::read_buffer(sd, i, "exp_avg", params[i], who);
    st.exp_avg_sq = detail::read_buffer(sd, i, "exp_avg_sq", params[i], who);
    st.max_exp_avg_sq = detail::read_buffer(sd, i, "max_exp_avg_sq", params[i], who);
    const Tensor* step = detail::find_entry(sd, pre + "step");
    if (!step && !st.exp_avg.defined() && !st.exp_avg_sq.defined() && !st.max_exp_avg_sq.defined()) continue;
    ATTN_CHECK(step && st.exp_avg.defined() && st.exp_avg_sq.defined(), who, ".load_state_dict: parameter ", i,
               " needs all of state.", i, ".step, .exp_avg and .exp_avg_sq (some are missing)");
    const double t = detail::read_hyper(sd, pre + "step", who);
    ATTN_CHECK(t >= 1 && t == std::floor(t) && t < 9.0e15, who, ".load_state_dict: state.", i, ".step is ", t,
               ", expected a positive integer");
    st.step = int64_t(t);
  }
  for (size_t g = 0; g < groups_.size(); ++g) groups_[g].options = opts[g];
  initial_lrs_ = init;
  state_ = std::move(state);
}

}  // namespace attn::optim
