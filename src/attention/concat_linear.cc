// ConcatLinearAttention (include/attn/attention/concat_linear.h): the PyTorch seq2seq tutorial's
// decoder attention, composed from Linear, cat, softmax and matmul (autograd comes with them).
#include "attn/attention/concat_linear.h"

#include "attn/core/error.h"
#include "attn/ops/linalg.h"
#include "attn/ops/shape.h"
#include "attn/ops/softmax.h"

namespace attn::nn {

ConcatLinearAttention::ConcatLinearAttention(int64_t query_size_, int64_t key_size_, int64_t value_size_,
                                             int64_t max_length_, int64_t output_size_, DType dtype)
    : max_length(max_length_),
      query_size(query_size_),
      key_size(key_size_),
      value_size(value_size_),
      output_size(output_size_) {
  ATTN_CHECK(query_size > 0 && key_size > 0 && value_size > 0 && max_length > 0 && output_size > 0,
             "ConcatLinearAttention: sizes must be positive, got query_size ", query_size, ", key_size ", key_size,
             ", value_size ", value_size, ", max_length ", max_length, ", output_size ", output_size);
  // Registration order and names as the tutorial's AttnDecoderRNN (self.attn, self.attn_combine),
  // with Linear's default (PyTorch) initialisation.
  attn = register_module("attn", std::make_shared<Linear>(query_size + key_size, max_length, true, dtype));
  attn_combine =
      register_module("attn_combine", std::make_shared<Linear>(query_size + value_size, output_size, true, dtype));
}

ConcatLinearOutput ConcatLinearAttention::forward(const Tensor& query, const Tensor& key, const Tensor& values) {
  ATTN_CHECK(query.defined() && key.defined() && values.defined(),
             "ConcatLinearAttention: query, key and values must be defined");
  // [B, D] or [B, 1, D] (one decoder step).
  auto step_ok = [](const Tensor& x, int64_t D) {
    return (x.dim() == 2 || (x.dim() == 3 && x.size(1) == 1)) && x.size(-1) == D;
  };
  ATTN_CHECK(step_ok(query, query_size) && step_ok(key, key_size) && values.dim() == 3 &&
                 values.size(2) == value_size,
             "ConcatLinearAttention: expected query [B, ", query_size, "] or [B, 1, ", query_size, "], key [B, ",
             key_size, "] or [B, 1, ", key_size, "], values [B, S, ", value_size, "], got query ", query.describe(),
             ", key ", key.describe(), ", values ", values.describe());
  const int64_t B = query.size(0), S = values.size(1);
  ATTN_CHECK(key.size(0) == B && values.size(0) == B, "ConcatLinearAttention: batch sizes differ: query ",
             query.describe(), ", key ", key.describe(), ", values ", values.describe());
  ATTN_CHECK(S <= max_length, "ConcatLinearAttention: values ", values.describe(), " has S = ", S,
             " source positions, more than max_length = ", max_length,
             " (the attention Linear has one output per position; build the module with a larger max_length)");

  const Tensor q = query.reshape({B, query_size});                        // [B, Dq]
  const Tensor k = key.reshape({B, key_size});                            // [B, Dk]
  Tensor weights = softmax(attn->forward(cat({q, k}, 1)), 1);            // [B, L]
  // The tutorial's bmm(weights, encoder_outputs) with encoder_outputs zero beyond S: the padded
  // rows add nothing, so only the first S weights meet the values (the others keep their share of
  // the softmax, and their gradient comes from the softmax alone, as in PyTorch).
  Tensor context = matmul(weights.narrow(1, 0, S).unsqueeze(1), values).reshape({B, value_size});  // [B, Dv]
  Tensor output = attn_combine->forward(cat({q, context}, 1));          // [B, output_size]
  if (query.dim() == 3) output = output.unsqueeze(1);                    // [B, 1, output_size]
  return {output, weights};
}

std::string ConcatLinearAttention::extra_repr() const {
  return detail::str_cat("query_size=", query_size, ", key_size=", key_size, ", value_size=", value_size,
                         ", max_length=", max_length, ", output_size=", output_size);
}

}  // namespace attn::nn
