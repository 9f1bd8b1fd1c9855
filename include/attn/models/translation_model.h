// What every translation model (the RNN Seq2Seq family of models/seq2seq.h, the Transformer of
// models/transformer.h) offers the trainer, the decoders and the CLI: a teacher-forced forward
// pass giving logits, the attention it paid to the source, an optional auxiliary loss, and an
// incremental decoder for greedy / beam / sampling search (models/decoding.h).
//
// Token conventions shared by all models: src [B, S] int64 (tokens + <eos>, padded with pad),
// src_lens [B] int64 (1 <= len <= S), tgt_in [B, T] int64 (<bos> y_1 .. y_{T-1}, padded with pad).
#pragma once
#include <memory>
#include <string>

#include "attn/core/random.h"
#include "attn/core/tensor.h"
#include "attn/models/decoding.h"
#include "attn/nn/module.h"

namespace attn::models {

class TranslationModel : public nn::Module {
 public:
  // Teacher-forced logits [B, T, V]. teacher_forcing_ratio < 1 feeds the model's own predictions
  // on some steps (RNN models only; the Transformer requires 1, as it decodes all steps at once).
  virtual Tensor forward(const Tensor& src, const Tensor& src_lens, const Tensor& tgt_in,
                         double teacher_forcing_ratio = 1.0, Generator* gen = nullptr) = 0;
  Tensor operator()(const Tensor& src, const Tensor& src_lens, const Tensor& tgt_in,
                    double teacher_forcing_ratio = 1.0, Generator* gen = nullptr) {
    return forward(src, src_lens, tgt_in, teacher_forcing_ratio, gen);
  }
  // The source attention of the last forward, [B, T, S], detached (what a heatmap shows: for the
  // Transformer, the selected cross-attention layer and head, see models/transformer.h).
  virtual Tensor last_attention() const = 0;
  // An extra loss of the last forward to add to the cross-entropy (already weighted; e.g. the
  // Mixture-of-Experts load-balancing loss). Undefined when the model has none.
  virtual Tensor aux_loss() const { return Tensor(); }
  // Encodes src and returns a decoder over its B rows: step() gives log_softmax [N, V] and the
  // source attention [N, S]. Set eval() first and run under NoGradGuard for inference.
  virtual std::unique_ptr<IncrementalDecoder> start_decoding(const Tensor& src, const Tensor& src_lens) = 0;
  // "rnn" or "transformer" (the checkpoint's model_type).
  virtual std::string model_type() const = 0;
};

}  // namespace attn::models
