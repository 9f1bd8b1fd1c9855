// LayerNorm (torch.nn.LayerNorm; Ba, Kiros & Hinton 2016): normalises each slice over the trailing
// `normalized_shape` dims to zero mean and unit variance, then applies an elementwise affine map
// with weight (init 1) and bias (init 0) of shape normalized_shape when elementwise_affine is true.
// x [*, normalized_shape...] -> same shape. See attn/ops/normalization.h for the formula.
#pragma once
#include "attn/nn/module.h"

namespace attn::nn {

class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true, DType dtype = kFloat32);
  // The common 1-D case: LayerNorm(D).
  explicit LayerNorm(int64_t normalized_size, double eps = 1e-5, bool elementwise_affine = true, DType dtype = kFloat32)
      : LayerNorm(Shape{normalized_size}, eps, elementwise_affine, dtype) {}
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
  void reset_parameters();
  std::string extra_repr() const override;

  Shape normalized_shape;
  double eps;
  bool elementwise_affine;
  Tensor weight;  // normalized_shape, undefined without elementwise_affine
  Tensor bias;    // normalized_shape, undefined without elementwise_affine
};

}  // namespace attn::nn
