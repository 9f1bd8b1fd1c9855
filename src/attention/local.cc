// Sliding-window attention (include/attn/attention/local.h): the argument checks, then the fused
// attention kernel (flash.h) with the window; it saves one log-sum-exp per query row, never the
// [T, S] probabilities, and regenerates the dropout mask in backward.
#include "attn/attention/local.h"

#include "attn/attention/flash.h"
#include "attn/core/error.h"

namespace attn {

Tensor sliding_window_mask(int64_t T, int64_t S, int64_t window_left, int64_t window_right, CausalAlign align) {
  ATTN_CHECK(T >= 0 && S >= 0, "sliding_window_mask: T and S must be >= 0, got T = ", T, ", S = ", S);
  ATTN_CHECK(window_left >= -1 && window_right >= -1, "sliding_window_mask: windows must be >= 0 or -1 (unbounded), got ",
             "window_left = ", window_left, ", window_right = ", window_right);
  Tensor m = zeros({T, S}, kBool);
  bool* p = m.data_ptr<bool>();
  const int64_t off = align == CausalAlign::BottomRight ? S - T : 0;
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < S; ++j)
      p[i * S + j] = (window_left < 0 || j >= i + off - window_left) && (window_right < 0 || j <= i + off + window_right);
  return m;
}

AttentionResult sliding_window_attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t window_left,
                                         int64_t window_right, const SlidingWindowOptions& o) {
  const char* op = "sliding_window_attention";
  ATTN_CHECK(q.defined() && k.defined() && v.defined(), op, ": q, k and v must be defined");
  ATTN_CHECK(q.dim() >= 2 && q.dim() == k.dim() && q.dim() == v.dim(), op,
             ": q [..., T, E], k [..., S, E], v [..., S, Ev] need the same number (>= 2) of dims, got q ",
             shape_str(q.shape()), ", k ", shape_str(k.shape()), ", v ", shape_str(v.shape()));
  ATTN_CHECK(q.is_floating_point() && q.dtype() == k.dtype() && q.dtype() == v.dtype(), op,
             ": q, k, v must share a floating dtype, got ", q.describe(), ", ", k.describe(), ", ", v.describe());
  ATTN_CHECK(q.size(-1) == k.size(-1), op, ": q ", shape_str(q.shape()), " and k ", shape_str(k.shape()),
             " must have the same embedding size E");
  ATTN_CHECK(k.size(-2) == v.size(-2), op, ": k ", shape_str(k.shape()), " and v ", shape_str(v.shape()),
             " must have the same source length S");
  const int64_t nd = q.dim();
  for (int64_t d = 0; d < nd - 2; ++d) {
    ATTN_CHECK(k.size(d) == v.size(d), op, ": k ", shape_str(k.shape()), " and v ", shape_str(v.shape()),
               " must have equal leading dims");
    if (d == nd - 3 && q.size(d) != k.size(d)) {
      ATTN_CHECK(o.enable_gqa && k.size(d) > 0 && q.size(d) % k.size(d) == 0, op, ": q ", shape_str(q.shape()), " has Hq = ",
                 q.size(d), " heads and k ", shape_str(k.shape()), " has Hk = ", k.size(d),
                 o.enable_gqa ? "; grouped-query attention needs Hq to be a multiple of Hk"
                              : "; pass enable_gqa = true for grouped-query attention");
    } else {
      ATTN_CHECK(q.size(d) == k.size(d), op, ": q ", shape_str(q.shape()), " and k ", shape_str(k.shape()),
                 " must have equal leading dims (no broadcasting)");
    }
  }
  ATTN_CHECK(window_left >= -1 && window_right >= -1, op, ": windows must be >= 0 or -1 (unbounded), got window_left = ",
             window_left, ", window_right = ", window_right);
  ATTN_CHECK(o.dropout_p >= 0 && o.dropout_p <= 1, op, ": dropout_p must be in [0, 1], got ", o.dropout_p);

  // Key masks: checked here so the messages name this function; flash_attention takes them as they are.
  if (o.valid_lens.defined() || o.key_padding_mask.defined()) {
    ATTN_CHECK(nd >= 3, op, ": valid_lens / key_padding_mask need a batch dim: q [B, ..., T, E], got q ", shape_str(q.shape()));
    const int64_t B = q.size(0), S = k.size(-2);
    if (o.valid_lens.defined())
      ATTN_CHECK(o.valid_lens.dim() == 1 && o.valid_lens.size(0) == B, op, ": valid_lens must be [B] = [", B,
                 "] for q ", shape_str(q.shape()), ", got ", o.valid_lens.describe());
    if (o.key_padding_mask.defined())
      ATTN_CHECK(o.key_padding_mask.dtype() == kBool && o.key_padding_mask.dim() == 2 &&
                     o.key_padding_mask.size(0) == B && o.key_padding_mask.size(1) == S,
                 op, ": key_padding_mask must be bool [B, S] = [", B, ", ", S, "] (True = masked out) for q ",
                 shape_str(q.shape()), " and k ", shape_str(k.shape()), ", got ", o.key_padding_mask.describe());
  }

  // The fused kernel visits only the key blocks that meet each query block's band, so the cost is
  // O(T * W * E) here too (and it measured faster than a per-row banded kernel: docs/attention/local.md).
  FlashOptions f;
  f.scale = o.scale;
  f.align = o.align;
  f.window_left = window_left, f.window_right = window_right;
  f.valid_lens = o.valid_lens;
  f.key_padding_mask = o.key_padding_mask;
  f.dropout_p = o.dropout_p;
  f.generator = o.generator;
  f.enable_gqa = o.enable_gqa;
  f.need_weights = o.need_weights;
  return flash_attention(q, k, v, f);
}

}  // namespace attn
