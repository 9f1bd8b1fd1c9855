// Embedding (torch.nn.Embedding): a lookup table weight [num_embeddings, embedding_dim];
// forward(indices int64 [...]) -> [..., embedding_dim]. Initialised N(0, 1) as PyTorch, with the
// padding row zeroed; the padding row receives no gradient, so it stays a fixed vector.
//
// padding_idx follows the PyTorch module: std::nullopt (the default) for none, and a negative value
// counts from the end (-1 is the last row). (The functional attn::embedding takes an already
// resolved row, where a negative value means none.) max_norm / sparse are not supported.
#pragma once
#include <optional>

#include "attn/core/random.h"
#include "attn/nn/module.h"

namespace attn::nn {

class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, std::optional<int64_t> padding_idx = std::nullopt,
            DType dtype = kFloat32);
  // torch.nn.Embedding.from_pretrained: takes a copy of `embeddings` [V, D]; freeze = true makes
  // the weight not require grad. The padding row is kept as given.
  static std::shared_ptr<Embedding> from_pretrained(const Tensor& embeddings, bool freeze = true,
                                                    std::optional<int64_t> padding_idx = std::nullopt);
  Tensor forward(const Tensor& indices);
  Tensor operator()(const Tensor& indices) { return forward(indices); }
  // N(0, 1), then the padding row set to zero.
  void reset_parameters(Generator* gen = nullptr);
  std::string extra_repr() const override;

  int64_t num_embeddings, embedding_dim;
  std::optional<int64_t> padding_idx;  // resolved to [0, num_embeddings) when set
  Tensor weight;                       // [num_embeddings, embedding_dim]
};

}  // namespace attn::nn
