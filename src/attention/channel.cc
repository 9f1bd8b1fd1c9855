// Channel / spatial attention modules (include/attn/attention/channel.h).
#include "attn/attention/channel.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "attn/core/error.h"
#include "attn/nn/activation.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/pooling.h"
#include "attn/ops/reduce.h"
#include "attn/ops/shape.h"
#include "attn/ops/softmax.h"
#include "attn/ops/unary.h"

namespace attn::nn {
namespace {

void check_map(const char* who, const Tensor& x, int64_t channels) {
  ATTN_CHECK(x.defined() && x.dim() == 4, who, ": expected x [B, C, H, W], got ",
             x.defined() ? shape_str(x.shape()) : std::string("an undefined tensor"));
  ATTN_CHECK(channels < 0 || x.size(1) == channels, who, ": expected x [B, ", channels, ", H, W], got ",
             shape_str(x.shape()));
}

int64_t hidden(const char* who, int64_t channels, int64_t reduction) {
  ATTN_CHECK(channels >= 1 && reduction >= 1, who, ": channels and reduction must be >= 1, got ", channels, " and ",
             reduction);
  ATTN_CHECK(channels / reduction >= 1, who, ": channels / reduction must be >= 1, got ", channels, " / ",
             reduction);
  return channels / reduction;
}

}  // namespace

// --- SE --------------------------------------------------------------------------------------

SEBlock::SEBlock(int64_t c, int64_t r, DType dtype) : channels(c), reduction(r) {
  const int64_t h = hidden("SEBlock", c, r);
  fc = register_module("fc", std::make_shared<Sequential>());
  fc0 = fc->push_back(std::make_shared<Linear>(c, h, false, dtype));
  fc->push_back(std::make_shared<ReLU>());
  fc2 = fc->push_back(std::make_shared<Linear>(h, c, false, dtype));
  fc->push_back(std::make_shared<Sigmoid>());
}

Tensor SEBlock::forward(const Tensor& x) {
  check_map("SEBlock", x, channels);
  weights_ = fc->forward(mean(x, {2, 3}));  // squeeze [B, C] -> excitation [B, C]
  return x * weights_.unsqueeze(-1).unsqueeze(-1);
}

std::string SEBlock::extra_repr() const {
  return "channels=" + std::to_string(channels) + ", reduction=" + std::to_string(reduction);
}

// --- ECA -------------------------------------------------------------------------------------

int64_t ECA::adaptive_kernel_size(int64_t c, double gamma, double b) {
  const auto t = static_cast<int64_t>(std::fabs((std::log2(double(c)) + b) / gamma));
  return t % 2 ? t : t + 1;
}

ECA::ECA(int64_t c, int64_t k, DType dtype) : channels(c), k_size(k) {
  ATTN_CHECK(c >= 1, "ECA: channels must be >= 1, got ", c);
  if (k_size == 0) k_size = adaptive_kernel_size(c);
  ATTN_CHECK(k_size >= 1 && k_size % 2 == 1, "ECA: k_size must be odd and >= 1 (or 0 for adaptive), got ", k);
  conv = register_module("conv", std::make_shared<Conv1d>(1, 1, k_size, 1, (k_size - 1) / 2, 1, 1, false, dtype));
}

Tensor ECA::forward(const Tensor& x) {
  check_map("ECA", x, channels);
  // [B, C] -> [B, 1, C]: the channels become the 1-d signal the kernel slides over.
  Tensor y = conv->forward(mean(x, {2, 3}).unsqueeze(1));
  weights_ = sigmoid(y.squeeze(1));
  return x * weights_.unsqueeze(-1).unsqueeze(-1);
}

std::string ECA::extra_repr() const {
  return "channels=" + std::to_string(channels) + ", k_size=" + std::to_string(k_size);
}

// --- CBAM ------------------------------------------------------------------------------------

SpatialAttention::SpatialAttention(int64_t k, DType dtype) : kernel_size(k) {
  ATTN_CHECK(k >= 1 && k % 2 == 1, "SpatialAttention: kernel_size must be odd and >= 1, got ", k);
  conv1 = register_module("conv1", std::make_shared<Conv2d>(2, 1, k, 1, k / 2, 1, 1, false, dtype));
}

Tensor SpatialAttention::forward(const Tensor& x) {
  check_map("SpatialAttention", x, -1);
  Tensor pooled = cat({mean(x, {1}, true), max(x, 1, true).values}, 1);  // [B, 2, H, W]
  weights_ = sigmoid(conv1->forward(pooled));
  return x * weights_;
}

std::string SpatialAttention::extra_repr() const { return "kernel_size=" + std::to_string(kernel_size); }

ChannelAttention::ChannelAttention(int64_t c, int64_t r, DType dtype) : channels(c), reduction(r) {
  const int64_t h = hidden("ChannelAttention", c, r);
  fc = register_module("fc", std::make_shared<Sequential>());
  fc0 = fc->push_back(std::make_shared<Conv2d>(c, h, 1, 1, 0, 1, 1, false, dtype));
  fc->push_back(std::make_shared<ReLU>());
  fc2 = fc->push_back(std::make_shared<Conv2d>(h, c, 1, 1, 0, 1, 1, false, dtype));
}

Tensor ChannelAttention::forward(const Tensor& x) {
  check_map("ChannelAttention", x, channels);
  Tensor a = fc->forward(mean(x, {2, 3}, true));                 // [B, C, 1, 1]
  Tensor m = fc->forward(adaptive_max_pool2d(x, {1, 1}));       // [B, C, 1, 1]
  Tensor s = sigmoid(a + m);
  weights_ = s.reshape({s.size(0), s.size(1)});
  return x * s;
}

std::string ChannelAttention::extra_repr() const {
  return "channels=" + std::to_string(channels) + ", reduction=" + std::to_string(reduction);
}

CBAM::CBAM(int64_t c, int64_t r, int64_t k, DType dtype) {
  ca = register_module("ca", std::make_shared<ChannelAttention>(c, r, dtype));
  sa = register_module("sa", std::make_shared<SpatialAttention>(k, dtype));
}

Tensor CBAM::forward(const Tensor& x) { return sa->forward(ca->forward(x)); }

// --- SK --------------------------------------------------------------------------------------

SKConv::SKConv(int64_t c, int64_t m, int64_t g, int64_t r, int64_t L, DType dtype) : channels(c), M(m), groups(g) {
  ATTN_CHECK(c >= 1 && m >= 1 && r >= 1 && L >= 1, "SKConv: channels, M, r and L must be >= 1, got ", c, ", ", m,
             ", ", r, ", ", L);
  if (groups == 0) groups = c % 32 == 0 ? 32 : 1;
  ATTN_CHECK(groups >= 1 && c % groups == 0, "SKConv: channels ", c, " is not divisible by groups ", groups);
  d = std::max(c / r, L);
  convs = register_module("convs", std::make_shared<ModuleList>());
  for (int64_t i = 0; i < M; ++i) {
    auto branch = std::make_shared<Sequential>();
    branch->push_back(std::make_shared<Conv2d>(c, c, 3, 1, i + 1, i + 1, groups, false, dtype));
    branch->push_back(std::make_shared<BatchNorm2d>(c, 1e-5, 0.1, true, true, dtype));
    branch->push_back(std::make_shared<ReLU>());
    convs->push_back(branch);
  }
  fc = register_module("fc", std::make_shared<Sequential>());
  fc->push_back(std::make_shared<Linear>(c, d, false, dtype));
  fc->push_back(std::make_shared<BatchNorm1d>(d, 1e-5, 0.1, true, true, dtype));
  fc->push_back(std::make_shared<ReLU>());
  fcs = register_module("fcs", std::make_shared<ModuleList>());
  for (int64_t i = 0; i < M; ++i) fcs->push_back(std::make_shared<Linear>(d, c, false, dtype));
}

Tensor SKConv::forward(const Tensor& x) {
  check_map("SKConv", x, channels);
  std::vector<Tensor> u, a;
  for (int64_t i = 0; i < M; ++i) u.push_back(convs->at<Sequential>(i)->forward(x));
  Tensor U = stack(u, 1);                                   // [B, M, C, H, W]
  Tensor z = fc->forward(mean(sum(U, {1}), {2, 3}));        // fuse, squeeze, [B, d]
  for (int64_t i = 0; i < M; ++i) a.push_back(fcs->at<Linear>(i)->forward(z));
  weights_ = softmax(stack(a, 1), 1);                        // [B, M, C], across the branches
  return sum(U * weights_.unsqueeze(-1).unsqueeze(-1), {1});  // select
}

std::string SKConv::extra_repr() const {
  return "channels=" + std::to_string(channels) + ", M=" + std::to_string(M) + ", groups=" + std::to_string(groups) +
         ", d=" + std::to_string(d);
}

// --- External attention ----------------------------------------------------------------------

ExternalAttention::ExternalAttention(int64_t dm, int64_t s, DType dtype) : d_model(dm), S(s) {
  ATTN_CHECK(dm >= 1 && s >= 1, "ExternalAttention: d_model and S must be >= 1, got ", dm, " and ", s);
  mk = register_module("mk", std::make_shared<Linear>(dm, s, false, dtype));
  mv = register_module("mv", std::make_shared<Linear>(s, dm, false, dtype));
}

Tensor ExternalAttention::forward(const Tensor& x) {
  ATTN_CHECK(x.defined() && x.dim() == 3 && x.size(2) == d_model, "ExternalAttention: expected x [B, N, ", d_model,
             "], got ", x.defined() ? shape_str(x.shape()) : std::string("an undefined tensor"));
  Tensor a = softmax(mk->forward(x), 1);         // over the tokens, as the reference code
  weights_ = a / sum(a, {2}, true);              // then l1 over the memory units
  return mv->forward(weights_);
}

std::string ExternalAttention::extra_repr() const {
  return "d_model=" + std::to_string(d_model) + ", S=" + std::to_string(S);
}

}  // namespace attn::nn
