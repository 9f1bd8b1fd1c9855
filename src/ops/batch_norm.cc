// batch_norm composed from differentiable ops (mean, var, rsqrt, broadcasting arithmetic), so
// autograd derives the gradient through the batch statistics; see include/attn/ops/batch_norm.h.
#include "attn/ops/batch_norm.h"

#include "attn/core/autograd.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/reduce.h"
#include "attn/ops/unary.h"

namespace attn {

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  ATTN_CHECK(x.dim() >= 2, "batch_norm: expected input [B, C, ...], got ", x.describe());
  ATTN_CHECK(x.is_floating_point(), "batch_norm: expected a floating point input, got ", x.describe());
  const int64_t C = x.size(1);
  auto check_vec = [&](const Tensor& t, const char* what) {
    if (!t.defined()) return;
    ATTN_CHECK(t.dim() == 1 && t.size(0) == C && t.dtype() == x.dtype(), "batch_norm: expected ", what, " [", C,
               "] of ", x.dtype(), " for input ", x.describe(), ", got ", t.describe());
  };
  check_vec(running_mean, "running_mean");
  check_vec(running_var, "running_var");
  check_vec(weight, "weight");
  check_vec(bias, "bias");
  ATTN_CHECK(running_mean.defined() == running_var.defined(),
             "batch_norm: running_mean and running_var must both be given or both be undefined");
  Shape bshape(size_t(x.dim()), 1);  // [1, C, 1, ...]: per-channel values broadcast over x
  bshape[1] = C;
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != 1) dims.push_back(d);
  Tensor mean_c, var_c;
  if (training) {
    const int64_t n = C == 0 ? 0 : x.numel() / C;
    ATTN_CHECK(n > 1, "batch_norm: expected more than 1 value per channel when training, got input ", x.describe());
    mean_c = mean(x, dims, true);
    var_c = var(x, dims, 0, true);
    if (running_mean.defined()) {
      NoGradGuard no_grad;
      const Tensor m = mean_c.detach().reshape({C}), v = var_c.detach().reshape({C}) * (double(n) / double(n - 1));
      Tensor rm = running_mean, rv = running_var;  // handles to the caller's storage, updated in place
      rm.copy_(rm * (1.0 - momentum) + m * momentum);
      rv.copy_(rv * (1.0 - momentum) + v * momentum);
    }
  } else {
    ATTN_CHECK(running_mean.defined(), "batch_norm: running_mean and running_var are needed in eval mode (input ",
               x.describe(), ")");
    mean_c = running_mean.view(bshape);
    var_c = running_var.view(bshape);
  }
  Tensor y = (x - mean_c) * rsqrt(var_c + eps);
  if (weight.defined()) y = y * weight.view(bshape);
  if (bias.defined()) y = y + bias.view(bshape);
  return y;
}

}  // namespace attn
