// Linear: forward through attn::linear (ops/linalg), PyTorch's default initialisation.
#include "attn/nn/linear.h"

#include <cmath>

#include "attn/nn/init.h"
#include "attn/ops/linalg.h"

namespace attn::nn {

Linear::Linear(int64_t in, int64_t out, bool with_bias, DType dtype) : in_features(in), out_features(out) {
  ATTN_CHECK(in >= 0 && out >= 0, "Linear: feature counts must be non-negative, got in_features ", in,
             " and out_features ", out);
  ATTN_CHECK(is_floating_point(dtype), "Linear: dtype must be floating point, got ", dtype);
  weight = register_parameter("weight", empty({out, in}, dtype));
  if (with_bias) bias = register_parameter("bias", empty({out}, dtype));
  reset_parameters();
}

void Linear::reset_parameters(Generator* gen) {
  // kaiming_uniform_ with a = sqrt(5): gain sqrt(2 / (1 + 5)) = 1/sqrt(3), bound sqrt(3) * gain /
  // sqrt(fan_in) = 1 / sqrt(fan_in). PyTorch picked a = sqrt(5) to keep the pre-1.0 init.
  init::kaiming_uniform_(weight, std::sqrt(5.0), "fan_in", "leaky_relu", gen);
  if (bias.defined()) {
    const double bound = in_features > 0 ? 1.0 / std::sqrt(double(in_features)) : 0.0;
    init::uniform_(bias, -bound, bound, gen);
  }
}

Tensor Linear::forward(const Tensor& x) {
  ATTN_CHECK(x.dim() >= 1 && x.size(-1) == in_features, "Linear: expected input [..., ", in_features, "], got ",
             x.describe());
  return linear(x, weight, bias);
}

std::string Linear::extra_repr() const {
  return detail::str_cat("in_features=", in_features, ", out_features=", out_features,
                         ", bias=", bias.defined() ? "True" : "False");
}

}  // namespace attn::nn
