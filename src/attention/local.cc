// Sliding-window attention (include/attn/attention/local.h): checks, key masks and dropout state
// packed into kernels::LocalAttentionDims, forward through kernels/local_attention.h, and the
// backward closure beside it. The closure saves q, k, v, the output and one log-sum-exp per query
// row (O(T) extra memory), never the [T, S] probabilities, and regenerates the dropout mask.
#include "attn/attention/local.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "attn/core/autograd.h"
#include "attn/core/error.h"
#include "attn/kernels/config.h"
#include "kernels/dropout.h"
#include "kernels/local_attention.h"

namespace attn {
namespace {

// Everything the kernels need besides the tensors; the key mask arrays live here so the backward
// closure can share them.
struct LocalState {
  kernels::LocalAttentionDims dims;
  std::vector<int64_t> key_len;
  std::vector<uint8_t> key_keep;
  double scale = 1.0;
  void bind() {
    dims.key_len = key_len.empty() ? nullptr : key_len.data();
    dims.key_keep = key_keep.empty() ? nullptr : key_keep.data();
  }
};

}  // namespace

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

  const int64_t T = q.size(-2), S = k.size(-2), E = q.size(-1), Ev = v.size(-1);
  const int64_t BH = shape_numel(Shape(q.shape().begin(), q.shape().end() - 2));  // query blocks
  const int64_t group = nd >= 3 ? q.size(-3) / std::max<int64_t>(k.size(-3), 1) : 1;

  auto st = std::make_shared<LocalState>();
  auto& p = st->dims;
  p.BH = BH, p.group = std::max<int64_t>(group, 1), p.T = T, p.S = S, p.E = E, p.Ev = Ev;
  p.offset = o.align == CausalAlign::BottomRight ? S - T : 0;
  p.window_left = window_left, p.window_right = window_right;
  st->scale = o.scale ? *o.scale : 1.0 / std::sqrt(double(E));

  // Key masks, per batch entry b = q's first dim.
  if (o.valid_lens.defined() || o.key_padding_mask.defined()) {
    ATTN_CHECK(nd >= 3, op, ": valid_lens / key_padding_mask need a batch dim: q [B, ..., T, E], got q ", shape_str(q.shape()));
    const int64_t B = q.size(0);
    p.heads_per_batch = B > 0 ? BH / B : 1;
    if (o.valid_lens.defined()) {
      ATTN_CHECK(o.valid_lens.dim() == 1 && o.valid_lens.size(0) == B, op, ": valid_lens must be [B] = [", B,
                 "] for q ", shape_str(q.shape()), ", got ", o.valid_lens.describe());
      Tensor l = o.valid_lens.to(kFloat64).contiguous();
      const double* pl = l.data_ptr<double>();
      st->key_len.resize(size_t(B));
      // Key j is kept iff j < len, so a fractional length keeps ceil(len) keys.
      for (int64_t b = 0; b < B; ++b) st->key_len[size_t(b)] = int64_t(std::clamp(std::ceil(pl[b]), 0.0, double(S)));
    }
    if (o.key_padding_mask.defined()) {
      ATTN_CHECK(o.key_padding_mask.dtype() == kBool && o.key_padding_mask.dim() == 2 &&
                     o.key_padding_mask.size(0) == B && o.key_padding_mask.size(1) == S,
                 op, ": key_padding_mask must be bool [B, S] = [", B, ", ", S, "] (True = masked out) for q ",
                 shape_str(q.shape()), " and k ", shape_str(k.shape()), ", got ", o.key_padding_mask.describe());
      Tensor m = o.key_padding_mask.contiguous();
      const bool* pm = m.data_ptr<bool>();
      st->key_keep.resize(size_t(B * S));
      for (int64_t e = 0; e < B * S; ++e) st->key_keep[size_t(e)] = pm[e] ? 0 : 1;
    }
  }
  // Dropout: the same Philox stream layout as dropout() on a contiguous [..., Hq, T, S] tensor, so
  // the generator advances by ceil(BH * T * S / 4) blocks. p = 1 drops all and draws nothing.
  if (o.dropout_p >= 1.0) {
    p.drop_threshold = uint64_t(1) << 32;
  } else if (o.dropout_p > 0.0) {
    Generator& g = o.generator ? *o.generator : default_generator();
    p.drop_key = g.seed();
    p.drop_ctr0 = g.reserve((uint64_t(BH * T * S) + 3) / 4);
    p.drop_threshold = kernels::dropout_threshold(o.dropout_p);
    p.drop_scale = 1.0 / (1.0 - o.dropout_p);
  }
  st->bind();

  Tensor qc = q.detach().contiguous(), kc = k.detach().contiguous(), vc = v.detach().contiguous();
  Shape out_shape = q.shape();
  out_shape.back() = Ev;
  Tensor out = empty(out_shape, q.dtype());
  Tensor lse = empty({BH, T}, q.dtype());
  Shape w_shape = q.shape();
  w_shape.back() = S;
  Tensor weights = o.need_weights ? zeros(w_shape, q.dtype()) : Tensor();
  const bool ref = use_reference_kernels();
  ATTN_DISPATCH_FLOATING(q.dtype(), op, [&] {
    scalar_t* pw = weights.defined() ? weights.data_ptr<scalar_t>() : nullptr;
    if (ref)
      kernels::ref::local_attention_forward<scalar_t>(p, qc.data_ptr<scalar_t>(), kc.data_ptr<scalar_t>(),
                                                      vc.data_ptr<scalar_t>(), st->scale, out.data_ptr<scalar_t>(),
                                                      lse.data_ptr<scalar_t>(), pw);
    else
      kernels::fast::local_attention_forward(p, qc.data_ptr<scalar_t>(), kc.data_ptr<scalar_t>(), vc.data_ptr<scalar_t>(),
                                             st->scale, out.data_ptr<scalar_t>(), lse.data_ptr<scalar_t>(), pw);
  });

  // forward was out_i = sum_j p_ij m_ij v_j with p = exp(s - lse), therefore (kernels header)
  // dv_j = sum_i p_ij m_ij dout_i, dS_ij = p_ij (m_ij dout_i . v_j - dout_i . out_i), dq = scale dS k,
  // dk = scale dS^T q; p is recomputed from the saved lse, m from the saved Philox state.
  Tensor out_saved = out.detach();
  const Shape ks = k.shape(), vs = v.shape();
  autograd::record(op, out, {q, k, v}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor gc = g.contiguous();
    Tensor dq = empty(qc.shape(), qc.dtype()), dk = empty(ks, qc.dtype()), dv = empty(vs, qc.dtype());
    const bool r = use_reference_kernels();
    ATTN_DISPATCH_FLOATING(qc.dtype(), "sliding_window_attention_backward", [&] {
      const auto& d = st->dims;
      if (r)
        kernels::ref::local_attention_backward<scalar_t>(
            d, qc.data_ptr<scalar_t>(), kc.data_ptr<scalar_t>(), vc.data_ptr<scalar_t>(), out_saved.data_ptr<scalar_t>(),
            gc.data_ptr<scalar_t>(), lse.data_ptr<scalar_t>(), st->scale, dq.data_ptr<scalar_t>(),
            dk.data_ptr<scalar_t>(), dv.data_ptr<scalar_t>());
      else
        kernels::fast::local_attention_backward(d, qc.data_ptr<scalar_t>(), kc.data_ptr<scalar_t>(),
                                                vc.data_ptr<scalar_t>(), out_saved.data_ptr<scalar_t>(),
                                                gc.data_ptr<scalar_t>(), lse.data_ptr<scalar_t>(), st->scale,
                                                dq.data_ptr<scalar_t>(), dk.data_ptr<scalar_t>(), dv.data_ptr<scalar_t>());
    });
    return {dq, dk, dv};
  });
  AttentionResult res;
  res.output = out;
  res.weights = weights;
  return res;
}

}  // namespace attn
