// RNN seq2seq models with attention (include/attn/models/seq2seq.h). Every decoder is one step
// function, used both by the teacher-forced forward and by the incremental decoder, so training
// and search compute exactly the same thing.
#include "attn/models/seq2seq.h"

#include <utility>
#include <vector>

#include "attn/core/autograd.h"
#include "attn/core/error.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/index.h"
#include "attn/ops/reduce.h"
#include "attn/ops/shape.h"
#include "attn/ops/softmax.h"
#include "attn/ops/unary.h"

namespace attn::models {

namespace {

bool is_luong(DecoderKind k) {
  return k == DecoderKind::LuongDot || k == DecoderKind::LuongGeneral || k == DecoderKind::LuongConcat ||
         k == DecoderKind::LuongLocal;
}

void check_config(const Seq2SeqConfig& c) {
  ATTN_CHECK(c.src_vocab > 0 && c.tgt_vocab > 0, "Seq2Seq: src_vocab and tgt_vocab must be positive, got ",
             c.src_vocab, " and ", c.tgt_vocab);
  ATTN_CHECK(c.embed_dim > 0 && c.hidden_size > 0 && c.num_layers > 0,
             "Seq2Seq: embed_dim, hidden_size and num_layers must be positive, got ", c.embed_dim, ", ",
             c.hidden_size, " and ", c.num_layers);
  ATTN_CHECK(c.cell == "gru" || c.cell == "lstm", "Seq2Seq: cell must be \"gru\" or \"lstm\", got \"", c.cell, "\"");
  ATTN_CHECK(c.dropout >= 0 && c.dropout < 1, "Seq2Seq: dropout must be in [0, 1), got ", c.dropout);
  ATTN_CHECK(c.pad >= 0 && c.pad < c.src_vocab && c.pad < c.tgt_vocab, "Seq2Seq: pad id ", c.pad,
             " must be a valid token of both vocabularies (src_vocab ", c.src_vocab, ", tgt_vocab ", c.tgt_vocab, ")");
  ATTN_CHECK(is_floating_point(c.dtype), "Seq2Seq: dtype must be floating point, got ", c.dtype);
}

nn::RNNOptions rnn_options(const Seq2SeqConfig& c, bool bidirectional) {
  nn::RNNOptions o;
  o.num_layers = c.num_layers;
  o.batch_first = true;
  o.dropout = c.num_layers > 1 ? c.dropout : 0.0;  // PyTorch warns on dropout with one layer: it does nothing
  o.bidirectional = bidirectional;
  o.dtype = c.dtype;
  return o;
}

// [2L, B, H] (PyTorch's layout: row 2l + d is layer l, direction d) -> tanh(bridge([h_fwd ; h_bwd])) [L, B, H].
Tensor bridge_states(const Tensor& hn, nn::Linear& bridge, int64_t L) {
  const int64_t B = hn.size(1), H = hn.size(2);
  Tensor both = hn.reshape({L, 2, B, H}).permute({0, 2, 1, 3}).reshape({L, B, 2 * H});  // [L, B, 2H]
  return tanh(bridge.forward(both));                                                    // [L, B, H]
}

}  // namespace

DecoderKind parse_decoder_kind(const std::string& name) {
  if (name == "none") return DecoderKind::None;
  if (name == "bahdanau") return DecoderKind::Bahdanau;
  if (name == "luong-dot") return DecoderKind::LuongDot;
  if (name == "luong-general") return DecoderKind::LuongGeneral;
  if (name == "luong-concat") return DecoderKind::LuongConcat;
  if (name == "luong-local") return DecoderKind::LuongLocal;
  if (name == "concat-linear") return DecoderKind::ConcatLinear;
  ATTN_FAIL("Seq2Seq: unknown attention \"", name,
            "\"; expected none, bahdanau, luong-dot, luong-general, luong-concat, luong-local or concat-linear");
}

const char* decoder_kind_name(DecoderKind kind) {
  switch (kind) {
    case DecoderKind::None: return "none";
    case DecoderKind::Bahdanau: return "bahdanau";
    case DecoderKind::LuongDot: return "luong-dot";
    case DecoderKind::LuongGeneral: return "luong-general";
    case DecoderKind::LuongConcat: return "luong-concat";
    case DecoderKind::LuongLocal: return "luong-local";
    case DecoderKind::ConcatLinear: return "concat-linear";
  }
  return "?";
}

void Seq2SeqState::reorder(const Tensor& indices) {
  ATTN_CHECK(indices.dtype() == kInt64 && indices.dim() == 1, "Seq2SeqState::reorder: expected int64 [N'] indices, got ",
             indices.describe());
  // index_select checks every index against the current N.
  h = index_select(h, 1, indices);
  if (c.defined()) c = index_select(c, 1, indices);
  memory = index_select(memory, 0, indices);
  src_lens = index_select(src_lens, 0, indices);
  if (context.defined()) context = index_select(context, 0, indices);
  if (feed.defined()) feed = index_select(feed, 0, indices);
}

// --- encoder -------------------------------------------------------------------------------------

Seq2SeqEncoder::Seq2SeqEncoder(const Seq2SeqConfig& c) : config(c) {
  check_config(c);
  embedding = register_module("embedding", std::make_shared<nn::Embedding>(c.src_vocab, c.embed_dim, c.pad, c.dtype));
  dropout = register_module("dropout", std::make_shared<nn::Dropout>(c.dropout));
  const nn::RNNOptions o = rnn_options(c, c.bidirectional);
  if (c.cell == "gru") {
    gru = register_module("rnn", std::make_shared<nn::GRU>(c.embed_dim, c.hidden_size, o));
  } else {
    lstm = register_module("rnn", std::make_shared<nn::LSTM>(c.embed_dim, c.hidden_size, o));
  }
  if (c.bidirectional) {
    bridge = register_module("bridge", std::make_shared<nn::Linear>(2 * c.hidden_size, c.hidden_size, true, c.dtype));
    if (lstm) {
      bridge_c =
          register_module("bridge_c", std::make_shared<nn::Linear>(2 * c.hidden_size, c.hidden_size, true, c.dtype));
    }
  }
}

Seq2SeqState Seq2SeqEncoder::forward(const Tensor& src, const Tensor& src_lens) {
  ATTN_CHECK(src.defined() && src.dtype() == kInt64 && src.dim() == 2, "Seq2SeqEncoder: expected src int64 [B, S], got ",
             src.defined() ? src.describe() : "undefined");
  const int64_t B = src.size(0), S = src.size(1);
  ATTN_CHECK(src_lens.defined() && src_lens.dtype() == kInt64 && src_lens.dim() == 1 && src_lens.size(0) == B,
             "Seq2SeqEncoder: expected src_lens int64 [", B, "] for src ", src.describe(), ", got ",
             src_lens.defined() ? src_lens.describe() : "undefined");
  const std::vector<int64_t> lens = to_int64_vector(src_lens);
  for (int64_t b = 0; b < B; ++b) {
    ATTN_CHECK(lens[size_t(b)] >= 1 && lens[size_t(b)] <= S, "Seq2SeqEncoder: src_lens[", b, "] = ", lens[size_t(b)],
               " must be in [1, S = ", S, "] for src ", src.describe());
  }
  Tensor emb = dropout->forward(embedding->forward(src));  // [B, S, E]
  nn::RNNOutput r = gru ? gru->forward(emb, Tensor(), src_lens)
                        : lstm->forward(emb, Tensor(), Tensor(), src_lens);  // output [B, S, Dk], h_n [D*L, B, H]
  Seq2SeqState st;
  st.memory = r.output;  // [B, S, Dk]
  st.src_lens = src_lens;
  if (config.bidirectional) {
    st.h = bridge_states(r.h_n, *bridge, config.num_layers);                 // [L, B, H]
    if (lstm) st.c = bridge_states(r.c_n, *bridge_c, config.num_layers);  // [L, B, H]
  } else {
    st.h = r.h_n;  // [L, B, H]
    if (lstm) st.c = r.c_n;
  }
  return st;
}

// --- decoder -------------------------------------------------------------------------------------

Seq2SeqDecoder::Seq2SeqDecoder(const Seq2SeqConfig& c) : config(c), kind(parse_decoder_kind(c.attention)) {
  check_config(c);
  const int64_t E = c.embed_dim, H = c.hidden_size, Dk = c.bidirectional ? 2 * H : H;
  embedding = register_module("embedding", std::make_shared<nn::Embedding>(c.tgt_vocab, E, c.pad, c.dtype));
  dropout = register_module("dropout", std::make_shared<nn::Dropout>(c.dropout));
  int64_t rnn_input = E;
  switch (kind) {
    case DecoderKind::None: rnn_input = E + H; break;
    case DecoderKind::Bahdanau:
      bahdanau = register_module("attention", std::make_shared<nn::BahdanauAttention>(H, Dk, H, c.dtype));
      rnn_input = E + Dk;
      break;
    case DecoderKind::LuongDot:
    case DecoderKind::LuongGeneral:
    case DecoderKind::LuongConcat:
    case DecoderKind::LuongLocal: {
      ATTN_CHECK(kind != DecoderKind::LuongDot || Dk == H, "Seq2Seq: luong-dot needs encoder outputs of the decoder's size ",
                 H, ", got ", Dk, " (bidirectional encoder); use luong-general or luong-concat");
      ATTN_CHECK(kind != DecoderKind::LuongLocal || c.local_window >= 0, "Seq2Seq: local_window must be >= 0, got ",
                 c.local_window);
      nn::LuongAttentionOptions o;
      o.score = kind == DecoderKind::LuongDot      ? nn::LuongScore::Dot
                : kind == DecoderKind::LuongConcat ? nn::LuongScore::Concat
                                                   : nn::LuongScore::General;  // local-p uses general (the paper's best)
      o.mode = kind == DecoderKind::LuongLocal ? nn::LuongMode::LocalP : nn::LuongMode::Global;
      o.window = c.local_window;
      o.num_hiddens = H;
      o.dtype = c.dtype;
      luong = register_module("attention", std::make_shared<nn::LuongAttention>(H, Dk, o));
      rnn_input = E + H;  // input feeding: [emb ; h~_{t-1}]
      break;
    }
    case DecoderKind::ConcatLinear:
      ATTN_CHECK(c.max_length > 0, "Seq2Seq: concat-linear needs max_length > 0, got ", c.max_length);
      concat_linear = register_module(
          "attention", std::make_shared<nn::ConcatLinearAttention>(E, H, Dk, c.max_length, H, c.dtype));
      rnn_input = H;
      break;
  }
  const nn::RNNOptions o = rnn_options(c, false);
  if (c.cell == "gru") {
    gru = register_module("rnn", std::make_shared<nn::GRU>(rnn_input, H, o));
  } else {
    lstm = register_module("rnn", std::make_shared<nn::LSTM>(rnn_input, H, o));
  }
  if (is_luong(kind)) W_c = register_module("W_c", std::make_shared<nn::Linear>(Dk + H, H, false, c.dtype));
  out = register_module("out", std::make_shared<nn::Linear>(H, c.tgt_vocab, true, c.dtype));
  if (c.tie_weights) {
    ATTN_CHECK(E == H, "Seq2Seq: tie_weights needs embed_dim == hidden_size (the output projection is [tgt_vocab, ",
               H, "], the target embedding [tgt_vocab, ", E, "]), got embed_dim ", E, " and hidden_size ", H);
    out->weight = out->replace_parameter("weight", embedding->weight);
  }
}

void Seq2SeqDecoder::init_state(Seq2SeqState& st) const {
  const int64_t N = st.h.size(1), H = config.hidden_size;
  if (kind == DecoderKind::None) st.context = st.h.select(0, config.num_layers - 1);  // [N, H], fixed for all steps
  if (is_luong(kind)) st.feed = zeros({N, H}, st.h.dtype());                          // h~_0 = 0
}

Tensor Seq2SeqDecoder::rnn_step(Seq2SeqState& st, const Tensor& x) {
  const Tensor x1 = x.unsqueeze(1);  // [N, 1, I]
  nn::RNNOutput r = gru ? gru->forward(x1, st.h) : lstm->forward(x1, st.h, st.c);
  st.h = r.h_n;  // [L, N, H]
  if (lstm) st.c = r.c_n;
  return r.output.squeeze(1);  // [N, H]
}

Seq2SeqStep Seq2SeqDecoder::step(Seq2SeqState& st, const Tensor& tokens) {
  Seq2SeqStep r = step_output(st, tokens);
  r.logits = out->forward(r.output);  // [N, V]
  return r;
}

Seq2SeqStep Seq2SeqDecoder::step_output(Seq2SeqState& st, const Tensor& tokens) {
  const int64_t N = st.memory.size(0), S = st.memory.size(1);
  ATTN_CHECK(tokens.defined() && tokens.dtype() == kInt64 && tokens.dim() == 1 && tokens.size(0) == N,
             "Seq2SeqDecoder::step: expected tokens int64 [", N, "], got ",
             tokens.defined() ? tokens.describe() : "undefined");
  const Tensor e = dropout->forward(embedding->forward(tokens));  // [N, E]
  const nn::SourceMask mask{st.src_lens, Tensor()};
  Seq2SeqStep r;
  switch (kind) {
    case DecoderKind::None: {
      r.output = rnn_step(st, cat({e, st.context}, 1));  // [N, H]
      r.attention = zeros({N, S}, st.memory.dtype());    // no attention: an all-zero map
      break;
    }
    case DecoderKind::Bahdanau: {
      const Tensor s_prev = st.h.select(0, config.num_layers - 1);         // [N, H] s_{t-1}, top layer
      nn::StepAttention a = bahdanau->forward(s_prev, st.memory, st.memory, mask);  // context [N, Dk]
      r.output = rnn_step(st, cat({e, a.context}, 1));                      // [N, H] s_t
      r.attention = a.weights;                                              // [N, S]
      break;
    }
    case DecoderKind::LuongDot:
    case DecoderKind::LuongGeneral:
    case DecoderKind::LuongConcat:
    case DecoderKind::LuongLocal: {
      Tensor o = rnn_step(st, cat({e, st.feed}, 1));                        // [N, H] h_t
      nn::StepAttention a = luong->forward(o, st.memory, st.memory, mask);  // context [N, Dk]
      Tensor ht = tanh(W_c->forward(cat({a.context, o}, 1)));               // [N, H] h~_t (eq. 5)
      st.feed = ht;
      r.output = ht;
      r.attention = a.weights;  // [N, S]
      break;
    }
    case DecoderKind::ConcatLinear: {
      const Tensor s_prev = st.h.select(0, config.num_layers - 1);         // [N, H]
      nn::ConcatLinearOutput a = concat_linear->forward(e, s_prev, st.memory);  // output [N, H], weights [N, max_length]
      r.output = rnn_step(st, relu(a.output));                              // [N, H]
      r.attention = a.weights.narrow(1, 0, S);  // [N, S]; the weight on positions >= S is dropped
      break;
    }
  }
  return r;
}

// --- the model -----------------------------------------------------------------------------------

namespace {

void check_source_fits(const Seq2SeqConfig& c, const Tensor& src) {
  if (c.attention == "concat-linear" && src.defined() && src.dim() == 2) {
    ATTN_CHECK(src.size(1) <= c.max_length, "Seq2Seq (concat-linear): source length ", src.size(1),
               " exceeds max_length ", c.max_length, " (src ", src.describe(),
               "); build the model with a larger max_length or shorten the source");
  }
}

class Seq2SeqIncrementalDecoder : public IncrementalDecoder {
 public:
  Seq2SeqIncrementalDecoder(std::shared_ptr<nn::Module> keep, Seq2Seq* model, Seq2SeqState state)
      : keep_(std::move(keep)), model_(model), state_(std::move(state)) {}

  DecodeStep step(const Tensor& tokens) override {
    Seq2SeqStep s = model_->decoder->step(state_, tokens);
    return {log_softmax(s.logits, 1), s.attention};
  }
  void reorder(const Tensor& indices) override { state_.reorder(indices); }

 private:
  std::shared_ptr<nn::Module> keep_;  // keeps the model alive when it is held by a shared_ptr
  Seq2Seq* model_;
  Seq2SeqState state_;
};

}  // namespace

Seq2Seq::Seq2Seq(const Seq2SeqConfig& c) : config(c) {
  check_config(c);
  parse_decoder_kind(c.attention);  // fail before building anything
  encoder = register_module("encoder", std::make_shared<Seq2SeqEncoder>(c));
  decoder = register_module("decoder", std::make_shared<Seq2SeqDecoder>(c));
}

Tensor Seq2Seq::forward(const Tensor& src, const Tensor& src_lens, const Tensor& tgt_in, double teacher_forcing_ratio,
                        Generator* gen) {
  ATTN_CHECK(tgt_in.defined() && tgt_in.dtype() == kInt64 && tgt_in.dim() == 2,
             "Seq2Seq: expected tgt_in int64 [B, T], got ", tgt_in.defined() ? tgt_in.describe() : "undefined");
  ATTN_CHECK(src.defined() && src.dim() == 2 && src.size(0) == tgt_in.size(0), "Seq2Seq: batch sizes differ: src ",
             src.defined() ? src.describe() : "undefined", ", tgt_in ", tgt_in.describe());
  check_source_fits(config, src);
  Seq2SeqState st = encoder->forward(src, src_lens);
  decoder->init_state(st);
  const int64_t B = tgt_in.size(0), T = tgt_in.size(1), S = src.size(1);
  if (T == 0) {
    last_attention_ = zeros({B, 0, S}, config.dtype);
    return zeros({B, 0, config.tgt_vocab}, config.dtype);
  }
  // The output projection, the model's largest matrix ([V, H]), is applied to all T decoder outputs
  // at once after the loop: one GEMM forward and two backward read it 3 times per sentence, where
  // a projection per step reads it 3T times (and at batch 1 every step's dW is a full [V, H] pass).
  // A step fed the model's own prediction needs the previous step's logits early, for its argmax
  // only: those are computed then, without gradient, by the same call step() makes.
  std::vector<Tensor> outputs, attention;
  outputs.reserve(size_t(T));
  attention.reserve(size_t(T));
  for (int64_t t = 0; t < T; ++t) {
    Tensor tokens = tgt_in.select(1, t).contiguous();  // [B]
    if (t > 0 && teacher_forcing_ratio < 1.0) {
      // One draw per step for the whole batch; the fed prediction carries no gradient (a token).
      const double u = rand({1}, kFloat64, gen).item();
      if (u >= teacher_forcing_ratio) {
        NoGradGuard no_grad;
        tokens = argmax(decoder->out->forward(outputs.back()), 1);  // [B]
      }
    }
    Seq2SeqStep s = decoder->step_output(st, tokens);
    outputs.push_back(s.output);                // [B, H]
    attention.push_back(s.attention.detach());  // [B, S]
  }
  last_attention_ = stack(attention, 1);            // [B, T, S]
  return decoder->out->forward(stack(outputs, 1));  // [B, T, V]
}

std::unique_ptr<IncrementalDecoder> Seq2Seq::start_decoding(const Tensor& src, const Tensor& src_lens) {
  check_source_fits(config, src);
  Seq2SeqState st = encoder->forward(src, src_lens);
  decoder->init_state(st);
  return std::make_unique<Seq2SeqIncrementalDecoder>(weak_from_this().lock(), this, std::move(st));
}

}  // namespace attn::models
