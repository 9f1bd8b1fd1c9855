// LayerNorm module: forward through attn::layer_norm (ops/normalization).
#include "attn/nn/normalization.h"

#include "attn/nn/init.h"
#include "attn/ops/normalization.h"

namespace attn::nn {

LayerNorm::LayerNorm(Shape shape, double eps_, bool affine, DType dtype)
    : normalized_shape(std::move(shape)), eps(eps_), elementwise_affine(affine) {
  ATTN_CHECK(!normalized_shape.empty(), "LayerNorm: normalized_shape must have at least one dim");
  for (int64_t s : normalized_shape)
    ATTN_CHECK(s >= 0, "LayerNorm: invalid normalized_shape ", shape_str(normalized_shape));
  if (affine) {
    weight = register_parameter("weight", empty(normalized_shape, dtype));
    bias = register_parameter("bias", empty(normalized_shape, dtype));
  }
  reset_parameters();
}

void LayerNorm::reset_parameters() {
  if (!elementwise_affine) return;
  init::ones_(weight);
  init::zeros_(bias);
}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, normalized_shape, weight, bias, eps); }

std::string LayerNorm::extra_repr() const {
  std::string s = "(";
  for (size_t i = 0; i < normalized_shape.size(); ++i) s += (i ? ", " : "") + std::to_string(normalized_shape[i]);
  s += normalized_shape.size() == 1 ? ",)" : ")";  // Python's tuple repr
  return detail::str_cat(s, ", eps=", eps, ", elementwise_affine=", elementwise_affine ? "True" : "False");
}

}  // namespace attn::nn
