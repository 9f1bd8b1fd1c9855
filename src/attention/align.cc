// Masked softmax and mask builders (see include/attn/attention/align.h), composed from
// differentiable ops; the zero-row handling is explained in the header.
#include "attn/attention/align.h"

#include <limits>

#include "attn/core/error.h"
#include "attn/ops/compare.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/reduce.h"
#include "attn/ops/softmax.h"

namespace attn {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

void check_broadcasts_to(const char* what, const Tensor& m, const Tensor& scores) {
  bool ok = m.dim() <= scores.dim();
  for (int64_t i = 1; ok && i <= m.dim(); ++i) {
    const int64_t a = m.size(-i), b = scores.size(-i);
    ok = a == b || a == 1;
  }
  ATTN_CHECK(ok, "masked_softmax: ", what, " ", shape_str(m.shape()), " does not broadcast to the scores ",
             shape_str(scores.shape()));
}

}  // namespace

Tensor valid_lens_mask(const Tensor& valid_lens, int64_t S, int64_t ndim) {
  ATTN_CHECK(valid_lens.defined(), "valid_lens_mask: valid_lens is undefined");
  ATTN_CHECK(valid_lens.dtype() != kBool, "valid_lens_mask: valid_lens must hold counts (int64 or floating), got ",
             valid_lens.describe(), "; pass a bool mask with a MaskPolarity instead");
  ATTN_CHECK((valid_lens.dim() == 1 && ndim >= 2) || (valid_lens.dim() == 2 && ndim >= 3),
             "valid_lens_mask: valid_lens must be [B] (scores of >= 2 dims) or [B, T] (scores of >= 3 dims), got ",
             shape_str(valid_lens.shape()), " for ", ndim, "-D scores");
  Shape s(size_t(ndim), 1);
  s[0] = valid_lens.size(0);
  if (valid_lens.dim() == 2) s[size_t(ndim - 2)] = valid_lens.size(1);
  Tensor lens = valid_lens.detach().reshape(s);
  // [S] < [B, 1, .., (T), 1] -> [B, 1, .., (T), S]; compared in the promoted dtype, so float
  // lengths (d2l passes them) work too.
  return lt(arange(double(S), kInt64), lens);
}

Tensor causal_mask(int64_t T, int64_t S, CausalAlign align) {
  ATTN_CHECK(T >= 0 && S >= 0, "causal_mask: T and S must be >= 0, got T = ", T, ", S = ", S);
  const int64_t shift = align == CausalAlign::BottomRight ? S - T : 0;
  Tensor i = arange(double(shift), double(T + shift), 1.0, kInt64).unsqueeze(1);  // [T, 1]: last visible j
  return le(arange(double(S), kInt64), i);                                         // [T, S]
}

Tensor masked_softmax(const Tensor& scores, const MaskedSoftmaxOptions& opt) {
  ATTN_CHECK(scores.defined() && scores.is_floating_point() && scores.dim() >= 1,
             "masked_softmax: scores must be a floating tensor [..., S], got ",
             scores.defined() ? scores.describe() : std::string("undefined"));
  ATTN_CHECK(opt.temperature > 0, "masked_softmax: temperature must be > 0, got ", opt.temperature);
  Tensor keep;  // bool, broadcastable to scores; undefined = every key kept
  if (opt.valid_lens.defined()) {
    const Tensor& vl = opt.valid_lens;
    ATTN_CHECK(vl.dtype() != kBool, "masked_softmax: valid_lens must hold counts (int64 or floating), got ",
               vl.describe(), "; pass a bool mask with a MaskPolarity instead");
    ATTN_CHECK((vl.dim() == 1 && scores.dim() >= 2 && vl.size(0) == scores.size(0)) ||
                   (vl.dim() == 2 && scores.dim() >= 3 && vl.size(0) == scores.size(0) && vl.size(1) == scores.size(-2)),
               "masked_softmax: valid_lens ", shape_str(vl.shape()), " must be [B] or [B, T] for the scores ",
               shape_str(scores.shape()), " ([B, ..., S] or [B, ..., T, S])");
    keep = valid_lens_mask(vl, scores.size(-1), scores.dim());
  }
  if (opt.mask.defined()) {
    ATTN_CHECK(opt.mask.dtype() == kBool, "masked_softmax: mask must be bool, got ", opt.mask.describe(),
               " (a float mask is an additive_mask)");
    ATTN_CHECK(opt.polarity.has_value(),
               "masked_softmax: a bool mask needs an explicit polarity (MaskPolarity::TrueKeeps as "
               "F.scaled_dot_product_attention, or MaskPolarity::TrueMasks as nn.MultiheadAttention)");
    check_broadcasts_to("mask", opt.mask, scores);
    Tensor k = *opt.polarity == MaskPolarity::TrueKeeps ? opt.mask.detach() : logical_not(opt.mask.detach());
    keep = keep.defined() ? logical_and(keep, k) : k;
  } else {
    ATTN_CHECK(!opt.polarity.has_value(), "masked_softmax: polarity given without a mask");
  }
  Tensor s = scores;
  if (keep.defined()) s = masked_fill(s, logical_not(keep), kNegInf);
  if (opt.additive_mask.defined()) {
    ATTN_CHECK(opt.additive_mask.is_floating_point(), "masked_softmax: additive_mask must be floating, got ",
               opt.additive_mask.describe(), " (a bool mask goes in `mask` with a polarity)");
    check_broadcasts_to("additive_mask", opt.additive_mask, scores);
    s = s + opt.additive_mask.to(scores.dtype());
  }
  if (opt.temperature != 1.0) s = s / opt.temperature;
  if (s.numel() == 0) return softmax(s, -1);
  // Dead rows: max == -inf, i.e. every key masked (NaN compares false, so NaN rows stay NaN).
  Tensor dead = eq(max(s.detach(), -1, true).values, kNegInf);  // [..., 1]
  Tensor p = softmax(masked_fill(s, dead, 0.0), -1);
  return masked_fill(p, dead, 0.0);
}

Tensor masked_softmax(const Tensor& scores, const Tensor& valid_lens, double temperature) {
  MaskedSoftmaxOptions o;
  o.valid_lens = valid_lens;
  o.temperature = temperature;
  return masked_softmax(scores, o);
}

Tensor masked_softmax(const Tensor& scores, const Tensor& mask, MaskPolarity polarity, double temperature) {
  MaskedSoftmaxOptions o;
  o.mask = mask;
  o.polarity = polarity;
  o.temperature = temperature;
  return masked_softmax(scores, o);
}

}  // namespace attn
