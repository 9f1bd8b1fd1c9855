#include "attn/core/gradcheck.h"

#include <cmath>
#include <sstream>

#include "attn/core/autograd.h"
#include "attn/core/random.h"

namespace attn {

namespace {
// sum(dy * y) in double, for one evaluation of f.
double project(const Tensor& y, const std::vector<double>& dy) {
  const std::vector<double> v = to_double_vector(y);
  double s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += dy[i] * v[i];
  return s;
}
}  // namespace

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs_in,
                          const GradcheckOptions& opt) {
  // Work on contiguous float64 leaves the caller does not see being perturbed.
  std::vector<Tensor> inputs;
  std::vector<Tensor> checked;
  for (const Tensor& t : inputs_in) {
    if (t.requires_grad()) {
      ATTN_CHECK(t.dtype() == kFloat64, "gradcheck: inputs that require grad must be float64, got ", t.describe());
      Tensor c = t.detach().clone();
      c.requires_grad_(true);
      inputs.push_back(c);
      checked.push_back(c);
    } else {
      inputs.push_back(t);
    }
  }
  ATTN_CHECK(!checked.empty(), "gradcheck: no input requires grad");
  Tensor y = f(inputs);
  ATTN_CHECK(y.requires_grad(), "gradcheck: output does not depend on any input that requires grad");
  ATTN_CHECK(y.dtype() == kFloat64, "gradcheck: output must be float64, got ", y.describe());
  Generator gen(opt.seed);
  Tensor dy = randn(y.shape(), kFloat64, &gen);
  const std::vector<double> dyv = to_double_vector(dy);
  std::vector<Tensor> analytic = autograd::grad({y}, checked, {dy});

  GradcheckResult r;
  double worst_excess = -1;
  NoGradGuard ng;
  for (size_t k = 0; k < checked.size(); ++k) {
    double* p = checked[k].data_ptr<double>();
    const std::vector<double> a = to_double_vector(analytic[k]);
    for (int64_t i = 0; i < checked[k].numel(); ++i) {
      const double x0 = p[i];
      p[i] = x0 + opt.eps;
      const double fp = project(f(inputs), dyv);
      p[i] = x0 - opt.eps;
      const double fm = project(f(inputs), dyv);
      p[i] = x0;
      const double num = (fp - fm) / (2 * opt.eps);
      const double err = std::abs(a[size_t(i)] - num);
      const double tol = opt.atol + opt.rtol * std::abs(num);
      r.max_abs_error = std::max(r.max_abs_error, err);
      r.max_rel_error = std::max(r.max_rel_error, err / std::max(std::abs(num), 1e-12));
      if (!std::isfinite(a[size_t(i)]) || err - tol > worst_excess) {
        worst_excess = std::isfinite(a[size_t(i)]) ? err - tol : INFINITY;
        std::ostringstream os;
        os << "input " << k << " " << checked[k].describe() << ", flat index " << i << ": analytic " << a[size_t(i)]
           << " vs numeric " << num << " (abs err " << err << ", tolerance " << tol << ")";
        r.worst = os.str();
      }
      if (!(err <= tol)) r.ok = false;
    }
  }
  return r;
}

}  // namespace attn
