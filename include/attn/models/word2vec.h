// word2vec models (Mikolov et al. 2013, "Efficient Estimation of Word Representations in Vector
// Space" and "Distributed Representations of Words and Phrases and their Compositionality"):
// skip-gram and CBOW, each with an input embedding v (the word vectors one keeps) and an output
// embedding u, trained with negative sampling (SGNS).
//
// Loss for a batch of B examples, each with a hidden vector h, a positive word o and K noise words
// n_1..n_K (averaged over the batch):
//   loss = (1/B) Σ_b [ -log σ(u_o·h) - Σ_k log σ(-u_{n_k}·h) ]
//   skip-gram: h = v_c, the input vector of the centre word; o = one word of its window.
//   CBOW:      h = (Σ_j m_j v_{x_j}) / (Σ_j m_j), the mean of the window's input vectors (mask m
//              marks the real ones among the 2W slots); o = the centre word.
// log σ(x) is computed as (x - |x|)/2 - log1p(exp(-|x|)): no overflow for any x, and the gradient
// at x = 0 is exactly 1/2 (abs'(0) = 0), which matters because the output embedding starts at
// zero, so every score of the first step is exactly 0.
//
// Shapes (V vocabulary, D dim, B batch, K negatives, W window):
//   SkipGram::forward(centers int64 [B], contexts int64 [B], negatives int64 [B, K]) -> 0-d loss
//   CBOW::forward(windows int64 [B, 2W], mask [B, 2W] (1 real / 0 padding, any dtype),
//                 centers int64 [B], negatives int64 [B, K]) -> 0-d loss
// Parameters (state_dict): in_embed.weight [V, D], out_embed.weight [V, D]. Initialised as the
// original C code: in_embed uniform(-0.5/D, 0.5/D), out_embed zeros.
//
// Differences from word2vec.c, deliberately: the loss is a batch mean and goes through attn's
// autograd, so CBOW's gradient to each context vector is divided by the window's size (the C code
// adds the undivided hidden-layer error to every context vector); skip-gram puts the centre word
// on the input side (word2vec.c puts the context word there: the same objective, summed over the
// same pairs).
//
// What this is not: hierarchical softmax, or the training loop (train/word2vec.h has that, with
// subsampling, the dynamic window and the noise distribution).
#pragma once
#include <memory>

#include "attn/core/random.h"
#include "attn/nn/embedding.h"
#include "attn/nn/module.h"

namespace attn::models {

// -log σ(x) elementwise for x = s * sign, summed: the negative-sampling loss of scores s [B, 1+K]
// whose column 0 is the positive word. Returns the batch mean (0-d). Differentiable in `scores`.
Tensor negative_sampling_loss(const Tensor& scores);

// log σ(x), stable for every x (see the file comment). Differentiable.
Tensor log_sigmoid(const Tensor& x);

class SkipGram : public nn::Module {
 public:
  SkipGram(int64_t vocab_size, int64_t dim, DType dtype = kFloat32, Generator* gen = nullptr);
  Tensor forward(const Tensor& centers, const Tensor& contexts, const Tensor& negatives);
  Tensor operator()(const Tensor& centers, const Tensor& contexts, const Tensor& negatives) {
    return forward(centers, contexts, negatives);
  }
  // in_embed uniform(-0.5/D, 0.5/D), out_embed zeros (word2vec.c's InitNet).
  void reset_parameters(Generator* gen = nullptr);
  std::string extra_repr() const override;

  int64_t vocab_size, dim;
  std::shared_ptr<nn::Embedding> in_embed, out_embed;
};

class CBOW : public nn::Module {
 public:
  CBOW(int64_t vocab_size, int64_t dim, DType dtype = kFloat32, Generator* gen = nullptr);
  Tensor forward(const Tensor& windows, const Tensor& mask, const Tensor& centers, const Tensor& negatives);
  Tensor operator()(const Tensor& windows, const Tensor& mask, const Tensor& centers, const Tensor& negatives) {
    return forward(windows, mask, centers, negatives);
  }
  void reset_parameters(Generator* gen = nullptr);
  std::string type_name() const override { return "CBOW"; }
  std::string extra_repr() const override;

  int64_t vocab_size, dim;
  std::shared_ptr<nn::Embedding> in_embed, out_embed;
};

}  // namespace attn::models
