// Attention modules for sequence models, as thin compositions of score -> align -> fuse
// (score.h, align.h): docs/attention/{d2l_modules,bahdanau,luong}.md.
//
// d2l.ai ("Dive into Deep Learning", ch. "Attention Scoring Functions"), same names and state_dict
// keys as its PyTorch classes, so a d2l state_dict loads as is:
//   DotProductAttention(dropout)   softmax(q k^T / sqrt(d)) v                 q [B,T,D], k [B,S,D], v [B,S,V]
//   AdditiveAttention(key_size, query_size, num_hiddens, dropout)
//                                  softmax(w_v^T tanh(W_q q + W_k k)) v       -> [B,T,V]
// valid_lens: undefined, [B] or [B,T] (key j is kept iff j < len). The one difference from d2l: a
// query row with no valid key gets zero weights and a zero output (d2l gives uniform 1/S weights).
//
// Decoder-step attention for RNN seq2seq: one query per batch row (the decoder state),
//   BahdanauAttention   e_j = v_a^T tanh(W_a s + U_a h_j)   (Bahdanau, Cho, Bengio 2014, eq. 6 / A.1.2)
//   LuongAttention      Luong, Pham, Manning 2015, §3.1: score dot h_t^T h_s, general h_t^T W_a h_s,
//                       concat v_a^T tanh(W_a [h_t; h_s]); modes global, local-m, local-p (§3.2)
// query [B,Dq], keys [B,S,Dk] (encoder outputs), values [B,S,Dv] (usually the same tensor)
// -> context [B,Dv] and weights [B,S]. Padded source positions: valid_lens [B] and/or
// key_padding_mask bool [B,S] with PyTorch's polarity (True = padding, masked out).
//
// Local-p (with s = 0..S-1 the source positions, S_b the source length of row b — its valid_len
// when given, else S):
//   p_t = S_b * sigmoid(v_p^T tanh(W_p h_t))
//   a_t(s) = softmax_{s in window}(score(h_t, h_s)) * exp(-(s - p_t)^2 / (2 sigma^2)),  sigma = D/2
// The window |s - p_t| <= D is a mask applied to the scores BEFORE the softmax (positions outside
// get weight 0); the Gaussian multiplies the weights AFTER the softmax, as in the paper, so the
// weights do not sum to 1. The mask is built from p_t without gradient (it is piecewise constant);
// the gradient reaches p_t, hence W_p and v_p, through the Gaussian. Local-m uses p_t = t, the
// target step passed to forward, with the same window and no Gaussian (the weights sum to 1).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "attn/core/tensor.h"
#include "attn/nn/dropout.h"
#include "attn/nn/linear.h"
#include "attn/nn/module.h"

namespace attn::nn {

// d2l's DotProductAttention: scores scaled by 1/sqrt(D), dropout on the weights (training mode).
class DotProductAttention : public Module {
 public:
  explicit DotProductAttention(double dropout = 0.0);
  Tensor forward(const Tensor& queries, const Tensor& keys, const Tensor& values, const Tensor& valid_lens = Tensor());
  Tensor operator()(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& valid_lens = Tensor()) {
    return forward(q, k, v, valid_lens);
  }
  std::shared_ptr<Dropout> dropout;
  Tensor attention_weights;  // [B, T, S] from the last forward, before dropout (as d2l)
};

// d2l's AdditiveAttention: W_k [num_hiddens, key_size], W_q [num_hiddens, query_size],
// w_v [1, num_hiddens], none with bias. Registered in d2l's order: W_k, W_q, w_v, dropout.
class AdditiveAttention : public Module {
 public:
  AdditiveAttention(int64_t key_size, int64_t query_size, int64_t num_hiddens, double dropout = 0.0,
                    DType dtype = kFloat32);
  Tensor forward(const Tensor& queries, const Tensor& keys, const Tensor& values, const Tensor& valid_lens = Tensor());
  Tensor operator()(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& valid_lens = Tensor()) {
    return forward(q, k, v, valid_lens);
  }
  std::shared_ptr<Linear> W_k, W_q, w_v;
  std::shared_ptr<Dropout> dropout;
  Tensor attention_weights;  // [B, T, S] from the last forward, before dropout
};

// What a decoder-step attention returns.
struct StepAttention {
  Tensor context;   // [B, Dv] = sum_s weights[b, s] values[b, s]
  Tensor weights;   // [B, S]
  Tensor position;  // local-p only: p_t [B] (differentiable); undefined otherwise
};

// Source-side masking for the decoder-step modules; both may be given.
struct SourceMask {
  Tensor valid_lens;        // [B] int64 or floating; position s is kept iff s < len
  Tensor key_padding_mask;  // bool [B, S], True = padding (masked out), as nn.MultiheadAttention
};

// Bahdanau et al. 2014 (appendix A.1.2): e_j = v_a^T tanh(W_a s_{i-1} + U_a h_j), a = softmax(e),
// c = sum_j a_j h_j. Parameters W_a [H, Dq], U_a [H, Dk], v_a [1, H], no biases (as the paper).
class BahdanauAttention : public Module {
 public:
  BahdanauAttention(int64_t query_size, int64_t key_size, int64_t num_hiddens, DType dtype = kFloat32);
  StepAttention forward(const Tensor& query, const Tensor& keys, const Tensor& values, const SourceMask& mask = {});
  StepAttention operator()(const Tensor& q, const Tensor& k, const Tensor& v, const SourceMask& mask = {}) {
    return forward(q, k, v, mask);
  }
  std::string extra_repr() const override;
  std::shared_ptr<Linear> W_a, U_a, v_a;
};

enum class LuongScore { Dot, General, Concat };
enum class LuongMode { Global, LocalM, LocalP };

struct LuongAttentionOptions {
  LuongScore score = LuongScore::General;
  LuongMode mode = LuongMode::Global;
  int64_t window = 10;          // D, the window half-width of the local modes (paper: D = 10)
  int64_t num_hiddens = -1;     // H of concat (v_a, W_a) and of local-p (W_p, v_p); -1 = query_size
  DType dtype = kFloat32;
};

// Parameters by score: general W_a [Dq, Dk] (a Linear(Dk, Dq), score h_t . W_a(h_s)); concat
// W_a [H, Dq + Dk] and v_a [1, H]; dot none (Dq == Dk). Local-p adds W_p [H, Dq] and v_p [1, H].
// No biases, as the paper's formulas.
class LuongAttention : public Module {
 public:
  LuongAttention(int64_t query_size, int64_t key_size, const LuongAttentionOptions& options = {});
  // t: the target step (p_t of local-m); required in local-m, ignored otherwise.
  StepAttention forward(const Tensor& query, const Tensor& keys, const Tensor& values, const SourceMask& mask = {},
                        std::optional<int64_t> t = std::nullopt);
  StepAttention operator()(const Tensor& q, const Tensor& k, const Tensor& v, const SourceMask& mask = {},
                           std::optional<int64_t> t = std::nullopt) {
    return forward(q, k, v, mask, t);
  }
  std::string extra_repr() const override;

  int64_t query_size, key_size;
  LuongAttentionOptions options;
  std::shared_ptr<Linear> W_a, v_a, W_p, v_p;  // undefined where the score / mode has none
};

}  // namespace attn::nn
