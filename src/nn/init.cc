// torch.nn.init on attn's Philox generator (see attn/nn/init.h).
#include "attn/nn/init.h"

#include <cmath>

#include "attn/core/autograd.h"

namespace attn::nn::init {

namespace {
double fan(const Tensor& t, const std::string& mode) {
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  if (mode == "fan_in") return double(fan_in);
  if (mode == "fan_out") return double(fan_out);
  ATTN_FAIL("kaiming init: mode \"", mode, "\" is not supported; use \"fan_in\" or \"fan_out\"");
}
}  // namespace

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  ATTN_CHECK(t.dim() >= 2, "init: fan in and fan out can not be computed for a tensor with fewer than 2 dimensions (",
             t.describe(), ")");
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

double calculate_gain(const std::string& nl, std::optional<double> param) {
  for (const char* linear : {"linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                             "conv_transpose3d", "sigmoid"})
    if (nl == linear) return 1.0;
  if (nl == "tanh") return 5.0 / 3.0;
  if (nl == "relu") return std::sqrt(2.0);
  if (nl == "leaky_relu") {
    const double slope = param.value_or(0.01);
    return std::sqrt(2.0 / (1.0 + slope * slope));
  }
  if (nl == "selu") return 3.0 / 4.0;  // PyTorch's choice for self-normalising networks
  ATTN_FAIL("calculate_gain: unsupported nonlinearity \"", nl, "\"");
}

Tensor uniform_(const Tensor& t, double a, double b, Generator* gen) {
  ATTN_CHECK(a <= b, "uniform_: lower bound ", a, " is above upper bound ", b);
  if (t.numel() == 0) return t;
  Tensor h = t;
  attn::uniform_(h, a, b, gen);
  return t;
}

Tensor normal_(const Tensor& t, double mean, double std, Generator* gen) {
  ATTN_CHECK(std >= 0, "normal_: std must be non-negative, got ", std);
  if (t.numel() == 0) return t;
  Tensor h = t;
  attn::normal_(h, mean, std, gen);
  return t;
}

Tensor trunc_normal_(const Tensor& t, double mean, double std, double a, double b, Generator* gen) {
  ATTN_CHECK(a < b, "trunc_normal_: empty interval [", a, ", ", b, "]");
  ATTN_CHECK(std > 0, "trunc_normal_: std must be positive, got ", std);
  ATTN_CHECK(t.is_floating_point(), "trunc_normal_: expects a floating-point tensor, got ", t.describe());
  if (t.numel() == 0) return t;
  NoGradGuard ng;
  // Draw in float64 and redraw the rejects; each round draws a fresh tensor of the reject count,
  // so the result depends only on the generator state.
  const int64_t n = t.numel();
  std::vector<double> v = to_double_vector(randn({n}, kFloat64, gen));
  std::vector<int64_t> bad;
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = mean + std * v[size_t(i)];
  for (int round = 0;; ++round) {
    bad.clear();
    for (int64_t i = 0; i < n; ++i)
      if (!(v[size_t(i)] >= a && v[size_t(i)] <= b)) bad.push_back(i);
    if (bad.empty()) break;
    // A window far in the tail would loop for ever; 1000 rounds of rejection is p^1000 odds.
    ATTN_CHECK(round < 1000, "trunc_normal_: [", a, ", ", b, "] holds too little of N(", mean, ", ", std, "^2)");
    const std::vector<double> redraw = to_double_vector(randn({int64_t(bad.size())}, kFloat64, gen));
    for (size_t j = 0; j < bad.size(); ++j) v[size_t(bad[j])] = mean + std * redraw[j];
  }
  Tensor(t).copy_(tensor(v, t.shape()));
  return t;
}

Tensor constant_(const Tensor& t, double value) {
  NoGradGuard ng;
  Tensor(t).fill_(value);
  return t;
}
Tensor zeros_(const Tensor& t) { return constant_(t, 0.0); }
Tensor ones_(const Tensor& t) { return constant_(t, 1.0); }

Tensor xavier_uniform_(const Tensor& t, double gain, Generator* gen) {
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  const double std = gain * std::sqrt(2.0 / double(fan_in + fan_out));
  const double bound = std::sqrt(3.0) * std;
  return uniform_(t, -bound, bound, gen);
}

Tensor xavier_normal_(const Tensor& t, double gain, Generator* gen) {
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  return normal_(t, 0.0, gain * std::sqrt(2.0 / double(fan_in + fan_out)), gen);
}

Tensor kaiming_uniform_(const Tensor& t, double a, const std::string& mode, const std::string& nonlinearity,
                        Generator* gen) {
  if (t.numel() == 0) return t;  // PyTorch: "Initializing zero-element tensors is a no-op"
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(fan(t, mode));
  const double bound = std::sqrt(3.0) * std;
  return uniform_(t, -bound, bound, gen);
}

Tensor kaiming_normal_(const Tensor& t, double a, const std::string& mode, const std::string& nonlinearity,
                       Generator* gen) {
  if (t.numel() == 0) return t;
  return normal_(t, 0.0, calculate_gain(nonlinearity, a) / std::sqrt(fan(t, mode)), gen);
}

}  // namespace attn::nn::init
