// Attention scores as compositions of differentiable ops (see include/attn/attention/score.h).
#include "attn/attention/score.h"

#include <cmath>

#include "attn/core/error.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/linalg.h"
#include "attn/ops/reduce.h"
#include "attn/ops/unary.h"

namespace attn {
namespace {

void check_qk(const char* fn, const Tensor& q, const Tensor& k, bool same_dim) {
  ATTN_CHECK(q.defined() && k.defined(), fn, ": q and k must be defined");
  ATTN_CHECK(q.dim() >= 2 && k.dim() >= 2, fn, ": q [..., T, D] and k [..., S, D] need at least 2 dims, got q ",
             shape_str(q.shape()), " and k ", shape_str(k.shape()));
  ATTN_CHECK(q.is_floating_point() && q.dtype() == k.dtype(), fn, ": q and k must share a floating dtype, got q ",
             q.describe(), " and k ", k.describe());
  if (same_dim)
    ATTN_CHECK(q.size(-1) == k.size(-1), fn, ": q ", shape_str(q.shape()), " and k ", shape_str(k.shape()),
               " must have the same last dim");
}

// v^T tanh(qh [..., T, H] (+) kh [..., S, H]) -> [..., T, S]; the pairwise sum broadcasts.
Tensor tanh_pairs(const Tensor& qh, const Tensor& kh, const Tensor& v) {
  Tensor feat = tanh(qh.unsqueeze(-2) + kh.unsqueeze(-3));  // [..., T, S, H]
  return matmul(feat, v);
}

}  // namespace

Tensor dot_score(const Tensor& q, const Tensor& k) {
  check_qk("dot_score", q, k, true);
  return matmul(q, k.transpose(-2, -1));
}

Tensor scaled_dot_score(const Tensor& q, const Tensor& k, std::optional<double> scale) {
  check_qk("scaled_dot_score", q, k, true);
  const double s = scale ? *scale : 1.0 / std::sqrt(double(q.size(-1)));
  return matmul(q, k.transpose(-2, -1)) * s;
}

Tensor general_score(const Tensor& q, const Tensor& W, const Tensor& k) {
  check_qk("general_score", q, k, false);
  ATTN_CHECK(W.defined() && W.dim() == 2 && W.size(0) == q.size(-1) && W.size(1) == k.size(-1),
             "general_score: W must be [Dq, Dk] for q ", shape_str(q.shape()), " and k ", shape_str(k.shape()), ", got W ",
             W.defined() ? shape_str(W.shape()) : std::string("undefined"));
  // (q W) k^T: the T x Dk product is cheaper than W k^T per key when T <= S, and equal otherwise.
  return matmul(matmul(q, W), k.transpose(-2, -1));
}

Tensor additive_score(const Tensor& q, const Tensor& k, const Tensor& W_q, const Tensor& W_k, const Tensor& v,
                      const Tensor& bias) {
  check_qk("additive_score", q, k, false);
  ATTN_CHECK(W_q.defined() && W_k.defined() && v.defined(), "additive_score: W_q, W_k and v must be defined");
  ATTN_CHECK(W_q.dim() == 2 && W_q.size(1) == q.size(-1), "additive_score: W_q must be [H, Dq] for q ",
             shape_str(q.shape()), ", got W_q ", shape_str(W_q.shape()));
  const int64_t H = W_q.size(0);
  ATTN_CHECK(W_k.dim() == 2 && W_k.size(0) == H && W_k.size(1) == k.size(-1), "additive_score: W_k must be [H, Dk] = [",
             H, ", ", k.size(-1), "] for W_q ", shape_str(W_q.shape()), " and k ", shape_str(k.shape()), ", got W_k ",
             shape_str(W_k.shape()));
  ATTN_CHECK(v.dim() == 1 && v.size(0) == H, "additive_score: v must be [H] for W_q ", shape_str(W_q.shape()), ", got v ",
             shape_str(v.shape()));
  if (bias.defined())
    ATTN_CHECK(bias.dim() == 1 && bias.size(0) == H, "additive_score: bias must be [H] for W_q ", shape_str(W_q.shape()),
               ", got bias ", shape_str(bias.shape()));
  return tanh_pairs(linear(q, W_q, bias), linear(k, W_k), v);
}

Tensor concat_score(const Tensor& q, const Tensor& k, const Tensor& W, const Tensor& v, const Tensor& bias) {
  check_qk("concat_score", q, k, false);
  ATTN_CHECK(W.defined() && v.defined(), "concat_score: W and v must be defined");
  const int64_t Dq = q.size(-1), Dk = k.size(-1);
  ATTN_CHECK(W.dim() == 2 && W.size(1) == Dq + Dk, "concat_score: W must be [H, Dq + Dk] = [H, ", Dq + Dk, "] for q ",
             shape_str(q.shape()), " and k ", shape_str(k.shape()), ", got W ", shape_str(W.shape()));
  const int64_t H = W.size(0);
  ATTN_CHECK(v.dim() == 1 && v.size(0) == H, "concat_score: v must be [H] for W ", shape_str(W.shape()), ", got v ",
             shape_str(v.shape()));
  if (bias.defined())
    ATTN_CHECK(bias.dim() == 1 && bias.size(0) == H, "concat_score: bias must be [H] for W ", shape_str(W.shape()),
               ", got bias ", shape_str(bias.shape()));
  // W [q; k] = W[:, :Dq] q + W[:, Dq:] k: the narrowed views carry W's gradient back to W.
  return tanh_pairs(linear(q, W.narrow(1, 0, Dq), bias), linear(k, W.narrow(1, Dq, Dk)), v);
}

Tensor cosine_score(const Tensor& q, const Tensor& k, double eps) {
  check_qk("cosine_score", q, k, true);
  ATTN_CHECK(eps > 0, "cosine_score: eps must be > 0, got ", eps);
  // sqrt(max(|x|^2, eps^2)) == max(|x|, eps), but its gradient stays finite at x = 0 (the clamp
  // stops it before sqrt's infinite slope).
  auto normalize = [eps](const Tensor& x) { return x / sqrt(clamp_min(sum(x * x, {-1}, true), eps * eps)); };
  return matmul(normalize(q), normalize(k).transpose(-2, -1));
}

}  // namespace attn
