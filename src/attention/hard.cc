// Hard attention ops (include/attn/attention/hard.h). Each works on the last dim: a different
// `dim` is moved there with a transpose (a view) and moved back at the end.
#include "attn/attention/hard.h"

#include <cmath>
#include <limits>
#include <vector>

#include "attn/attention/align.h"
#include "attn/core/autograd.h"
#include "attn/core/error.h"
#include "attn/ops/compare.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/index.h"
#include "attn/ops/reduce.h"
#include "attn/ops/softmax.h"
#include "attn/ops/sort.h"
#include "attn/ops/unary.h"

namespace attn {
namespace {

int64_t wrap(const char* fn, const Tensor& x, int64_t dim) {
  ATTN_CHECK(x.defined() && x.is_floating_point(), fn, ": expected a floating tensor, got ",
             x.defined() ? x.describe() : std::string("an undefined tensor"));
  ATTN_CHECK(x.dim() >= 1, fn, ": expected at least 1 dim, got ", x.describe());
  const int64_t n = x.dim();
  ATTN_CHECK(dim >= -n && dim < n, fn, ": dim ", dim, " out of range for ", shape_str(x.shape()));
  const int64_t d = dim < 0 ? dim + n : dim;
  ATTN_CHECK(x.size(d) > 0, fn, ": dim ", dim, " of ", shape_str(x.shape()), " is empty; nothing to attend to");
  return d;
}

// one_hot(argmax over the last dim) in x's dtype, without gradient.
Tensor one_hot_argmax(const Tensor& x) {
  NoGradGuard ng;
  return one_hot(argmax(x.detach(), -1), x.size(-1)).to(x.dtype());
}

}  // namespace

Tensor hard_argmax(const Tensor& weights, bool straight_through, int64_t dim) {
  const int64_t d = wrap("hard_argmax", weights, dim);
  Tensor y = one_hot_argmax(weights.transpose(d, -1)).transpose(d, -1);
  if (!straight_through) return y;
  // As PyTorch: the value is (y - w) + w, the one-hot up to one rounding; the gradient is w's.
  return y - weights.detach() + weights;
}

Tensor topk_attention(const Tensor& scores, int64_t k, int64_t dim) {
  const int64_t d = wrap("topk_attention", scores, dim);
  ATTN_CHECK(k >= 1, "topk_attention: k must be >= 1, got ", k);
  const Tensor x = scores.transpose(d, -1);
  const int64_t S = x.size(-1);
  MaskedSoftmaxOptions o;
  if (k < S) {
    NoGradGuard ng;
    // The kept set, as a bool mask: each of the k indices one-hot, summed.
    Tensor idx = topk(x.detach(), k, -1).indices;                 // [..., k]
    o.mask = gt(sum(one_hot(idx, S), {-2}), 0.0);                // [..., S]
    o.polarity = MaskPolarity::TrueKeeps;
  }
  return masked_softmax(x, o).transpose(d, -1);
}

HardSample sample_attention(const Tensor& probs, Generator* gen, int64_t dim) {
  const int64_t d = wrap("sample_attention", probs, dim);
  const Tensor x = probs.transpose(d, -1);
  const int64_t S = x.size(-1);
  Shape rows_shape = x.shape();
  rows_shape.pop_back();
  HardSample r;
  {
    NoGradGuard ng;
    const std::vector<double> p = to_double_vector(x.detach().contiguous());
    const int64_t R = S > 0 ? int64_t(p.size()) / S : 0;
    // One uniform per row, in f64 so the inverse-CDF search resolves probabilities below 2^-24.
    const std::vector<double> u = to_double_vector(rand(Shape{R}, kFloat64, gen));
    std::vector<int64_t> index(size_t(R), 0);
    for (int64_t i = 0; i < R; ++i) {
      const double* row = p.data() + i * S;
      double total = 0;
      int64_t last_positive = -1;
      for (int64_t j = 0; j < S; ++j) {
        ATTN_CHECK(std::isfinite(row[j]) && row[j] >= 0, "sample_attention: probabilities must be finite and >= 0, got ",
                   row[j], " in row ", i, " of ", shape_str(x.shape()));
        total += row[j];
        if (row[j] > 0) last_positive = j;
      }
      ATTN_CHECK(total > 0, "sample_attention: row ", i, " of ", shape_str(x.shape()), " has no positive probability");
      // The first j with target < cdf_j; p_j > 0 there by construction. Rounding can leave the
      // target at or above the last cdf: then the last positive position is the right draw.
      const double target = u[size_t(i)] * total;
      int64_t pick = last_positive;
      double cdf = 0;
      for (int64_t j = 0; j < S; ++j) {
        cdf += row[j];
        if (row[j] > 0 && target < cdf) {
          pick = j;
          break;
        }
      }
      index[size_t(i)] = pick;
    }
    r.index = tensor<int64_t>(index, rows_shape);
    r.one_hot = one_hot(r.index, S).to(x.dtype()).transpose(d, -1);
  }
  r.log_prob = log(gather(x, -1, r.index.unsqueeze(-1))).squeeze(-1);
  return r;
}

Tensor gumbel_softmax(const Tensor& logits, double tau, bool hard, Generator* gen, int64_t dim) {
  const int64_t d = wrap("gumbel_softmax", logits, dim);
  ATTN_CHECK(tau > 0 && std::isfinite(tau), "gumbel_softmax: tau must be a positive number, got ", tau);
  const Tensor x = logits.transpose(d, -1);
  Tensor g;
  {
    NoGradGuard ng;
    // E = -log(U) ~ Exp(1); U = 0 (possible: rand is [0, 1)) would give E = inf, g = -inf, so U
    // is clamped to the smallest normal float (E <= 87.3).
    Tensor u = clamp_min(rand(x.shape(), x.dtype(), gen), double(std::numeric_limits<float>::min()));
    g = -log(-log(u));
  }
  Tensor y = softmax((x + g) / tau, -1);
  if (hard) y = one_hot_argmax(y) - y.detach() + y;
  return y.transpose(d, -1);
}

}  // namespace attn
