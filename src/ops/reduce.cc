// Reductions: sum, mean, max, min, argmax, argmin, logsumexp, var, std, cumsum. Forward through
// kernels/reduce.h, backward beside each forward.
//
// Every reduction first brings x to the kernels' [outer, n, inner] form (a Plan): when the
// reduced dims are adjacent in memory (ignoring size-1 dims) that is just x made contiguous, with
// outer / inner the products of the kept dims before / after them. Otherwise (reduced dims
// interleaved with kept ones, e.g. dims {0, 2} of a 3-d tensor) x is explicitly permuted so that
// the reduced dims come last and copied, and the backward permutes its result back.
#include "attn/ops/reduce.h"

#include <algorithm>

#include "attn/ops/elementwise.h"
#include "kernels/reduce.h"
#include "ops/op_util.h"

namespace attn {

namespace {

struct Plan {
  Tensor x;  // contiguous, laid out [outer, n, inner]
  int64_t outer = 1, n = 1, inner = 1;
  Shape out_shape;   // result shape (keepdim applied)
  Shape keep_shape;  // result shape with the reduced dims kept as size 1
  Shape perm;        // non-empty when x was permuted so that the reduced dims are innermost
  Shape x_shape;     // the input's shape
};

std::vector<bool> reduced_mask(const Tensor& x, const std::vector<int64_t>& dims, const char* name) {
  const int64_t nd = x.dim(), lim = std::max<int64_t>(nd, 1);
  std::vector<bool> red(size_t(nd), dims.empty());
  std::vector<bool> seen(size_t(lim), false);
  for (int64_t d : dims) {
    ATTN_CHECK(d >= -lim && d < lim, name, ": dim ", d, " is out of range for input of shape ", shape_str(x.shape()));
    const int64_t w = d < 0 ? d + lim : d;
    ATTN_CHECK(!seen[size_t(w)], name, ": dim ", d, " appears more than once in the dims for input of shape ",
               shape_str(x.shape()));
    seen[size_t(w)] = true;
    if (nd > 0) red[size_t(w)] = true;
  }
  return red;
}

// Plan.x holds data only (no history): closures save it as the forward input.
Plan make_plan(const Tensor& x_in, const std::vector<bool>& red, bool keepdim) {
  const Tensor x = x_in.detach();
  Plan p;
  p.x_shape = x.shape();
  const int64_t nd = x.dim();
  for (int64_t d = 0; d < nd; ++d) {
    p.keep_shape.push_back(red[d] ? 1 : x.size(d));
    if (!red[d] || keepdim) p.out_shape.push_back(red[d] ? 1 : x.size(d));
  }
  // Are the reduced dims of size != 1 one adjacent run among the dims of size != 1?
  int64_t first = -1, last = -1;
  bool adjacent = true;
  for (int64_t d = 0; d < nd; ++d) {
    if (x.size(d) == 1) continue;
    if (red[d]) {
      if (first < 0) first = d;
      else if (last >= 0) adjacent = false;  // a kept dim came between two reduced ones
    } else if (first >= 0 && last < 0) {
      last = d;  // first kept dim after the run
    }
  }
  if (adjacent) {
    p.x = x.contiguous();
    for (int64_t d = 0; d < nd; ++d) {
      if (red[d]) p.n *= x.size(d);
      else if (first < 0 || d < first) p.outer *= x.size(d);
      else p.inner *= x.size(d);
    }
    return p;
  }
  for (int64_t d = 0; d < nd; ++d)
    if (!red[d]) p.perm.push_back(d);
  for (int64_t d = 0; d < nd; ++d)
    if (red[d]) p.perm.push_back(d);
  p.x = x.permute(p.perm).contiguous();
  for (int64_t d = 0; d < nd; ++d) (red[d] ? p.n : p.outer) *= x.size(d);
  return p;
}

// A gradient computed in the plan's [outer, n, inner] layout, as a tensor of the input's shape.
Tensor from_plan_layout(const Plan& p, const Tensor& dx_flat) {
  if (p.perm.empty()) return dx_flat.view(p.x_shape);
  Shape permuted, inverse(p.perm.size());
  for (size_t i = 0; i < p.perm.size(); ++i) {
    permuted.push_back(p.x_shape[size_t(p.perm[i])]);
    inverse[size_t(p.perm[i])] = int64_t(i);
  }
  return dx_flat.view(permuted).permute(inverse).contiguous();
}

// The upstream gradient of a reduction as a contiguous [outer, inner] buffer.
Tensor grad_in_plan_layout(const Plan& p, const Tensor& g) { return g.reshape(p.keep_shape).contiguous(); }

// Fast kernels exist for float and double; integer and bool inputs always take ref::.
template <class T>
void run_sum(bool ref, const T* x, int64_t outer, int64_t n, int64_t inner, bool mean, T* out) {
  if constexpr (std::is_floating_point_v<T>) {
    if (!ref) return kernels::fast::sum(x, outer, n, inner, mean, out);
  }
  kernels::ref::sum(x, outer, n, inner, mean, out);
}
template <class T>
void run_max_min(bool ref, const T* x, int64_t outer, int64_t n, int64_t inner, bool is_max, T* v, int64_t* i) {
  if constexpr (std::is_floating_point_v<T>) {
    if (!ref) return kernels::fast::max_min(x, outer, n, inner, is_max, v, i);
  }
  kernels::ref::max_min(x, outer, n, inner, is_max, v, i);
}

void check_floating(const Tensor& x, const char* name) {
  ATTN_CHECK(x.is_floating_point(), name, ": expected a float32 or float64 input, got ", x.describe(),
             " (convert with .to(kFloat32))");
}

// sum and mean share everything but the division by N.
Tensor sum_or_mean(const Tensor& x_in, const std::vector<int64_t>& dims, bool keepdim, bool mean) {
  const char* name = mean ? "mean" : "sum";
  if (mean) check_floating(x_in, name);
  const Tensor x = x_in.is_floating_point() ? x_in : x_in.to(kInt64);  // integer sums are int64
  const Plan p = make_plan(x, reduced_mask(x, dims, name), keepdim);
  Tensor out = empty(p.out_shape, x.dtype());
  const bool ref = use_reference_kernels();
  ATTN_DISPATCH_NUMERIC(x.dtype(), name, [&] {
    run_sum(ref, p.x.data_ptr<scalar_t>(), p.outer, p.n, p.inner, mean, out.data_ptr<scalar_t>());
  });
  if (x.is_floating_point()) {
    // forward was out = sum over dims (/ N), therefore dx = g broadcast back over the dims (/ N).
    autograd::record(name, out, {x_in},
                     [keep = p.keep_shape, xs = x.shape(), n = p.n, mean](const Tensor& g) -> std::vector<Tensor> {
                       Tensor gk = g.reshape(keep);
                       if (mean) gk = gk / double(n);
                       return {gk.expand(xs).contiguous()};
                     });
  }
  return out;
}

// max / min along one dim (values and int64 indices), shared by max, min, argmax, argmin.
ValuesIndices max_min_dim(const Tensor& x, int64_t dim, bool keepdim, bool is_max, bool want_values, const char* name) {
  const std::vector<bool> red = reduced_mask(x, {dim}, name);
  const int64_t nd = x.dim();
  for (int64_t d = 0; d < nd; ++d)
    ATTN_CHECK(!red[d] || x.size(d) > 0, name, ": cannot reduce over dim ", dim, " of size 0 (input of shape ",
               shape_str(x.shape()), ")");
  const Plan p = make_plan(x, red, keepdim);
  ValuesIndices r;
  r.indices = empty(p.out_shape, kInt64);
  if (want_values) r.values = empty(p.out_shape, x.dtype());
  const bool ref = use_reference_kernels();
  ATTN_DISPATCH_ALL(x.dtype(), name, [&] {
    scalar_t* pv = want_values ? r.values.data_ptr<scalar_t>() : nullptr;
    run_max_min(ref, p.x.data_ptr<scalar_t>(), p.outer, p.n, p.inner, is_max, pv, r.indices.data_ptr<int64_t>());
  });
  if (want_values && x.is_floating_point()) {
    // forward was values = x[argmax], therefore dx = g at the selected index and 0 elsewhere.
    Plan pl = p;
    pl.x = Tensor();  // the backward needs the layout and the indices, not the data
    autograd::record(name, r.values, {x}, [p = pl, idx = r.indices](const Tensor& g) -> std::vector<Tensor> {
      const Tensor gc = grad_in_plan_layout(p, g), ic = idx.contiguous();
      Tensor dx = empty({p.outer * p.n * p.inner}, g.dtype());
      ATTN_DISPATCH_FLOATING(g.dtype(), "max/min backward", [&] {
        kernels::ref::index_backward(gc.data_ptr<scalar_t>(), ic.data_ptr<int64_t>(), p.outer, p.n, p.inner,
                                     dx.data_ptr<scalar_t>());
      });
      return {from_plan_layout(p, dx)};
    });
  }
  return r;
}

// max(x) / min(x) over all elements.
Tensor max_min_all(const Tensor& x, bool is_max) {
  const char* name = is_max ? "max" : "min";
  ATTN_CHECK(x.numel() > 0, name, "(): input of shape ", shape_str(x.shape()),
             " is empty; reduce over a dim with max(x, dim) instead");
  const Tensor xc = x.contiguous();
  Tensor out = empty({}, x.dtype());
  const bool ref = use_reference_kernels();
  ATTN_DISPATCH_ALL(x.dtype(), name, [&] {
    run_max_min<scalar_t>(ref, xc.data_ptr<scalar_t>(), 1, xc.numel(), 1, is_max, out.data_ptr<scalar_t>(), nullptr);
  });
  if (x.is_floating_point()) {
    // forward was out = max(x), therefore g is split evenly among the elements equal to out.
    autograd::record(name, out, {x}, [xd = xc.detach(), o = out.detach()](const Tensor& g) -> std::vector<Tensor> {
      Tensor dx = empty(xd.shape(), xd.dtype());
      ATTN_DISPATCH_FLOATING(xd.dtype(), "max/min backward", [&] {
        kernels::ref::ties_backward(xd.data_ptr<scalar_t>(), xd.numel(), o.item<scalar_t>(), g.item<scalar_t>(),
                                    dx.data_ptr<scalar_t>());
      });
      return {dx};
    });
  }
  return out;
}

Tensor arg_max_min(const Tensor& x, std::optional<int64_t> dim, bool keepdim, bool is_max) {
  const char* name = is_max ? "argmax" : "argmin";
  if (dim) return max_min_dim(x, *dim, keepdim, is_max, false, name).indices;
  ATTN_CHECK(x.numel() > 0, name, "(): input of shape ", shape_str(x.shape()), " is empty");
  Tensor flat = max_min_dim(x.reshape({-1}), 0, false, is_max, false, name).indices;
  return keepdim ? flat.reshape(Shape(size_t(x.dim()), 1)) : flat;
}

Tensor var_std(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim, bool take_sqrt) {
  const char* name = take_sqrt ? "std" : "var";
  check_floating(x, name);
  const Plan p = make_plan(x, reduced_mask(x, dims, name), keepdim);
  Tensor out = empty(p.out_shape, x.dtype()), mu = empty({p.outer * p.inner}, x.dtype());
  const bool ref = use_reference_kernels();
  ATTN_DISPATCH_FLOATING(x.dtype(), name, [&] {
    const scalar_t* px = p.x.data_ptr<scalar_t>();
    scalar_t *po = out.data_ptr<scalar_t>(), *pm = mu.data_ptr<scalar_t>();
    if (ref) kernels::ref::var(px, p.outer, p.n, p.inner, correction, take_sqrt, po, pm);
    else kernels::fast::var(px, p.outer, p.n, p.inner, correction, take_sqrt, po, pm);
  });
  // forward was var = sum (x - mean)^2 / (N - c), therefore dx = g * 2 (x - mean) / (N - c);
  // std = sqrt(var), therefore its g is first divided by 2 std (0 where std == 0).
  auto backward = [p, mu, o = out.detach(), correction, take_sqrt](const Tensor& g) -> std::vector<Tensor> {
    const Tensor gc = grad_in_plan_layout(p, g), oc = o.contiguous();
    Tensor dx = empty({p.outer * p.n * p.inner}, g.dtype());
    ATTN_DISPATCH_FLOATING(g.dtype(), "var/std backward", [&] {
      kernels::ref::var_backward(p.x.data_ptr<scalar_t>(), mu.data_ptr<scalar_t>(), gc.data_ptr<scalar_t>(),
                                 take_sqrt ? oc.data_ptr<scalar_t>() : nullptr, correction, p.outer, p.n, p.inner,
                                 dx.data_ptr<scalar_t>());
    });
    return {from_plan_layout(p, dx)};
  };
  autograd::record(name, out, {x}, std::move(backward));
  return out;
}

}  // namespace

Tensor sum(const Tensor& x) { return sum_or_mean(x, {}, false, false); }
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return sum_or_mean(x, dims, keepdim, false);
}
Tensor mean(const Tensor& x) { return sum_or_mean(x, {}, false, true); }
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return sum_or_mean(x, dims, keepdim, true);
}

Tensor max(const Tensor& x) { return max_min_all(x, true); }
Tensor min(const Tensor& x) { return max_min_all(x, false); }
ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim) {
  return max_min_dim(x, dim, keepdim, true, true, "max");
}
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim) {
  return max_min_dim(x, dim, keepdim, false, true, "min");
}
Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return arg_max_min(x, dim, keepdim, true); }
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return arg_max_min(x, dim, keepdim, false); }

Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  check_floating(x, "logsumexp");
  const Plan p = make_plan(x, reduced_mask(x, dims, "logsumexp"), keepdim);
  Tensor out = empty(p.out_shape, x.dtype());
  const bool ref = use_reference_kernels();
  ATTN_DISPATCH_FLOATING(x.dtype(), "logsumexp", [&] {
    const scalar_t* px = p.x.data_ptr<scalar_t>();
    scalar_t* po = out.data_ptr<scalar_t>();
    if (ref) kernels::ref::logsumexp(px, p.outer, p.n, p.inner, po);
    else kernels::fast::logsumexp(px, p.outer, p.n, p.inner, po);
  });
  // forward was out = log sum exp(x), therefore dx = g * exp(x - out) (= g * softmax(x)).
  autograd::record("logsumexp", out, {x}, [p, o = out.detach()](const Tensor& g) -> std::vector<Tensor> {
    const Tensor gc = grad_in_plan_layout(p, g), oc = o.contiguous();
    Tensor dx = empty({p.outer * p.n * p.inner}, g.dtype());
    ATTN_DISPATCH_FLOATING(g.dtype(), "logsumexp backward", [&] {
      kernels::ref::logsumexp_backward(p.x.data_ptr<scalar_t>(), oc.data_ptr<scalar_t>(), gc.data_ptr<scalar_t>(),
                                       p.outer, p.n, p.inner, dx.data_ptr<scalar_t>());
    });
    return {from_plan_layout(p, dx)};
  });
  return out;
}

Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  return var_std(x, dims, correction, keepdim, false);
}
Tensor std(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  return var_std(x, dims, correction, keepdim, true);
}

Tensor cumsum(const Tensor& x_in, int64_t dim) {
  const Tensor x = x_in.is_floating_point() ? x_in : x_in.to(kInt64);
  const std::vector<bool> red = reduced_mask(x, {dim}, "cumsum");
  const Plan p = make_plan(x, red, true);  // one dim: always the adjacent layout
  Tensor out = empty(x.shape(), x.dtype());
  ATTN_DISPATCH_NUMERIC(x.dtype(), "cumsum", [&] {
    kernels::ref::cumsum(p.x.data_ptr<scalar_t>(), p.outer, p.n, p.inner, false, out.data_ptr<scalar_t>());
  });
  if (x.is_floating_point()) {
    // forward was out_k = sum_{j <= k} x_j, therefore dx_j = sum_{k >= j} g_k (a reverse cumsum).
    autograd::record("cumsum", out, {x_in}, [p](const Tensor& g) -> std::vector<Tensor> {
      const Tensor gc = g.contiguous();
      Tensor dx = empty(p.x_shape, g.dtype());
      ATTN_DISPATCH_FLOATING(g.dtype(), "cumsum backward", [&] {
        kernels::ref::cumsum(gc.data_ptr<scalar_t>(), p.outer, p.n, p.inner, true, dx.data_ptr<scalar_t>());
      });
      return {dx};
    });
  }
  return out;
}

}  // namespace attn
