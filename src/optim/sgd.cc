// SGD with momentum (see attn/optim/sgd.h). The update follows torch.optim.SGD's single-tensor
// path op by op, in the parameter's dtype: each PyTorch op (add with alpha, mul_, add_) rounds
// once, and the scalars (lr, momentum, ...) are first rounded to the parameter's dtype, as
// PyTorch does when a Python float meets a float32 tensor.
#include "attn/optim/sgd.h"

#include "attn/core/autograd.h"
#include "attn/kernels/config.h"
#include "kernels/axpy.h"
#include "kernels/parallel.h"
#include "optim/optim_util.h"

namespace attn::optim {
namespace {

// Plain SGD (no momentum, weight decay or maximize): p += -lr * g with one rounding, an axpy
// kernel (SIMD fused multiply-add; the step of a batch-1 model is memory-bound).
template <class T>
void plain_update(T* p, const T* g, T neg_lr, int64_t n) {
  if (use_reference_kernels()) return kernels::ref::axpy(n, neg_lr, g, p);
  kernels::fast::axpy(n, neg_lr, g, p);
}

// One parameter's update. `buf` is null without momentum; `first` means the buffer is fresh.
template <class T>
void sgd_update(int64_t n, T* p, const T* g, T* buf, bool first, const SGDOptions& o) {
  const T wd = T(o.weight_decay), mom = T(o.momentum), damp = T(1.0 - o.dampening), neg_lr = T(-o.lr);
  const bool use_wd = o.weight_decay != 0.0, maximize = o.maximize, nesterov = o.nesterov;
  if (!use_wd && !maximize && !buf) {
    kernels::parallel_for(0, n, detail::kUpdateGrain,
                          [&](int64_t i0, int64_t i1) { plain_update(p + i0, g + i0, neg_lr, i1 - i0); });
    return;
  }
  kernels::parallel_for(0, n, detail::kUpdateGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      T d = maximize ? -g[i] : g[i];
      if (use_wd) d = detail::madd(d, wd, p[i]);  // d_p.add(param, alpha=weight_decay)
      if (buf) {
        // buf = clone(d) on the first step, else buf.mul_(momentum).add_(d, alpha=1 - dampening).
        buf[i] = first ? d : detail::madd(buf[i] * mom, damp, d);
        d = nesterov ? detail::madd(d, mom, buf[i]) : buf[i];
      }
      p[i] = detail::madd(p[i], neg_lr, d);  // param.add_(d_p, alpha=-lr)
    }
  });
}

void check_options(const SGDOptions& o, size_t g) {
  ATTN_CHECK(o.lr >= 0.0, "SGD: invalid learning rate ", o.lr, " in group ", g);
  ATTN_CHECK(o.momentum >= 0.0, "SGD: invalid momentum ", o.momentum, " in group ", g);
  ATTN_CHECK(o.weight_decay >= 0.0, "SGD: invalid weight_decay ", o.weight_decay, " in group ", g);
  ATTN_CHECK(!o.nesterov || (o.momentum > 0.0 && o.dampening == 0.0), "SGD: nesterov momentum requires momentum > 0 "
             "and dampening = 0 (group ", g, " has momentum ", o.momentum, ", dampening ", o.dampening, ")");
}

}  // namespace

SGD::SGD(std::vector<Tensor> params, double lr, double momentum, double dampening, double weight_decay, bool nesterov)
    : SGD(std::move(params), SGDOptions{lr, momentum, dampening, weight_decay, nesterov, false}) {}

SGD::SGD(std::vector<Tensor> params, const SGDOptions& options) {
  groups_.push_back({std::move(params), options});
  init();
}

SGD::SGD(std::vector<ParamGroup<SGDOptions>> groups) {
  groups_ = std::move(groups);
  init();
}

void SGD::init() {
  std::vector<std::vector<Tensor>*> ps;
  for (size_t g = 0; g < groups_.size(); ++g) {
    check_options(groups_[g].options, g);
    ps.push_back(&groups_[g].params);
  }
  momentum_buffer_.assign(detail::check_params("SGD", ps), Tensor());
}

void SGD::step() {
  NoGradGuard no_grad;
  size_t index = 0;
  for (auto& group : groups_) {
    const SGDOptions& o = group.options;
    for (Tensor& p : group.params) {
      const size_t i = index++;
      Tensor g = detail::step_grad(p, "SGD", i);
      if (!g.defined()) continue;
      Tensor& buf = momentum_buffer_[i];
      const bool first = o.momentum != 0.0 && !buf.defined();
      if (first) buf = empty(p.shape(), p.dtype());
      if (o.momentum != 0.0) detail::check_state(buf, p, "SGD", i, "momentum_buffer");
      ATTN_DISPATCH_FLOATING(p.dtype(), "SGD", [&] {
        sgd_update<scalar_t>(p.numel(), p.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(),
                             o.momentum != 0.0 ? buf.data_ptr<scalar_t>() : nullptr, first, o);
      });
    }
  }
}

StateDict SGD::state_dict() const {
  StateDict sd;
  for (size_t i = 0; i < momentum_buffer_.size(); ++i)
    if (momentum_buffer_[i].defined()) sd.emplace_back("state." + std::to_string(i) + ".momentum_buffer", momentum_buffer_[i]);
  int64_t offset = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const std::string pre = "param_groups." + std::to_string(g) + ".";
    const SGDOptions& o = groups_[g].options;
    sd.emplace_back(pre + "lr", detail::hyper(o.lr));
    sd.emplace_back(pre + "momentum", detail::hyper(o.momentum));
    sd.emplace_back(pre + "dampening", detail::hyper(o.dampening));
    sd.emplace_back(pre + "weight_decay", detail::hyper(o.weight_decay));
    sd.emplace_back(pre + "nesterov", detail::hyper(o.nesterov));
    sd.emplace_back(pre + "maximize", detail::hyper(o.maximize));
    if (auto init = initial_lr(g)) sd.emplace_back(pre + "initial_lr", detail::hyper(*init));
    const int64_t n = int64_t(groups_[g].params.size());
    sd.emplace_back(pre + "params", arange(double(offset), double(offset + n)));
    offset += n;
  }
  return sd;
}

void SGD::load_state_dict(const StateDict& sd) {
  detail::check_state_layout(sd, *this, "SGD", {"momentum_buffer"},
                             {"lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize"});
  // Read everything first so that a bad entry leaves the optimizer unchanged.
  std::vector<SGDOptions> opts;
  std::vector<std::optional<double>> init;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const std::string pre = "param_groups." + std::to_string(g) + ".";
    SGDOptions o;
    o.lr = detail::read_hyper(sd, pre + "lr", "SGD");
    o.momentum = detail::read_hyper(sd, pre + "momentum", "SGD");
    o.dampening = detail::read_hyper(sd, pre + "dampening", "SGD");
    o.weight_decay = detail::read_hyper(sd, pre + "weight_decay", "SGD");
    o.nesterov = detail::read_hyper(sd, pre + "nesterov", "SGD") != 0.0;
    o.maximize = detail::read_hyper(sd, pre + "maximize", "SGD") != 0.0;
    check_options(o, g);
    opts.push_back(o);
    init.push_back(detail::find_entry(sd, pre + "initial_lr") ? std::optional(detail::read_hyper(sd, pre + "initial_lr", "SGD"))
                                                               : std::nullopt);
  }
  const std::vector<Tensor> params = parameters();
  std::vector<Tensor> bufs(params.size());
  for (size_t i = 0; i < params.size(); ++i) bufs[i] = detail::read_buffer(sd, i, "momentum_buffer", params[i], "SGD");
  for (size_t g = 0; g < groups_.size(); ++g) groups_[g].options = opts[g];
  initial_lrs_ = init;
  momentum_buffer_ = std::move(bufs);
}

}  // namespace attn::optim
