// Skip-gram and CBOW with negative sampling, composed of differentiable attn ops (embedding, bmm,
// abs, exp, log1p, sum): the backward is autograd's.
#include "attn/models/word2vec.h"

#include "attn/core/autograd.h"
#include "attn/nn/init.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/index.h"
#include "attn/ops/linalg.h"
#include "attn/ops/reduce.h"
#include "attn/ops/shape.h"
#include "attn/ops/unary.h"

namespace attn::models {

namespace {

void check_indices(const Tensor& t, const char* what, int64_t rank) {
  ATTN_CHECK(t.defined() && t.dtype() == kInt64 && t.dim() == rank, "word2vec: ", what, " must be int64 with ", rank,
             " dims, got ", t.defined() ? t.describe() : std::string("an undefined tensor"));
}

// {positive [B], negatives [B, K]} -> [B, 1 + K] (column 0 the positive word).
Tensor targets_of(const Tensor& positive, const Tensor& negatives) {
  ATTN_CHECK(negatives.size(0) == positive.size(0), "word2vec: negatives ", shape_str(negatives.shape()),
             " must have one row per example, positive words ", shape_str(positive.shape()));
  return cat({positive.unsqueeze(1), negatives}, 1);
}

// h [B, D] against the output vectors of `targets` [B, 1 + K] -> scores [B, 1 + K].
Tensor scores_of(const nn::Embedding& out_embed, const Tensor& h, const Tensor& targets) {
  const Tensor u = embedding(out_embed.weight, targets);  // [B, 1+K, D]
  return bmm(u, h.unsqueeze(2)).squeeze(2);                // [B, 1+K]
}

void init_like_word2vec_c(nn::Embedding& in_embed, nn::Embedding& out_embed, int64_t dim, Generator* gen) {
  NoGradGuard ng;
  // word2vec.c: syn0 = (rand/RAND_MAX - 0.5) / layer1_size, syn1neg = 0.
  const double half = dim > 0 ? 0.5 / double(dim) : 0.0;
  nn::init::uniform_(in_embed.weight, -half, half, gen);
  nn::init::zeros_(out_embed.weight);
}

}  // namespace

Tensor log_sigmoid(const Tensor& x) {
  // log σ(x) = min(x, 0) - log(1 + e^{-|x|}), with min(x, 0) written as (x - |x|) / 2 so that the
  // derivative at 0 is 1/2 (abs'(0) = 0) instead of depending on how a tie is broken.
  const Tensor a = abs(x);
  return sub(mul(sub(x, a), scalar_tensor(0.5, x.dtype())), log1p(exp(neg(a))));
}

Tensor negative_sampling_loss(const Tensor& scores) {
  ATTN_CHECK(scores.dim() == 2 && scores.size(1) >= 1, "negative_sampling_loss: scores must be [B, 1 + K], got ",
             shape_str(scores.shape()));
  const int64_t B = scores.size(0), C = scores.size(1);
  // +1 for the positive column, -1 for the noise words: -log σ(u_o·h) - Σ_k log σ(-u_k·h).
  Tensor sign = full({1, C}, -1.0, scores.dtype());  // [1, 1+K]
  sign.select(1, 0).fill_(1.0);
  return neg(sum(log_sigmoid(mul(scores, sign)))) / double(B > 0 ? B : 1);
}

// ---------------------------------------------------------------------------------------------

SkipGram::SkipGram(int64_t V, int64_t D, DType dtype, Generator* gen) : vocab_size(V), dim(D) {
  in_embed = register_module("in_embed", std::make_shared<nn::Embedding>(V, D, std::nullopt, dtype));
  out_embed = register_module("out_embed", std::make_shared<nn::Embedding>(V, D, std::nullopt, dtype));
  reset_parameters(gen);
}

void SkipGram::reset_parameters(Generator* gen) { init_like_word2vec_c(*in_embed, *out_embed, dim, gen); }

Tensor SkipGram::forward(const Tensor& centers, const Tensor& contexts, const Tensor& negatives) {
  check_indices(centers, "centers", 1);
  check_indices(contexts, "contexts", 1);
  check_indices(negatives, "negatives", 2);
  ATTN_CHECK(contexts.size(0) == centers.size(0), "SkipGram: contexts ", shape_str(contexts.shape()),
             " must match centers ", shape_str(centers.shape()));
  const Tensor h = in_embed->forward(centers);                          // [B, D]
  const Tensor s = scores_of(*out_embed, h, targets_of(contexts, negatives));  // [B, 1+K]
  return negative_sampling_loss(s);
}

std::string SkipGram::extra_repr() const { return detail::str_cat(vocab_size, ", ", dim); }

// ---------------------------------------------------------------------------------------------

CBOW::CBOW(int64_t V, int64_t D, DType dtype, Generator* gen) : vocab_size(V), dim(D) {
  in_embed = register_module("in_embed", std::make_shared<nn::Embedding>(V, D, std::nullopt, dtype));
  out_embed = register_module("out_embed", std::make_shared<nn::Embedding>(V, D, std::nullopt, dtype));
  reset_parameters(gen);
}

void CBOW::reset_parameters(Generator* gen) { init_like_word2vec_c(*in_embed, *out_embed, dim, gen); }

Tensor CBOW::forward(const Tensor& windows, const Tensor& mask, const Tensor& centers, const Tensor& negatives) {
  check_indices(windows, "windows", 2);
  check_indices(centers, "centers", 1);
  check_indices(negatives, "negatives", 2);
  ATTN_CHECK(mask.defined() && mask.shape() == windows.shape(), "CBOW: mask ",
             mask.defined() ? shape_str(mask.shape()) : std::string("(undefined)"), " must have the shape of windows ",
             shape_str(windows.shape()));
  ATTN_CHECK(windows.size(0) == centers.size(0), "CBOW: windows ", shape_str(windows.shape()),
             " must have one row per centre word, centers ", shape_str(centers.shape()));
  const DType dt = in_embed->weight.dtype();
  const Tensor m = mask.to(dt);                                    // [B, 2W]
  const Tensor count = sum(m, {1}, /*keepdim=*/true);              // [B, 1]
  {
    // A window with no real word has no mean; training never makes one, so it is a caller's bug.
    const std::vector<double> c = to_double_vector(count);
    for (size_t b = 0; b < c.size(); ++b)
      ATTN_CHECK(c[b] > 0, "CBOW: window ", b, " has no context word (its mask is all zero)");
  }
  const Tensor x = in_embed->forward(windows);                     // [B, 2W, D]
  const Tensor h = sum(mul(x, m.unsqueeze(2)), {1}) / count;       // [B, D]
  const Tensor s = scores_of(*out_embed, h, targets_of(centers, negatives));  // [B, 1+K]
  return negative_sampling_loss(s);
}

std::string CBOW::extra_repr() const { return detail::str_cat(vocab_size, ", ", dim); }

}  // namespace attn::models
