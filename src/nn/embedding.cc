// Embedding module: forward through attn::embedding (ops/index).
#include "attn/nn/embedding.h"

#include "attn/core/autograd.h"
#include "attn/nn/init.h"
#include "attn/ops/index.h"

namespace attn::nn {

namespace {
std::optional<int64_t> resolve_padding(std::optional<int64_t> p, int64_t num) {
  if (!p) return p;
  ATTN_CHECK(*p >= -num && *p < num, "Embedding: padding_idx ", *p, " must be within num_embeddings (", num, ")");
  return *p < 0 ? *p + num : *p;
}
}  // namespace

Embedding::Embedding(int64_t num, int64_t dim, std::optional<int64_t> pad, DType dtype)
    : num_embeddings(num), embedding_dim(dim), padding_idx(resolve_padding(pad, num)) {
  ATTN_CHECK(num >= 0 && dim >= 0, "Embedding: sizes must be non-negative, got num_embeddings ", num,
             " and embedding_dim ", dim);
  ATTN_CHECK(is_floating_point(dtype), "Embedding: dtype must be floating point, got ", dtype);
  weight = register_parameter("weight", empty({num, dim}, dtype));
  reset_parameters();
}

std::shared_ptr<Embedding> Embedding::from_pretrained(const Tensor& embeddings, bool freeze,
                                                      std::optional<int64_t> padding_idx) {
  ATTN_CHECK(embeddings.dim() == 2, "Embedding::from_pretrained: embeddings must be 2-D [num, dim], got ",
             embeddings.describe());
  auto e = std::make_shared<Embedding>(embeddings.size(0), embeddings.size(1), padding_idx, embeddings.dtype());
  {
    NoGradGuard ng;
    e->weight.copy_(embeddings);
  }
  e->weight.requires_grad_(!freeze);
  return e;
}

void Embedding::reset_parameters(Generator* gen) {
  NoGradGuard ng;  // the row view below must not enter the autograd graph
  init::normal_(weight, 0.0, 1.0, gen);
  if (padding_idx) init::zeros_(weight.select(0, *padding_idx));
}

Tensor Embedding::forward(const Tensor& indices) { return embedding(weight, indices, padding_idx.value_or(-1)); }

std::string Embedding::extra_repr() const {
  std::string s = detail::str_cat(num_embeddings, ", ", embedding_dim);
  if (padding_idx) s += detail::str_cat(", padding_idx=", *padding_idx);
  return s;
}

}  // namespace attn::nn
