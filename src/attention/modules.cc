// d2l-style, Bahdanau and Luong attention modules (include/attn/attention/modules.h).
#include "attn/attention/modules.h"

#include <cmath>

#include "attn/attention/align.h"
#include "attn/attention/score.h"
#include "attn/core/autograd.h"
#include "attn/core/error.h"
#include "attn/ops/compare.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/linalg.h"
#include "attn/ops/unary.h"

namespace attn::nn {
namespace {

void check_qkv(const char* who, const Tensor& q, const Tensor& k, const Tensor& v, int64_t q_dim) {
  ATTN_CHECK(q.defined() && k.defined() && v.defined(), who, ": queries, keys and values must be defined");
  ATTN_CHECK(q.dim() == q_dim && k.dim() == 3 && v.dim() == 3, who, ": expected queries ",
             q_dim == 3 ? "[B, T, Dq]" : "[B, Dq]", ", keys [B, S, Dk], values [B, S, Dv], got ", shape_str(q.shape()),
             ", ", shape_str(k.shape()), " and ", shape_str(v.shape()));
  ATTN_CHECK(q.size(0) == k.size(0) && k.size(0) == v.size(0) && k.size(1) == v.size(1), who,
             ": batch and source sizes differ: queries ", shape_str(q.shape()), ", keys ", shape_str(k.shape()),
             ", values ", shape_str(v.shape()));
}

// masked_softmax over the last dim of [B, 1, S] scores with the source masks of the step modules,
// plus an optional extra keep mask [B, 1, S] (the local window).
Tensor step_softmax(const Tensor& scores, const SourceMask& m, const Tensor& keep = Tensor()) {
  MaskedSoftmaxOptions o;
  o.valid_lens = m.valid_lens;
  Tensor keep_all = keep;
  if (m.key_padding_mask.defined()) {
    const Tensor& p = m.key_padding_mask;
    ATTN_CHECK(p.dtype() == kBool && p.dim() == 2 && p.size(0) == scores.size(0) && p.size(1) == scores.size(2),
               "key_padding_mask: expected bool [B, S] = [", scores.size(0), ", ", scores.size(2), "], got ",
               p.describe());
    Tensor k = logical_not(p).unsqueeze(1);
    keep_all = keep_all.defined() ? logical_and(keep_all, k) : k;
  }
  if (keep_all.defined()) {
    o.mask = keep_all;
    o.polarity = MaskPolarity::TrueKeeps;
  }
  return masked_softmax(scores, o);
}

StepAttention fuse(const Tensor& weights3, const Tensor& values) {
  StepAttention r;
  r.context = matmul(weights3, values).squeeze(1);
  r.weights = weights3.squeeze(1);
  return r;
}

}  // namespace

// --- d2l -------------------------------------------------------------------------------------

DotProductAttention::DotProductAttention(double p) { dropout = register_module("dropout", std::make_shared<Dropout>(p)); }

Tensor DotProductAttention::forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& valid_lens) {
  check_qkv("DotProductAttention", q, k, v, 3);
  Tensor scores = scaled_dot_score(q, k, 1.0 / std::sqrt(double(q.size(-1))));
  attention_weights = masked_softmax(scores, valid_lens);
  return matmul(dropout->forward(attention_weights), v);
}

AdditiveAttention::AdditiveAttention(int64_t key_size, int64_t query_size, int64_t num_hiddens, double p,
                                     DType dtype) {
  W_k = register_module("W_k", std::make_shared<Linear>(key_size, num_hiddens, false, dtype));
  W_q = register_module("W_q", std::make_shared<Linear>(query_size, num_hiddens, false, dtype));
  w_v = register_module("w_v", std::make_shared<Linear>(num_hiddens, 1, false, dtype));
  dropout = register_module("dropout", std::make_shared<Dropout>(p));
}

Tensor AdditiveAttention::forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& valid_lens) {
  check_qkv("AdditiveAttention", q, k, v, 3);
  ATTN_CHECK(q.size(-1) == W_q->in_features && k.size(-1) == W_k->in_features,
             "AdditiveAttention: expected queries [B, T, ", W_q->in_features, "] and keys [B, S, ", W_k->in_features,
             "], got ", shape_str(q.shape()), " and ", shape_str(k.shape()));
  // additive_score projects each query and key once and broadcasts the pairwise sum, as d2l's
  // queries.unsqueeze(2) + keys.unsqueeze(1).
  Tensor scores = additive_score(q, k, W_q->weight, W_k->weight, w_v->weight.reshape({-1}));
  attention_weights = masked_softmax(scores, valid_lens);
  return matmul(dropout->forward(attention_weights), v);
}

// --- Bahdanau ----------------------------------------------------------------------------------

BahdanauAttention::BahdanauAttention(int64_t query_size, int64_t key_size, int64_t num_hiddens, DType dtype) {
  W_a = register_module("W_a", std::make_shared<Linear>(query_size, num_hiddens, false, dtype));
  U_a = register_module("U_a", std::make_shared<Linear>(key_size, num_hiddens, false, dtype));
  v_a = register_module("v_a", std::make_shared<Linear>(num_hiddens, 1, false, dtype));
}

StepAttention BahdanauAttention::forward(const Tensor& q, const Tensor& k, const Tensor& v, const SourceMask& m) {
  check_qkv("BahdanauAttention", q, k, v, 2);
  ATTN_CHECK(q.size(-1) == W_a->in_features && k.size(-1) == U_a->in_features, "BahdanauAttention: expected query [B, ",
             W_a->in_features, "] and keys [B, S, ", U_a->in_features, "], got ", shape_str(q.shape()), " and ",
             shape_str(k.shape()));
  Tensor scores = additive_score(q.unsqueeze(1), k, W_a->weight, U_a->weight, v_a->weight.reshape({-1}));  // [B,1,S]
  return fuse(step_softmax(scores, m), v);
}

std::string BahdanauAttention::extra_repr() const {
  return detail::str_cat("query_size=", W_a->in_features, ", key_size=", U_a->in_features,
                         ", num_hiddens=", W_a->out_features);
}

// --- Luong -------------------------------------------------------------------------------------

LuongAttention::LuongAttention(int64_t qs, int64_t ks, const LuongAttentionOptions& o)
    : query_size(qs), key_size(ks), options(o) {
  ATTN_CHECK(o.window >= 0, "LuongAttention: window D must be >= 0, got ", o.window);
  const int64_t H = o.num_hiddens > 0 ? o.num_hiddens : qs;
  switch (o.score) {
    case LuongScore::Dot:
      ATTN_CHECK(qs == ks, "LuongAttention: the dot score needs query_size == key_size, got ", qs, " and ", ks);
      break;
    case LuongScore::General:
      W_a = register_module("W_a", std::make_shared<Linear>(ks, qs, false, o.dtype));
      break;
    case LuongScore::Concat:
      W_a = register_module("W_a", std::make_shared<Linear>(qs + ks, H, false, o.dtype));
      v_a = register_module("v_a", std::make_shared<Linear>(H, 1, false, o.dtype));
      break;
  }
  if (o.mode == LuongMode::LocalP) {
    W_p = register_module("W_p", std::make_shared<Linear>(qs, H, false, o.dtype));
    v_p = register_module("v_p", std::make_shared<Linear>(H, 1, false, o.dtype));
  }
}

StepAttention LuongAttention::forward(const Tensor& q, const Tensor& k, const Tensor& v, const SourceMask& m,
                                      std::optional<int64_t> t) {
  check_qkv("LuongAttention", q, k, v, 2);
  ATTN_CHECK(q.size(-1) == query_size && k.size(-1) == key_size, "LuongAttention: expected query [B, ", query_size,
             "] and keys [B, S, ", key_size, "], got ", shape_str(q.shape()), " and ", shape_str(k.shape()));
  const Tensor q1 = q.unsqueeze(1);  // [B, 1, Dq]
  Tensor scores;
  switch (options.score) {
    case LuongScore::Dot: scores = dot_score(q1, k); break;
    case LuongScore::General: scores = general_score(q1, W_a->weight, k); break;
    case LuongScore::Concat: scores = concat_score(q1, k, W_a->weight, v_a->weight.reshape({-1})); break;
  }
  const int64_t B = k.size(0), S = k.size(1);
  const double D = double(options.window);
  const DType dt = q.dtype();
  const Tensor pos = arange(0.0, double(S), 1.0, dt).reshape({1, 1, S});  // source positions s
  if (options.mode == LuongMode::Global) return fuse(step_softmax(scores, m), v);

  if (options.mode == LuongMode::LocalM) {
    ATTN_CHECK(t.has_value(), "LuongAttention: local-m needs the target step t");
    Tensor keep = le(abs(pos - double(*t)), D).expand({B, 1, S});
    return fuse(step_softmax(scores, m, keep), v);
  }

  // local-p: p_t = S_b * sigmoid(v_p^T tanh(W_p h_t)), S_b the row's source length.
  Tensor len = m.valid_lens.defined() ? m.valid_lens.to(dt).reshape({B}) : full({B}, double(S), dt);
  Tensor p = len * sigmoid(v_p->forward(tanh(W_p->forward(q))).reshape({B}));  // [B]
  Tensor p3 = p.reshape({B, 1, 1});
  Tensor keep;
  {
    NoGradGuard ng;  // the window is piecewise constant in p_t: no gradient through it
    keep = le(abs(pos - p3.detach()), D);
  }
  Tensor w = step_softmax(scores, m, keep);
  const double sigma = D / 2.0;
  Tensor d = pos - p3;
  // D = 0 leaves a window of at most one position with sigma = 0: the Gaussian is the indicator
  // s == p_t there, i.e. the weight is kept only when p_t lands exactly on a position.
  Tensor gauss = sigma > 0 ? exp(-(d * d) / (2.0 * sigma * sigma)) : where(eq(d, 0.0), 1.0, zeros_like(d));
  StepAttention r = fuse(w * gauss, v);
  r.position = p;
  return r;
}

std::string LuongAttention::extra_repr() const {
  const char* sc = options.score == LuongScore::Dot ? "dot" : options.score == LuongScore::General ? "general" : "concat";
  const char* md = options.mode == LuongMode::Global ? "global" : options.mode == LuongMode::LocalM ? "local_m" : "local_p";
  return detail::str_cat("query_size=", query_size, ", key_size=", key_size, ", score=", sc, ", mode=", md,
                         ", window=", options.window);
}

}  // namespace attn::nn
