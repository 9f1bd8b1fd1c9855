// Concat-linear attention: the attention of the classic PyTorch seq2seq tutorial decoder
// (AttnDecoderRNN in "NLP From Scratch: Translation with a Sequence to Sequence Network and
// Attention"), docs/attention/concat_linear.md.
//
//   weights = softmax(attn([q ; k]))                 attn = Linear(Dq + Dk, max_length)
//   context = sum_{s < S} weights[s] values[s]       (rows s >= S count as zeros)
//   output  = attn_combine([q ; context])            attn_combine = Linear(Dq + Dv, output_size)
//
// The score of each source position is NOT computed from that position's encoder output: a
// Linear maps the decoder input and hidden state straight to max_length logits, so the weights
// are "where to look" by position only, and their number is fixed at construction. values is
// the encoder outputs [B, S, Dv] with S <= max_length; the tutorial zero-initialises a
// [max_length, Dv] buffer and copies the S outputs into it, so positions s >= S still take part
// in the softmax (they get weight) but contribute zero to the context. This module does the
// same, without materialising the padding. The tutorial then applies relu and a GRU to the
// output; that is the decoder's job, not this module's.
//
// Shapes: query [B, Dq] or [B, 1, Dq] (the decoder input embedding in the tutorial), key
// [B, Dk] or [B, 1, Dk] (the decoder hidden state), values [B, S, Dv] -> output [B, output_size]
// or [B, 1, output_size] (the query's rank) and weights [B, max_length].
// state_dict: attn.weight, attn.bias, attn_combine.weight, attn_combine.bias (as the tutorial).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "attn/core/tensor.h"
#include "attn/nn/linear.h"
#include "attn/nn/module.h"

namespace attn::nn {

struct ConcatLinearOutput {
  Tensor output;   // [B, output_size] or [B, 1, output_size]
  Tensor weights;  // [B, max_length]
};

class ConcatLinearAttention : public Module {
 public:
  ConcatLinearAttention(int64_t query_size, int64_t key_size, int64_t value_size, int64_t max_length,
                        int64_t output_size, DType dtype = kFloat32);
  // query [B, Dq] or [B, 1, Dq]; key [B, Dk] or [B, 1, Dk]; values [B, S, Dv] with S <= max_length.
  // Returns output [B, output_size] or [B, 1, output_size] (the query's rank) and weights [B, max_length].
  // Bad shapes (S > max_length, wrong feature sizes, batch mismatch) throw attn::Error.
  ConcatLinearOutput forward(const Tensor& query, const Tensor& key, const Tensor& values);
  ConcatLinearOutput operator()(const Tensor& q, const Tensor& k, const Tensor& v) { return forward(q, k, v); }
  std::string extra_repr() const override;

  int64_t max_length;
  int64_t query_size, key_size, value_size, output_size;
  std::shared_ptr<Linear> attn, attn_combine;  // attn [max_length, Dq + Dk], attn_combine [output_size, Dq + Dv]
};

}  // namespace attn::nn
