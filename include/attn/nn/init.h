// Parameter initialisers with torch.nn.init's semantics (fans, gains, bounds), drawing from
// attn's Philox generator (attn/core/random.h), so a seed gives the same weights on every
// machine and thread count (not PyTorch's numbers: to reproduce a PyTorch model exactly, load its
// state_dict).
//
//   fan_in = size(1) * receptive field, fan_out = size(0) * receptive field, where the receptive
//   field is the product of dims 2.. (1 for a Linear weight [out, in]).
//   xavier (Glorot & Bengio 2010):  std = gain * sqrt(2 / (fan_in + fan_out))
//   kaiming (He et al. 2015):       std = gain / sqrt(fan),  fan = fan_in or fan_out
//   *_uniform_ draws from U(-sqrt(3) std, sqrt(3) std), which has that std.
//
// Every function fills `t` in place without recording autograd history (as under torch.no_grad)
// and returns it; a tensor with no elements is left alone. gen == nullptr uses default_generator().
#pragma once
#include <optional>
#include <string>
#include <utility>

#include "attn/core/random.h"
#include "attn/core/tensor.h"

namespace attn::nn::init {

// {fan_in, fan_out}; throws for tensors with fewer than 2 dims.
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t);
// The recommended gain for a nonlinearity: "linear", "conv1d", "conv2d", "conv3d", "sigmoid",
// "conv_transpose1d/2d/3d" -> 1; "tanh" -> 5/3; "relu" -> sqrt(2); "leaky_relu" ->
// sqrt(2 / (1 + slope^2)) with slope = param (default 0.01); "selu" -> 3/4.
double calculate_gain(const std::string& nonlinearity, std::optional<double> param = std::nullopt);

Tensor uniform_(const Tensor& t, double a = 0.0, double b = 1.0, Generator* gen = nullptr);
Tensor normal_(const Tensor& t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
// Normal(mean, std) restricted to [a, b]: out-of-range draws are redrawn (rejection sampling; the
// distribution is the same as PyTorch's inverse-CDF method).
Tensor trunc_normal_(const Tensor& t, double mean = 0.0, double std = 1.0, double a = -2.0, double b = 2.0,
                     Generator* gen = nullptr);
Tensor constant_(const Tensor& t, double value);
Tensor zeros_(const Tensor& t);
Tensor ones_(const Tensor& t);
Tensor xavier_uniform_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);
Tensor xavier_normal_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);
// mode: "fan_in" (preserves the forward variance) or "fan_out" (the backward variance);
// a: the negative slope of the leaky_relu that follows (only used with "leaky_relu").
Tensor kaiming_uniform_(const Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                        const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
Tensor kaiming_normal_(const Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                       const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);

}  // namespace attn::nn::init
