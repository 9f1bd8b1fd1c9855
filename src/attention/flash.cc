// Fused attention (include/attn/attention/flash.h): checks, masks and dropout state packed into
// kernels::FlashDims, forward through kernels/flash_attention.h, and the backward closure beside
// it. The closure saves q, k, v, the output and one log-sum-exp per query row (O(T) extra memory),
// never the [T, S] probabilities, and regenerates the dropout mask. Also the SdpaBackend switch
// that scaled_dot_product_attention consults.
#include "attn/attention/flash.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <vector>

#include "attn/core/autograd.h"
#include "attn/core/error.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/linalg.h"
#include "attn/ops/reduce.h"
#include "attn/kernels/config.h"
#include "kernels/dropout.h"
#include "kernels/flash_attention.h"

namespace attn {
namespace {

// Everything the kernels need besides q, k, v; owns the mask arrays the dims point into, so the
// backward closure can share them.
struct FlashState {
  kernels::FlashDims dims;
  std::vector<int64_t> key_len, mask_off;
  std::vector<uint8_t> key_keep;
  Tensor mask;  // the expanded (strided, not copied) dense mask
  double scale = 1.0;
  void bind() {
    dims.key_len = key_len.empty() ? nullptr : key_len.data();
    dims.key_keep = key_keep.empty() ? nullptr : key_keep.data();
    dims.mask_off = mask_off.empty() ? nullptr : mask_off.data();
  }
};

template <class... Args>
std::string cat_str(const Args&... args) {
  std::ostringstream s;
  (s << ... << args);
  return s.str();
}

// "" when flash_attention takes these inputs, else why not (naming the shapes).
std::string unsupported_reason(const Tensor& q, const Tensor& k, const Tensor& v, const FlashOptions& o) {
  if (!q.defined() || !k.defined() || !v.defined()) return "q, k and v must be defined";
  const std::string shapes =
      cat_str("q ", shape_str(q.shape()), ", k ", shape_str(k.shape()), ", v ", shape_str(v.shape()));
  if (q.dim() < 2 || q.dim() != k.dim() || q.dim() != v.dim())
    return "q [..., T, E], k [..., S, E], v [..., S, Ev] need the same number (>= 2) of dims, got " + shapes;
  if (!(q.dtype() == kFloat32 || q.dtype() == kFloat64) || q.dtype() != k.dtype() || q.dtype() != v.dtype())
    return cat_str("q, k, v must share the dtype float32 or float64, got ", q.describe(), ", ", k.describe(), ", ",
                   v.describe());
  if (q.size(-1) != k.size(-1)) return "q and k must have the same embedding size E, got " + shapes;
  if (k.size(-2) != v.size(-2)) return "k and v must have the same source length S, got " + shapes;
  const int64_t nd = q.dim();
  for (int64_t d = 0; d < nd - 2; ++d) {
    if (k.size(d) != v.size(d)) return "k and v must have equal leading dims, got " + shapes;
    if (d == nd - 3 && q.size(d) != k.size(d)) {
      const int64_t Hq = q.size(d), Hk = k.size(d);
      if (Hk == 1) continue;  // one shared key/value head (multi-query attention)
      if (!o.enable_gqa)
        return cat_str("q has Hq = ", Hq, " heads and k has Hk = ", Hk, " (", shapes,
                       "); pass enable_gqa = true for grouped-query attention");
      if (Hk <= 0 || Hq % Hk != 0)
        return cat_str("grouped-query attention needs Hq = ", Hq, " to be a multiple of Hk = ", Hk, " (", shapes, ")");
    } else if (q.size(d) != k.size(d)) {
      return "q and k must have equal leading dims (no broadcasting), got " + shapes;
    }
  }
  if (o.window_left < -1 || o.window_right < -1)
    return cat_str("windows must be >= 0 or -1 (unbounded), got window_left = ", o.window_left,
                   ", window_right = ", o.window_right);
  if (!(o.dropout_p >= 0 && o.dropout_p <= 1)) return cat_str("dropout_p must be in [0, 1], got ", o.dropout_p);
  const int64_t S = k.size(-2);
  if (o.attn_mask.defined()) {
    const Tensor& m = o.attn_mask;
    if (m.dtype() != kBool && m.dtype() != q.dtype())
      return cat_str("attn_mask must be bool or of q's dtype ", q.dtype(), ", got ", m.describe());
    Shape w = q.shape();
    w.back() = S;
    bool ok = m.dim() <= int64_t(w.size());
    for (int64_t d = 1; ok && d <= m.dim(); ++d) {
      const int64_t md = m.size(-d), wd = w[w.size() - size_t(d)];
      ok = md == 1 || md == wd;
    }
    if (!ok)
      return cat_str("attn_mask ", shape_str(m.shape()), " is not broadcastable to the weights ", shape_str(w), " (",
                     shapes, ")");
  }
  if (o.valid_lens.defined() || o.key_padding_mask.defined()) {
    if (nd < 3) return "valid_lens / key_padding_mask need a batch dim: q [B, ..., T, E], got " + shapes;
    const int64_t B = q.size(0);
    if (o.valid_lens.defined() &&
        (o.valid_lens.dim() != 1 || o.valid_lens.size(0) != B || o.valid_lens.dtype() == kBool))
      return cat_str("valid_lens must be [B] = [", B, "] for q ", shape_str(q.shape()), ", got ", o.valid_lens.describe());
    if (o.key_padding_mask.defined() &&
        (o.key_padding_mask.dtype() != kBool || o.key_padding_mask.dim() != 2 || o.key_padding_mask.size(0) != B ||
         o.key_padding_mask.size(1) != S))
      return cat_str("key_padding_mask must be bool [B, S] = [", B, ", ", S, "] (True = masked out) for q ",
                     shape_str(q.shape()), " and k ", shape_str(k.shape()), ", got ", o.key_padding_mask.describe());
  }
  return "";
}

std::atomic<int>& backend_slot() {
  static std::atomic<int> slot = [] {
    const char* env = std::getenv("ATTN_SDPA_BACKEND");
    if (!env || !*env || std::strcmp(env, "auto") == 0) return int(SdpaBackend::Auto);
    if (std::strcmp(env, "composed") == 0) return int(SdpaBackend::Composed);
    if (std::strcmp(env, "fused") == 0) return int(SdpaBackend::Fused);
    ATTN_FAIL("ATTN_SDPA_BACKEND must be auto, composed or fused, got '", env, "'");
  }();
  return slot;
}

}  // namespace

void set_sdpa_backend(SdpaBackend backend) { backend_slot().store(int(backend)); }
SdpaBackend get_sdpa_backend() { return SdpaBackend(backend_slot().load()); }

bool flash_attention_supported(const Tensor& q, const Tensor& k, const Tensor& v, const FlashOptions& o,
                               std::string* why) {
  std::string r = unsupported_reason(q, k, v, o);
  if (why) *why = r;
  return r.empty();
}

bool sdpa_uses_fused(const Tensor& q, const Tensor& k, const Tensor& v, const FlashOptions& o) {
  const SdpaBackend b = get_sdpa_backend();
  if (b == SdpaBackend::Composed) return false;
  const std::string why = unsupported_reason(q, k, v, o);
  if (b == SdpaBackend::Fused) {
    ATTN_CHECK(why.empty(), "scaled_dot_product_attention: the fused backend (SdpaBackend::Fused) cannot take these inputs: ",
               why);
    return true;
  }
  if (!why.empty()) return false;
  const bool grads = is_grad_enabled() &&
                     (q.requires_grad() || k.requires_grad() || v.requires_grad() ||
                      (o.attn_mask.defined() && o.attn_mask.requires_grad()));
  // The fused kernel gives the mask no gradient: keep the composed path when one could be asked for.
  return !(grads && o.attn_mask.defined() && o.attn_mask.requires_grad());
}

AttentionResult flash_attention(const Tensor& q, const Tensor& k, const Tensor& v, const FlashOptions& o) {
  const char* op = "flash_attention";
  const std::string why = unsupported_reason(q, k, v, o);
  ATTN_CHECK(why.empty(), op, ": ", why);

  const int64_t nd = q.dim();
  const int64_t T = q.size(-2), S = k.size(-2), E = q.size(-1), Ev = v.size(-1);
  const int64_t BH = shape_numel(Shape(q.shape().begin(), q.shape().end() - 2));
  const int64_t group = nd >= 3 ? q.size(-3) / std::max<int64_t>(k.size(-3), 1) : 1;

  auto st = std::make_shared<FlashState>();
  auto& p = st->dims;
  p.BH = BH, p.group = std::max<int64_t>(group, 1), p.T = T, p.S = S, p.E = E, p.Ev = Ev;
  p.offset = o.align == CausalAlign::BottomRight ? S - T : 0;
  p.window_left = o.window_left, p.window_right = o.window_right;
  if (o.is_causal) p.window_right = p.window_right < 0 ? 0 : std::min<int64_t>(p.window_right, 0);
  st->scale = o.scale ? *o.scale : 1.0 / std::sqrt(double(E));

  // Key masks, per batch entry b = q's first dim.
  if (o.valid_lens.defined() || o.key_padding_mask.defined()) {
    const int64_t B = q.size(0);
    p.heads_per_batch = B > 0 ? std::max<int64_t>(BH / B, 1) : 1;
    if (o.valid_lens.defined()) {
      Tensor l = o.valid_lens.to(kFloat64).contiguous();
      const double* pl = l.data_ptr<double>();
      st->key_len.resize(size_t(B));
      // Key j is kept iff j < len, so a fractional length keeps ceil(len) keys.
      for (int64_t b = 0; b < B; ++b) st->key_len[size_t(b)] = int64_t(std::clamp(std::ceil(pl[b]), 0.0, double(S)));
    }
    if (o.key_padding_mask.defined()) {
      Tensor m = o.key_padding_mask.contiguous();
      const bool* pm = m.data_ptr<bool>();
      st->key_keep.resize(size_t(B * S));
      for (int64_t e = 0; e < B * S; ++e) st->key_keep[size_t(e)] = pm[e] ? 0 : 1;
    }
  }
  // The dense mask: a broadcast view of [..., Hq, T, S] (stride 0 on broadcast dims), never copied.
  if (o.attn_mask.defined()) {
    Shape w = q.shape();
    w.back() = S;
    st->mask = o.attn_mask.detach().expand(w);
    const Shape& strides = st->mask.strides();
    st->mask_off.assign(size_t(BH), 0);
    for (int64_t bh = 0; bh < BH; ++bh) {
      int64_t rem = bh, off = 0;
      for (int64_t d = nd - 3; d >= 0; --d) {
        off += (rem % w[size_t(d)]) * strides[size_t(d)];
        rem /= w[size_t(d)];
      }
      st->mask_off[size_t(bh)] = off;
    }
    p.mask_rs = T > 1 ? strides[size_t(nd - 2)] : 0;
    p.mask_cs = S > 1 ? strides[size_t(nd - 1)] : 0;
    if (st->mask.dtype() == kBool)
      p.bool_mask = st->mask.numel() > 0 ? st->mask.data_ptr<bool>() : nullptr;
    else
      ATTN_DISPATCH_FLOATING(q.dtype(), op, [&] { p.add_mask = st->mask.numel() > 0 ? st->mask.data_ptr<scalar_t>() : nullptr; });
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
      kernels::ref::flash_attention_forward<scalar_t>(p, qc.data_ptr<scalar_t>(), kc.data_ptr<scalar_t>(),
                                                      vc.data_ptr<scalar_t>(), st->scale, out.data_ptr<scalar_t>(),
                                                      lse.data_ptr<scalar_t>(), pw);
    else
      kernels::fast::flash_attention_forward(p, qc.data_ptr<scalar_t>(), kc.data_ptr<scalar_t>(), vc.data_ptr<scalar_t>(),
                                             st->scale, out.data_ptr<scalar_t>(), lse.data_ptr<scalar_t>(), pw);
  });

  // out_i = sum_j p_ij m_ij v_j with p = exp(s - lse), therefore (kernels header) dv_j = sum_i
  // p_ij m_ij dout_i, dS_ij = p_ij (m_ij dout_i . v_j - dout_i . out_i), dq = scale dS k,
  // dk = scale dS^T q; p is recomputed from the saved lse, m from the saved Philox state.
  Tensor out_saved = out.detach();
  const Shape ks = k.shape(), vs = v.shape();
  autograd::record(op, out, {q, k, v}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor gc = g.contiguous();
    Tensor dq = empty(qc.shape(), qc.dtype()), dk = empty(ks, qc.dtype()), dv = empty(vs, qc.dtype());
    const bool r = use_reference_kernels();
    ATTN_DISPATCH_FLOATING(qc.dtype(), "flash_attention_backward", [&] {
      const auto& d = st->dims;
      if (r)
        kernels::ref::flash_attention_backward<scalar_t>(
            d, qc.data_ptr<scalar_t>(), kc.data_ptr<scalar_t>(), vc.data_ptr<scalar_t>(), out_saved.data_ptr<scalar_t>(),
            gc.data_ptr<scalar_t>(), lse.data_ptr<scalar_t>(), st->scale, dq.data_ptr<scalar_t>(),
            dk.data_ptr<scalar_t>(), dv.data_ptr<scalar_t>());
      else
        kernels::fast::flash_attention_backward(d, qc.data_ptr<scalar_t>(), kc.data_ptr<scalar_t>(),
                                                vc.data_ptr<scalar_t>(), out_saved.data_ptr<scalar_t>(),
                                                gc.data_ptr<scalar_t>(), lse.data_ptr<scalar_t>(), st->scale,
                                                dq.data_ptr<scalar_t>(), dk.data_ptr<scalar_t>(), dv.data_ptr<scalar_t>());
    });
    return {dq, dk, dv};
  });
  // The dense weights W = P m are differentiable too (in q and k), so a loss may use them, as in
  // the composed path: with P the probabilities before dropout and G the gradient of W,
  // dP = G m, dS = P (dP - rowsum(dP P)) = G W - P rowsum(G W), dq = scale dS k, dk = scale dS^T q.
  if (weights.defined() && autograd::needs_grad({&q, &k})) {
    // Detached: the closure below becomes weights' node, and a closure holding weights itself
    // would keep its own node alive (a cycle, never freed when no backward runs through weights).
    Tensor probs = weights.detach();
    if (p.has_dropout()) {  // P itself: the same forward without the dropout mask
      kernels::FlashDims nd = p;
      nd.drop_threshold = 0;
      probs = zeros(w_shape, q.dtype());
      Tensor o2 = empty(out_shape, q.dtype()), l2 = empty({BH, T}, q.dtype());
      ATTN_DISPATCH_FLOATING(q.dtype(), op, [&] {
        if (ref)
          kernels::ref::flash_attention_forward<scalar_t>(nd, qc.data_ptr<scalar_t>(), kc.data_ptr<scalar_t>(),
                                                          vc.data_ptr<scalar_t>(), st->scale, o2.data_ptr<scalar_t>(),
                                                          l2.data_ptr<scalar_t>(), probs.data_ptr<scalar_t>());
        else
          kernels::fast::flash_attention_forward(nd, qc.data_ptr<scalar_t>(), kc.data_ptr<scalar_t>(),
                                                 vc.data_ptr<scalar_t>(), st->scale, o2.data_ptr<scalar_t>(),
                                                 l2.data_ptr<scalar_t>(), probs.data_ptr<scalar_t>());
      });
    }
    Tensor w_saved = weights.detach();
    const int64_t grp = p.group;
    const double sc = st->scale;
    autograd::record("flash_attention_weights", weights, {q, k}, [=](const Tensor& g) -> std::vector<Tensor> {
      Tensor gw = g * w_saved;
      Tensor ds = gw - probs * sum(gw, {-1}, true);
      Tensor kr = kc;
      if (grp > 1) {  // each kv head serves `grp` query heads: repeat it for them
        Shape e = kc.unsqueeze(-3).shape();
        e[e.size() - 3] = grp;
        Shape r = kc.shape();
        r[r.size() - 3] *= grp;
        kr = kc.unsqueeze(-3).expand(e).reshape(r);
      }
      Tensor dq = matmul(ds, kr) * sc;
      Tensor dk = matmul(ds.transpose(-2, -1), qc) * sc;  // [..., Hq, S, E]
      if (grp > 1) {
        Shape s = dk.shape();
        s[s.size() - 3] /= grp;
        s.insert(s.end() - 2, grp);
        dk = sum(dk.reshape(s), {-3});
      }
      return {dq, dk};
    });
  }
  AttentionResult res;
  res.output = out;
  res.weights = weights;
  return res;
}

}  // namespace attn
