// Channel / spatial attention (src/attention/channel.cc): SEBlock, ECA, SpatialAttention,
// ChannelAttention and CBAM against PyTorch re-implementations of the reference code
// (tools/fixtures/channel.py; parameters load strictly, so the state_dict keys are the reference
// ones), f64 gradchecks into x and every parameter, ECA's adaptive kernel size, 1 vs 2 threads,
// and errors.
#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

#include "attn/attention/channel.h"
#include "test_util.h"

namespace attn::nn {
namespace {

using testing::expect_error;

using testing::all_close;
using testing::all_equal;
using testing::load_fixture;

// f64, a pooled mean, two small matmuls / convs and a sigmoid of O(1) values: agreement to ~1e-15;
// 1e-12 leaves room for summation order.
constexpr double kTol = 1e-12;

template <class M>
void check_fixture(const std::string& name, std::shared_ptr<M> m) {
  SCOPED_TRACE(name);
  auto fx = load_fixture("channel/" + name);
  m->to(kFloat64);
  NamedTensors sd;
  for (const auto& [k, t] : fx.tensors)
    if (k.find('.') != std::string::npos && k.rfind("grad_", 0) != 0 && k.rfind("after_", 0) != 0)
      sd.emplace_back(k, t);
  for (bool reference : {true, false}) {
    KernelModeGuard mode(reference);
    m->load_state_dict(sd, /*strict=*/true);  // again each pass: BatchNorm's running stats move
    m->zero_grad();
    Tensor x = fx.at("x").detach().clone().requires_grad_();
    Tensor out = m->forward(x);
    EXPECT_TRUE(all_close(out, fx.at("out"), kTol, kTol));
    EXPECT_TRUE(all_close(m->last_weights(), fx.at("weights"), kTol, kTol));
    if constexpr (std::is_same_v<M, CBAM>) {
      EXPECT_TRUE(all_close(m->last_channel_weights(), fx.at("channel_weights"), kTol, kTol));
    }
    out.backward(fx.at("grad_out"));
    EXPECT_TRUE(all_close(x.grad(), fx.at("grad_x"), kTol, kTol));
    for (const auto& [bn, b] : m->named_buffers()) {
      SCOPED_TRACE(bn);
      EXPECT_TRUE(all_close(b, fx.at("after_" + bn), kTol, kTol));
    }
    for (const auto& [pn, p] : m->named_parameters()) {
      SCOPED_TRACE(pn);
      ASSERT_TRUE(p.grad().defined());
      EXPECT_TRUE(all_close(p.grad(), fx.at("grad_" + pn), kTol, kTol));
    }
  }
}

std::vector<std::string> keys(const Module& m) {
  std::vector<std::string> k;
  for (const auto& [n, t] : m.state_dict()) k.push_back(n);
  return k;
}

Tensor p(const Tensor& t) { return t.detach().clone().requires_grad_(); }

TEST(ChannelAttention, SEBlockMatchesPyTorch) {
  check_fixture("se_r4", std::make_shared<SEBlock>(8, 4));
  EXPECT_EQ(keys(SEBlock(32)), (std::vector<std::string>{"fc.0.weight", "fc.2.weight"}));
  SEBlock se(32);
  EXPECT_EQ(se.fc0->weight.shape(), (Shape{2, 32}));
  EXPECT_EQ(se.fc2->weight.shape(), (Shape{32, 2}));
}

TEST(ChannelAttention, ECAMatchesPyTorch) {
  check_fixture("eca_k3", std::make_shared<ECA>(8, 3));
  check_fixture("eca_adaptive", std::make_shared<ECA>(16));
  check_fixture("eca_adaptive_c32", std::make_shared<ECA>(32));
  check_fixture("eca_adaptive_c128", std::make_shared<ECA>(128));
  EXPECT_EQ(keys(ECA(64)), (std::vector<std::string>{"conv.weight"}));
}

TEST(ChannelAttention, ECAAdaptiveKernelSize) {
  // t = int(|(log2 C + 1) / 2|), odd-ified: the kernel sizes ECA-Net uses in its ResNets.
  EXPECT_EQ(ECA::adaptive_kernel_size(1), 1);     // t = 0 -> 1
  EXPECT_EQ(ECA::adaptive_kernel_size(16), 3);    // t = 2 -> 3
  EXPECT_EQ(ECA::adaptive_kernel_size(64), 3);    // t = 3
  EXPECT_EQ(ECA::adaptive_kernel_size(128), 5);   // t = 4 -> 5
  EXPECT_EQ(ECA::adaptive_kernel_size(512), 5);   // t = 5
  EXPECT_EQ(ECA::adaptive_kernel_size(2048), 7);  // t = 6 -> 7
  EXPECT_EQ(ECA(256).k_size, 5);
  EXPECT_EQ(ECA(256).conv->weight.shape(), (Shape{1, 1, 5}));
}

TEST(ChannelAttention, SpatialAttentionMatchesPyTorch) {
  check_fixture("spatial_k7", std::make_shared<SpatialAttention>(7));
  check_fixture("spatial_k3", std::make_shared<SpatialAttention>(3));
  EXPECT_EQ(keys(SpatialAttention()), (std::vector<std::string>{"conv1.weight"}));
}

TEST(ChannelAttention, CBAMMatchesPyTorch) {
  check_fixture("cbam_r4_k3", std::make_shared<CBAM>(8, 4, 3));
  EXPECT_EQ(keys(CBAM(32)), (std::vector<std::string>{"ca.fc.0.weight", "ca.fc.2.weight", "sa.conv1.weight"}));
  CBAM m(32);
  Tensor x = randn({2, 32, 3, 4});
  EXPECT_EQ(m(x).shape(), x.shape());
  EXPECT_EQ(m.last_weights().shape(), (Shape{2, 1, 3, 4}));
  EXPECT_EQ(m.last_channel_weights().shape(), (Shape{2, 32}));
}

TEST(ChannelAttention, SKConvMatchesPyTorch) {
  // Training mode: the BatchNorms use batch statistics and update their running stats.
  check_fixture("sk_m2_g1", std::make_shared<SKConv>(4, 2, 1, 2, 3));
  check_fixture("sk_m3_g2", std::make_shared<SKConv>(4, 3, 2, 1, 2));
  SKConv sk(64);
  EXPECT_EQ(sk.groups, 32);  // auto: 64 % 32 == 0
  EXPECT_EQ(sk.d, 32);       // max(64 / 16, 32)
  EXPECT_EQ(SKConv(48).groups, 1);
  EXPECT_EQ(SKConv(1024).d, 64);
  EXPECT_EQ(sk.convs->at<Sequential>(1)->named_parameters()[0].second.shape(), (Shape{64, 2, 3, 3}));
  std::vector<std::string> k = keys(sk);
  EXPECT_EQ(k.front(), "convs.0.0.weight");
  EXPECT_EQ(k.back(), "fcs.1.weight");
  EXPECT_EQ(std::count(k.begin(), k.end(), "fc.1.running_var"), 1);
  Tensor x = randn({2, 64, 5, 5});
  EXPECT_EQ(sk(x).shape(), x.shape());
  Tensor w = sk.last_weights();
  EXPECT_EQ(w.shape(), (Shape{2, 2, 64}));
  EXPECT_TRUE(all_close(sum(w, {1}), ones({2, 64}), 1e-6));  // softmax across the branches
}

TEST(ChannelAttention, ExternalAttentionMatchesPyTorch) {
  check_fixture("external_s5", std::make_shared<ExternalAttention>(6, 5));
  EXPECT_EQ(keys(ExternalAttention(8)), (std::vector<std::string>{"mk.weight", "mv.weight"}));
  ExternalAttention ea(8, 64);
  ea(randn({2, 5, 8}));
  // Double normalisation: every token's weights over the S memory units sum to 1.
  EXPECT_TRUE(all_close(sum(ea.last_weights(), {2}), ones({2, 5}), 1e-6));
}

TEST(ChannelAttention, GradcheckF64) {
  Generator gen(3);
  Tensor x = randn({2, 4, 3, 3}, kFloat64, &gen).requires_grad_();
  SEBlock se(4, 2, kFloat64);
  ATTN_EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& v) {
        se.fc0->weight = v[1];
        se.fc2->weight = v[2];
        return se(v[0]);
      },
      (std::vector<Tensor>{x, p(se.fc0->weight), p(se.fc2->weight)}));
  ECA eca(4, 3, kFloat64);
  ATTN_EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& v) {
        eca.conv->weight = v[1];
        return eca(v[0]);
      },
      (std::vector<Tensor>{x, p(eca.conv->weight)}));
  // CBAM covers ChannelAttention and SpatialAttention; the max pools are differentiable away from
  // ties, which random inputs do not have.
  CBAM cbam(4, 2, 3, kFloat64);
  ATTN_EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& v) {
        cbam.ca->fc0->weight = v[1];
        cbam.ca->fc2->weight = v[2];
        cbam.sa->conv1->weight = v[3];
        return cbam(v[0]);
      },
      (std::vector<Tensor>{x, p(cbam.ca->fc0->weight), p(cbam.ca->fc2->weight), p(cbam.sa->conv1->weight)}));
  // SKConv in eval mode (running stats set away from 0 / 1): the batch-statistics path is the
  // BatchNorm module's own and is covered by the training-mode fixtures above.
  SKConv sk(4, 2, 2, 2, 3, kFloat64);
  for (auto& [n, b] : sk.named_buffers())
    if (n.find("running_var") != std::string::npos) b.copy_(rand(b.shape(), kFloat64, &gen) + 0.5);
  sk.eval();
  auto conv1 = std::dynamic_pointer_cast<Conv2d>(sk.get_submodule("convs.1.0"));
  auto fc0 = std::dynamic_pointer_cast<Linear>(sk.get_submodule("fc.0"));
  auto fcs0 = sk.fcs->at<Linear>(0);
  ASSERT_TRUE(conv1 && fc0);
  ATTN_EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& v) {
        conv1->weight = v[1];
        fc0->weight = v[2];
        fcs0->weight = v[3];
        return sk(v[0]);
      },
      (std::vector<Tensor>{x, p(conv1->weight), p(fc0->weight), p(fcs0->weight)}));
  ExternalAttention ea(3, 4, kFloat64);
  Tensor t = randn({2, 5, 3}, kFloat64, &gen).requires_grad_();
  ATTN_EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& v) {
        ea.mk->weight = v[1];
        ea.mv->weight = v[2];
        return ea(v[0]);
      },
      (std::vector<Tensor>{t, p(ea.mk->weight), p(ea.mv->weight)}));
}

TEST(ChannelAttention, OneAndTwoThreadsAgreeBitwise) {
  Generator gen(4);
  Tensor x = randn({3, 32, 5, 7}, kFloat32, &gen);
  CBAM cbam(32, 4);
  ECA eca(32);
  SEBlock se(32, 4);
  auto [one, two] = testing::one_and_two_threads([&] { return cat({cbam(x), eca(x), se(x)}, 0); });
  EXPECT_TRUE(all_equal(one, two));
}

TEST(ChannelAttention, BatchOfOneAndSinglePixel) {
  Tensor x = randn({1, 16, 1, 1});
  SEBlock se(16);
  Tensor y = se(x);
  // One pixel: the squeeze is the pixel itself, so y = x * sigmoid(fc(x)).
  EXPECT_TRUE(all_close(y, x * se.last_weights().reshape({1, 16, 1, 1}), 1e-6, 1e-6));
  CBAM cbam(16, 4, 3);
  EXPECT_EQ(cbam(x).shape(), x.shape());
}

TEST(ChannelAttention, BadShapesThrow) {
  SEBlock se(8, 4);
  expect_error([&] { se(randn({2, 6, 3, 3})); }, {"SEBlock", "[B, 8, H, W]", "[2, 6, 3, 3]"});
  expect_error([&] { se(randn({2, 8, 3})); }, {"SEBlock", "[B, C, H, W]", "[2, 8, 3]"});
  ECA eca(8);
  expect_error([&] { eca(randn({1, 7, 2, 2})); }, {"ECA", "[B, 8, H, W]", "[1, 7, 2, 2]"});
  SpatialAttention sa;
  expect_error([&] { sa(randn({4, 4})); }, {"SpatialAttention", "[4, 4]"});
  CBAM cbam(8, 4);
  expect_error([&] { cbam(randn({1, 9, 2, 2})); }, {"ChannelAttention", "[B, 8, H, W]", "[1, 9, 2, 2]"});
  expect_error([] { SEBlock(8, 16); }, {"SEBlock", "8", "16"});
  expect_error([] { ECA(8, 4); }, {"ECA", "odd", "4"});
  expect_error([] { SpatialAttention(6); }, {"SpatialAttention", "odd", "6"});
}

}  // namespace
}  // namespace attn::nn
