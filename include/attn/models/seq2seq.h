// RNN encoder-decoder translation models with the classic attention decoders (docs/models/seq2seq.md).
//
// Encoder: Embedding(src_vocab, E, padding_idx = pad) -> dropout -> GRU/LSTM (optionally
// bidirectional) over the valid source steps (src_lens), giving the annotations h_1..h_S
// [B, S, Dk] (Dk = H, or 2H bidirectional; zero at padded steps) and the final states.
// Bidirectional: per layer, s_0 = tanh(W_bridge [h_fwd ; h_bwd] + b) (a Linear 2H -> H, one for h
// and, for LSTM, one for c), so the decoder starts from one H-sized state per layer.
//
// Decoders (Seq2SeqConfig::attention), one step from the previous token y_{t-1}, state s_{t-1}:
//   none           Cho et al. 2014 / d2l Seq2SeqDecoder: a fixed context c = the top layer of the
//                  decoder's initial state; s_t = RNN([emb(y_{t-1}) ; c], s_{t-1}); logits = W_o s_t
//   bahdanau       Bahdanau et al. 2014 / d2l Seq2SeqAttentionDecoder: c_t = additive attention with
//                  query s_{t-1} (top layer) over h_1..h_S; s_t = RNN([emb(y_{t-1}) ; c_t], s_{t-1});
//                  logits = W_o s_t
//   luong-dot|general|concat   Luong et al. 2015, global attention with input feeding:
//                  s_t = RNN([emb(y_{t-1}) ; h~_{t-1}], s_{t-1}); c_t = attention(s_t, h_1..h_S);
//                  h~_t = tanh(W_c [c_t ; s_t]); logits = W_o h~_t   (h~_0 = 0)
//   luong-local    the same with local-p attention (general score, window D = local_window)
//   concat-linear  the PyTorch tutorial's AttnDecoderRNN: e = dropout(emb(y_{t-1}));
//                  a = softmax(attn([e ; s_{t-1}])) over max_length positions; c = a h (rows >= S
//                  count as zeros); x = relu(attn_combine([e ; c])); s_t = RNN(x, s_{t-1});
//                  logits = W_o s_t. Sources longer than max_length are an error.
// W_o is `decoder.out` (Linear H -> V), tied to the target embedding with tie_weights (needs E == H).
//
// state_dict: encoder.embedding.weight, encoder.rnn.{weight,bias}_{ih,hh}_l{k}[_reverse],
// encoder.bridge[_c].{weight,bias} (bidirectional), decoder.embedding.weight,
// decoder.attention.* (BahdanauAttention W_a/U_a/v_a, LuongAttention W_a/v_a/W_p/v_p,
// ConcatLinearAttention attn/attn_combine), decoder.rnn.*, decoder.W_c.weight (Luong),
// decoder.out.{weight,bias}.
//
// What it is not: losses and training loops (the trainer's job: cross_entropy with
// ignore_index = pad over the logits), beam search (models/decoding.h drives start_decoding).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "attn/attention/concat_linear.h"
#include "attn/attention/modules.h"
#include "attn/core/random.h"
#include "attn/core/tensor.h"
#include "attn/models/decoding.h"
#include "attn/models/translation_model.h"
#include "attn/nn/dropout.h"
#include "attn/nn/embedding.h"
#include "attn/nn/linear.h"
#include "attn/nn/module.h"
#include "attn/nn/rnn.h"

namespace attn::models {

struct Seq2SeqConfig {
  int64_t src_vocab = 0, tgt_vocab = 0;
  int64_t embed_dim = 256, hidden_size = 256, num_layers = 1;
  std::string cell = "gru";            // gru | lstm
  bool bidirectional = false;          // encoder only; its final states are bridged (Linear + tanh)
  std::string attention = "bahdanau";  // none | bahdanau | luong-dot | luong-general | luong-concat | luong-local | concat-linear
  double dropout = 0.1;                // on embeddings and between stacked RNN layers (training mode)
  bool tie_weights = false;            // decoder.out.weight = decoder.embedding.weight (needs embed_dim == hidden_size)
  int64_t max_length = 12;             // concat-linear only: the source positions it attends over
  int64_t local_window = 5;            // luong-local only: D, the window half-width
  int64_t pad = 0, bos = 1, eos = 2;
  DType dtype = kFloat32;
};

enum class DecoderKind { None, Bahdanau, LuongDot, LuongGeneral, LuongConcat, LuongLocal, ConcatLinear };
// "bahdanau" -> DecoderKind::Bahdanau, ...; an unknown name throws attn::Error listing the valid ones.
DecoderKind parse_decoder_kind(const std::string& name);
const char* decoder_kind_name(DecoderKind kind);

// Everything the decoder carries from one step to the next, for a batch of N rows. Row order can
// be changed with reorder() (beam search).
struct Seq2SeqState {
  Tensor h;         // [L, N, H] decoder hidden state s_{t-1}
  Tensor c;         // [L, N, H] LSTM cell state; undefined for GRU
  Tensor memory;    // [N, S, Dk] encoder outputs h_1..h_S (zero at padded steps)
  Tensor src_lens;  // [N] int64
  Tensor context;   // none: the fixed context c [N, H]; undefined otherwise
  Tensor feed;      // Luong: h~_{t-1} [N, H] (input feeding); undefined otherwise
  // Keeps rows `indices` [N'] int64 of every tensor (index_select on the batch dim).
  void reorder(const Tensor& indices);
};

// One decoder step: logits [N, V] and attention weights [N, S] (zeros for `none`); `output` is
// the decoder output [N, H] (s_t, or h~_t for Luong) that the output projection maps to the logits.
struct Seq2SeqStep {
  Tensor logits;
  Tensor attention;
  Tensor output;
};

class Seq2SeqEncoder : public nn::Module {
 public:
  explicit Seq2SeqEncoder(const Seq2SeqConfig& config);
  // src [B, S] int64, src_lens [B] int64 (1 <= len <= S). Returns the decoder's initial state
  // (h, c bridged to [L, B, H]; memory [B, S, Dk]; src_lens).
  Seq2SeqState forward(const Tensor& src, const Tensor& src_lens);
  Seq2SeqState operator()(const Tensor& src, const Tensor& src_lens) { return forward(src, src_lens); }

  Seq2SeqConfig config;
  std::shared_ptr<nn::Embedding> embedding;
  std::shared_ptr<nn::Dropout> dropout;
  std::shared_ptr<nn::GRU> gru;    // registered as "rnn" when cell == gru
  std::shared_ptr<nn::LSTM> lstm;  // registered as "rnn" when cell == lstm
  std::shared_ptr<nn::Linear> bridge, bridge_c;  // bidirectional only (bridge_c: LSTM only)
};

class Seq2SeqDecoder : public nn::Module {
 public:
  explicit Seq2SeqDecoder(const Seq2SeqConfig& config);
  // tokens [N] int64 (y_{t-1}); advances `state` by one step.
  Seq2SeqStep step(Seq2SeqState& state, const Tensor& tokens);
  // step() up to the output projection: logits left undefined, logits = out->forward(output).
  Seq2SeqStep step_output(Seq2SeqState& state, const Tensor& tokens);
  // Fills the per-kind parts of a fresh state (the fixed context of `none`, h~_0 of Luong).
  void init_state(Seq2SeqState& state) const;

  Seq2SeqConfig config;
  DecoderKind kind;
  std::shared_ptr<nn::Embedding> embedding;
  std::shared_ptr<nn::Dropout> dropout;
  std::shared_ptr<nn::BahdanauAttention> bahdanau;        // registered as "attention"
  std::shared_ptr<nn::LuongAttention> luong;              // registered as "attention"
  std::shared_ptr<nn::ConcatLinearAttention> concat_linear;  // registered as "attention"
  std::shared_ptr<nn::GRU> gru;    // registered as "rnn"
  std::shared_ptr<nn::LSTM> lstm;  // registered as "rnn"
  std::shared_ptr<nn::Linear> W_c;  // Luong: [H, Dk + H], no bias (eq. 5)
  std::shared_ptr<nn::Linear> out;  // [V, H]

 private:
  // One RNN step: x [N, I] -> top-layer output [N, H]; updates state.h / state.c.
  Tensor rnn_step(Seq2SeqState& state, const Tensor& x);
};

// The RNN member of the TranslationModel family (models/translation_model.h), model_type "rnn".
class Seq2Seq : public TranslationModel {
 public:
  explicit Seq2Seq(const Seq2SeqConfig& config);

  // src [B, S] int64, src_lens [B] int64, tgt_in [B, T] int64 (the decoder inputs: bos y_1 ..
  // y_{T-1}, padded with pad) -> logits [B, T, V]. With teacher_forcing_ratio < 1, each step t > 0
  // draws u ~ U[0, 1) from `gen` (the default generator when null) and, when u >= ratio, feeds the
  // model's own argmax of step t-1 instead of tgt_in[:, t] (for the whole batch, without gradient).
  Tensor forward(const Tensor& src, const Tensor& src_lens, const Tensor& tgt_in, double teacher_forcing_ratio = 1.0,
                 Generator* gen = nullptr) override;
  // The attention weights of the last forward, [B, T, S] (detached; zeros for `none`).
  Tensor last_attention() const override { return last_attention_; }

  // Encodes src and returns a decoder over its B rows for greedy / beam search: step() returns
  // log_softmax of the logits [N, V] and the attention weights [N, S]. The decoder keeps a
  // reference to this model (which must outlive it when the model is not held by a shared_ptr).
  // Set eval() first: dropout follows the module's training mode. Run under NoGradGuard for
  // inference; otherwise every step extends the autograd graph.
  std::unique_ptr<IncrementalDecoder> start_decoding(const Tensor& src, const Tensor& src_lens) override;
  std::string model_type() const override { return "rnn"; }

  Seq2SeqConfig config;
  std::shared_ptr<Seq2SeqEncoder> encoder;
  std::shared_ptr<Seq2SeqDecoder> decoder;

 private:
  Tensor last_attention_;
};

}  // namespace attn::models
