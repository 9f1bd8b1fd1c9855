// Positional encodings for attention: how a model learns where a token (or pixel) is.
//
//   sinusoidal_table / SinusoidalPositionalEncoding  fixed sin/cos table added to x  (Vaswani 2017)
//   LearnedPositionalEmbedding                       a trained table added to x      (BERT, GPT-2)
//   rotary_cos_sin / apply_rotary                    RoPE, rotates q and k           (Su et al. 2021)
//   alibi_slopes / alibi_bias                        additive score bias             (Press et al. 2022)
//   PositionEmbeddingSine                            2-D sine encoding of a mask     (DETR, Carion 2020)
//   RelativePositionEmbedding                        clipped relative table          (Shaw et al. 2018)
//
// Dimensions follow the ops glossary: B batch, T target (query) length, S source (key) length,
// D model dim, H heads, Dh head dim. Everything is a composition of differentiable ops (no
// kernels of its own), so gradients flow to x and to any trained table. Tables with no trained
// parameters are computed in float64 and converted once, so float32 results are the rounded
// exact values. What this file is not: the attention itself; a caller adds alibi_bias to the
// scores and applies apply_rotary to q and k. See docs/attention/positional.md.
#pragma once
#include <cstdint>

#include "attn/core/random.h"
#include "attn/nn/module.h"

namespace attn::nn {

// --- sinusoidal (absolute, fixed) ------------------------------------------------------------

// The [max_len, d_model] table PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) =
// cos(pos / 10000^(2i/d)) (Vaswani et al. 2017 §3.5; d2l.ai's PositionalEncoding). Sine and
// cosine columns interleave. Odd d_model: column j always uses frequency 10000^(-2*floor(j/2)/d)
// with the true d in the exponent, so the last column is a sine with no cosine partner (the table
// for d+1 would use d+1 in the exponent and differ everywhere).
Tensor sinusoidal_table(int64_t max_len, int64_t d_model, DType dtype = kFloat32);

// Adds the sinusoidal table to x [B, T, D] (batch first), then dropout (training mode only):
//   out[b, t] = dropout(x[b, t] + PE(offset + t)).
// `offset` is the absolute position of x's first step, for cached decoding one step at a time.
// The table is a non-persistent buffer "pe" [max_len, d_model] (not in state_dict: it is a
// function of the constructor arguments). Throws when offset + T > max_len or D != d_model.
class SinusoidalPositionalEncoding : public Module {
 public:
  SinusoidalPositionalEncoding(int64_t d_model, double dropout = 0.1, int64_t max_len = 5000, DType dtype = kFloat32);
  Tensor forward(const Tensor& x, int64_t offset = 0);
  Tensor operator()(const Tensor& x, int64_t offset = 0) { return forward(x, offset); }
  std::string extra_repr() const override;

  int64_t d_model, max_len;
  double p;                      // dropout probability
  Generator* generator = nullptr;  // dropout masks; nullptr: attn::default_generator(). Not owned.
  Tensor pe;                     // [max_len, d_model]
};

// --- learned (absolute, trained) -------------------------------------------------------------

// A trained table weight [max_len, d_model] indexed by position (an Embedding over positions,
// initialised N(0, 1) as torch.nn.Embedding). forward adds rows offset..offset+T-1 to x [B, T, D];
// position_embeddings returns those rows [T, D] alone (as BERT's position_embeddings(ids)).
// Throws, naming T, offset and max_len, when offset + T > max_len.
class LearnedPositionalEmbedding : public Module {
 public:
  LearnedPositionalEmbedding(int64_t max_len, int64_t d_model, DType dtype = kFloat32);
  Tensor forward(const Tensor& x, int64_t offset = 0);
  Tensor operator()(const Tensor& x, int64_t offset = 0) { return forward(x, offset); }
  Tensor position_embeddings(int64_t T, int64_t offset = 0) const;
  void reset_parameters(Generator* gen = nullptr);
  std::string extra_repr() const override;

  int64_t max_len, d_model;
  Tensor weight;  // [max_len, d_model]
};

// --- rotary (RoPE) ---------------------------------------------------------------------------

// Convention: GPT-NeoX / LLaMA (Hugging Face) "rotate_half". The head dim is split in halves
// x = [x1, x2] (not interleaved pairs as in the RoFormer paper / GPT-J / Meta's complex form):
//   inv_freq[i] = base^(-2i/Dh), i < Dh/2;  theta[t, i] = (offset + t) * inv_freq[i]
//   cos = cat(cos(theta), cos(theta)), sin = cat(sin(theta), sin(theta))      [T, Dh]
//   rotate_half(x) = cat(-x2, x1);  out = x * cos + rotate_half(x) * sin
// i.e. pair (x[i], x[i + Dh/2]) is rotated by angle theta[t, i]. Weights from a model trained with
// the interleaved convention need their q/k projection rows permuted first.
struct RotaryCosSin {
  Tensor cos, sin;  // [T, Dh] each
};
// The cos / sin tables for positions offset..offset+T-1 (computed in float64, then `dtype`).
// Dh must be even.
RotaryCosSin rotary_cos_sin(int64_t T, int64_t head_dim, int64_t offset = 0, double base = 10000.0,
                            DType dtype = kFloat32);
// cat(-x2, x1) over the last dim (even).
Tensor rotate_half(const Tensor& x);
// Rotates x [B, H, T, Dh] (q or k) for positions offset..offset+T-1; differentiable in x.
// apply_rotary(x, n) equals apply_rotary(x_full, 0) sliced at steps n..n+T-1.
Tensor apply_rotary(const Tensor& x, int64_t offset = 0, double base = 10000.0);

// --- ALiBi -----------------------------------------------------------------------------------

// Head slopes m_h of Press et al. (ALiBi), as the reference implementation's get_slopes: for a
// power of two n, m_h = start^(h+1) with start = 2^(-8/n) (the geometric sequence 2^-8/n ...
// 2^-8); otherwise the slopes for the closest lower power of two p, followed by every other slope
// of the 2p sequence (the first n - p of them). Returns [num_heads].
Tensor alibi_slopes(int64_t num_heads, DType dtype = kFloat32);
// The additive score bias [H, T, S]: bias[h, i, j] = -m_h * |j - (i + S - T)|. Queries are aligned
// to the end of the keys (query i is at absolute position i + S - T, as in cached decoding; with
// T = S it is position i). On the causal part (j <= query position) this is the paper's
// m_h * (j - i); future keys get the symmetric penalty and are normally masked anyway.
Tensor alibi_bias(int64_t num_heads, int64_t T, int64_t S, DType dtype = kFloat32);

// --- DETR 2-D sine ---------------------------------------------------------------------------

// DETR's PositionEmbeddingSine (models/position_encoding.py). forward(mask [B, H, W] bool, true =
// padding) -> [B, 2 * num_pos_feats, H, W] float32:
//   y_embed = cumsum over rows of ~mask, x_embed = cumsum over columns of ~mask (1-based
//   positions of valid pixels); with normalize, y_embed /= (y_embed[last row] + 1e-6) and times
//   scale (same for x over the last column);
//   dim_t[k] = temperature^(2 * floor(k/2) / num_pos_feats);  pos_y = y_embed / dim_t
//   pos_y channels: sin of the even k, cos of the odd k, interleaved (sin0, cos1, sin2, cos3, ...)
//   output channels: pos_y's num_pos_feats channels first, then pos_x's.
// num_pos_feats must be even (DETR's stack of the sin and cos halves needs it too).
class PositionEmbeddingSine : public Module {
 public:
  PositionEmbeddingSine(int64_t num_pos_feats = 64, double temperature = 10000.0, bool normalize = false,
                        double scale = 6.283185307179586);
  Tensor forward(const Tensor& mask) const;
  Tensor operator()(const Tensor& mask) const { return forward(mask); }
  std::string extra_repr() const override;

  int64_t num_pos_feats;
  double temperature;
  bool normalize;
  double scale;
};

// --- Shaw relative positions -----------------------------------------------------------------

// Shaw, Uszkoreit & Vaswani 2018, "Self-Attention with Relative Position Representations": a
// trained table weight [2k + 1, Dh] and the [T, S, Dh] gather
//   out[i, j] = weight[clip(j - i, -k, k) + k]
// (query i and key j at positions i and j). Used as a_ij^K (added to keys inside the score) or
// a_ij^V (added to values); a model holds one module for each. Initialised Xavier-uniform.
class RelativePositionEmbedding : public Module {
 public:
  RelativePositionEmbedding(int64_t max_relative_position, int64_t head_dim, DType dtype = kFloat32);
  Tensor forward(int64_t T, int64_t S) const;
  Tensor operator()(int64_t T, int64_t S) const { return forward(T, S); }
  // The int64 index table [T, S] of clip(j - i, -k, k) + k.
  Tensor relative_indices(int64_t T, int64_t S) const;
  void reset_parameters(Generator* gen = nullptr);
  std::string extra_repr() const override;

  int64_t max_relative_position, head_dim;
  Tensor weight;  // [2 * max_relative_position + 1, head_dim]
};

}  // namespace attn::nn
