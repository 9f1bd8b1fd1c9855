// Comparisons, logical ops, where / masked_fill, isnan / isinf / isfinite, any / all.
// The loops are plain scalar code run row by row through kernels::strided_for_each: they are a
// byte store per element, memory-bound, and GCC vectorises the branch-free selects; a Highway
// version would buy nothing measurable. Everything here is exact, so there is no fast/reference
// pair to compare.
#include "attn/ops/compare.h"

#include <cmath>

#include "attn/ops/elementwise.h"
#include "kernels/strided.h"
#include "ops/op_util.h"

namespace attn {

namespace {

enum class Cmp { Eq, Ne, Lt, Le, Gt, Ge };

// The broadcast shape of all `shapes`, or an error that names every one of them.
Shape broadcast_all(const char* op, std::initializer_list<std::pair<const char*, const Shape*>> shapes) {
  size_t nd = 0;
  for (const auto& s : shapes) nd = std::max(nd, s.second->size());
  Shape out(nd, 1);
  for (const auto& s : shapes) {
    const Shape& sh = *s.second;
    for (size_t i = 0; i < sh.size(); ++i) {
      int64_t& o = out[nd - sh.size() + i];
      const int64_t v = sh[i];
      if (v == o || v == 1) continue;
      if (o == 1) {
        o = v;
        continue;
      }
      std::string names;
      for (const auto& t : shapes) names += std::string(names.empty() ? "" : ", ") + t.first + " " + shape_str(*t.second);
      ATTN_FAIL(op, ": shapes cannot be broadcast together: ", names);
    }
  }
  return out;
}

template <class T>
void compare_row(Cmp op, int64_t n, const T* a, int64_t sa, const T* b, int64_t sb, bool* o, int64_t so) {
  switch (op) {  // one switch per row
#define ATTN_CMP_CASE(OP, EXPR)                                                   \
  case OP:                                                                        \
    for (int64_t i = 0; i < n; ++i) o[i * so] = a[i * sa] EXPR b[i * sb];         \
    break;
    ATTN_CMP_CASE(Cmp::Eq, ==)
    ATTN_CMP_CASE(Cmp::Ne, !=)
    ATTN_CMP_CASE(Cmp::Lt, <)
    ATTN_CMP_CASE(Cmp::Le, <=)
    ATTN_CMP_CASE(Cmp::Gt, >)
    ATTN_CMP_CASE(Cmp::Ge, >=)
#undef ATTN_CMP_CASE
  }
}

Tensor compare(Cmp op, const char* name, const Tensor& a_in, const Tensor& b_in) {
  const Shape shape = broadcast_all(name, {{"input", &a_in.shape()}, {"other", &b_in.shape()}});
  const DType dt = promote_types(a_in.dtype(), b_in.dtype());
  const Tensor a = a_in.to(dt), b = b_in.to(dt);
  Tensor out = empty(shape, kBool);
  const Shape sa = ops::expanded_strides(a, shape), sb = ops::expanded_strides(b, shape);
  ATTN_DISPATCH_ALL(dt, name, [&] {
    const scalar_t* pa = a.data_ptr<scalar_t>();
    const scalar_t* pb = b.data_ptr<scalar_t>();
    bool* po = out.data_ptr<bool>();
    kernels::strided_for_each<3>(shape, {out.strides().data(), sa.data(), sb.data()},
                                 [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& st) {
                                   compare_row(op, n, pa + off[1], st[1], pb + off[2], st[2], po + off[0], st[0]);
                                 });
  });
  return out;
}

// The 0-d tensor a double is compared in: the tensor's dtype when it is floating-point (PyTorch
// casts the Python scalar), otherwise int64 or, for a fractional / non-finite value, float64 so
// that the comparison is exact.
Tensor compare_scalar(const Tensor& t, double v) {
  if (t.is_floating_point()) return ops::wrap_scalar(v, t.dtype());
  const bool integral = std::isfinite(v) && std::floor(v) == v && std::abs(v) < 9.2e18;
  return ops::wrap_scalar(v, integral ? kInt64 : kFloat64);
}

enum class Logic { And, Or, Xor };

Tensor logical(Logic op, const char* name, const Tensor& a_in, const Tensor& b_in) {
  const Shape shape = broadcast_all(name, {{"input", &a_in.shape()}, {"other", &b_in.shape()}});
  const Tensor a = a_in.to(kBool), b = b_in.to(kBool);  // x != 0 (NaN counts as true, as in PyTorch)
  Tensor out = empty(shape, kBool);
  const Shape sa = ops::expanded_strides(a, shape), sb = ops::expanded_strides(b, shape);
  const bool* pa = a.data_ptr<bool>();
  const bool* pb = b.data_ptr<bool>();
  bool* po = out.data_ptr<bool>();
  kernels::strided_for_each<3>(shape, {out.strides().data(), sa.data(), sb.data()},
                               [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& st) {
                                 const bool* x = pa + off[1];
                                 const bool* y = pb + off[2];
                                 bool* o = po + off[0];
                                 for (int64_t i = 0; i < n; ++i) {
                                   const bool u = x[i * st[1]], v = y[i * st[2]];
                                   o[i * st[0]] = op == Logic::And ? (u && v) : op == Logic::Or ? (u || v) : (u != v);
                                 }
                               });
  return out;
}

void check_bool(const Tensor& t, const char* op) {
  ATTN_CHECK(t.dtype() == kBool, op, ": defined for bool tensors only, got ", t.describe(),
             " (use logical_and / logical_or / logical_xor / logical_not for other dtypes)");
}

// out = f(x) -> bool, same shape.
template <class F>
Tensor bool_map(const Tensor& x, const char* name, const F& f) {
  Tensor out = empty(x.shape(), kBool);
  ATTN_DISPATCH_ALL(x.dtype(), name, [&] {
    ops::map_unary<scalar_t, bool>(out, x, [&](int64_t n, const scalar_t* px, int64_t sx, bool* po) {
      for (int64_t i = 0; i < n; ++i) po[i] = f(px[i * sx]);
    });
  });
  return out;
}

}  // namespace

Tensor eq(const Tensor& a, const Tensor& b) { return compare(Cmp::Eq, "eq", a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare(Cmp::Ne, "ne", a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare(Cmp::Lt, "lt", a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare(Cmp::Le, "le", a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare(Cmp::Gt, "gt", a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare(Cmp::Ge, "ge", a, b); }
Tensor eq(const Tensor& a, double b) { return eq(a, compare_scalar(a, b)); }
Tensor ne(const Tensor& a, double b) { return ne(a, compare_scalar(a, b)); }
Tensor lt(const Tensor& a, double b) { return lt(a, compare_scalar(a, b)); }
Tensor le(const Tensor& a, double b) { return le(a, compare_scalar(a, b)); }
Tensor gt(const Tensor& a, double b) { return gt(a, compare_scalar(a, b)); }
Tensor ge(const Tensor& a, double b) { return ge(a, compare_scalar(a, b)); }

Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator<(const Tensor& a, double b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, double b) { return le(a, b); }
Tensor operator>(const Tensor& a, double b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, double b) { return ge(a, b); }
Tensor operator<(double a, const Tensor& b) { return gt(b, a); }
Tensor operator<=(double a, const Tensor& b) { return ge(b, a); }
Tensor operator>(double a, const Tensor& b) { return lt(b, a); }
Tensor operator>=(double a, const Tensor& b) { return le(b, a); }

Tensor logical_and(const Tensor& a, const Tensor& b) { return logical(Logic::And, "logical_and", a, b); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return logical(Logic::Or, "logical_or", a, b); }
Tensor logical_xor(const Tensor& a, const Tensor& b) { return logical(Logic::Xor, "logical_xor", a, b); }
Tensor logical_not(const Tensor& a) {
  return bool_map(a, "logical_not", [](auto v) { return !static_cast<bool>(v); });
}

Tensor operator&(const Tensor& a, const Tensor& b) {
  check_bool(a, "operator&");
  check_bool(b, "operator&");
  return logical_and(a, b);
}
Tensor operator|(const Tensor& a, const Tensor& b) {
  check_bool(a, "operator|");
  check_bool(b, "operator|");
  return logical_or(a, b);
}
Tensor operator^(const Tensor& a, const Tensor& b) {
  check_bool(a, "operator^");
  check_bool(b, "operator^");
  return logical_xor(a, b);
}
Tensor operator~(const Tensor& a) {
  check_bool(a, "operator~");
  return logical_not(a);
}

Tensor where(const Tensor& condition, const Tensor& a_in, const Tensor& b_in) {
  ATTN_CHECK(condition.dtype() == kBool, "where: condition must be a bool tensor, got ", condition.describe());
  const Shape shape = broadcast_all(
      "where", {{"condition", &condition.shape()}, {"input", &a_in.shape()}, {"other", &b_in.shape()}});
  const DType dt = promote_types(a_in.dtype(), b_in.dtype());
  const Tensor a = a_in.to(dt), b = b_in.to(dt);
  Tensor out = empty(shape, dt);
  const Shape sc = ops::expanded_strides(condition, shape), sa = ops::expanded_strides(a, shape),
              sb = ops::expanded_strides(b, shape);
  const bool* pc = condition.data_ptr<bool>();
  ATTN_DISPATCH_ALL(dt, "where", [&] {
    const scalar_t* pa = a.data_ptr<scalar_t>();
    const scalar_t* pb = b.data_ptr<scalar_t>();
    scalar_t* po = out.data_ptr<scalar_t>();
    kernels::strided_for_each<4>(
        shape, {out.strides().data(), sc.data(), sa.data(), sb.data()},
        [&](const std::array<int64_t, 4>& off, int64_t n, const std::array<int64_t, 4>& st) {
          const bool* c = pc + off[1];
          const scalar_t* x = pa + off[2];
          const scalar_t* y = pb + off[3];
          scalar_t* o = po + off[0];
          for (int64_t i = 0; i < n; ++i) o[i * st[0]] = c[i * st[1]] ? x[i * st[2]] : y[i * st[3]];
        });
  });
  if (is_floating_point(dt)) {
    // forward was out = cond ? a : b, therefore da = g where cond (else 0) and db = g where !cond,
    // each summed back to its input's shape.
    const bool na = a_in.requires_grad(), nb = b_in.requires_grad();
    autograd::record("where", out, {a_in, b_in},
                     [=, c = condition.detach(), sa = a_in.shape(), sb = b_in.shape(), da = a_in.dtype(),
                      db = b_in.dtype()](const Tensor& g) -> std::vector<Tensor> {
                       const Tensor zero = ops::wrap_scalar(0.0, g.dtype());
                       return {na ? ops::reduce_grad(where(c, g, zero), sa, da) : Tensor(),
                               nb ? ops::reduce_grad(where(c, zero, g), sb, db) : Tensor()};
                     });
  }
  return out;
}

Tensor where(const Tensor& condition, const Tensor& a, double b) {
  return where(condition, a, ops::wrap_scalar(b, a.is_floating_point() ? a.dtype() : kFloat32));
}
Tensor where(const Tensor& condition, double a, const Tensor& b) {
  return where(condition, ops::wrap_scalar(a, b.is_floating_point() ? b.dtype() : kFloat32), b);
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  ATTN_CHECK(mask.dtype() == kBool, "masked_fill: mask must be a bool tensor, got ", mask.describe(), " (input ",
             x.describe(), ")");
  const Shape shape = broadcast_all("masked_fill", {{"input", &x.shape()}, {"mask", &mask.shape()}});
  Tensor out = empty(shape, x.dtype());
  const Shape sx = ops::expanded_strides(x, shape), sm = ops::expanded_strides(mask, shape);
  const bool* pm = mask.data_ptr<bool>();
  ATTN_DISPATCH_ALL(x.dtype(), "masked_fill", [&] {
    const scalar_t v = static_cast<scalar_t>(value);
    const scalar_t* px = x.data_ptr<scalar_t>();
    scalar_t* po = out.data_ptr<scalar_t>();
    kernels::strided_for_each<3>(shape, {out.strides().data(), sx.data(), sm.data()},
                                 [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& st) {
                                   const scalar_t* xi = px + off[1];
                                   const bool* m = pm + off[2];
                                   scalar_t* o = po + off[0];
                                   for (int64_t i = 0; i < n; ++i) o[i * st[0]] = m[i * st[2]] ? v : xi[i * st[1]];
                                 });
  });
  if (x.is_floating_point()) {
    // forward was out = mask ? value : x, therefore dx = g where !mask, summed to x's shape.
    autograd::record("masked_fill", out, {x},
                     [m = mask.detach(), sx = x.shape(), dx = x.dtype()](const Tensor& g) -> std::vector<Tensor> {
                       return {ops::reduce_grad(masked_fill(g, m, 0.0), sx, dx)};
                     });
  }
  return out;
}

Tensor isnan(const Tensor& x) {
  return bool_map(x, "isnan", [](auto v) {
    if constexpr (std::is_floating_point_v<decltype(v)>) return std::isnan(v);
    else return false;
  });
}
Tensor isinf(const Tensor& x) {
  return bool_map(x, "isinf", [](auto v) {
    if constexpr (std::is_floating_point_v<decltype(v)>) return std::isinf(v);
    else return false;
  });
}
Tensor isfinite(const Tensor& x) {
  return bool_map(x, "isfinite", [](auto v) {
    if constexpr (std::is_floating_point_v<decltype(v)>) return std::isfinite(v);
    else return true;
  });
}

// Full reductions over bools: exact in any order, so a sequential loop with an early exit.
Tensor any(const Tensor& x) {
  const Tensor b = x.to(kBool).contiguous();
  const bool* p = b.data_ptr<bool>();
  bool r = false;
  for (int64_t i = 0, n = b.numel(); i < n && !r; ++i) r = p[i];
  return scalar_tensor(r ? 1.0 : 0.0, kBool);
}
Tensor all(const Tensor& x) {
  const Tensor b = x.to(kBool).contiguous();
  const bool* p = b.data_ptr<bool>();
  bool r = true;
  for (int64_t i = 0, n = b.numel(); i < n && r; ++i) r = p[i];
  return scalar_tensor(r ? 1.0 : 0.0, kBool);
}

}  // namespace attn
