// add, sub, mul, div, neg, maximum, minimum, pow: forward through kernels/binary.h, backward
// beside each forward.
#include "attn/ops/elementwise.h"

#include <cmath>

#include "attn/ops/compare.h"
#include "attn/ops/unary.h"
#include "kernels/binary.h"
#include "ops/op_util.h"

namespace attn {

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    ATTN_CHECK(da == db || da == 1 || db == 1, "shapes ", shape_str(a), " and ", shape_str(b),
               " cannot be broadcast together (dim ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

DType promote_types(DType a, DType b) {
  auto rank = [](DType t) {
    switch (t) {
      case kBool: return 0;
      case kUInt8: return 1;
      case kInt64: return 2;
      case kFloat32: return 3;
      case kFloat64: return 4;
    }
    return 0;
  };
  return rank(a) >= rank(b) ? a : b;
}

namespace {

using kernels::BinaryOp;

template <class T>
void run_binary(bool ref, BinaryOp op, int64_t n, const T* a, int64_t sa, const T* b, int64_t sb, T* out) {
  if constexpr (std::is_floating_point_v<T>) {
    if (!ref) return kernels::fast::binary(op, n, a, sa, b, sb, out);
  }
  kernels::ref::binary(op, n, a, sa, b, sb, out);
}

// Forward of the four arithmetic ops: promote, broadcast, run fast or reference kernel.
Tensor binary_forward(BinaryOp op, const char* name, Tensor a, Tensor b) {
  const DType dt = promote_types(a.dtype(), b.dtype());
  ATTN_CHECK(dt != kBool, name, ": not defined for bool tensors (", a.describe(), ", ", b.describe(), ")");
  a = a.to(dt);
  b = b.to(dt);
  Tensor out = empty(broadcast_shapes(a.shape(), b.shape()), dt);
  const bool ref = use_reference_kernels();
  ATTN_DISPATCH_NUMERIC(dt, name, [&] {
    ops::broadcast_binary<scalar_t>(out, a, b, [&](int64_t n, const scalar_t* pa, int64_t sa, const scalar_t* pb, int64_t sb, scalar_t* po) {
      run_binary(ref, op, n, pa, sa, pb, sb, po);
    });
  });
  return out;
}

bool differentiable(const Tensor& a, const Tensor& b) { return a.is_floating_point() || b.is_floating_point(); }

}  // namespace

Tensor add(const Tensor& a, const Tensor& b, double alpha) {
  if (alpha != 1.0) return add(a, mul(b, ops::wrap_scalar(alpha, b.dtype())));
  Tensor out = binary_forward(BinaryOp::Add, "add", a, b);
  if (differentiable(a, b))
    autograd::record("add", out, {a, b}, [sa = a.shape(), sb = b.shape(), da = a.dtype(), db = b.dtype()](const Tensor& g) -> std::vector<Tensor> {
      return {ops::reduce_grad(g, sa, da), ops::reduce_grad(g, sb, db)};
    });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b, double alpha) {
  if (alpha != 1.0) return sub(a, mul(b, ops::wrap_scalar(alpha, b.dtype())));
  Tensor out = binary_forward(BinaryOp::Sub, "sub", a, b);
  if (differentiable(a, b))
    autograd::record("sub", out, {a, b}, [sa = a.shape(), sb = b.shape(), da = a.dtype(), db = b.dtype()](const Tensor& g) -> std::vector<Tensor> {
      return {ops::reduce_grad(g, sa, da), ops::reduce_grad(neg(g), sb, db)};
    });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Mul, "mul", a, b);
  if (differentiable(a, b)) {
    // forward was out = a * b, therefore da = g * b and db = g * a (each summed to its shape).
    const bool na = a.requires_grad(), nb = b.requires_grad();
    autograd::record("mul", out, {a, b}, [=, a = a.detach(), b = b.detach()](const Tensor& g) -> std::vector<Tensor> {
      return {na ? ops::reduce_grad(mul(g, b), a.shape(), a.dtype()) : Tensor(),
              nb ? ops::reduce_grad(mul(g, a), b.shape(), b.dtype()) : Tensor()};
    });
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  // Integer division would truncate; PyTorch's div is true division, so promote to float.
  const bool integral = !a.is_floating_point() && !b.is_floating_point();
  Tensor out = integral ? binary_forward(BinaryOp::Div, "div", a.to(kFloat32), b.to(kFloat32))
                        : binary_forward(BinaryOp::Div, "div", a, b);
  if (differentiable(a, b)) {
    // forward was out = a / b, therefore da = g / b and db = -g * a / b^2 = -g * out / b.
    const bool na = a.requires_grad(), nb = b.requires_grad();
    autograd::record("div", out, {a, b}, [=, a = a.detach(), b = b.detach(), o = out.detach()](const Tensor& g) -> std::vector<Tensor> {
      Tensor gb = div(g, b);
      return {na ? ops::reduce_grad(gb, a.shape(), a.dtype()) : Tensor(),
              nb ? ops::reduce_grad(neg(mul(gb, o)), b.shape(), b.dtype()) : Tensor()};
    });
  }
  return out;
}

Tensor neg(const Tensor& a) {
  ATTN_CHECK(a.dtype() != kBool, "neg: not defined for bool tensors; use logical_not");
  Tensor out = binary_forward(BinaryOp::Sub, "neg", zeros({}, a.dtype()), a);
  autograd::record("neg", out, {a}, [](const Tensor& g) -> std::vector<Tensor> { return {neg(g)}; });
  return out;
}

// maximum / minimum share their backward: the input that was chosen gets the gradient, ties
// split it half and half. PyTorch writes this as where(a == b, g / 2, g).masked_fill(a < b, 0) for
// maximum (a > b for minimum); NaN compares false everywhere, so both inputs get g there.
static Tensor maximum_minimum(BinaryOp op, const char* name, const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(op, name, a, b);
  if (differentiable(a, b)) {
    const bool na = a.requires_grad(), nb = b.requires_grad(), is_max = op == BinaryOp::Maximum;
    autograd::record(name, out, {a, b}, [=, a = a.detach(), b = b.detach()](const Tensor& g) -> std::vector<Tensor> {
      const Tensor shared = where(eq(a, b), g / 2.0, g);
      return {na ? ops::reduce_grad(masked_fill(shared, is_max ? lt(a, b) : gt(a, b), 0.0), a.shape(), a.dtype())
                 : Tensor(),
              nb ? ops::reduce_grad(masked_fill(shared, is_max ? gt(a, b) : lt(a, b), 0.0), b.shape(), b.dtype())
                 : Tensor()};
    });
  }
  return out;
}

Tensor maximum(const Tensor& a, const Tensor& b) { return maximum_minimum(BinaryOp::Maximum, "maximum", a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return maximum_minimum(BinaryOp::Minimum, "minimum", a, b); }

Tensor pow(const Tensor& a, const Tensor& b) {
  const bool integral = !a.is_floating_point() && !b.is_floating_point();
  if (integral) {
    NoGradGuard ng;
    ATTN_CHECK(!any(lt(b, 0.0)).item<bool>(), "pow: integers to negative integer powers are not allowed (",
               a.describe(), " ^ ", b.describe(), ")");
  }
  Tensor out = binary_forward(BinaryOp::Pow, "pow", a, b);
  if (differentiable(a, b)) {
    // forward was out = a^b, therefore (as PyTorch defines the edge cases)
    //   da = g * b * a^(b-1), and 0 where b == 0 (even at a == 0, where a^(b-1) is inf);
    //   db = g * out * log(a), and 0 where a == 0 and b >= 0 (0^b is flat there, log(0) = -inf).
    const bool na = a.requires_grad(), nb = b.requires_grad();
    autograd::record("pow", out, {a, b}, [=, a = a.detach(), b = b.detach(), o = out.detach()](const Tensor& g) -> std::vector<Tensor> {
      Tensor da, db;
      if (na) da = ops::reduce_grad(where(eq(b, 0.0), 0.0, g * (b * pow(a, b - 1.0))), a.shape(), a.dtype());
      if (nb) db = ops::reduce_grad(where(logical_and(eq(a, 0.0), ge(b, 0.0)), 0.0, g * (o * log(a))), b.shape(), b.dtype());
      return {da, db};
    });
  }
  return out;
}

Tensor pow(double a, const Tensor& b) {
  // A Python-number base takes the exponent's dtype, or int64 / float32 for an integer exponent.
  const bool integral = std::isfinite(a) && std::floor(a) == a;
  return pow(ops::wrap_scalar(a, b.is_floating_point() ? b.dtype() : integral ? kInt64 : kFloat32), b);
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, double b) { return add(a, ops::wrap_scalar(b, a.dtype())); }
Tensor operator-(const Tensor& a, double b) { return sub(a, ops::wrap_scalar(b, a.dtype())); }
Tensor operator*(const Tensor& a, double b) { return mul(a, ops::wrap_scalar(b, a.dtype())); }
Tensor operator/(const Tensor& a, double b) { return div(a, ops::wrap_scalar(b, a.is_floating_point() ? a.dtype() : kFloat32)); }
Tensor operator+(double a, const Tensor& b) { return add(ops::wrap_scalar(a, b.dtype()), b); }
Tensor operator-(double a, const Tensor& b) { return sub(ops::wrap_scalar(a, b.dtype()), b); }
Tensor operator*(double a, const Tensor& b) { return mul(ops::wrap_scalar(a, b.dtype()), b); }
Tensor operator/(double a, const Tensor& b) { return div(ops::wrap_scalar(a, b.is_floating_point() ? b.dtype() : kFloat32), b); }

}  // namespace attn
