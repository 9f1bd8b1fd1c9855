// cross_entropy (fused, through kernels/loss.h), nll_loss, mse_loss (composed). Forward and
// backward of each op sit together; see attn/ops/loss.h for the formulas and PyTorch's edge cases.
#include "attn/ops/loss.h"

#include "attn/core/autograd.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/reduce.h"
#include "attn/ops/unary.h"
#include "kernels/loss.h"
#include "kernels/parallel.h"
#include "ops/op_util.h"

namespace attn {
namespace {

// The [N, C, K] view of a loss input and the shape of its per-element losses ([N, d1, ...]).
struct ClassLayout {
  int64_t N = 1, C = 0, K = 1;
  Shape row_shape;
  int64_t rows() const { return N * K; }
};

ClassLayout class_layout(const Tensor& input, const char* op) {
  ATTN_CHECK(input.dim() >= 1, op, ": input must have a class dim ([C], [N, C] or [N, C, d1, ...]), got ",
             input.describe());
  ATTN_CHECK(input.is_floating_point(), op, ": input must be float32 or float64, got ", input.describe());
  ClassLayout l;
  if (input.dim() == 1) {
    l.C = input.size(0);  // unbatched: one sample, 0-d target
    return l;
  }
  l.N = input.size(0);
  l.C = input.size(1);
  l.row_shape = {l.N};
  for (int64_t d = 2; d < input.dim(); ++d) {
    l.K *= input.size(d);
    l.row_shape.push_back(input.size(d));
  }
  return l;
}

// Class-index targets: int64, the input's shape without the class dim, values in [0, C) or ignore_index.
void check_index_target(const Tensor& input, const Tensor& target, const ClassLayout& l, int64_t ignore_index,
                        const char* op) {
  ATTN_CHECK(target.dtype() == kInt64, op, ": expected int64 class indices (or class probabilities of the input's ",
             "shape and dtype) as target, got ", target.describe(), " for input ", input.describe());
  ATTN_CHECK(target.shape() == l.row_shape, op, ": expected target of shape ", shape_str(l.row_shape), " for input ",
             input.describe(), " (the input's shape without the class dim), got ", target.describe());
  const Tensor t = target.contiguous();
  const int64_t* p = t.data_ptr<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i)
    ATTN_CHECK(p[i] == ignore_index || (p[i] >= 0 && p[i] < l.C), op, ": target ", p[i], " at flat index ", i,
               " is out of range for ", l.C, " classes (and is not ignore_index ", ignore_index, ")");
}

void check_weight(const Tensor& input, const Tensor& weight, const ClassLayout& l, const char* op) {
  if (!weight.defined()) return;
  ATTN_CHECK(weight.dim() == 1 && weight.size(0) == l.C && weight.dtype() == input.dtype(), op,
             ": expected weight of shape [", l.C, "] and dtype ", input.dtype(), " for input ", input.describe(),
             ", got ", weight.describe());
}

// Sum of the weights of the non-ignored targets: the denominator of the Mean reduction.
double target_weight_sum(const Tensor& target, const Tensor& weight, int64_t ignore_index) {
  const Tensor t = target.contiguous();
  const int64_t* p = t.data_ptr<int64_t>();
  const std::vector<double> w = weight.defined() ? to_double_vector(weight) : std::vector<double>();
  double s = 0;
  for (int64_t i = 0; i < t.numel(); ++i)
    if (p[i] != ignore_index) s += w.empty() ? 1.0 : w[size_t(p[i])];
  return s;
}

// The 0-d Sum / Mean of per-row losses (summed in double, in row order: thread-count independent).
template <class T>
Tensor reduce_rows(const T* loss, int64_t rows, Reduction reduction, double denominator) {
  double s = 0;
  for (int64_t r = 0; r < rows; ++r) s += double(loss[r]);
  return scalar_tensor(reduction == Reduction::Mean ? s / denominator : s, dtype_of_v<T>);
}

// Rows per parallel chunk: about 16K logits of work.
int64_t row_grain(int64_t C) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(C, 1)); }

}  // namespace

// --- cross_entropy ------------------------------------------------------------------------------

Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                     Reduction reduction, double label_smoothing) {
  const char* op = "cross_entropy";
  const ClassLayout l = class_layout(input, op);
  ATTN_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, op, ": label_smoothing must be in [0, 1], got ",
             label_smoothing);
  ATTN_CHECK(l.C > 0, op, ": input ", input.describe(), " has no classes");
  const bool probs = target.is_floating_point();
  if (probs)
    ATTN_CHECK(target.shape() == input.shape() && target.dtype() == input.dtype(), op,
               ": class-probability targets must have the input's shape and dtype: input ", input.describe(),
               ", target ", target.describe());
  else
    check_index_target(input, target, l, ignore_index, op);
  check_weight(input, weight, l, op);

  const DType dt = input.dtype();
  const Tensor x = input.contiguous().detach();
  const Tensor t = probs ? target.contiguous().detach() : target.contiguous();
  const Tensor w = weight.defined() ? weight.contiguous().detach() : Tensor();
  const int64_t rows = l.rows();
  Tensor row_loss = empty(l.row_shape, dt);
  Tensor lse = empty({rows}, dt);
  double weight_sum = double(l.C), denominator = double(rows);
  if (w.defined()) {
    weight_sum = 0;
    for (double v : to_double_vector(w)) weight_sum += v;
  }
  if (!probs) denominator = target_weight_sum(t, w, ignore_index);

  // The kernel arguments for `scalar_t`, shared by forward and backward.
  auto make_args = [=](auto type_tag) {
    using T = decltype(type_tag);
    kernels::CrossEntropyArgs<T> a;
    a.x = x.data_ptr<T>();
    a.C = l.C;
    a.K = l.K;
    if (probs) a.probs = t.data_ptr<T>();
    else a.target = t.data_ptr<int64_t>();
    a.weight = w.defined() ? w.data_ptr<T>() : nullptr;
    a.weight_sum = T(weight_sum);
    a.ignore_index = ignore_index;
    a.smoothing = T(label_smoothing);
    return a;
  };

  Tensor out;
  const bool ref = use_reference_kernels();
  ATTN_DISPATCH_FLOATING(dt, op, [&] {
    const auto a = make_args(scalar_t{});
    scalar_t* pl = row_loss.data_ptr<scalar_t>();
    scalar_t* pe = lse.data_ptr<scalar_t>();
    kernels::parallel_for(0, rows, row_grain(l.C), [&](int64_t r0, int64_t r1) {
      if (ref) kernels::ref::cross_entropy_forward(a, r0, r1, pl, pe);
      else kernels::fast::cross_entropy_forward(a, r0, r1, pl, pe);
    });
    out = reduction == Reduction::None ? row_loss : reduce_rows(pl, rows, reduction, denominator);
  });

  // forward was loss_r = sum_c q_rc w_c (lse_r - x_rc) (q: the smoothed target), therefore
  // dx_rc = s_r (softmax_rc sum_c q_rc w_c - q_rc w_c), with s_r = g_r (None), g (Sum), g / denominator (Mean).
  const bool need_dt = probs && target.requires_grad();
  std::vector<Tensor> inputs = {input};
  if (probs) inputs.push_back(target);
  autograd::record(op, out, inputs, [=, lse = lse](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = empty(x.shape(), dt), dp = need_dt ? empty(x.shape(), dt) : Tensor();
    const Tensor gc = g.contiguous();
    const bool ref_bw = use_reference_kernels();
    ATTN_DISPATCH_FLOATING(dt, "cross_entropy backward", [&] {
      const auto a = make_args(scalar_t{});
      const scalar_t* pg = gc.data_ptr<scalar_t>();
      const int64_t g_stride = reduction == Reduction::None ? 1 : 0;
      const scalar_t g_mult = reduction == Reduction::Mean ? scalar_t(1.0 / denominator) : scalar_t(1);
      const scalar_t* pe = lse.data_ptr<scalar_t>();
      scalar_t* pdx = dx.data_ptr<scalar_t>();
      scalar_t* pdp = need_dt ? dp.data_ptr<scalar_t>() : nullptr;
      kernels::parallel_for(0, rows, row_grain(l.C), [&](int64_t r0, int64_t r1) {
        if (ref_bw) kernels::ref::cross_entropy_backward(a, pe, pg, g_stride, g_mult, r0, r1, pdx, pdp);
        else kernels::fast::cross_entropy_backward(a, pe, pg, g_stride, g_mult, r0, r1, pdx, pdp);
      });
    });
    if (probs) return {dx, dp};
    return {dx};
  });
  return out;
}

// --- nll_loss -------------------------------------------------------------------------------------

Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                Reduction reduction) {
  const char* op = "nll_loss";
  const ClassLayout l = class_layout(input, op);
  check_index_target(input, target, l, ignore_index, op);
  check_weight(input, weight, l, op);
  const DType dt = input.dtype();
  const Tensor x = input.contiguous().detach();
  const Tensor t = target.contiguous();
  const Tensor w = weight.defined() ? weight.contiguous().detach() : Tensor();
  const int64_t rows = l.rows();
  const double denominator = target_weight_sum(t, w, ignore_index);
  Tensor row_loss = empty(l.row_shape, dt), out;
  ATTN_DISPATCH_FLOATING(dt, op, [&] {
    const scalar_t* pw = w.defined() ? w.data_ptr<scalar_t>() : nullptr;
    scalar_t* pl = row_loss.data_ptr<scalar_t>();
    kernels::parallel_for(0, rows, 4096, [&](int64_t r0, int64_t r1) {
      kernels::ref::nll_forward(x.data_ptr<scalar_t>(), l.C, l.K, t.data_ptr<int64_t>(), pw, ignore_index, r0, r1, pl);
    });
    out = reduction == Reduction::None ? row_loss : reduce_rows(pl, rows, reduction, denominator);
  });
  // forward was loss_r = -w_t x[r, t_r], therefore dx[r, t_r] = -w_t s_r and 0 elsewhere.
  autograd::record(op, out, {input}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = zeros(x.shape(), dt);
    const Tensor gc = g.contiguous();
    ATTN_DISPATCH_FLOATING(dt, "nll_loss backward", [&] {
      const scalar_t g_mult = reduction == Reduction::Mean ? scalar_t(1.0 / denominator) : scalar_t(1);
      const scalar_t* pw = w.defined() ? w.data_ptr<scalar_t>() : nullptr;
      scalar_t* pdx = dx.data_ptr<scalar_t>();
      kernels::parallel_for(0, rows, 4096, [&](int64_t r0, int64_t r1) {
        kernels::ref::nll_backward(l.C, l.K, t.data_ptr<int64_t>(), pw, ignore_index, gc.data_ptr<scalar_t>(),
                                   reduction == Reduction::None ? 1 : 0, g_mult, r0, r1, pdx);
      });
    });
    return {dx};
  });
  return out;
}

// --- mse_loss -------------------------------------------------------------------------------------

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  ATTN_CHECK(input.shape() == target.shape(), "mse_loss: input ", input.describe(), " and target ", target.describe(),
             " must have the same shape (attn does not broadcast losses)");
  ATTN_CHECK(input.is_floating_point() && target.is_floating_point(), "mse_loss: expected floating-point tensors, got ",
             input.describe(), " and ", target.describe());
  // Composed from differentiable ops: their backward gives 2 (x - y) g (/ numel for Mean).
  Tensor sq = square(input - target);
  switch (reduction) {
    case Reduction::None: return sq;
    case Reduction::Sum: return sum(sq);
    case Reduction::Mean: return mean(sq);
  }
  return sq;
}

}  // namespace attn
