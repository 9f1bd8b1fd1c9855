// The Transformer layers and stacks (include/attn/attention/transformer.h), as torch.nn.Transformer:
// the arithmetic of PyTorch's "slow path" (_sa_block, _mha_block, _ff_block), which is also what
// its fast path computes on the unpadded positions. Everything is a composition of differentiable
// modules (MultiheadAttention, Linear, LayerNorm, Dropout, MixtureOfExperts), so backward comes from
// autograd. Activations keep the caller's layout ([T, B, E] or [B, T, E]); MultiheadAttention deals
// with batch_first itself.
#include "attn/attention/transformer.h"

#include <limits>

#include "attn/attention/align.h"
#include "attn/core/error.h"
#include "attn/nn/init.h"
#include "attn/ops/compare.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/index.h"
#include "attn/ops/unary.h"

namespace attn::nn {
namespace {

void check_config(const TransformerLayerConfig& c, const char* who) {
  ATTN_CHECK(c.d_model > 0 && c.nhead > 0 && c.dim_feedforward > 0, who,
             ": d_model, nhead and dim_feedforward must be positive, got ", c.d_model, ", ", c.nhead, ", ",
             c.dim_feedforward);
  ATTN_CHECK(c.d_model % c.nhead == 0, who, ": d_model (", c.d_model, ") must be divisible by nhead (", c.nhead,
             ")");
  ATTN_CHECK(c.activation == "relu" || c.activation == "gelu", who, ": activation must be \"relu\" or \"gelu\", got \"",
             c.activation, "\"");
  ATTN_CHECK(c.dropout >= 0 && c.dropout <= 1, who, ": dropout must be in [0, 1], got ", c.dropout);
  ATTN_CHECK(!c.rotary || (c.d_model / c.nhead) % 2 == 0, who, ": rotary needs an even head dim, got d_model ",
             c.d_model, " / nhead ", c.nhead);
  ATTN_CHECK(c.moe_experts >= 0, who, ": moe_experts must be >= 0, got ", c.moe_experts);
}

TransformerLayerConfig positional_config(int64_t d_model, int64_t nhead, int64_t dim_feedforward, double dropout,
                                         const std::string& activation, double layer_norm_eps, bool batch_first,
                                         bool norm_first) {
  TransformerLayerConfig c;
  c.d_model = d_model;
  c.nhead = nhead;
  c.dim_feedforward = dim_feedforward;
  c.dropout = dropout;
  c.activation = activation;
  c.layer_norm_eps = layer_norm_eps;
  c.batch_first = batch_first;
  c.norm_first = norm_first;
  return c;
}

std::shared_ptr<MultiheadAttention> make_attention(const TransformerLayerConfig& c, bool self) {
  auto m = std::make_shared<MultiheadAttention>(c.d_model, c.nhead, c.dropout, true, false, false, -1, -1,
                                                c.batch_first, c.num_kv_heads, c.dtype);
  // RoPE only where queries and keys share one position axis: never on cross-attention.
  m->rotary = self && c.rotary;
  m->rotary_base = c.rotary_base;
  return m;
}

// src / tgt / memory: [L, B, E] / [B, L, E] or unbatched [L, E], with E = d_model.
void check_sequence(const char* who, const char* name, const Tensor& x, const TransformerLayerConfig& c) {
  ATTN_CHECK(x.defined(), who, ": ", name, " is undefined");
  ATTN_CHECK((x.dim() == 2 || x.dim() == 3) && x.size(-1) == c.d_model, who, ": expected ", name, " ",
             c.batch_first ? "[B, L, " : "[L, B, ", c.d_model, "] or unbatched [L, ", c.d_model, "], got ",
             x.describe());
}

void check_memory(const char* who, const Tensor& tgt, const Tensor& memory, const TransformerLayerConfig& c) {
  check_sequence(who, "memory", memory, c);
  const int64_t bdim = c.batch_first ? 0 : 1;
  ATTN_CHECK(memory.dim() == tgt.dim() && (tgt.dim() == 2 || memory.size(bdim) == tgt.size(bdim)), who,
             ": tgt ", tgt.describe(), " and memory ", memory.describe(), " disagree on the batch (batch_first=",
             c.batch_first, ")");
}

// The position-wise feed-forward block (without its residual dropout): linear2(dropout(act(linear1(x))))
// or the mixture of experts, whose load-balancing loss goes to aux.
Tensor feed_forward(const TransformerLayerConfig& c, const std::shared_ptr<Linear>& linear1,
                    const std::shared_ptr<Linear>& linear2, const std::shared_ptr<MixtureOfExperts>& moe,
                    const std::shared_ptr<Dropout>& dropout, const Tensor& x, Tensor& aux) {
  if (moe) {
    MoEOutput r = moe->forward(x);
    aux = r.aux_loss;
    return r.output;
  }
  Tensor h = linear1->forward(x);  // [.., F]
  h = c.activation == "relu" ? relu(h) : gelu(h);
  return linear2->forward(dropout->forward(h));  // [.., E]
}

void build_feed_forward(Module& owner, const TransformerLayerConfig& c, std::shared_ptr<Linear>& linear1,
                        std::shared_ptr<Dropout>& dropout, std::shared_ptr<Linear>& linear2,
                        std::shared_ptr<MixtureOfExperts>& moe) {
  if (c.moe_experts > 0) {
    MixtureOfExpertsOptions o;
    o.activation = c.activation;
    o.dtype = c.dtype;
    moe = owner.register_module("moe", std::make_shared<MixtureOfExperts>(c.d_model, c.moe_experts, c.moe_top_k,
                                                                          c.dim_feedforward, o));
    dropout = owner.register_module("dropout", std::make_shared<Dropout>(c.dropout));
  } else {
    linear1 = owner.register_module("linear1", std::make_shared<Linear>(c.d_model, c.dim_feedforward, true, c.dtype));
    dropout = owner.register_module("dropout", std::make_shared<Dropout>(c.dropout));
    linear2 = owner.register_module("linear2", std::make_shared<Linear>(c.dim_feedforward, c.d_model, true, c.dtype));
  }
}

std::string config_repr(const TransformerLayerConfig& c) {
  std::string s = detail::str_cat("d_model=", c.d_model, ", nhead=", c.nhead, ", dim_feedforward=", c.dim_feedforward,
                                  ", dropout=", c.dropout, ", activation=", c.activation);
  if (c.batch_first) s += ", batch_first=True";
  if (c.norm_first) s += ", norm_first=True";
  if (c.num_kv_heads > 0 && c.num_kv_heads != c.nhead) s += detail::str_cat(", num_kv_heads=", c.num_kv_heads);
  if (c.rotary) s += ", rotary=True";
  if (c.moe_experts > 0) s += detail::str_cat(", moe_experts=", c.moe_experts, ", moe_top_k=", c.moe_top_k);
  return s;
}

Tensor weights_or_none(const AttentionResult& r, bool keep) { return keep ? r.weights.detach() : Tensor(); }

}  // namespace

Tensor generate_square_subsequent_mask(int64_t sz, DType dtype) {
  ATTN_CHECK(sz >= 0, "generate_square_subsequent_mask: sz must be >= 0, got ", sz);
  ATTN_CHECK(is_floating_point(dtype), "generate_square_subsequent_mask: dtype must be floating point, got ", dtype);
  // causal_mask is True where query i may see key j (j <= i); the rest gets -inf.
  return masked_fill(zeros({sz, sz}, dtype), logical_not(causal_mask(sz, sz)),
                     -std::numeric_limits<double>::infinity());
}

// --- encoder layer ----------------------------------------------------------------------------

TransformerEncoderLayer::TransformerEncoderLayer(const TransformerLayerConfig& c) : config(c) {
  check_config(c, "TransformerEncoderLayer");
  // Registration order as PyTorch's __init__ (state_dict key order).
  self_attn = register_module("self_attn", make_attention(c, true));
  build_feed_forward(*this, c, linear1, dropout, linear2, moe);
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(c.d_model, c.layer_norm_eps, true, c.dtype));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(c.d_model, c.layer_norm_eps, true, c.dtype));
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(c.dropout));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(c.dropout));
}

TransformerEncoderLayer::TransformerEncoderLayer(int64_t d_model, int64_t nhead, int64_t dim_feedforward,
                                                 double dropout_, const std::string& activation, double layer_norm_eps,
                                                 bool batch_first, bool norm_first)
    : TransformerEncoderLayer(positional_config(d_model, nhead, dim_feedforward, dropout_, activation, layer_norm_eps,
                                                batch_first, norm_first)) {}

Tensor TransformerEncoderLayer::forward(const Tensor& src, const Tensor& src_mask, const Tensor& src_key_padding_mask,
                                        bool is_causal) {
  check_sequence("TransformerEncoderLayer", "src", src, config);
  auto sa = [&](const Tensor& x) {  // _sa_block
    AttentionResult r = self_attn->forward(x, x, x, src_key_padding_mask, keep_attention, src_mask, false, is_causal);
    self_weights_ = weights_or_none(r, keep_attention);
    return dropout1->forward(r.output);
  };
  auto ff = [&](const Tensor& x) {  // _ff_block
    return dropout2->forward(feed_forward(config, linear1, linear2, moe, dropout, x, aux_loss_));
  };
  Tensor x = src;  // [S, B, E] / [B, S, E]
  if (config.norm_first) {
    x = x + sa(norm1->forward(x));
    x = x + ff(norm2->forward(x));
  } else {
    x = norm1->forward(x + sa(x));
    x = norm2->forward(x + ff(x));
  }
  return x;
}

std::string TransformerEncoderLayer::extra_repr() const { return config_repr(config); }

// --- decoder layer ----------------------------------------------------------------------------

void TransformerDecoderLayerCache::reorder(const Tensor& indices) {
  for (KVCache* c : {&self_attn, &cross_attn}) {
    if (!c->k.defined()) continue;
    c->k = index_select(c->k, 0, indices);  // [N', Hkv, S, D]
    c->v = index_select(c->v, 0, indices);
  }
}

TransformerDecoderLayer::TransformerDecoderLayer(const TransformerLayerConfig& c) : config(c) {
  check_config(c, "TransformerDecoderLayer");
  self_attn = register_module("self_attn", make_attention(c, true));
  multihead_attn = register_module("multihead_attn", make_attention(c, false));
  build_feed_forward(*this, c, linear1, dropout, linear2, moe);
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(c.d_model, c.layer_norm_eps, true, c.dtype));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(c.d_model, c.layer_norm_eps, true, c.dtype));
  norm3 = register_module("norm3", std::make_shared<LayerNorm>(c.d_model, c.layer_norm_eps, true, c.dtype));
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(c.dropout));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(c.dropout));
  dropout3 = register_module("dropout3", std::make_shared<Dropout>(c.dropout));
}

TransformerDecoderLayer::TransformerDecoderLayer(int64_t d_model, int64_t nhead, int64_t dim_feedforward,
                                                 double dropout_, const std::string& activation, double layer_norm_eps,
                                                 bool batch_first, bool norm_first)
    : TransformerDecoderLayer(positional_config(d_model, nhead, dim_feedforward, dropout_, activation, layer_norm_eps,
                                                batch_first, norm_first)) {}

Tensor TransformerDecoderLayer::forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask,
                                        const Tensor& memory_mask, const Tensor& tgt_key_padding_mask,
                                        const Tensor& memory_key_padding_mask, bool tgt_is_causal,
                                        bool memory_is_causal) {
  check_sequence("TransformerDecoderLayer", "tgt", tgt, config);
  check_memory("TransformerDecoderLayer", tgt, memory, config);
  auto sa = [&](const Tensor& x) {  // _sa_block
    AttentionResult r =
        self_attn->forward(x, x, x, tgt_key_padding_mask, keep_attention, tgt_mask, false, tgt_is_causal);
    self_weights_ = weights_or_none(r, keep_attention);
    return dropout1->forward(r.output);
  };
  auto mha = [&](const Tensor& x) {  // _mha_block
    AttentionResult r = multihead_attn->forward(x, memory, memory, memory_key_padding_mask, keep_attention,
                                                memory_mask, false, memory_is_causal);
    cross_weights_ = weights_or_none(r, keep_attention);
    return dropout2->forward(r.output);
  };
  auto ff = [&](const Tensor& x) {  // _ff_block
    return dropout3->forward(feed_forward(config, linear1, linear2, moe, dropout, x, aux_loss_));
  };
  Tensor x = tgt;  // [T, B, E] / [B, T, E]
  if (config.norm_first) {
    x = x + sa(norm1->forward(x));
    x = x + mha(norm2->forward(x));
    x = x + ff(norm3->forward(x));
  } else {
    x = norm1->forward(x + sa(x));
    x = norm2->forward(x + mha(x));
    x = norm3->forward(x + ff(x));
  }
  return x;
}

Tensor TransformerDecoderLayer::forward_step(const Tensor& tgt_new, const Tensor& memory,
                                             TransformerDecoderLayerCache& cache,
                                             const Tensor& memory_key_padding_mask) {
  const char* who = "TransformerDecoderLayer::forward_step";
  check_sequence(who, "tgt_new", tgt_new, config);
  ATTN_CHECK(tgt_new.dim() == 3, who, ": needs batched tgt_new, got ", tgt_new.describe());
  if (!cache.cross_attn.k.defined()) {
    check_memory(who, tgt_new, memory, config);
    cache.cross_attn = multihead_attn->project_kv(memory, memory);  // [B, Hkv, S, D], once
  }
  auto sa = [&](const Tensor& x) {
    AttentionResult r = self_attn->forward_incremental(x, cache.self_attn, keep_attention, false);
    self_weights_ = weights_or_none(r, keep_attention);
    return dropout1->forward(r.output);
  };
  auto mha = [&](const Tensor& x) {
    AttentionResult r = multihead_attn->forward_kv(x, cache.cross_attn, memory_key_padding_mask, keep_attention, false);
    cross_weights_ = weights_or_none(r, keep_attention);
    return dropout2->forward(r.output);
  };
  auto ff = [&](const Tensor& x) {
    return dropout3->forward(feed_forward(config, linear1, linear2, moe, dropout, x, aux_loss_));
  };
  Tensor x = tgt_new;  // [T_new, B, E] / [B, T_new, E]
  if (config.norm_first) {
    x = x + sa(norm1->forward(x));
    x = x + mha(norm2->forward(x));
    x = x + ff(norm3->forward(x));
  } else {
    x = norm1->forward(x + sa(x));
    x = norm2->forward(x + mha(x));
    x = norm3->forward(x + ff(x));
  }
  return x;
}

std::string TransformerDecoderLayer::extra_repr() const { return config_repr(config); }

// --- stacks -----------------------------------------------------------------------------------

namespace {

// num_layers independently initialised Layer modules as "layers", and the final "norm" when asked.
template <class Layer>
void build_stack(Module& owner, const char* who, const TransformerLayerConfig& c, int64_t num_layers,
                 bool final_norm, std::shared_ptr<ModuleList>& layers, std::shared_ptr<LayerNorm>& norm) {
  ATTN_CHECK(num_layers >= 0, who, ": num_layers must be >= 0, got ", num_layers);
  layers = owner.register_module("layers", std::make_shared<ModuleList>());
  for (int64_t i = 0; i < num_layers; ++i) layers->push_back(std::make_shared<Layer>(c));
  if (final_norm)
    norm = owner.register_module("norm", std::make_shared<LayerNorm>(c.d_model, c.layer_norm_eps, true, c.dtype));
}

// The sum of the layers' auxiliary losses; undefined when no layer has one.
template <class Stack>
Tensor sum_aux(const Stack& stack) {
  Tensor total;
  for (int64_t i = 0; i < stack.num_layers; ++i) {
    const Tensor a = stack.layer(i)->aux_loss();
    if (a.defined()) total = total.defined() ? total + a : a;
  }
  return total;
}

}  // namespace

TransformerEncoder::TransformerEncoder(const TransformerLayerConfig& layer_config, int64_t num_layers_, bool final_norm)
    : num_layers(num_layers_) {
  build_stack<TransformerEncoderLayer>(*this, "TransformerEncoder", layer_config, num_layers, final_norm, layers, norm);
}

std::shared_ptr<TransformerEncoderLayer> TransformerEncoder::layer(int64_t i) const {
  return layers->at<TransformerEncoderLayer>(i);
}

Tensor TransformerEncoder::forward(const Tensor& src, const Tensor& mask, const Tensor& src_key_padding_mask,
                                   bool is_causal) {
  Tensor x = src;
  for (int64_t i = 0; i < num_layers; ++i) x = layer(i)->forward(x, mask, src_key_padding_mask, is_causal);
  return norm ? norm->forward(x) : x;
}

Tensor TransformerEncoder::aux_loss() const { return sum_aux(*this); }

TransformerDecoder::TransformerDecoder(const TransformerLayerConfig& layer_config, int64_t num_layers_, bool final_norm)
    : num_layers(num_layers_) {
  build_stack<TransformerDecoderLayer>(*this, "TransformerDecoder", layer_config, num_layers, final_norm, layers, norm);
}

std::shared_ptr<TransformerDecoderLayer> TransformerDecoder::layer(int64_t i) const {
  return layers->at<TransformerDecoderLayer>(i);
}

Tensor TransformerDecoder::forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask,
                                   const Tensor& memory_mask, const Tensor& tgt_key_padding_mask,
                                   const Tensor& memory_key_padding_mask, bool tgt_is_causal, bool memory_is_causal) {
  Tensor x = tgt;
  for (int64_t i = 0; i < num_layers; ++i)
    x = layer(i)->forward(x, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask,
                          tgt_is_causal, memory_is_causal);
  return norm ? norm->forward(x) : x;
}

Tensor TransformerDecoder::forward_step(const Tensor& tgt_new, const Tensor& memory,
                                        std::vector<TransformerDecoderLayerCache>& cache,
                                        const Tensor& memory_key_padding_mask) {
  ATTN_CHECK(int64_t(cache.size()) == num_layers, "TransformerDecoder::forward_step: cache has ", cache.size(),
             " layers, the decoder ", num_layers, " (start with std::vector<TransformerDecoderLayerCache>(",
             num_layers, "))");
  Tensor x = tgt_new;
  for (int64_t i = 0; i < num_layers; ++i)
    x = layer(i)->forward_step(x, memory, cache[size_t(i)], memory_key_padding_mask);
  return norm ? norm->forward(x) : x;
}

Tensor TransformerDecoder::aux_loss() const { return sum_aux(*this); }

// --- Transformer ------------------------------------------------------------------------------

Transformer::Transformer(const TransformerLayerConfig& layer_config, int64_t num_encoder_layers,
                         int64_t num_decoder_layers)
    : config(layer_config) {
  encoder = register_module("encoder", std::make_shared<TransformerEncoder>(layer_config, num_encoder_layers, true));
  decoder = register_module("decoder", std::make_shared<TransformerDecoder>(layer_config, num_decoder_layers, true));
  reset_parameters();
}

Transformer::Transformer(int64_t d_model, int64_t nhead, int64_t num_encoder_layers, int64_t num_decoder_layers,
                         int64_t dim_feedforward, double dropout, const std::string& activation, double layer_norm_eps,
                         bool batch_first, bool norm_first)
    : Transformer(positional_config(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
                                    norm_first),
                  num_encoder_layers, num_decoder_layers) {}

void Transformer::reset_parameters(Generator* gen) {
  // PyTorch's _reset_parameters: every parameter with more than one dimension, xavier_uniform_.
  for (auto& [name, p] : named_parameters())
    if (p.dim() > 1) init::xavier_uniform_(p, 1.0, gen);
}

Tensor Transformer::forward(const Tensor& src, const Tensor& tgt, const Tensor& src_mask, const Tensor& tgt_mask,
                            const Tensor& memory_mask, const Tensor& src_key_padding_mask,
                            const Tensor& tgt_key_padding_mask, const Tensor& memory_key_padding_mask) {
  check_sequence("Transformer", "src", src, config);
  check_sequence("Transformer", "tgt", tgt, config);
  const int64_t bdim = config.batch_first ? 0 : 1;
  ATTN_CHECK(src.dim() == tgt.dim() && (src.dim() == 2 || src.size(bdim) == tgt.size(bdim)),
             "Transformer: the batch number of src ", src.describe(), " and tgt ", tgt.describe(),
             " must be equal (batch_first=", config.batch_first, ")");
  Tensor memory = encoder->forward(src, src_mask, src_key_padding_mask);  // [S, B, E] / [B, S, E]
  return decoder->forward(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask);
}

}  // namespace attn::nn
