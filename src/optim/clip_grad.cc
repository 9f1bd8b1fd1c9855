// Gradient clipping (see attn/optim/clip_grad.h).
//
// The norm is a reduction, so it is split into fixed-size blocks whose partial sums are computed
// in parallel and then combined in block order: the result does not depend on the thread count.
#include "attn/optim/clip_grad.h"

#include <cmath>

#include "attn/core/autograd.h"
#include "kernels/parallel.h"

namespace attn::optim {
namespace {

constexpr int64_t kBlock = 1 << 15;  // elements per partial sum

double nan_max(double a, double b) { return (std::isnan(a) || a > b) ? a : b; }  // torch.max propagates NaN

// The gradients that exist, each made contiguous (and stored back when it was not, so that the
// in-place scaling reaches .grad).
std::vector<Tensor> grads_of(const std::vector<Tensor>& params, const char* who) {
  std::vector<Tensor> out;
  for (size_t i = 0; i < params.size(); ++i) {
    ATTN_CHECK(params[i].defined(), who, ": parameter ", i, " is an undefined tensor");
    Tensor g = params[i].grad();
    if (!g.defined()) continue;
    ATTN_CHECK(g.is_floating_point(), who, ": gradient of parameter ", i, " is ", g.describe(), ", expected float32/float64");
    if (!g.is_contiguous()) {
      g = g.contiguous();
      Tensor(params[i]).set_grad(g);
    }
    out.push_back(g);
  }
  return out;
}

// ||g||_p of one gradient, accumulated in double (p = inf: max |g|).
template <class T>
double tensor_norm(const T* x, int64_t n, double p) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> part(size_t(blocks), 0.0);
  const bool inf = std::isinf(p);
  kernels::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i0 = b * kBlock, i1 = std::min(n, i0 + kBlock);
      double acc = 0.0;
      if (inf)
        for (int64_t i = i0; i < i1; ++i) acc = nan_max(std::fabs(double(x[i])), acc);
      else if (p == 2.0)
        for (int64_t i = i0; i < i1; ++i) acc += double(x[i]) * double(x[i]);
      else if (p == 1.0)
        for (int64_t i = i0; i < i1; ++i) acc += std::fabs(double(x[i]));
      else
        for (int64_t i = i0; i < i1; ++i) acc += std::pow(std::fabs(double(x[i])), p);
      part[size_t(b)] = acc;
    }
  });
  double acc = 0.0;
  for (double v : part) acc = inf ? nan_max(v, acc) : acc + v;
  if (inf || p == 1.0) return acc;
  return p == 2.0 ? std::sqrt(acc) : std::pow(acc, 1.0 / p);
}

}  // namespace

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  ATTN_CHECK(norm_type > 0.0 && !std::isnan(norm_type), "clip_grad_norm_: norm_type must be positive or inf, got ",
             norm_type);
  NoGradGuard no_grad;
  const std::vector<Tensor> grads = grads_of(params, "clip_grad_norm_");
  if (grads.empty()) return 0.0;
  const bool inf = std::isinf(norm_type);
  bool all_float32 = true;
  double total = 0.0;
  for (const Tensor& g : grads) {
    // PyTorch's per-tensor norm is a tensor of the gradient's dtype: round to it before combining.
    const double n = ATTN_DISPATCH_FLOATING(g.dtype(), "clip_grad_norm_", [&] {
      return double(scalar_t(tensor_norm(g.data_ptr<scalar_t>(), g.numel(), norm_type)));
    });
    all_float32 = all_float32 && g.dtype() == kFloat32;
    if (inf)
      total = nan_max(n, total);
    else
      total += norm_type == 2.0 ? n * n : norm_type == 1.0 ? n : std::pow(n, norm_type);
  }
  if (!inf && norm_type != 1.0) total = norm_type == 2.0 ? std::sqrt(total) : std::pow(total, 1.0 / norm_type);
  ATTN_CHECK(!error_if_nonfinite || std::isfinite(total), "clip_grad_norm_: the total norm of order ", norm_type,
             " of the gradients is ", total, ", so it cannot be clipped (pass error_if_nonfinite = false to scale "
             "the gradients by it anyway)");
  // PyTorch: clip_coef = max_norm / (total + 1e-6), i.e. reciprocal(total + 1e-6) * max_norm, in
  // the dtype of total, then clamp(max=1).
  double coef;
  if (all_float32) {
    const float t = float(total);
    total = t;
    const float c = (1.0f / (t + float(1e-6))) * float(max_norm);
    coef = c > 1.0f ? 1.0 : double(c);  // NaN stays NaN, as with torch.clamp
  } else {
    const double c = (1.0 / (total + 1e-6)) * max_norm;
    coef = c > 1.0 ? 1.0 : c;
  }
  if (coef == 1.0) return total;  // multiplying by 1 changes no bit
  for (const Tensor& g : grads) {
    ATTN_DISPATCH_FLOATING(g.dtype(), "clip_grad_norm_", [&] {
      scalar_t* x = g.data_ptr<scalar_t>();
      const scalar_t c = scalar_t(coef);
      kernels::parallel_for(0, g.numel(), kBlock, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) x[i] = x[i] * c;
      });
    });
  }
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  NoGradGuard no_grad;
  for (const Tensor& g : grads_of(params, "clip_grad_value_")) {
    ATTN_DISPATCH_FLOATING(g.dtype(), "clip_grad_value_", [&] {
      scalar_t* x = g.data_ptr<scalar_t>();
      const scalar_t lo = scalar_t(-clip_value), hi = scalar_t(clip_value);
      kernels::parallel_for(0, g.numel(), kBlock, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) x[i] = x[i] < lo ? lo : x[i] > hi ? hi : x[i];  // NaN compares false: kept
      });
    });
  }
}

}  // namespace attn::optim
