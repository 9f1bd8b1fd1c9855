// Conv1d / Conv2d: forward through attn::conv1d / conv2d (ops/conv), PyTorch's default initialisation.
#include "attn/nn/conv.h"

#include <cmath>

#include "attn/nn/init.h"

namespace attn::nn {
namespace {

void check_channels(const char* name, int64_t in, int64_t out, int64_t groups, DType dtype) {
  ATTN_CHECK(in > 0 && out > 0 && groups > 0, name, ": in_channels ", in, ", out_channels ", out, " and groups ", groups,
             " must be positive");
  ATTN_CHECK(in % groups == 0 && out % groups == 0, name, ": groups ", groups,
             " must divide in_channels ", in, " and out_channels ", out);
  ATTN_CHECK(is_floating_point(dtype), name, ": dtype must be floating point, got ", dtype);
}

// kaiming_uniform_ with a = sqrt(5) gives bound 1 / sqrt(fan_in); the bias uses the same bound.
void default_init(Tensor& weight, Tensor& bias, Generator* gen) {
  init::kaiming_uniform_(weight, std::sqrt(5.0), "fan_in", "leaky_relu", gen);
  if (bias.defined()) {
    const int64_t fan_in = init::calculate_fan_in_and_fan_out(weight).first;
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(double(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound, gen);
  }
}

std::string pair_str(IntPair p) { return detail::str_cat("(", p[0], ", ", p[1], ")"); }

}  // namespace

Conv2d::Conv2d(int64_t in, int64_t out, IntPair k, IntPair s, IntPair p, IntPair d, int64_t g, bool with_bias,
               DType dtype)
    : in_channels(in), out_channels(out), kernel_size(k), stride(s), padding(p), dilation(d), groups(g) {
  check_channels("Conv2d", in, out, g, dtype);
  ATTN_CHECK(k[0] > 0 && k[1] > 0, "Conv2d: kernel_size must be positive, got ", pair_str(k));
  weight = register_parameter("weight", empty({out, in / g, k[0], k[1]}, dtype));
  if (with_bias) bias = register_parameter("bias", empty({out}, dtype));
  reset_parameters();
}

void Conv2d::reset_parameters(Generator* gen) { default_init(weight, bias, gen); }

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, stride, padding, dilation, groups); }

std::string Conv2d::extra_repr() const {
  std::string s = detail::str_cat(in_channels, ", ", out_channels, ", kernel_size=", pair_str(kernel_size),
                                  ", stride=", pair_str(stride));
  if (padding != IntPair{0, 0}) s += ", padding=" + pair_str(padding);
  if (dilation != IntPair{1, 1}) s += ", dilation=" + pair_str(dilation);
  if (groups != 1) s += detail::str_cat(", groups=", groups);
  if (!bias.defined()) s += ", bias=False";
  return s;
}

Conv1d::Conv1d(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, int64_t d, int64_t g, bool with_bias,
               DType dtype)
    : in_channels(in), out_channels(out), kernel_size(k), stride(s), padding(p), dilation(d), groups(g) {
  check_channels("Conv1d", in, out, g, dtype);
  ATTN_CHECK(k > 0, "Conv1d: kernel_size must be positive, got ", k);
  weight = register_parameter("weight", empty({out, in / g, k}, dtype));
  if (with_bias) bias = register_parameter("bias", empty({out}, dtype));
  reset_parameters();
}

void Conv1d::reset_parameters(Generator* gen) { default_init(weight, bias, gen); }

Tensor Conv1d::forward(const Tensor& x) { return conv1d(x, weight, bias, stride, padding, dilation, groups); }

std::string Conv1d::extra_repr() const {
  std::string s = detail::str_cat(in_channels, ", ", out_channels, ", kernel_size=(", kernel_size, ",), stride=(",
                                  stride, ",)");
  if (padding != 0) s += detail::str_cat(", padding=(", padding, ",)");
  if (dilation != 1) s += detail::str_cat(", dilation=(", dilation, ",)");
  if (groups != 1) s += detail::str_cat(", groups=", groups);
  if (!bias.defined()) s += ", bias=False";
  return s;
}

}  // namespace attn::nn
