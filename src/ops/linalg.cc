// mm, bmm, matmul, linear: checks, batch-offset bookkeeping, dispatch to kernels/gemm.h, and the
// backward closures beside each forward. Every product, forward or backward, is one batched GEMM
// call that reads its operands through their strides (no transposed or broadcast copies).
#include "attn/ops/linalg.h"

#include <cstdlib>
#include <cstring>

#include "attn/ops/elementwise.h"
#include "core/grad_sink.h"
#include "kernels/gemm.h"
#include "kernels/reduce_sum.h"
#include "ops/op_util.h"

namespace attn {
namespace {

// The leading ("batch") dims of a tensor that is at least 2-D.
Shape batch_of(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }

// For every index of `batch` (row-major), the element offset of that batch entry's matrix in t.
// t's batch dims align to the right of `batch`; missing and size-1 dims repeat offset 0, which is
// how broadcasting reads (and, for a gradient, reduces) without materialising anything.
std::vector<int64_t> batch_offsets(const Shape& batch, const Tensor& t) {
  const int64_t nb = int64_t(batch.size()), tb = t.dim() - 2;
  Shape st(size_t(nb), 0);
  for (int64_t i = 0; i < tb; ++i)
    if (t.shape()[i] != 1) st[size_t(nb - tb + i)] = t.strides()[i];
  return kernels::detail::all_offsets(batch, st);
}

// c[...] (+)= a @ b over the broadcast batch `batch`: c, a, b are >= 2-D with matrices [m, n],
// [m, k], [k, n] in their last two dims; each one's batch dims broadcast to `batch`. When c's
// batch is smaller (a gradient), the entries that land on one c matrix are summed.
template <class T>
void run_gemm(const kernels::GemmArgs<T>& p) {
  if constexpr (std::is_floating_point_v<T>) {
    if (!use_reference_kernels()) return kernels::fast::gemm(p);
  }
  kernels::ref::gemm(p);  // also integer matmul, which has no BLAS
}

void gemm_into(const Tensor& c, const Tensor& a, const Tensor& b, const Shape& batch, bool accumulate) {
  // OpenBLAS takes 32-bit sizes and leading dims (its default, LP64, build).
  constexpr int64_t kMax = int64_t(1) << 31;
  for (const Tensor* t : {&c, &a, &b})
    ATTN_CHECK(t->size(-2) < kMax && t->size(-1) < kMax && std::abs(t->stride(-2)) < kMax && std::abs(t->stride(-1)) < kMax,
               "matmul: matrix ", t->describe(), " is too large for BLAS's 32-bit sizes");
  const std::vector<int64_t> ao = batch_offsets(batch, a), bo = batch_offsets(batch, b), co = batch_offsets(batch, c);
  auto go = [&](auto tag) {
    using T = decltype(tag);
    kernels::GemmArgs<T> p;
    p.batch = int64_t(ao.size());
    p.m = c.size(-2);
    p.n = c.size(-1);
    p.k = a.size(-1);
    p.a = a.data_ptr<T>(), p.a_rs = a.stride(-2), p.a_cs = a.stride(-1), p.a_off = ao.data();
    p.b = b.data_ptr<T>(), p.b_rs = b.stride(-2), p.b_cs = b.stride(-1), p.b_off = bo.data();
    p.c = c.data_ptr<T>(), p.c_rs = c.stride(-2), p.c_cs = c.stride(-1), p.c_off = co.data();
    p.accumulate = accumulate;
    run_gemm(p);
  };
  switch (c.dtype()) {
    case kFloat32: return go(float());
    case kFloat64: return go(double());
    case kInt64: return go(int64_t());
    default: ATTN_FAIL("matmul: unsupported dtype ", c.dtype(), " (", a.describe(), ", ", b.describe(), ")");
  }
}

// The gradient buffer for an operand of `shape` reduced from a product over `batch`: zeros when
// the batch is empty (no entry writes it), otherwise every matrix is written by the GEMM.
Tensor grad_buffer(const Shape& shape, DType dtype, const Shape& batch) {
  return shape_numel(batch) == 0 ? zeros(shape, dtype) : empty(shape, dtype);
}

void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  ATTN_CHECK(a.dtype() == b.dtype(), op, ": expected both operands to have the same dtype, got ", a.describe(), " and ",
             b.describe());
  ATTN_CHECK(a.dtype() == kFloat32 || a.dtype() == kFloat64 || a.dtype() == kInt64, op,
             ": supports float32, float64 and int64 tensors, got ", a.describe(), " and ", b.describe());
}

// The batched product behind every public op: a [..a, m, k] @ b [..b, k, n] -> [batch, m, n].
// Shapes are checked by the callers, which name the user's original shapes.
Tensor matmul_nd(const Tensor& a, const Tensor& b, const char* name) {
  const Shape batch = broadcast_shapes(batch_of(a), batch_of(b));
  Shape out_shape = batch;
  out_shape.push_back(a.size(-2));
  out_shape.push_back(b.size(-1));
  Tensor out = empty(out_shape, a.dtype());
  if (out.numel() > 0) gemm_into(out, a, b, batch, false);
  if (a.is_floating_point()) {
    // forward was out = a @ b (batched, broadcast), therefore da = g @ b^T and db = a^T @ g, each
    // summed over the batch dims its operand was broadcast along (done inside the GEMM call).
    const bool na = a.requires_grad(), nb = b.requires_grad();
    autograd::record(name, out, {a, b}, [=, a = a.detach(), b = b.detach()](const Tensor& g) -> std::vector<Tensor> {
      Tensor da, db;
      if (na) {
        da = grad_buffer(a.shape(), a.dtype(), batch);
        if (da.numel() > 0) gemm_into(da, g, b.transpose(-2, -1), batch, false);
      }
      if (nb) {
        db = grad_buffer(b.shape(), b.dtype(), batch);
        if (db.numel() > 0) gemm_into(db, a.transpose(-2, -1), g, batch, false);
      }
      return {da, db};
    });
  }
  return out;
}

// True when all dims but the last of a >= 2-D tensor collapse into one strided dim, so that
// [..., m, k] can be viewed as [(... m), k] without a copy.
bool leading_dims_foldable(const Tensor& t) {
  int64_t prev = -1;  // the last kept (size != 1) dim seen, walking from dim -2 outwards
  for (int64_t d = t.dim() - 2; d >= 0; --d) {
    if (t.shape()[d] == 1) continue;
    if (t.shape()[d] == 0) return true;
    if (prev >= 0 && t.strides()[d] != t.strides()[prev] * t.shape()[prev]) return false;
    prev = d;
  }
  return true;
}

[[noreturn]] void fail_inner(const char* op, const Tensor& a, const Tensor& b, int64_t ka, int64_t kb) {
  ATTN_FAIL(op, ": shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()), " cannot be multiplied (", ka,
            " != ", kb, ")");
}

}  // namespace

Tensor mm(const Tensor& a, const Tensor& b) {
  ATTN_CHECK(a.dim() == 2 && b.dim() == 2, "mm: expected 2-D matrices, got shapes ", shape_str(a.shape()), " and ",
             shape_str(b.shape()));
  check_same_dtype("mm", a, b);
  if (a.size(1) != b.size(0)) fail_inner("mm", a, b, a.size(1), b.size(0));
  return matmul_nd(a, b, "mm");
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  ATTN_CHECK(a.dim() == 3 && b.dim() == 3, "bmm: expected 3-D tensors, got shapes ", shape_str(a.shape()), " and ",
             shape_str(b.shape()));
  check_same_dtype("bmm", a, b);
  ATTN_CHECK(a.size(0) == b.size(0), "bmm: batch sizes differ: shapes ", shape_str(a.shape()), " and ",
             shape_str(b.shape()), " (bmm does not broadcast; use matmul)");
  if (a.size(2) != b.size(1)) fail_inner("bmm", a, b, a.size(2), b.size(1));
  return matmul_nd(a, b, "bmm");
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  ATTN_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both arguments need at least 1 dimension, got shapes ",
             shape_str(a.shape()), " and ", shape_str(b.shape()));
  check_same_dtype("matmul", a, b);
  const int64_t ka = a.size(-1), kb = b.dim() == 1 ? b.size(0) : b.size(-2);
  if (ka != kb) fail_inner("matmul", a, b, ka, kb);
  if (a.dim() > 2 && b.dim() > 2) {
    const Shape ba = batch_of(a), bb = batch_of(b);
    const size_t n = std::max(ba.size(), bb.size());
    for (size_t i = 0; i < n; ++i) {
      const int64_t da = i < n - ba.size() ? 1 : ba[i - (n - ba.size())];
      const int64_t db = i < n - bb.size() ? 1 : bb[i - (n - bb.size())];
      ATTN_CHECK(da == db || da == 1 || db == 1, "matmul: batch dims of shapes ", shape_str(a.shape()), " and ",
                 shape_str(b.shape()), " cannot be broadcast (", da, " vs ", db, ")");
    }
  }
  // Vectors become matrices with a unit dim that is removed again (views, so autograd follows).
  if (a.dim() == 1 && b.dim() == 1) return matmul_nd(a.unsqueeze(0), b.unsqueeze(1), "matmul").squeeze(-1).squeeze(-1);
  if (b.dim() == 1) return matmul(a, b.unsqueeze(-1)).squeeze(-1);
  if (a.dim() == 1) return matmul(a.unsqueeze(0), b).squeeze(-2);
  // [..., m, k] @ [k, n] with foldable leading dims is one [(... m), k] @ [k, n] GEMM, forward and
  // backward (dB then sums over all rows in one GEMM instead of a chain of per-batch GEMMs).
  if (a.dim() > 2 && b.dim() == 2 && leading_dims_foldable(a)) {
    Shape out_shape(a.shape().begin(), a.shape().end() - 1);
    out_shape.push_back(b.size(1));
    return matmul_nd(a.reshape({-1, ka}), b, "matmul").view(out_shape);
  }
  return matmul_nd(a, b, "matmul");
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  ATTN_CHECK(weight.dim() == 2, "linear: weight must be 2-D [out_features, in_features], got shape ",
             shape_str(weight.shape()));
  ATTN_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), "linear: input shape ", shape_str(x.shape()),
             " and weight shape ", shape_str(weight.shape()), " do not match (input's last dim must equal in_features ",
             weight.size(1), ")");
  ATTN_CHECK(x.dtype() == weight.dtype() && x.is_floating_point(), "linear: expected float32 or float64 input and weight of one dtype, got ",
             x.describe(), " and ", weight.describe());
  const int64_t in = weight.size(1), out_f = weight.size(0);
  if (bias.defined()) {
    ATTN_CHECK(bias.dim() == 1 && bias.size(0) == out_f, "linear: bias shape ", shape_str(bias.shape()),
               " does not match weight shape ", shape_str(weight.shape()), " (expected [", out_f, "])");
    ATTN_CHECK(bias.dtype() == x.dtype(), "linear: bias ", bias.describe(), " and input ", x.describe(), " differ in dtype");
  }
  Shape out_shape(x.shape().begin(), x.shape().end() - 1);
  const int64_t rows = shape_numel(out_shape);
  out_shape.push_back(out_f);

  // x as a [rows, in] matrix: a view when the leading dims fold, otherwise one contiguous copy
  // (as torch does), kept for the backward's dW GEMM.
  const Tensor x2 = x.detach().reshape({rows, in});
  const Tensor w = weight.detach();
  Tensor y = empty(out_shape, x.dtype());
  const Tensor y2 = y.view({rows, out_f});
  if (bias.defined() && y.numel() > 0) {
    // Seed every row with the bias and let the GEMM accumulate onto it (BLAS beta = 1): the bias
    // add costs no extra pass over y.
    const Tensor bc = bias.detach().contiguous();
    const size_t row_bytes = size_t(out_f) * y.itemsize();
    const char* src = static_cast<const char*>(bc.raw_data());
    char* dst = static_cast<char*>(y.raw_data());
    kernels::parallel_for(0, rows, std::max<int64_t>(1, 32768 / out_f),
                          [&](int64_t r0, int64_t r1) {
                            for (int64_t r = r0; r < r1; ++r) std::memcpy(dst + size_t(r) * row_bytes, src, row_bytes);
                          });
  }
  // y2 (+)= x2 @ w^T; w^T is a transposed view, handed to BLAS as CblasTrans.
  if (y.numel() > 0) gemm_into(y2, x2, w.t(), {}, bias.defined());

  const bool nx = x.requires_grad(), nw = weight.requires_grad(), nbias = bias.defined() && bias.requires_grad();
  const Shape x_shape = x.shape();
  autograd::record("linear", y, {x, weight, bias}, [=](const Tensor& g) -> std::vector<Tensor> {
    // forward was y = x2 @ w^T + b over rows = prod(x.shape[:-1]), therefore
    //   dx = g2 @ w,  dW = g2^T @ x2 (one GEMM summing over all rows),  db = sum over rows of g2.
    const Tensor g2 = g.reshape({rows, out_f});
    Tensor dx, dw, db;
    if (nx) {
      dx = empty(x_shape, x2.dtype());
      if (dx.numel() > 0) gemm_into(dx.view({rows, in}), g2, w, {}, false);
    }
    if (nw) {
      // Straight into weight.grad when it already holds a gradient (BLAS beta = 1): a weight
      // applied at every step of a recurrence then costs no [out, in] temporary per step.
      if (const Tensor sink = autograd::leaf_grad_sink(1, {&g2, &x2}); sink.defined()) {
        if (sink.numel() > 0) gemm_into(sink, g2.t(), x2, {}, true);
      } else {
        dw = empty({out_f, in}, w.dtype());
        if (dw.numel() > 0) gemm_into(dw, g2.t(), x2, {}, false);
      }
    }
    if (nbias) db = autograd::sum_to(g2, {out_f});
    return {dx, dw, db};
  });
  return y;
}

}  // namespace attn
