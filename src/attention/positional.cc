// Positional encodings: compositions of existing differentiable ops (see the header for the
// formulas). Constant tables are built in float64 and converted once at the end.
#include "attn/attention/positional.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "attn/core/autograd.h"
#include "attn/nn/init.h"
#include "attn/ops/compare.h"
#include "attn/ops/dropout.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/index.h"
#include "attn/ops/reduce.h"
#include "attn/ops/shape.h"
#include "attn/ops/unary.h"

namespace attn::nn {

namespace {

// Adds table rows [offset, offset + T) to x [B, T, D]; shared by the two absolute encodings.
void check_absolute_input(const char* who, const Tensor& x, int64_t d_model, int64_t offset, int64_t max_len) {
  ATTN_CHECK(x.dim() == 3, who, ": expected x [B, T, D] with D = ", d_model, ", got ", x.describe());
  ATTN_CHECK(x.size(2) == d_model, who, ": x ", shape_str(x.shape()), " has D = ", x.size(2), ", expected d_model = ",
             d_model);
  ATTN_CHECK(offset >= 0, who, ": offset must be non-negative, got ", offset);
  ATTN_CHECK(offset + x.size(1) <= max_len, who, ": positions ", offset, "..", offset + x.size(1) - 1, " (T = ",
             x.size(1), ", offset = ", offset, ") exceed max_len = ", max_len, " for x ", shape_str(x.shape()));
}

}  // namespace

// --- sinusoidal ------------------------------------------------------------------------------

Tensor sinusoidal_table(int64_t max_len, int64_t d_model, DType dtype) {
  ATTN_CHECK(max_len >= 0 && d_model >= 1, "sinusoidal_table: need max_len >= 0 and d_model >= 1, got max_len ",
             max_len, " and d_model ", d_model);
  ATTN_CHECK(is_floating_point(dtype), "sinusoidal_table: dtype must be floating point, got ", dtype);
  const int64_t half = (d_model + 1) / 2;  // sine columns; cosine columns are d_model / 2
  Tensor pos = arange(0, double(max_len), 1, kFloat64).unsqueeze(1);  // [L, 1]
  // 1 / 10000^(2i/d) = exp(-2i * ln(10000) / d), i < half.
  Tensor inv_freq = exp(arange(0, double(2 * half), 2, kFloat64) * (-std::log(10000.0) / double(d_model)));  // [half]
  Tensor angle = pos * inv_freq.unsqueeze(0);                                                         // [L, half]
  // Interleave: [L, half, 2] -> [L, 2 * half]; an odd d drops the unpaired last cosine.
  Tensor table = stack({sin(angle), cos(angle)}, 2).reshape({max_len, 2 * half});  // [L, 2 * half]
  return table.narrow(1, 0, d_model).contiguous().to(dtype);                         // [L, D]
}

SinusoidalPositionalEncoding::SinusoidalPositionalEncoding(int64_t d, double dropout, int64_t len, DType dtype)
    : d_model(d), max_len(len), p(dropout) {
  ATTN_CHECK(p >= 0.0 && p <= 1.0, "SinusoidalPositionalEncoding: dropout has to be between 0 and 1, but got ", p);
  pe = register_buffer("pe", sinusoidal_table(len, d, dtype), /*persistent=*/false);
}

Tensor SinusoidalPositionalEncoding::forward(const Tensor& x, int64_t offset) {
  check_absolute_input("SinusoidalPositionalEncoding", x, d_model, offset, max_len);
  Tensor table = pe.narrow(0, offset, x.size(1));  // [T, D], broadcast over B
  if (table.dtype() != x.dtype()) table = table.to(x.dtype());
  return dropout(x + table, p, is_training(), generator);  // [B, T, D]
}

std::string SinusoidalPositionalEncoding::extra_repr() const {
  return detail::str_cat("d_model=", d_model, ", p=", p, ", max_len=", max_len);
}

// --- learned ---------------------------------------------------------------------------------

LearnedPositionalEmbedding::LearnedPositionalEmbedding(int64_t len, int64_t d, DType dtype)
    : max_len(len), d_model(d) {
  ATTN_CHECK(len >= 0 && d >= 0, "LearnedPositionalEmbedding: sizes must be non-negative, got max_len ", len,
             " and d_model ", d);
  ATTN_CHECK(is_floating_point(dtype), "LearnedPositionalEmbedding: dtype must be floating point, got ", dtype);
  weight = register_parameter("weight", empty({len, d}, dtype));
  reset_parameters();
}

void LearnedPositionalEmbedding::reset_parameters(Generator* gen) {
  NoGradGuard ng;
  init::normal_(weight, 0.0, 1.0, gen);
}

Tensor LearnedPositionalEmbedding::position_embeddings(int64_t T, int64_t offset) const {
  ATTN_CHECK(T >= 0 && offset >= 0, "LearnedPositionalEmbedding: T and offset must be non-negative, got T = ", T,
             ", offset = ", offset);
  ATTN_CHECK(offset + T <= max_len, "LearnedPositionalEmbedding: positions ", offset, "..", offset + T - 1, " (T = ", T,
             ", offset = ", offset, ") exceed max_len = ", max_len);
  // Through the embedding op (not a narrow) so the gradient is the op's row scatter.
  return embedding(weight, arange(double(offset), double(offset + T), 1, kInt64));  // [T, D]
}

Tensor LearnedPositionalEmbedding::forward(const Tensor& x, int64_t offset) {
  check_absolute_input("LearnedPositionalEmbedding", x, d_model, offset, max_len);
  return x + position_embeddings(x.size(1), offset);  // [B, T, D]
}

std::string LearnedPositionalEmbedding::extra_repr() const { return detail::str_cat(max_len, ", ", d_model); }

// --- rotary ----------------------------------------------------------------------------------

RotaryCosSin rotary_cos_sin(int64_t T, int64_t head_dim, int64_t offset, double base, DType dtype) {
  ATTN_CHECK(head_dim > 0 && head_dim % 2 == 0, "rotary: head_dim must be even and positive, got ", head_dim);
  ATTN_CHECK(T >= 0 && offset >= 0, "rotary: T and offset must be non-negative, got T = ", T, ", offset = ", offset);
  ATTN_CHECK(base > 0, "rotary: base must be positive, got ", base);
  Tensor pos = arange(double(offset), double(offset + T), 1, kFloat64).unsqueeze(1);  // [T, 1]
  // inv_freq[i] = base^(-2i/Dh) = exp(-2i * ln(base) / Dh)
  Tensor inv_freq = exp(arange(0, double(head_dim), 2, kFloat64) * (-std::log(base) / double(head_dim)));  // [Dh/2]
  Tensor theta = pos * inv_freq.unsqueeze(0);  // [T, Dh/2]
  Tensor emb = cat({theta, theta}, 1);         // [T, Dh]: both halves share the angles
  return {cos(emb).to(dtype), sin(emb).to(dtype)};
}

Tensor rotate_half(const Tensor& x) {
  ATTN_CHECK(x.dim() >= 1 && x.size(-1) % 2 == 0, "rotate_half: last dim must be even, got ", x.describe());
  const int64_t h = x.size(-1) / 2;
  return cat({-x.narrow(-1, h, h), x.narrow(-1, 0, h)}, -1);
}

Tensor apply_rotary(const Tensor& x, int64_t offset, double base) {
  ATTN_CHECK(x.dim() == 4, "apply_rotary: expected x [B, H, T, Dh], got ", x.describe());
  ATTN_CHECK(x.is_floating_point(), "apply_rotary: x must be floating point, got ", x.describe());
  ATTN_CHECK(x.size(3) > 0 && x.size(3) % 2 == 0, "apply_rotary: head dim Dh must be even, got x ",
             shape_str(x.shape()));
  RotaryCosSin cs = rotary_cos_sin(x.size(2), x.size(3), offset, base, x.dtype());  // [T, Dh], broadcast
  return x * cs.cos + rotate_half(x) * cs.sin;                                       // [B, H, T, Dh]
}

// --- ALiBi -----------------------------------------------------------------------------------

namespace {
// Slopes for a power of two n: start^(h+1), start = 2^(-8/n).
std::vector<double> slopes_power_of_2(int64_t n) {
  const double start = std::pow(2.0, -8.0 / double(n));
  std::vector<double> s(static_cast<size_t>(n));
  for (int64_t h = 0; h < n; ++h) s[size_t(h)] = std::pow(start, double(h + 1));
  return s;
}
}  // namespace

Tensor alibi_slopes(int64_t num_heads, DType dtype) {
  ATTN_CHECK(num_heads >= 1, "alibi_slopes: num_heads must be >= 1, got ", num_heads);
  int64_t p = 1;  // closest power of two <= num_heads
  while (p * 2 <= num_heads) p *= 2;
  std::vector<double> s = slopes_power_of_2(p);
  if (p != num_heads) {
    // The reference recurses on 2p, which is a power of two: take its slopes 0, 2, 4, ...
    std::vector<double> extra = slopes_power_of_2(2 * p);
    for (int64_t i = 0; i < num_heads - p; ++i) s.push_back(extra[size_t(2 * i)]);
  }
  return tensor<double>(s, {num_heads}).to(dtype);
}

Tensor alibi_bias(int64_t num_heads, int64_t T, int64_t S, DType dtype) {
  ATTN_CHECK(T >= 0 && S >= 0, "alibi_bias: T and S must be non-negative, got T = ", T, ", S = ", S);
  ATTN_CHECK(T <= S, "alibi_bias: queries are aligned to the end of the keys, so T (", T, ") must be <= S (", S, ")");
  Tensor q_pos = arange(double(S - T), double(S), 1, kFloat64).unsqueeze(1);  // [T, 1] absolute query positions
  Tensor k_pos = arange(0, double(S), 1, kFloat64).unsqueeze(0);              // [1, S]
  Tensor dist = abs(k_pos - q_pos);                                           // [T, S]
  Tensor m = alibi_slopes(num_heads, kFloat64).view({num_heads, 1, 1});       // [H, 1, 1]
  return (-m * dist.unsqueeze(0)).contiguous().to(dtype);                     // [H, T, S]
}

// --- DETR 2-D sine ---------------------------------------------------------------------------

PositionEmbeddingSine::PositionEmbeddingSine(int64_t feats, double temp, bool norm, double sc)
    : num_pos_feats(feats), temperature(temp), normalize(norm), scale(sc) {
  ATTN_CHECK(feats > 0 && feats % 2 == 0, "PositionEmbeddingSine: num_pos_feats must be even and positive, got ", feats);
  ATTN_CHECK(temp > 0, "PositionEmbeddingSine: temperature must be positive, got ", temp);
}

Tensor PositionEmbeddingSine::forward(const Tensor& mask) const {
  ATTN_CHECK(mask.dim() == 3 && mask.dtype() == kBool,
             "PositionEmbeddingSine: expected a bool padding mask [B, H, W] (true = padding), got ", mask.describe());
  const int64_t B = mask.size(0), H = mask.size(1), W = mask.size(2), F = num_pos_feats;
  // DETR accumulates in float32; positions are small integers, so float64 then float32 is the same.
  Tensor not_mask = logical_not(mask).to(kFloat64);  // [B, H, W]
  Tensor y_embed = cumsum(not_mask, 1);              // [B, H, W] 1-based row index among valid pixels
  Tensor x_embed = cumsum(not_mask, 2);              // [B, H, W]
  if (normalize && H > 0 && W > 0) {
    constexpr double kEps = 1e-6;  // DETR's: keeps a fully padded column / row finite (0 / eps)
    y_embed = y_embed / (y_embed.narrow(1, H - 1, 1) + kEps) * scale;
    x_embed = x_embed / (x_embed.narrow(2, W - 1, 1) + kEps) * scale;
  }
  // dim_t[k] = temperature^(2 * floor(k/2) / F)
  std::vector<double> dim_t(static_cast<size_t>(F));
  for (int64_t k = 0; k < F; ++k) dim_t[size_t(k)] = std::pow(temperature, double(2 * (k / 2)) / double(F));
  Tensor dt = tensor<double>(dim_t, {F});
  auto encode = [&](const Tensor& e) {  // [B, H, W] -> [B, H, W, F]
    Tensor a = e.unsqueeze(3) / dt;     // [B, H, W, F]
    Tensor s = sin(a.slice(3, 0, F, 2));  // [B, H, W, F/2] even channels
    Tensor c = cos(a.slice(3, 1, F, 2));  // [B, H, W, F/2] odd channels
    return stack({s, c}, 4).reshape({B, H, W, F});  // interleaved sin0, cos1, sin2, ...
  };
  Tensor pos = cat({encode(y_embed), encode(x_embed)}, 3);  // [B, H, W, 2F], y first
  return pos.permute({0, 3, 1, 2}).contiguous().to(kFloat32);  // [B, 2F, H, W]
}

std::string PositionEmbeddingSine::extra_repr() const {
  return detail::str_cat("num_pos_feats=", num_pos_feats, ", temperature=", temperature,
                         ", normalize=", normalize ? "True" : "False", ", scale=", scale);
}

// --- Shaw relative positions -----------------------------------------------------------------

RelativePositionEmbedding::RelativePositionEmbedding(int64_t k, int64_t dh, DType dtype)
    : max_relative_position(k), head_dim(dh) {
  ATTN_CHECK(k >= 0 && dh >= 1, "RelativePositionEmbedding: need max_relative_position >= 0 and head_dim >= 1, got ",
             k, " and ", dh);
  ATTN_CHECK(is_floating_point(dtype), "RelativePositionEmbedding: dtype must be floating point, got ", dtype);
  weight = register_parameter("weight", empty({2 * k + 1, dh}, dtype));
  reset_parameters();
}

void RelativePositionEmbedding::reset_parameters(Generator* gen) {
  NoGradGuard ng;
  init::xavier_uniform_(weight, 1.0, gen);
}

Tensor RelativePositionEmbedding::relative_indices(int64_t T, int64_t S) const {
  ATTN_CHECK(T >= 0 && S >= 0, "RelativePositionEmbedding: T and S must be non-negative, got T = ", T, ", S = ", S);
  const int64_t k = max_relative_position;
  std::vector<int64_t> idx(static_cast<size_t>(T * S));
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < S; ++j) idx[size_t(i * S + j)] = std::clamp(j - i, -k, k) + k;
  return tensor<int64_t>(idx, {T, S});
}

Tensor RelativePositionEmbedding::forward(int64_t T, int64_t S) const {
  return embedding(weight, relative_indices(T, S));  // [T, S, Dh]
}

std::string RelativePositionEmbedding::extra_repr() const {
  return detail::str_cat("max_relative_position=", max_relative_position, ", head_dim=", head_dim);
}

}  // namespace attn::nn
