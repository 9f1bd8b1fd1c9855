// MultiheadAttention: input projections, PyTorch-polarity masks converted for
// scaled_dot_product_attention (which does the core), bias_k/v and zero-attention keys, out_proj.
// Internally everything is batch-major: [B, T, E] activations, [B, H, T, D] heads.
#include "attn/attention/multihead.h"

#include <array>
#include <limits>

#include "attn/attention/align.h"
#include "attn/attention/positional.h"
#include "attn/nn/init.h"
#include "attn/ops/compare.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/linalg.h"
#include "attn/ops/reduce.h"
#include "attn/ops/shape.h"

namespace attn::nn {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// A PyTorch-polarity mask (bool True = masked out, or float added) as an additive float mask.
Tensor to_additive(const Tensor& m, DType dt) {
  if (m.dtype() == kBool) return masked_fill(zeros(m.shape(), dt), m, -kInf);
  return m.dtype() == dt ? m : m.to(dt);
}

// Appends one always-visible key column to a mask in the core's form (bool keep or additive).
Tensor pad_mask(const Tensor& mask) {
  if (!mask.defined()) return mask;
  Shape col = mask.shape();
  col.back() = 1;
  Tensor c = mask.dtype() == kBool ? ones(col, kBool) : zeros(col, mask.dtype());
  return cat({mask, c}, -1);
}

// [B, L, n*D] -> [B, n, L, D]
Tensor split_heads(const Tensor& x, int64_t n, int64_t D) {
  return x.reshape({x.size(0), x.size(1), n, D}).transpose(1, 2);
}

}  // namespace

MultiheadAttention::MultiheadAttention(int64_t embed_dim_, int64_t num_heads_, double dropout_, bool bias,
                                       bool add_bias_kv, bool add_zero_attn_, int64_t kdim_, int64_t vdim_,
                                       bool batch_first_, int64_t num_kv_heads_, DType dtype)
    : embed_dim(embed_dim_),
      kdim(kdim_ < 0 ? embed_dim_ : kdim_),
      vdim(vdim_ < 0 ? embed_dim_ : vdim_),
      num_heads(num_heads_),
      num_kv_heads(num_kv_heads_ < 0 ? num_heads_ : num_kv_heads_),
      head_dim(0),
      dropout(dropout_),
      batch_first(batch_first_),
      add_zero_attn(add_zero_attn_) {
  ATTN_CHECK(embed_dim > 0 && num_heads > 0, "MultiheadAttention: embed_dim and num_heads must be positive, got ",
             embed_dim, " and ", num_heads);
  ATTN_CHECK(embed_dim % num_heads == 0, "MultiheadAttention: embed_dim (", embed_dim,
             ") must be divisible by num_heads (", num_heads, ")");
  ATTN_CHECK(num_kv_heads > 0 && num_kv_heads <= num_heads && num_heads % num_kv_heads == 0,
             "MultiheadAttention: num_kv_heads (", num_kv_heads, ") must divide num_heads (", num_heads, ")");
  ATTN_CHECK(kdim > 0 && vdim > 0, "MultiheadAttention: kdim and vdim must be positive, got ", kdim, " and ", vdim);
  ATTN_CHECK(dropout >= 0 && dropout <= 1, "MultiheadAttention: dropout must be in [0, 1], got ", dropout);
  ATTN_CHECK(is_floating_point(dtype), "MultiheadAttention: dtype must be floating point, got ", dtype);
  head_dim = embed_dim / num_heads;
  const int64_t kv_features = num_kv_heads * head_dim;
  qkv_same_embed_dim = kdim == embed_dim && vdim == embed_dim && num_kv_heads == num_heads;
  // Registration order as PyTorch's __init__, so state_dict keys come out in the same order.
  if (qkv_same_embed_dim) {
    in_proj_weight = register_parameter("in_proj_weight", empty({3 * embed_dim, embed_dim}, dtype));
  } else {
    q_proj_weight = register_parameter("q_proj_weight", empty({embed_dim, embed_dim}, dtype));
    k_proj_weight = register_parameter("k_proj_weight", empty({kv_features, kdim}, dtype));
    v_proj_weight = register_parameter("v_proj_weight", empty({kv_features, vdim}, dtype));
  }
  if (bias) in_proj_bias = register_parameter("in_proj_bias", empty({embed_dim + 2 * kv_features}, dtype));
  out_proj = register_module("out_proj", std::make_shared<Linear>(embed_dim, embed_dim, bias, dtype));
  if (add_bias_kv) {
    bias_k = register_parameter("bias_k", empty({1, 1, kv_features}, dtype));
    bias_v = register_parameter("bias_v", empty({1, 1, kv_features}, dtype));
  }
  reset_parameters();
}

void MultiheadAttention::reset_parameters(Generator* gen) {
  if (qkv_same_embed_dim) {
    init::xavier_uniform_(in_proj_weight, 1.0, gen);
  } else {
    init::xavier_uniform_(q_proj_weight, 1.0, gen);
    init::xavier_uniform_(k_proj_weight, 1.0, gen);
    init::xavier_uniform_(v_proj_weight, 1.0, gen);
  }
  if (in_proj_bias.defined()) {
    init::zeros_(in_proj_bias);
    init::zeros_(out_proj->bias);
  }
  if (bias_k.defined()) {
    init::xavier_normal_(bias_k, 1.0, gen);
    init::xavier_normal_(bias_v, 1.0, gen);
  }
}

std::string MultiheadAttention::extra_repr() const {
  std::string s = detail::str_cat("embed_dim=", embed_dim, ", num_heads=", num_heads);
  if (num_kv_heads != num_heads) s += detail::str_cat(", num_kv_heads=", num_kv_heads);
  if (kdim != embed_dim || vdim != embed_dim) s += detail::str_cat(", kdim=", kdim, ", vdim=", vdim);
  if (dropout != 0) s += detail::str_cat(", dropout=", dropout);
  if (batch_first) s += ", batch_first=True";
  if (rotary) s += detail::str_cat(", rotary=True, rotary_base=", rotary_base);
  return s;
}

std::array<Tensor, 3> MultiheadAttention::project(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in) const {
  const int64_t E = embed_dim, kvf = num_kv_heads * head_dim;
  Tensor bq, bk, bv;
  if (in_proj_bias.defined()) {
    bq = in_proj_bias.narrow(0, 0, E);
    bk = in_proj_bias.narrow(0, E, kvf);
    bv = in_proj_bias.narrow(0, E + kvf, kvf);
  }
  const Tensor wq = qkv_same_embed_dim ? in_proj_weight.narrow(0, 0, E) : q_proj_weight;
  const Tensor wk = qkv_same_embed_dim ? in_proj_weight.narrow(0, E, E) : k_proj_weight;
  const Tensor wv = qkv_same_embed_dim ? in_proj_weight.narrow(0, 2 * E, E) : v_proj_weight;
  return {split_heads(linear(q_in, wq, bq), num_heads, head_dim),
          split_heads(linear(k_in, wk, bk), num_kv_heads, head_dim),
          split_heads(linear(v_in, wv, bv), num_kv_heads, head_dim)};
}

std::array<Tensor, 3> MultiheadAttention::project_packed(const Tensor& x) const {
  // One GEMM with the packed [3E, E] weight instead of three [E, E] ones: the input is read (and,
  // when not row-contiguous, copied) once, the backward runs one dx GEMM and writes dW straight
  // into in_proj_weight.grad. Rows of y are [q | k | v], each split into H heads of D. (The
  // views' backward assembles the [B, L, 3E] gradient from three zero-filled parts, which costs
  // about what the single GEMM saves at one thread; at two threads the packed GEMM is ahead.)
  const int64_t B = x.size(0), L = x.size(1);
  const Tensor y = linear(x, in_proj_weight, in_proj_bias).view({B, L, 3, num_heads, head_dim});
  return {y.select(2, 0).transpose(1, 2), y.select(2, 1).transpose(1, 2), y.select(2, 2).transpose(1, 2)};
}

AttentionResult MultiheadAttention::attend(const Tensor& q, Tensor k, Tensor v, Tensor mask, bool need_weights,
                                           bool average) {
  const int64_t B = q.size(0), T = q.size(2);
  if (bias_k.defined()) {
    // PyTorch appends bias_k / bias_v as one more key position for every batch element.
    const Shape s{B, num_kv_heads, 1, head_dim};
    k = cat({k, bias_k.reshape({1, num_kv_heads, 1, head_dim}).expand(s)}, 2);
    v = cat({v, bias_v.reshape({1, num_kv_heads, 1, head_dim}).expand(s)}, 2);
    mask = pad_mask(mask);
  }
  if (add_zero_attn) {
    k = cat({k, zeros({B, num_kv_heads, 1, head_dim}, k.dtype())}, 2);
    v = cat({v, zeros({B, num_kv_heads, 1, head_dim}, v.dtype())}, 2);
    mask = pad_mask(mask);
  }
  const double p = is_training() ? dropout : 0.0;
  auto r = scaled_dot_product_attention(q, k, v, mask, p, false, std::nullopt, num_kv_heads != num_heads,
                                        need_weights);
  AttentionResult out;
  out.output = out_proj->forward(r.output.transpose(1, 2).reshape({B, T, embed_dim}));
  if (need_weights) out.weights = average ? mean(r.weights, {1}) : r.weights;
  return out;
}

AttentionResult MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                            const Tensor& key_padding_mask, bool need_weights,
                                            const Tensor& attn_mask, bool average_attn_weights, bool is_causal) {
  ATTN_CHECK(query.defined() && key.defined() && value.defined(),
             "MultiheadAttention: query, key and value must be defined");
  const bool batched = query.dim() == 3;
  ATTN_CHECK((query.dim() == 3 || query.dim() == 2) && key.dim() == query.dim() && value.dim() == query.dim(),
             "MultiheadAttention: query, key and value must all be 3-D (batched) or 2-D (unbatched), got query ",
             query.describe(), ", key ", key.describe(), ", value ", value.describe());
  ATTN_CHECK(query.dtype() == key.dtype() && query.dtype() == value.dtype() && query.dtype() == out_proj->weight.dtype(),
             "MultiheadAttention: query ", query.describe(), ", key ", key.describe(), " and value ", value.describe(),
             " must have the parameters' dtype ", out_proj->weight.dtype());
  // To batch-major [B, L, features].
  auto to_bm = [&](const Tensor& x) { return !batched ? x.unsqueeze(0) : batch_first ? x : x.transpose(0, 1); };
  const Tensor q_in = to_bm(query), k_in = to_bm(key), v_in = to_bm(value);
  const int64_t B = q_in.size(0), T = q_in.size(1), S = k_in.size(1), H = num_heads;
  ATTN_CHECK(q_in.size(2) == embed_dim && k_in.size(2) == kdim && v_in.size(2) == vdim,
             "MultiheadAttention: expected query [..., ", embed_dim, "], key [..., ", kdim, "], value [..., ", vdim,
             "], got query ", query.describe(), ", key ", key.describe(), ", value ", value.describe());
  ATTN_CHECK(k_in.size(0) == B && v_in.size(0) == B && v_in.size(1) == S,
             "MultiheadAttention: batch and source lengths disagree: query ", query.describe(), ", key ",
             key.describe(), ", value ", value.describe(), " (batch_first=", batch_first, ")");

  // Masks in PyTorch polarity, each broadcastable to [B, H, T, S].
  Tensor am, kpm;
  if (attn_mask.defined()) {
    if (attn_mask.dim() == 2) {
      ATTN_CHECK(attn_mask.size(0) == T && attn_mask.size(1) == S, "MultiheadAttention: attn_mask ",
                 attn_mask.describe(), " should be [", T, ", ", S, "] or [", B * H, ", ", T, ", ", S, "] for query ",
                 query.describe(), " and key ", key.describe());
      am = attn_mask.reshape({1, 1, T, S});
    } else {
      ATTN_CHECK(attn_mask.dim() == 3 && attn_mask.size(0) == B * H && attn_mask.size(1) == T &&
                     attn_mask.size(2) == S,
                 "MultiheadAttention: attn_mask ", attn_mask.describe(), " should be [", T, ", ", S, "] or [", B * H,
                 ", ", T, ", ", S, "] for query ", query.describe(), " and key ", key.describe());
      am = attn_mask.reshape({B, H, T, S});
    }
  } else if (is_causal) {
    am = logical_not(causal_mask(T, S, CausalAlign::TopLeft)).reshape({1, 1, T, S});
  }
  if (key_padding_mask.defined()) {
    const bool ok = batched ? key_padding_mask.dim() == 2 && key_padding_mask.size(0) == B &&
                                  key_padding_mask.size(1) == S
                            : key_padding_mask.dim() == 1 && key_padding_mask.size(0) == S;
    ATTN_CHECK(ok, "MultiheadAttention: key_padding_mask ", key_padding_mask.describe(), " should be ",
               batched ? detail::str_cat("[", B, ", ", S, "]") : detail::str_cat("[", S, "]"), " for key ",
               key.describe());
    kpm = key_padding_mask.reshape({B, 1, 1, S});
  }
  for (const Tensor* m : {&am, &kpm})
    ATTN_CHECK(!m->defined() || m->dtype() == kBool || m->is_floating_point(),
               "MultiheadAttention: masks must be bool or floating, got ", m->describe());
  // To the core's form: a bool keep-mask when every mask is bool, else one additive float mask.
  const DType dt = q_in.dtype();
  Tensor mask;
  const bool any_float = (am.defined() && am.dtype() != kBool) || (kpm.defined() && kpm.dtype() != kBool);
  if (any_float) {
    if (am.defined()) mask = to_additive(am, dt);
    if (kpm.defined()) mask = mask.defined() ? mask + to_additive(kpm, dt) : to_additive(kpm, dt);
  } else if (am.defined() || kpm.defined()) {
    mask = logical_not(am.defined() && kpm.defined() ? logical_or(am, kpm) : am.defined() ? am : kpm);
  }

  // Self-attention in the strict sense (one tensor, so one autograd history) takes the packed
  // projection; equal values in different tensors take the separate one (same result up to rounding).
  const bool self_attention = qkv_same_embed_dim && query.is_same(key) && key.is_same(value);
  auto [q, k, v] = self_attention ? project_packed(q_in) : project(q_in, k_in, v_in);
  if (rotary) {  // positions 0..T-1 for the queries, 0..S-1 for the keys
    check_rotary();
    q = apply_rotary(q, 0, rotary_base);
    k = apply_rotary(k, 0, rotary_base);
  }

  AttentionResult r = attend(q, k, v, mask, need_weights, average_attn_weights);
  if (!batched) {
    r.output = r.output.squeeze(0);
    if (r.weights.defined()) r.weights = r.weights.squeeze(0);
  } else if (!batch_first) {
    r.output = r.output.transpose(0, 1);
  }
  return r;
}

AttentionResult MultiheadAttention::forward_incremental(const Tensor& x, KVCache& cache, bool need_weights,
                                                        bool average_attn_weights) {
  ATTN_CHECK(kdim == embed_dim && vdim == embed_dim,
             "MultiheadAttention::forward_incremental: self-attention needs kdim == vdim == embed_dim, got kdim ",
             kdim, ", vdim ", vdim, ", embed_dim ", embed_dim);
  ATTN_CHECK(x.defined() && x.dim() == 3 && x.size(2) == embed_dim && x.dtype() == out_proj->weight.dtype(),
             "MultiheadAttention::forward_incremental: expected x ", batch_first ? "[B, T_new, " : "[T_new, B, ",
             embed_dim, "] of dtype ", out_proj->weight.dtype(), ", got ", x.describe());
  const Tensor xb = batch_first ? x : x.transpose(0, 1);
  const int64_t B = xb.size(0), Tn = xb.size(1);
  auto [q, k, v] = qkv_same_embed_dim ? project_packed(xb) : project(xb, xb, xb);
  if (rotary) {  // the new steps sit at positions cache.length() .. cache.length() + Tn - 1
    check_rotary();
    const int64_t offset = cache.length();
    q = apply_rotary(q, offset, rotary_base);
    k = apply_rotary(k, offset, rotary_base);
  }
  if (cache.k.defined()) {
    ATTN_CHECK(cache.k.dim() == 4 && cache.k.size(0) == B && cache.k.size(1) == num_kv_heads &&
                   cache.k.size(3) == head_dim && cache.k.dtype() == k.dtype() && cache.v.defined() &&
                   cache.v.shape() == cache.k.shape() && cache.v.dtype() == k.dtype(),
               "MultiheadAttention::forward_incremental: cache k ", cache.k.describe(), " / v ", cache.v.describe(),
               " does not fit new keys ", k.describe());
    cache.k = cat({cache.k, k}, 2);
    cache.v = cat({cache.v, v}, 2);
  } else {
    cache.k = k.contiguous();
    cache.v = v.contiguous();
  }
  // New query i (absolute position S - Tn + i) sees cached keys j <= S - Tn + i: the bottom-right
  // causal mask. A single step sees everything, so it needs no mask.
  const int64_t S = cache.k.size(2);
  Tensor mask = Tn > 1 ? causal_mask(Tn, S, CausalAlign::BottomRight) : Tensor();
  AttentionResult r = attend(q, cache.k, cache.v, mask, need_weights, average_attn_weights);
  if (!batch_first) r.output = r.output.transpose(0, 1);
  return r;
}

void MultiheadAttention::check_rotary() const {
  ATTN_CHECK(head_dim % 2 == 0, "MultiheadAttention: rotary needs an even head_dim, got embed_dim ", embed_dim,
             " / num_heads ", num_heads, " = ", head_dim);
}

KVCache MultiheadAttention::project_kv(const Tensor& key, const Tensor& value) const {
  ATTN_CHECK(key.defined() && value.defined() && key.dim() == 3 && value.dim() == 3,
             "MultiheadAttention::project_kv: expected 3-D key and value, got key ", key.describe(), ", value ",
             value.describe());
  const Tensor kb = batch_first ? key : key.transpose(0, 1), vb = batch_first ? value : value.transpose(0, 1);
  ATTN_CHECK(kb.size(2) == kdim && vb.size(2) == vdim && kb.size(0) == vb.size(0) && kb.size(1) == vb.size(1),
             "MultiheadAttention::project_kv: expected key [..., ", kdim, "] and value [..., ", vdim,
             "] with the same batch and length, got key ", key.describe(), ", value ", value.describe(),
             " (batch_first=", batch_first, ")");
  ATTN_CHECK(key.dtype() == out_proj->weight.dtype() && value.dtype() == key.dtype(),
             "MultiheadAttention::project_kv: key ", key.describe(), " and value ", value.describe(),
             " must have the parameters' dtype ", out_proj->weight.dtype());
  const int64_t E = embed_dim, kvf = num_kv_heads * head_dim;
  Tensor bk, bv;
  if (in_proj_bias.defined()) {
    bk = in_proj_bias.narrow(0, E, kvf);
    bv = in_proj_bias.narrow(0, E + kvf, kvf);
  }
  const Tensor wk = qkv_same_embed_dim ? in_proj_weight.narrow(0, E, E) : k_proj_weight;
  const Tensor wv = qkv_same_embed_dim ? in_proj_weight.narrow(0, 2 * E, E) : v_proj_weight;
  KVCache kv;
  kv.k = split_heads(linear(kb, wk, bk), num_kv_heads, head_dim);  // [B, Hkv, S, D]
  kv.v = split_heads(linear(vb, wv, bv), num_kv_heads, head_dim);
  return kv;
}

AttentionResult MultiheadAttention::forward_kv(const Tensor& query, const KVCache& kv, const Tensor& key_padding_mask,
                                               bool need_weights, bool average_attn_weights) {
  ATTN_CHECK(!rotary, "MultiheadAttention::forward_kv: not available with rotary (cached keys carry no positions)");
  ATTN_CHECK(query.defined() && query.dim() == 3 && query.size(2) == embed_dim &&
                 query.dtype() == out_proj->weight.dtype(),
             "MultiheadAttention::forward_kv: expected query ", batch_first ? "[B, T, " : "[T, B, ", embed_dim,
             "] of dtype ", out_proj->weight.dtype(), ", got ", query.describe());
  const Tensor qb = batch_first ? query : query.transpose(0, 1);
  const int64_t B = qb.size(0);
  ATTN_CHECK(kv.k.defined() && kv.v.defined() && kv.k.dim() == 4 && kv.k.size(0) == B &&
                 kv.k.size(1) == num_kv_heads && kv.k.size(3) == head_dim && kv.v.shape() == kv.k.shape(),
             "MultiheadAttention::forward_kv: kv k ", kv.k.describe(), " / v ", kv.v.describe(),
             " do not fit query ", query.describe(), " (expected [", B, ", ", num_kv_heads, ", S, ", head_dim,
             "], from project_kv)");
  const int64_t S = kv.k.size(2);
  Tensor mask;
  if (key_padding_mask.defined()) {
    ATTN_CHECK(key_padding_mask.dim() == 2 && key_padding_mask.size(0) == B && key_padding_mask.size(1) == S &&
                   (key_padding_mask.dtype() == kBool || key_padding_mask.is_floating_point()),
               "MultiheadAttention::forward_kv: key_padding_mask ", key_padding_mask.describe(), " should be bool or float [",
               B, ", ", S, "]");
    const Tensor kpm = key_padding_mask.reshape({B, 1, 1, S});
    mask = kpm.dtype() == kBool ? logical_not(kpm) : to_additive(kpm, qb.dtype());
  }
  const int64_t E = embed_dim;
  const Tensor bq = in_proj_bias.defined() ? in_proj_bias.narrow(0, 0, E) : Tensor();
  const Tensor wq = qkv_same_embed_dim ? in_proj_weight.narrow(0, 0, E) : q_proj_weight;
  const Tensor q = split_heads(linear(qb, wq, bq), num_heads, head_dim);  // [B, H, T, D]
  AttentionResult r = attend(q, kv.k, kv.v, mask, need_weights, average_attn_weights);
  if (!batch_first) r.output = r.output.transpose(0, 1);
  return r;
}

}  // namespace attn::nn
