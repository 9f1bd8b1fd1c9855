// Internal to the optim layer: the checks every update loop needs before touching raw buffers.
#pragma once
#include <cmath>

#include "attn/core/tensor.h"

namespace attn::optim::detail {

// The gradient of `p` as a contiguous buffer of p's shape and dtype, or undefined when p has none
// (the optimizer then skips p). Non-contiguous gradients (set by hand) are copied first.
inline Tensor step_grad(const Tensor& p, const char* who, size_t index) {
  Tensor g = p.grad();
  if (!g.defined()) return g;
  ATTN_CHECK(g.shape() == p.shape() && g.dtype() == p.dtype(), who, ": gradient ", g.describe(), " of parameter ", index,
             " does not match the parameter ", p.describe());
  ATTN_CHECK(p.is_contiguous(), who, ": parameter ", index, " (", p.describe(), ") is no longer contiguous");
  return g.contiguous();
}

// A state buffer must still match its parameter: Module::to(dtype) converts parameters in place,
// which would leave the optimizer's buffers behind.
inline void check_state(const Tensor& buf, const Tensor& p, const char* who, size_t index, const char* name) {
  ATTN_CHECK(buf.dtype() == p.dtype() && buf.shape() == p.shape(), who, ": ", name, " of parameter ", index, " is ",
             buf.describe(), " but the parameter is now ", p.describe(),
             " (convert the model before creating the optimizer, or reload a matching state dict)");
}

// a + alpha * b with a single rounding, as PyTorch's CPU add(other, alpha=...) computes it
// (Vectorized::fmadd, and FMA-contracted scalar tails). For float the product of two floats is
// exact in double, so one double addition then the conversion rounds (almost always) once; this
// is also immune to the compiler's own contraction choices. Double uses a true fma.
inline float madd(float a, float alpha, float b) { return float(double(a) + double(alpha) * double(b)); }
inline double madd(double a, double alpha, double b) { return std::fma(alpha, b, a); }

// Elements per parallel chunk of an update loop: enough work to amortise a thread wake-up.
inline constexpr int64_t kUpdateGrain = 1 << 14;

}  // namespace attn::optim::detail
