// Scaled dot-product attention composed from score / align / fuse (include/attn/attention/sdpa.h).
#include "attn/attention/sdpa.h"

#include <cmath>

#include "attn/attention/align.h"
#include "attn/attention/flash.h"
#include "attn/attention/score.h"
#include "attn/core/error.h"
#include "attn/ops/dropout.h"
#include "attn/ops/linalg.h"

namespace attn {
namespace {

// [..., Hk, S, E] -> [..., Hk * groups, S, E], each head repeated `groups` times in place
// (repeat_interleave on dim -3). expand + reshape copies once; the expand's backward sums the
// groups' gradients back onto the shared head.
Tensor repeat_heads(const Tensor& x, int64_t groups) {
  if (groups == 1) return x;
  Shape e = x.unsqueeze(-3).shape();
  e[e.size() - 3] = groups;
  Shape out = x.shape();
  out[out.size() - 3] *= groups;
  return x.unsqueeze(-3).expand(e).reshape(out);
}

}  // namespace

AttentionResult scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask,
                                             double dropout_p, bool is_causal, std::optional<double> scale,
                                             bool enable_gqa, bool need_weights, Generator* gen) {
  ATTN_CHECK(q.defined() && k.defined() && v.defined(), "scaled_dot_product_attention: q, k and v must be defined");
  ATTN_CHECK(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2,
             "scaled_dot_product_attention: q [..., T, E], k [..., S, E], v [..., S, Ev] need >= 2 dims, got q ",
             shape_str(q.shape()), ", k ", shape_str(k.shape()), ", v ", shape_str(v.shape()));
  ATTN_CHECK(q.is_floating_point() && q.dtype() == k.dtype() && q.dtype() == v.dtype(),
             "scaled_dot_product_attention: q, k, v must share a floating dtype, got ", q.describe(), ", ", k.describe(),
             ", ", v.describe());
  ATTN_CHECK(q.size(-1) == k.size(-1), "scaled_dot_product_attention: q ", shape_str(q.shape()), " and k ",
             shape_str(k.shape()), " must have the same embedding size E");
  ATTN_CHECK(k.size(-2) == v.size(-2), "scaled_dot_product_attention: k ", shape_str(k.shape()), " and v ",
             shape_str(v.shape()), " must have the same source length S");
  ATTN_CHECK(!(attn_mask.defined() && is_causal),
             "scaled_dot_product_attention: give either attn_mask or is_causal, not both (as PyTorch); for a causal "
             "mask combined with another, pass logical_and(mask, causal_mask(T, S)) as attn_mask");
  ATTN_CHECK(dropout_p >= 0 && dropout_p <= 1, "scaled_dot_product_attention: dropout_p must be in [0, 1], got ", dropout_p);

  // The fused kernel (flash.h) when the SdpaBackend switch allows it and it takes these inputs.
  {
    FlashOptions fo;
    fo.scale = scale, fo.attn_mask = attn_mask, fo.is_causal = is_causal, fo.dropout_p = dropout_p;
    fo.generator = gen, fo.enable_gqa = enable_gqa, fo.need_weights = need_weights;
    if (sdpa_uses_fused(q, k, v, fo)) return flash_attention(q, k, v, fo);
  }

  Tensor kk = k, vv = v;
  if (q.dim() >= 3 && k.dim() >= 3 && v.dim() >= 3) {
    const int64_t Hq = q.size(-3), Hk = k.size(-3);
    ATTN_CHECK(k.size(-3) == v.size(-3), "scaled_dot_product_attention: k ", shape_str(k.shape()), " and v ",
               shape_str(v.shape()), " must have the same number of heads");
    if (enable_gqa && Hq != Hk) {
      ATTN_CHECK(Hk > 0 && Hq % Hk == 0, "scaled_dot_product_attention: enable_gqa needs the query heads Hq = ", Hq,
                 " to be a multiple of the key/value heads Hk = ", Hk, " (q ", shape_str(q.shape()), ", k ",
                 shape_str(k.shape()), ")");
      kk = repeat_heads(k, Hq / Hk);
      vv = repeat_heads(v, Hq / Hk);
    } else {
      ATTN_CHECK(Hq == Hk || Hq == 1 || Hk == 1, "scaled_dot_product_attention: q has Hq = ", Hq,
                 " heads and k has Hk = ", Hk, " (q ", shape_str(q.shape()), ", k ", shape_str(k.shape()),
                 "); pass enable_gqa = true for grouped-query attention");
    }
  }

  const double s = scale ? *scale : 1.0 / std::sqrt(double(q.size(-1)));
  Tensor scores = scaled_dot_score(q, kk, s);  // [..., Hq, T, S]
  MaskedSoftmaxOptions opt;
  if (is_causal) {
    opt.mask = causal_mask(q.size(-2), k.size(-2), CausalAlign::TopLeft);
    opt.polarity = MaskPolarity::TrueKeeps;
  } else if (attn_mask.defined()) {
    if (attn_mask.dtype() == kBool) {
      opt.mask = attn_mask;
      opt.polarity = MaskPolarity::TrueKeeps;  // PyTorch SDPA: True = takes part
    } else {
      ATTN_CHECK(attn_mask.is_floating_point(), "scaled_dot_product_attention: attn_mask must be bool or floating, got ",
                 attn_mask.describe());
      opt.additive_mask = attn_mask;
    }
  }
  Tensor w = masked_softmax(scores, opt);
  if (dropout_p > 0) w = dropout(w, dropout_p, /*training=*/true, gen);
  AttentionResult r;
  r.output = matmul(w, vv);
  if (need_weights) r.weights = w;
  return r;
}

}  // namespace attn
