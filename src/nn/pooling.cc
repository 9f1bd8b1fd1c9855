// Pooling modules: construction checks and repr; the work is in ops/pooling.
#include "attn/nn/pooling.h"

namespace attn::nn {
namespace {
std::string pair_str(IntPair p) { return detail::str_cat("(", p[0], ", ", p[1], ")"); }
}  // namespace

std::string AdaptiveAvgPool2d::extra_repr() const { return "output_size=" + pair_str(output_size); }
std::string AdaptiveMaxPool2d::extra_repr() const { return "output_size=" + pair_str(output_size); }
std::string AdaptiveAvgPool1d::extra_repr() const { return detail::str_cat("output_size=", output_size); }

MaxPool2d::MaxPool2d(IntPair k, IntPair s, IntPair p, IntPair d)
    : kernel_size(k), stride(s == IntPair{0, 0} ? k : s), padding(p), dilation(d) {
  ATTN_CHECK(k[0] > 0 && k[1] > 0, "MaxPool2d: kernel_size must be positive, got ", pair_str(k));
}

std::string MaxPool2d::extra_repr() const {
  return "kernel_size=" + pair_str(kernel_size) + ", stride=" + pair_str(stride) + ", padding=" + pair_str(padding) +
         ", dilation=" + pair_str(dilation);
}

AvgPool2d::AvgPool2d(IntPair k, IntPair s, IntPair p, bool include)
    : kernel_size(k), stride(s == IntPair{0, 0} ? k : s), padding(p), count_include_pad(include) {
  ATTN_CHECK(k[0] > 0 && k[1] > 0, "AvgPool2d: kernel_size must be positive, got ", pair_str(k));
}

std::string AvgPool2d::extra_repr() const {
  return "kernel_size=" + pair_str(kernel_size) + ", stride=" + pair_str(stride) + ", padding=" + pair_str(padding) +
         (count_include_pad ? "" : ", count_include_pad=False");
}

}  // namespace attn::nn
