// Channel and spatial attention for convolutional feature maps x [B, C, H, W]: each module computes
// an attention map from x and returns x rescaled by it (same shape as x). docs/attention/channel.md.
//
//   SEBlock (Hu et al. 2018, "Squeeze-and-Excitation Networks"):
//     s = sigmoid(W2 relu(W1 mean_hw(x))),  W1 [C/r, C], W2 [C, C/r], no biases;  y = x * s[:, :, None, None]
//     Parameters named as the common PyTorch SELayer: fc = Sequential(Linear(C, C/r, bias=False),
//     ReLU, Linear(C/r, C, bias=False), Sigmoid) -> "fc.0.weight", "fc.2.weight".
//   ECA (Wang et al. 2020, "ECA-Net"; official eca_layer): s = sigmoid(conv1d_k(mean_hw(x)) over the
//     channel axis), one [1, 1, k] kernel, zero padding (k-1)/2, no bias -> "conv.weight".
//     k_size = 0 picks k adaptively: t = int(|(log2(C) + b) / gamma|), k = t if t is odd else t + 1,
//     gamma = 2, b = 1 (eca_resnet's formula).
//   SpatialAttention (Woo et al. 2018, "CBAM", spatial gate): m = sigmoid(conv2d_k([mean_c(x); max_c(x)])),
//     conv 2 -> 1, padding k/2, no bias -> "conv1.weight"; y = x * m.
//   ChannelAttention (CBAM channel gate): s = sigmoid(MLP(avgpool(x)) + MLP(maxpool(x))), the MLP
//     shared and made of 1x1 convs without bias: fc = Sequential(Conv2d(C, C/r, 1), ReLU,
//     Conv2d(C/r, C, 1)) -> "fc.0.weight", "fc.2.weight"; y = x * s.
//   CBAM: y = SpatialAttention(ChannelAttention(x)) -> children "ca", "sa".
//
//   SKConv (Li et al. 2019, "Selective Kernel Networks"): M branches U_i = relu(bn(conv_i(x))), branch i
//     a 3x3 conv with dilation i+1 and padding i+1 (the paper's dilated replacement for 5x5, 7x7...),
//     G groups, no bias ("convs.i.0/1"); U = sum_i U_i; s = mean_hw(U) [B, C];
//     z = relu(bn(W s)), W [d, C], d = max(C/r, L) ("fc.0", "fc.1"), as the paper's eq. 4;
//     a_i = softmax_i(A_i z) over the branches, A_i [C, d] ("fcs.i", no bias); y = sum_i a_i U_i.
//   ExternalAttention (Guo et al. 2021, "Beyond Self-attention: External Attention using Two Linear
//     Layers"; External-Attention-pytorch): x [B, N, d_model], A = softmax over the N tokens (dim 1)
//     of mk(x) [B, N, S], then A / sum_S A (double normalisation), y = mv(A) [B, N, d_model];
//     mk Linear(d_model, S), mv Linear(S, d_model), no biases.
//
// last_weights() returns the map of the last forward: channel weights [B, C] (SE, ECA,
// ChannelAttention) or the spatial map [B, 1, H, W] (SpatialAttention, CBAM; CBAM's channel weights
// are last_channel_weights()). The maps keep their autograd history (a loss may use them).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "attn/core/tensor.h"
#include "attn/nn/batchnorm.h"
#include "attn/nn/container.h"
#include "attn/nn/conv.h"
#include "attn/nn/linear.h"
#include "attn/nn/module.h"

namespace attn::nn {

class SEBlock : public Module {
 public:
  explicit SEBlock(int64_t channels, int64_t reduction = 16, DType dtype = kFloat32);
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
  const Tensor& last_weights() const { return weights_; }  // [B, C]
  std::string extra_repr() const override;

  int64_t channels, reduction;
  std::shared_ptr<Sequential> fc;
  std::shared_ptr<Linear> fc0, fc2;  // fc[0] and fc[2]

 private:
  Tensor weights_;
};

class ECA : public Module {
 public:
  // k_size = 0: adaptive kernel size (see above); otherwise an odd k_size >= 1.
  explicit ECA(int64_t channels, int64_t k_size = 0, DType dtype = kFloat32);
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
  const Tensor& last_weights() const { return weights_; }  // [B, C]
  std::string extra_repr() const override;
  // ECA-Net's adaptive kernel size for `channels`, gamma = 2, b = 1.
  static int64_t adaptive_kernel_size(int64_t channels, double gamma = 2.0, double b = 1.0);

  int64_t channels, k_size;
  std::shared_ptr<Conv1d> conv;

 private:
  Tensor weights_;
};

class SpatialAttention : public Module {
 public:
  explicit SpatialAttention(int64_t kernel_size = 7, DType dtype = kFloat32);
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
  const Tensor& last_weights() const { return weights_; }  // [B, 1, H, W]
  std::string extra_repr() const override;

  int64_t kernel_size;
  std::shared_ptr<Conv2d> conv1;

 private:
  Tensor weights_;
};

class ChannelAttention : public Module {
 public:
  explicit ChannelAttention(int64_t channels, int64_t reduction = 16, DType dtype = kFloat32);
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
  const Tensor& last_weights() const { return weights_; }  // [B, C]
  std::string extra_repr() const override;

  int64_t channels, reduction;
  std::shared_ptr<Sequential> fc;
  std::shared_ptr<Conv2d> fc0, fc2;  // fc[0] and fc[2]

 private:
  Tensor weights_;
};

class CBAM : public Module {
 public:
  explicit CBAM(int64_t channels, int64_t reduction = 16, int64_t kernel_size = 7, DType dtype = kFloat32);
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
  const Tensor& last_weights() const { return sa->last_weights(); }          // [B, 1, H, W]
  const Tensor& last_channel_weights() const { return ca->last_weights(); }  // [B, C]

  std::shared_ptr<ChannelAttention> ca;
  std::shared_ptr<SpatialAttention> sa;
};

class SKConv : public Module {
 public:
  // groups = 0: 32 when channels is divisible by 32, else 1.
  explicit SKConv(int64_t channels, int64_t M = 2, int64_t groups = 0, int64_t r = 16, int64_t L = 32,
                  DType dtype = kFloat32);
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
  const Tensor& last_weights() const { return weights_; }  // [B, M, C], softmax over M
  std::string extra_repr() const override;

  int64_t channels, M, groups, d;
  std::shared_ptr<ModuleList> convs;  // convs[i] = Sequential(Conv2d, BatchNorm2d, ReLU)
  std::shared_ptr<Sequential> fc;     // Linear(C, d, bias=False), BatchNorm1d(d), ReLU
  std::shared_ptr<ModuleList> fcs;    // fcs[i] = Linear(d, C, bias=False)

 private:
  Tensor weights_;
};

class ExternalAttention : public Module {
 public:
  explicit ExternalAttention(int64_t d_model, int64_t S = 64, DType dtype = kFloat32);
  Tensor forward(const Tensor& x);  // [B, N, d_model] -> [B, N, d_model]
  Tensor operator()(const Tensor& x) { return forward(x); }
  const Tensor& last_weights() const { return weights_; }  // [B, N, S], double-normalised
  std::string extra_repr() const override;

  int64_t d_model, S;
  std::shared_ptr<Linear> mk, mv;

 private:
  Tensor weights_;
};

}  // namespace attn::nn
