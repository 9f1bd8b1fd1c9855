// Conv1d / Conv2d (torch.nn.Conv1d / Conv2d): y = conv(x, weight) + bias with zero padding, see
// attn/ops/conv.h for the formula and shapes. weight [out, in / groups, kh, kw] ([out, in / groups,
// k] for Conv1d), bias [out]. Initialised as PyTorch: kaiming_uniform_(weight, a = sqrt(5)), i.e.
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in / groups * kh * kw, and bias from the same range.
#pragma once
#include "attn/core/random.h"
#include "attn/nn/module.h"
#include "attn/ops/conv.h"

namespace attn::nn {

class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, IntPair kernel_size, IntPair stride = {1, 1},
         IntPair padding = {0, 0}, IntPair dilation = {1, 1}, int64_t groups = 1, bool bias = true,
         DType dtype = kFloat32);
  // Square kernel / stride / padding / dilation: Conv2d(16, 16, 3, 1, 1).
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1, int64_t padding = 0,
         int64_t dilation = 1, int64_t groups = 1, bool bias = true, DType dtype = kFloat32)
      : Conv2d(in_channels, out_channels, IntPair{kernel_size, kernel_size}, IntPair{stride, stride},
               IntPair{padding, padding}, IntPair{dilation, dilation}, groups, bias, dtype) {}
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
  void reset_parameters(Generator* gen = nullptr);
  std::string extra_repr() const override;

  int64_t in_channels, out_channels;
  IntPair kernel_size, stride, padding, dilation;
  int64_t groups;
  Tensor weight;  // [out_channels, in_channels / groups, kh, kw]
  Tensor bias;    // [out_channels]; undefined when constructed with bias = false
};

class Conv1d : public Module {
 public:
  Conv1d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1, int64_t padding = 0,
         int64_t dilation = 1, int64_t groups = 1, bool bias = true, DType dtype = kFloat32);
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
  void reset_parameters(Generator* gen = nullptr);
  std::string extra_repr() const override;

  int64_t in_channels, out_channels, kernel_size, stride, padding, dilation, groups;
  Tensor weight;  // [out_channels, in_channels / groups, kernel_size]
  Tensor bias;    // [out_channels]; undefined when constructed with bias = false
};

}  // namespace attn::nn
