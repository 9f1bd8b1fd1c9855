// Pooling modules (torch.nn.AdaptiveAvgPool2d, AdaptiveMaxPool2d, AdaptiveAvgPool1d, MaxPool2d,
// AvgPool2d): parameter-free wrappers of attn/ops/pooling.h, which has the window formulas.
// x [B, C, H, W] or [C, H, W] -> [B, C, Ho, Wo] ([B, C, L] -> [B, C, Lo] for AdaptiveAvgPool1d).
#pragma once
#include "attn/nn/module.h"
#include "attn/ops/pooling.h"

namespace attn::nn {

class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(IntPair output_size) : output_size(output_size) {}
  explicit AdaptiveAvgPool2d(int64_t output_size) : output_size{output_size, output_size} {}
  Tensor forward(const Tensor& x) { return adaptive_avg_pool2d(x, output_size); }
  Tensor operator()(const Tensor& x) { return forward(x); }
  std::string extra_repr() const override;
  IntPair output_size;
};

class AdaptiveMaxPool2d : public Module {
 public:
  explicit AdaptiveMaxPool2d(IntPair output_size) : output_size(output_size) {}
  explicit AdaptiveMaxPool2d(int64_t output_size) : output_size{output_size, output_size} {}
  Tensor forward(const Tensor& x) { return adaptive_max_pool2d(x, output_size); }
  Tensor operator()(const Tensor& x) { return forward(x); }
  std::string extra_repr() const override;
  IntPair output_size;
};

class AdaptiveAvgPool1d : public Module {
 public:
  explicit AdaptiveAvgPool1d(int64_t output_size) : output_size(output_size) {}
  Tensor forward(const Tensor& x) { return adaptive_avg_pool1d(x, output_size); }
  Tensor operator()(const Tensor& x) { return forward(x); }
  std::string extra_repr() const override;
  int64_t output_size;
};

// stride {0, 0} (default) means stride = kernel_size, as PyTorch's stride=None.
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(IntPair kernel_size, IntPair stride = {0, 0}, IntPair padding = {0, 0}, IntPair dilation = {1, 1});
  explicit MaxPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0, int64_t dilation = 1)
      : MaxPool2d(IntPair{kernel_size, kernel_size}, IntPair{stride, stride}, IntPair{padding, padding},
                  IntPair{dilation, dilation}) {}
  Tensor forward(const Tensor& x) { return max_pool2d(x, kernel_size, stride, padding, dilation); }
  Tensor operator()(const Tensor& x) { return forward(x); }
  std::string extra_repr() const override;
  IntPair kernel_size, stride, padding, dilation;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(IntPair kernel_size, IntPair stride = {0, 0}, IntPair padding = {0, 0},
                     bool count_include_pad = true);
  explicit AvgPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0, bool count_include_pad = true)
      : AvgPool2d(IntPair{kernel_size, kernel_size}, IntPair{stride, stride}, IntPair{padding, padding},
                  count_include_pad) {}
  Tensor forward(const Tensor& x) { return avg_pool2d(x, kernel_size, stride, padding, count_include_pad); }
  Tensor operator()(const Tensor& x) { return forward(x); }
  std::string extra_repr() const override;
  IntPair kernel_size, stride, padding;
  bool count_include_pad;
};

}  // namespace attn::nn
