// Unary math and activations: forward through kernels/unary.h (fast or reference, chosen per
// call), backward beside it as one fused kernel call on the saved input or output.
#include "attn/ops/unary.h"

#include <cmath>
#include <type_traits>

#include "kernels/parallel.h"
#include "kernels/unary.h"
#include "ops/op_util.h"

namespace attn {

namespace {

using kernels::UnaryOp;
using kernels::UnaryParams;

// Elements per parallel chunk: transcendental kernels cost ~10 ns per element, so ~16K elements
// amortise a thread hand-off.
constexpr int64_t kGrain = 16384;

template <class T>
void run_unary(bool ref, UnaryOp op, int64_t n, const T* x, int64_t sx, const UnaryParams& p, T* out) {
  if constexpr (std::is_floating_point_v<T>) {
    if (!ref) return kernels::fast::unary(op, n, x, sx, p, out);
  }
  kernels::ref::unary(op, n, x, sx, p, out);
}

template <class T>
void run_unary_backward(bool ref, UnaryOp op, int64_t n, const T* g, const T* x, const T* y, const UnaryParams& p,
                        T* dx) {
  if (!ref) return kernels::fast::unary_backward(op, n, g, x, y, p, dx);
  kernels::ref::unary_backward(op, n, g, x, y, p, dx);
}

// Scalars in the params are rounded to the tensor's dtype first (PyTorch casts a Python scalar
// to the tensor's dtype), so clamp(x, 0.1) compares against float(0.1) for a float32 x.
UnaryParams round_params(UnaryParams p, DType dt) {
  if (dt == kFloat32) {
    p.alpha = double(float(p.alpha));
    p.lo = double(float(p.lo));
    p.hi = double(float(p.hi));
  }
  return p;
}

// dx = g * f'(x) from the saved input or output `v` (see kernels::backward_reads_output).
Tensor unary_backward(UnaryOp op, const Tensor& grad, const Tensor& saved, const UnaryParams& p) {
  const DType dt = saved.dtype();
  const Tensor g = grad.to(dt).contiguous(), v = saved.contiguous();
  Tensor dx = empty(v.shape(), dt);
  const bool reads_y = kernels::backward_reads_output(op);
  const bool ref = use_reference_kernels();
  ATTN_DISPATCH_FLOATING(dt, "unary backward", [&] {
    const scalar_t* pg = g.data_ptr<scalar_t>();
    const scalar_t* pv = v.data_ptr<scalar_t>();
    scalar_t* pd = dx.data_ptr<scalar_t>();
    kernels::parallel_for(0, dx.numel(), kGrain, [&](int64_t i0, int64_t i1) {
      run_unary_backward(ref, op, i1 - i0, pg + i0, reads_y ? nullptr : pv + i0, reads_y ? pv + i0 : nullptr, p,
                         pd + i0);
    });
  });
  return dx;
}

// The forward of every op here: dtype rules, one kernel call per row, and the backward record.
Tensor unary_op(UnaryOp op, const char* name, const Tensor& input, UnaryParams p = {}) {
  Tensor x = input;
  if (!x.is_floating_point()) {
    if (kernels::integer_ok(op))
      ATTN_CHECK(x.dtype() != kBool, name, ": not defined for bool tensors (got ", x.describe(), ")");
    else
      x = x.to(kFloat32);  // torch.exp(int_tensor) is float32 (the default dtype)
  }
  p = round_params(p, x.dtype());
  Tensor out = empty(x.shape(), x.dtype());
  const bool ref = use_reference_kernels();
  ATTN_DISPATCH_NUMERIC(x.dtype(), name, [&] {
    ops::map_unary<scalar_t, scalar_t>(out, x, [&](int64_t n, const scalar_t* px, int64_t sx, scalar_t* po) {
      run_unary(ref, op, n, px, sx, p, po);
    });
  });
  if (input.is_floating_point()) {
    // Keep only what the derivative reads: the output for exp / tanh / sigmoid / ..., else x.
    const Tensor saved = kernels::backward_reads_output(op) ? out.detach() : x.detach();
    autograd::record(name, out, {input}, [op, p, saved](const Tensor& g) -> std::vector<Tensor> {
      return {unary_backward(op, g, saved, p)};
    });
  }
  return out;
}

bool is_integral_value(double v) { return std::isfinite(v) && std::floor(v) == v; }

}  // namespace

Tensor exp(const Tensor& x) { return unary_op(UnaryOp::Exp, "exp", x); }
Tensor expm1(const Tensor& x) { return unary_op(UnaryOp::Expm1, "expm1", x); }
Tensor log(const Tensor& x) { return unary_op(UnaryOp::Log, "log", x); }
Tensor log1p(const Tensor& x) { return unary_op(UnaryOp::Log1p, "log1p", x); }
Tensor sqrt(const Tensor& x) { return unary_op(UnaryOp::Sqrt, "sqrt", x); }
Tensor rsqrt(const Tensor& x) { return unary_op(UnaryOp::Rsqrt, "rsqrt", x); }
Tensor abs(const Tensor& x) { return unary_op(UnaryOp::Abs, "abs", x); }
Tensor square(const Tensor& x) { return unary_op(UnaryOp::Square, "square", x); }
Tensor sin(const Tensor& x) { return unary_op(UnaryOp::Sin, "sin", x); }
Tensor cos(const Tensor& x) { return unary_op(UnaryOp::Cos, "cos", x); }
Tensor tanh(const Tensor& x) { return unary_op(UnaryOp::Tanh, "tanh", x); }
Tensor sigmoid(const Tensor& x) { return unary_op(UnaryOp::Sigmoid, "sigmoid", x); }
Tensor relu(const Tensor& x) { return unary_op(UnaryOp::Relu, "relu", x); }
Tensor silu(const Tensor& x) { return unary_op(UnaryOp::Silu, "silu", x); }

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  ATTN_CHECK(x.is_floating_point(), "leaky_relu: expected a floating-point tensor, got ",
             x.describe());
  UnaryParams p;
  p.alpha = negative_slope;
  return unary_op(UnaryOp::LeakyRelu, "leaky_relu", x, p);
}

Tensor gelu(const Tensor& x, const std::string& approximate) {
  ATTN_CHECK(approximate == "none" || approximate == "tanh", "gelu: approximate must be \"none\" or \"tanh\", got \"",
             approximate, "\"");
  ATTN_CHECK(x.is_floating_point(), "gelu: expected a floating-point tensor, got ", x.describe());
  return approximate == "tanh" ? unary_op(UnaryOp::GeluTanh, "gelu", x) : unary_op(UnaryOp::Gelu, "gelu", x);
}

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  ATTN_CHECK(min || max, "clamp: at least one of min and max must be given");
  ATTN_CHECK(!(min && std::isnan(*min)) && !(max && std::isnan(*max)), "clamp: a bound is NaN");
  UnaryParams p;
  if (min) p.lo = *min;
  if (max) p.hi = *max;
  // An integer tensor with a fractional bound promotes to float32, as int_tensor.clamp(0.5) does.
  const bool fractional = (min && !is_integral_value(*min) && std::isfinite(*min)) ||
                          (max && !is_integral_value(*max) && std::isfinite(*max));
  if (!x.is_floating_point() && x.dtype() != kBool && fractional) return unary_op(UnaryOp::Clamp, "clamp", x.to(kFloat32), p);
  return unary_op(UnaryOp::Clamp, "clamp", x, p);
}
Tensor clamp_min(const Tensor& x, double min) { return clamp(x, min, std::nullopt); }
Tensor clamp_max(const Tensor& x, double max) { return clamp(x, std::nullopt, max); }

Tensor pow(const Tensor& x, double exponent) {
  UnaryParams p;
  p.alpha = exponent;
  if (!x.is_floating_point() && x.dtype() != kBool) {
    if (!is_integral_value(exponent)) return unary_op(UnaryOp::Pow, "pow", x.to(kFloat32), p);
    ATTN_CHECK(exponent >= 0, "pow: integers to negative integer powers are not allowed (", x.describe(), " ^ ",
               exponent, ")");
  }
  return unary_op(UnaryOp::Pow, "pow", x, p);
}

}  // namespace attn
