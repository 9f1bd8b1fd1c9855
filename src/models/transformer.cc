// The Transformer translation model (include/attn/models/transformer.h): embeddings and positions
// around nn::TransformerEncoder / nn::TransformerDecoder, and an incremental decoder that keeps a
// per-layer key / value cache so every search step costs one target position, not the whole prefix.
#include "attn/models/transformer.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "attn/core/autograd.h"
#include "attn/core/error.h"
#include "attn/nn/init.h"
#include "attn/ops/compare.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/index.h"
#include "attn/ops/reduce.h"
#include "attn/ops/shape.h"
#include "attn/ops/softmax.h"

namespace attn::models {

namespace {

std::string describe(const Tensor& t) { return t.defined() ? t.describe() : std::string("undefined"); }

void check_config(const TransformerConfig& c) {
  ATTN_CHECK(c.src_vocab > 0 && c.tgt_vocab > 0, "TransformerModel: src_vocab and tgt_vocab must be positive, got ",
             c.src_vocab, " and ", c.tgt_vocab);
  ATTN_CHECK(c.d_model > 0 && c.nhead > 0 && c.d_model % c.nhead == 0,
             "TransformerModel: d_model must be a positive multiple of nhead, got d_model ", c.d_model, " and nhead ",
             c.nhead);
  ATTN_CHECK(c.num_encoder_layers >= 1 && c.num_decoder_layers >= 1,
             "TransformerModel: num_encoder_layers and num_decoder_layers must be >= 1, got ", c.num_encoder_layers,
             " and ", c.num_decoder_layers);
  ATTN_CHECK(c.dim_feedforward > 0, "TransformerModel: dim_feedforward must be positive, got ", c.dim_feedforward);
  ATTN_CHECK(c.dropout >= 0 && c.dropout < 1, "TransformerModel: dropout must be in [0, 1), got ", c.dropout);
  ATTN_CHECK(c.activation == "relu" || c.activation == "gelu",
             "TransformerModel: activation must be \"relu\" or \"gelu\", got \"", c.activation, "\"");
  ATTN_CHECK(c.positions == "sinusoidal" || c.positions == "learned" || c.positions == "rope",
             "TransformerModel: positions must be \"sinusoidal\", \"learned\" or \"rope\", got \"", c.positions, "\"");
  ATTN_CHECK(c.max_positions > 0, "TransformerModel: max_positions must be positive, got ", c.max_positions);
  ATTN_CHECK(c.positions != "rope" || (c.d_model / c.nhead) % 2 == 0,
             "TransformerModel: rope needs an even head dimension, got d_model / nhead = ", c.d_model, " / ", c.nhead,
             " = ", c.d_model / c.nhead);
  ATTN_CHECK(!c.share_embeddings || c.src_vocab == c.tgt_vocab,
             "TransformerModel: share_embeddings needs one joint vocabulary (src_vocab == tgt_vocab), got src_vocab ",
             c.src_vocab, " and tgt_vocab ", c.tgt_vocab);
  ATTN_CHECK(c.num_kv_heads == -1 || (c.num_kv_heads > 0 && c.nhead % c.num_kv_heads == 0),
             "TransformerModel: num_kv_heads must be -1 or a positive divisor of nhead ", c.nhead, ", got ",
             c.num_kv_heads);
  ATTN_CHECK(c.moe_experts >= 0, "TransformerModel: moe_experts must be >= 0, got ", c.moe_experts);
  ATTN_CHECK(c.moe_experts == 0 || (c.moe_top_k >= 1 && c.moe_top_k <= c.moe_experts),
             "TransformerModel: moe_top_k must be in [1, moe_experts = ", c.moe_experts, "], got ", c.moe_top_k);
  ATTN_CHECK(c.moe_aux_weight >= 0, "TransformerModel: moe_aux_weight must be >= 0, got ", c.moe_aux_weight);
  const int64_t vmin = std::min(c.src_vocab, c.tgt_vocab);
  ATTN_CHECK(c.pad >= 0 && c.pad < vmin, "TransformerModel: pad id ", c.pad,
             " must be a valid token of both vocabularies (src_vocab ", c.src_vocab, ", tgt_vocab ", c.tgt_vocab, ")");
  ATTN_CHECK(c.bos >= 0 && c.bos < c.tgt_vocab && c.eos >= 0 && c.eos < c.tgt_vocab, "TransformerModel: bos ", c.bos,
             " and eos ", c.eos, " must be tokens of the target vocabulary (tgt_vocab ", c.tgt_vocab, ")");
  ATTN_CHECK(is_floating_point(c.dtype), "TransformerModel: dtype must be floating point, got ", c.dtype);
}

// "transformer": the encoder and decoder under the names of torch.nn.Transformer.
class EncoderDecoder : public nn::Module {
 public:
  std::string type_name() const override { return "Transformer"; }
};

// "out" when tied: only the bias is a parameter of its own; the weight is the target embedding
// (kept once in state_dict, under tgt_embed / src_embed).
class TiedOutput : public nn::Module {
 public:
  TiedOutput(const Tensor& bias, int64_t in_features, int64_t out_features)
      : in_features(in_features), out_features(out_features) {
    register_parameter("bias", bias);
  }
  std::string type_name() const override { return "Linear"; }
  std::string extra_repr() const override {
    return "in_features=" + std::to_string(in_features) + ", out_features=" + std::to_string(out_features) +
           ", bias=True, weight=target embedding";
  }
  int64_t in_features, out_features;
};

// N(0, d^-1/2) with the padding row zero (fairseq's Embedding).
void init_embedding(const Tensor& weight, int64_t d_model, int64_t pad) {
  NoGradGuard no_grad;
  nn::init::normal_(weight, 0.0, 1.0 / std::sqrt(double(d_model)));
  if (pad >= 0) weight.select(0, pad).zero_();
}

// Sets keep_attention on decoder layers for the duration of a call, restoring the old flags.
class KeepAttention {
 public:
  KeepAttention(nn::TransformerDecoder& dec, int64_t only) : dec_(&dec) {
    for (int64_t i = 0; i < dec.num_layers; ++i) {
      auto l = dec.layer(i);
      old_.push_back(l->keep_attention);
      l->keep_attention = only < 0 || i == only;
    }
  }
  KeepAttention(nn::TransformerEncoder& enc) : enc_(&enc) {
    for (int64_t i = 0; i < enc.num_layers; ++i) {
      auto l = enc.layer(i);
      old_.push_back(l->keep_attention);
      l->keep_attention = true;
    }
  }
  ~KeepAttention() {
    for (size_t i = 0; i < old_.size(); ++i) {
      if (dec_) dec_->layer(int64_t(i))->keep_attention = old_[i];
      if (enc_) enc_->layer(int64_t(i))->keep_attention = old_[i];
    }
  }
  KeepAttention(const KeepAttention&) = delete;
  KeepAttention& operator=(const KeepAttention&) = delete;

 private:
  nn::TransformerDecoder* dec_ = nullptr;
  nn::TransformerEncoder* enc_ = nullptr;
  std::vector<bool> old_;
};

class TransformerIncrementalDecoder : public IncrementalDecoder {
 public:
  TransformerIncrementalDecoder(std::shared_ptr<nn::Module> keep, TransformerModel* model, Tensor memory, Tensor mask)
      : keep_(std::move(keep)),
        model_(model),
        memory_(std::move(memory)),
        mask_(std::move(mask)),
        caches_(size_t(model->decoder->num_layers)) {}

  DecodeStep step(const Tensor& tokens) override {
    const int64_t N = memory_.size(0);
    ATTN_CHECK(tokens.defined() && tokens.dtype() == kInt64 && tokens.dim() == 1 && tokens.size(0) == N,
               "TransformerModel decoder step: expected tokens int64 [", N, "], got ", describe(tokens));
    const int64_t layer = model_->attention_layer_index();
    Tensor x = model_->embed(tokens.unsqueeze(1), /*target=*/true, offset_);  // [N, 1, E]
    Tensor h;
    {
      KeepAttention keep(*model_->decoder, layer);
      h = model_->decoder->forward_step(x, memory_, caches_, mask_);  // [N, 1, E]
    }
    ++offset_;
    Tensor logits = model_->out->forward(h.select(1, 0));  // [N, V]
    const Tensor& w = model_->decoder->layer(layer)->last_cross_attention();  // [N, H, 1, S]
    return {log_softmax(logits, 1), model_->select_attention(w).select(1, 0)};
  }

  void reorder(const Tensor& indices) override {
    ATTN_CHECK(indices.defined() && indices.dtype() == kInt64 && indices.dim() == 1,
               "TransformerModel decoder reorder: expected int64 [N'] indices, got ", describe(indices));
    // index_select checks every index against the current N.
    memory_ = index_select(memory_, 0, indices);
    mask_ = index_select(mask_, 0, indices);
    for (auto& c : caches_) c.reorder(indices);
  }

 private:
  std::shared_ptr<nn::Module> keep_;  // keeps the model alive when it is held by a shared_ptr
  TransformerModel* model_;
  Tensor memory_, mask_;  // [N, S, E], [N, S] bool
  std::vector<nn::TransformerDecoderLayerCache> caches_;
  int64_t offset_ = 0;  // target positions fed so far
};

}  // namespace

nn::TransformerLayerConfig layer_config(const TransformerConfig& c) {
  nn::TransformerLayerConfig l;
  l.d_model = c.d_model;
  l.nhead = c.nhead;
  l.dim_feedforward = c.dim_feedforward;
  l.dropout = c.dropout;
  l.activation = c.activation;
  l.layer_norm_eps = c.layer_norm_eps;
  l.batch_first = true;
  l.norm_first = c.norm_first;
  l.num_kv_heads = c.num_kv_heads;
  l.rotary = c.positions == "rope";
  l.moe_experts = c.moe_experts;
  l.moe_top_k = c.moe_top_k;
  l.dtype = c.dtype;
  return l;
}

TransformerModel::TransformerModel(const TransformerConfig& c) : config(c) {
  check_config(c);
  const int64_t d = c.d_model;
  src_embed = register_module("src_embed", std::make_shared<nn::Embedding>(c.src_vocab, d, c.pad, c.dtype));
  init_embedding(src_embed->weight, d, c.pad);
  if (c.share_embeddings) {
    tgt_embed = src_embed;
  } else {
    tgt_embed = register_module("tgt_embed", std::make_shared<nn::Embedding>(c.tgt_vocab, d, c.pad, c.dtype));
    init_embedding(tgt_embed->weight, d, c.pad);
  }
  if (c.positions == "learned") {
    pos_embed = register_module("pos_embed", std::make_shared<nn::LearnedPositionalEmbedding>(c.max_positions, d, c.dtype));
    init_embedding(pos_embed->weight, d, -1);
  }
  dropout = register_module("dropout", std::make_shared<nn::Dropout>(c.dropout));
  auto stacks = register_module("transformer", std::make_shared<EncoderDecoder>());
  const nn::TransformerLayerConfig lc = layer_config(c);
  encoder = stacks->register_module("encoder", std::make_shared<nn::TransformerEncoder>(lc, c.num_encoder_layers, true));
  decoder = stacks->register_module("decoder", std::make_shared<nn::TransformerDecoder>(lc, c.num_decoder_layers, true));
  // As nn.Transformer's _reset_parameters: every matrix xavier_uniform_.
  for (Tensor& p : stacks->parameters())
    if (p.dim() > 1) nn::init::xavier_uniform_(p);

  out = std::make_shared<nn::Linear>(d, c.tgt_vocab, true, c.dtype);
  nn::init::zeros_(out->bias);
  if (c.tie_output) {
    out->weight = out->replace_parameter("weight", tgt_embed->weight);
    register_module("out", std::make_shared<TiedOutput>(out->bias, d, c.tgt_vocab));
  } else {
    nn::init::xavier_uniform_(out->weight);
    register_module("out", out);
  }
}

Tensor TransformerModel::sinusoidal_rows(int64_t T, int64_t offset, DType dtype) {
  if (!pe_.defined() || offset + T > pe_.size(0)) {
    int64_t n = pe_.defined() ? pe_.size(0) : config.max_positions;
    while (n < offset + T) n *= 2;
    pe_ = nn::sinusoidal_table(n, config.d_model, kFloat64);
  }
  return pe_.narrow(0, offset, T).to(dtype);
}

int64_t TransformerModel::attention_layer_index() const {
  const int64_t L = config.num_decoder_layers;
  ATTN_CHECK(attention_layer >= -L && attention_layer < L, "TransformerModel: attention_layer ", attention_layer,
             " is out of range for ", L, " decoder layers (use -1 for the last)");
  ATTN_CHECK(attention_head >= -1 && attention_head < config.nhead, "TransformerModel: attention_head ",
             attention_head, " is out of range for ", config.nhead, " heads (use -1 for the mean over heads)");
  return attention_layer < 0 ? L + attention_layer : attention_layer;
}

Tensor TransformerModel::select_attention(const Tensor& w) const {
  ATTN_CHECK(w.defined() && w.dim() == 4, "TransformerModel: expected per-head attention weights [B, H, T, S], got ",
             describe(w));
  return (attention_head >= 0 ? w.select(1, attention_head) : mean(w, {1})).detach();
}

Tensor TransformerModel::source_padding_mask(const Tensor& src, const Tensor& src_lens) const {
  ATTN_CHECK(src.defined() && src.dtype() == kInt64 && src.dim() == 2,
             "TransformerModel: expected src int64 [B, S], got ", describe(src));
  const int64_t B = src.size(0), S = src.size(1);
  ATTN_CHECK(src_lens.defined() && src_lens.dtype() == kInt64 && src_lens.dim() == 1 && src_lens.size(0) == B,
             "TransformerModel: expected src_lens int64 [", B, "] for src ", src.describe(), ", got ",
             describe(src_lens));
  const std::vector<int64_t> lens = to_int64_vector(src_lens);
  for (int64_t b = 0; b < B; ++b) {
    ATTN_CHECK(lens[size_t(b)] >= 1 && lens[size_t(b)] <= S, "TransformerModel: src_lens[", b, "] = ", lens[size_t(b)],
               " must be in [1, S = ", S, "] for src ", src.describe());
  }
  return ge(arange(double(S)).unsqueeze(0), src_lens.unsqueeze(1));  // [B, S] bool, true = padding
}

Tensor TransformerModel::embed(const Tensor& tokens, bool target, int64_t offset) {
  ATTN_CHECK(tokens.defined() && tokens.dtype() == kInt64 && tokens.dim() == 2,
             "TransformerModel: expected tokens int64 [B, T], got ", describe(tokens));
  const int64_t T = tokens.size(1), d = config.d_model;
  if (config.positions == "learned") {
    ATTN_CHECK(offset + T <= config.max_positions, "TransformerModel: ", target ? "target" : "source", " position ",
               offset + T - 1, " (length ", offset + T, ") is beyond the learned position table of max_positions ",
               config.max_positions, " (tokens ", tokens.describe(), "); build the model with a larger max_positions");
  }
  nn::Embedding& e = target ? *tgt_embed : *src_embed;
  Tensor x = e.forward(tokens) * std::sqrt(double(d));  // [B, T, E]
  if (config.positions == "sinusoidal") x = x + sinusoidal_rows(T, offset, x.dtype());
  else if (config.positions == "learned") x = pos_embed->forward(x, offset);
  return dropout->forward(x);
}

Tensor TransformerModel::encode_masked(const Tensor& src, const Tensor& mask) {
  return encoder->forward(embed(src, /*target=*/false), Tensor(), mask);  // [B, S, E]
}

Tensor TransformerModel::encode(const Tensor& src, const Tensor& src_lens) {
  return encode_masked(src, source_padding_mask(src, src_lens));
}

Tensor TransformerModel::forward(const Tensor& src, const Tensor& src_lens, const Tensor& tgt_in,
                                 double teacher_forcing_ratio, Generator* /*gen*/) {
  ATTN_CHECK(teacher_forcing_ratio == 1.0,
             "TransformerModel: teacher_forcing_ratio must be 1 (the decoder reads the whole tgt_in at once), got ",
             teacher_forcing_ratio);
  ATTN_CHECK(tgt_in.defined() && tgt_in.dtype() == kInt64 && tgt_in.dim() == 2,
             "TransformerModel: expected tgt_in int64 [B, T], got ", describe(tgt_in));
  ATTN_CHECK(src.defined() && src.dim() == 2 && src.size(0) == tgt_in.size(0),
             "TransformerModel: batch sizes differ: src ", describe(src), ", tgt_in ", tgt_in.describe());
  const int64_t layer = attention_layer_index();
  const Tensor mask = source_padding_mask(src, src_lens);
  const int64_t B = tgt_in.size(0), T = tgt_in.size(1), S = src.size(1);
  Tensor memory = encode_masked(src, mask);
  if (T == 0) {
    last_attention_ = zeros({B, 0, S}, config.dtype);
    aux_loss_ = config.moe_experts > 0 ? encoder->aux_loss() * config.moe_aux_weight : Tensor();
    return zeros({B, 0, config.tgt_vocab}, config.dtype);
  }
  Tensor x = embed(tgt_in, /*target=*/true);  // [B, T, E]
  Tensor h;
  {
    KeepAttention keep(*decoder, layer);
    // No target key padding mask: the causal mask already hides the trailing padding from every
    // real position, and the outputs at padded positions are ignored by the loss.
    h = decoder->forward(x, memory, nn::generate_square_subsequent_mask(T, x.dtype()), Tensor(), Tensor(), mask);
  }
  last_attention_ = select_attention(decoder->layer(layer)->last_cross_attention());  // [B, T, S]
  aux_loss_ = config.moe_experts > 0 ? (encoder->aux_loss() + decoder->aux_loss()) * config.moe_aux_weight : Tensor();
  return out->forward(h);  // [B, T, V]
}

std::unique_ptr<IncrementalDecoder> TransformerModel::start_decoding(const Tensor& src, const Tensor& src_lens) {
  attention_layer_index();  // fail before encoding
  const Tensor mask = source_padding_mask(src, src_lens);
  Tensor memory = encode_masked(src, mask);
  return std::make_unique<TransformerIncrementalDecoder>(weak_from_this().lock(), this, std::move(memory), mask);
}

Tensor TransformerModel::teacher_forced_weights(const Tensor& src, const Tensor& src_lens, const Tensor& tgt_in,
                                                bool cross) {
  NoGradGuard no_grad;
  ATTN_CHECK(tgt_in.defined() && tgt_in.dtype() == kInt64 && tgt_in.dim() == 2 && src.defined() && src.dim() == 2 &&
                 tgt_in.size(0) == src.size(0),
             "TransformerModel: expected src [B, S] and tgt_in [B, T] int64, got ", describe(src), " and ",
             describe(tgt_in));
  const Tensor mask = source_padding_mask(src, src_lens);
  Tensor memory = encode_masked(src, mask);
  const int64_t T = tgt_in.size(1);
  KeepAttention keep(*decoder, -1);
  decoder->forward(embed(tgt_in, true), memory, nn::generate_square_subsequent_mask(T, memory.dtype()), Tensor(),
                   Tensor(), mask);
  std::vector<Tensor> w;
  for (int64_t i = 0; i < decoder->num_layers; ++i)
    w.push_back(cross ? decoder->layer(i)->last_cross_attention() : decoder->layer(i)->last_self_attention());
  return stack(w, 0).detach();
}

Tensor TransformerModel::cross_attention_weights(const Tensor& src, const Tensor& src_lens, const Tensor& tgt_in) {
  return teacher_forced_weights(src, src_lens, tgt_in, /*cross=*/true);  // [L, B, H, T, S]
}

Tensor TransformerModel::decoder_self_attention_weights(const Tensor& src, const Tensor& src_lens,
                                                        const Tensor& tgt_in) {
  return teacher_forced_weights(src, src_lens, tgt_in, /*cross=*/false);  // [L, B, H, T, T]
}

Tensor TransformerModel::encoder_self_attention_weights(const Tensor& src, const Tensor& src_lens) {
  NoGradGuard no_grad;
  const Tensor mask = source_padding_mask(src, src_lens);
  KeepAttention keep(*encoder);
  encode_masked(src, mask);
  std::vector<Tensor> w;
  for (int64_t i = 0; i < encoder->num_layers; ++i) w.push_back(encoder->layer(i)->last_self_attention());
  return stack(w, 0).detach();  // [L, B, H, S, S]
}

}  // namespace attn::models
