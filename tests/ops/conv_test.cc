#include "attn/ops/conv.h"

#include "attn/core/gradcheck.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/reduce.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::all_close;
using testing::all_equal;

IntPair parse_pair(const std::string& s) {  // "[a, b]"
  IntPair p{};
  std::sscanf(s.c_str(), "[%ld, %ld]", &p[0], &p[1]);
  return p;
}

TEST(Conv, MatchesPyTorchFixtures) {
  const char* names2[] = {"basic_3x3", "pad_stride2", "dilation2", "depthwise",
                          "groups2",   "one_by_one",  "kernel7_cbam", "odd_mixed"};
  const char* names1[] = {"basic", "eca_k5", "stride_dil_groups"};
  for (bool ref : {true, false}) {
    KernelModeGuard mode(ref);
    for (int dims : {1, 2}) {
      for (int i = 0; i < (dims == 2 ? 8 : 3); ++i) {
        const std::string name = dims == 2 ? std::string("conv2d_") + names2[i] : std::string("conv1d_") + names1[i];
        auto fx = testing::load_fixture("conv/" + name);
        Tensor x = fx.at("x").detach().requires_grad_();
        Tensor w = fx.at("weight").detach().requires_grad_();
        Tensor b = fx.contains("bias") ? fx.at("bias").detach().requires_grad_() : Tensor();
        const int64_t groups = std::stol(fx.metadata.at("groups"));
        Tensor y;
        if (dims == 2) {
          y = conv2d(x, w, b, parse_pair(fx.metadata.at("stride")), parse_pair(fx.metadata.at("padding")),
                     parse_pair(fx.metadata.at("dilation")), groups);
        } else {
          y = conv1d(x, w, b, std::stol(fx.metadata.at("stride")), std::stol(fx.metadata.at("padding")),
                     std::stol(fx.metadata.at("dilation")), groups);
        }
        const std::string what = name + (ref ? " ref" : " fast");
        // float32 sums of up to 98 products of O(1) values, in a different order than PyTorch: ~1e-6 each.
        EXPECT_TRUE(all_close(y, fx.at("out"), 2e-5, 1e-5)) << what;
        y.backward(fx.at("grad_out"));
        EXPECT_TRUE(all_close(x.grad(), fx.at("grad_x"), 2e-5, 1e-5)) << what;
        // dW sums over batch and all output positions (up to ~200 terms).
        EXPECT_TRUE(all_close(w.grad(), fx.at("grad_weight"), 5e-5, 1e-5)) << what;
        if (b.defined()) {
          EXPECT_TRUE(all_close(b.grad(), fx.at("grad_bias"), 5e-5, 1e-5)) << what;
        }
      }
    }
  }
}

TEST(Conv, GradcheckFloat64) {
  Generator gen(7);
  struct Cfg {
    Shape x, w;
    IntPair s, p, d;
    int64_t groups;
  };
  const Cfg cfgs[] = {{{2, 2, 5, 4}, {3, 2, 2, 3}, {1, 1}, {1, 0}, {1, 1}, 1},
                      {{1, 4, 6, 6}, {4, 1, 3, 3}, {2, 2}, {1, 1}, {1, 1}, 4},
                      {{1, 2, 7, 5}, {2, 1, 2, 2}, {1, 2}, {2, 1}, {2, 2}, 2}};
  for (const auto& c : cfgs) {
    Tensor x = randn(c.x, kFloat64, &gen).requires_grad_();
    Tensor w = randn(c.w, kFloat64, &gen).requires_grad_();
    Tensor b = randn({c.w[0]}, kFloat64, &gen).requires_grad_();
    ATTN_EXPECT_GRADCHECK(
        [&](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], c.s, c.p, c.d, c.groups); },
        (std::vector<Tensor>{x, w, b}));
  }
  Tensor x1 = randn({2, 2, 7}, kFloat64, &gen).requires_grad_();
  Tensor w1 = randn({3, 2, 3}, kFloat64, &gen).requires_grad_();
  ATTN_EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return conv1d(in[0], in[1], Tensor(), 2, 1, 2); },
                        (std::vector<Tensor>{x1, w1}));
}

TEST(Conv, UnfoldMatchesDirectDefinition) {
  // cols[b, (c*kh + i)*kw + j, oh*Wo + ow] = x[b, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw], 0 outside.
  Generator gen(3);
  Tensor x = randn({2, 3, 6, 5}, kFloat32, &gen);
  const IntPair k{2, 3}, d{2, 1}, p{1, 2}, s{2, 1};
  Tensor cols = unfold(x, k, d, p, s);
  const int64_t Ho = (6 + 2 - 2 - 1) / 2 + 1, Wo = (5 + 4 - 2 - 1) / 1 + 1;
  ASSERT_EQ(cols.shape(), (Shape{2, 18, Ho * Wo}));
  std::vector<double> xv = to_double_vector(x), cv = to_double_vector(cols), expect(cv.size());
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < 2; ++i)
        for (int64_t j = 0; j < 3; ++j)
          for (int64_t oh = 0; oh < Ho; ++oh)
            for (int64_t ow = 0; ow < Wo; ++ow) {
              const int64_t h = oh * 2 - 1 + i * 2, w = ow - 2 + j;
              const double v = (h >= 0 && h < 6 && w >= 0 && w < 5) ? xv[((b * 3 + c) * 6 + h) * 5 + w] : 0.0;
              expect[((b * 18 + (c * 2 + i) * 3 + j) * Ho + oh) * Wo + ow] = v;
            }
  EXPECT_TRUE(all_equal(cols, tensor<double>(expect, cols.shape()).to(kFloat32)));
}

TEST(Conv, NonContiguousInputUnbatchedAndThreads) {
  Generator gen(5);
  Tensor x = randn({2, 6, 3, 7}, kFloat32, &gen).transpose(1, 3);  // [2, 7, 3, 6], strided view
  Tensor w = randn({4, 7, 3, 3}, kFloat32, &gen);
  Tensor y = conv2d(x, w, Tensor(), {1, 2}, {1, 1});
  Tensor yc = conv2d(x.contiguous(), w, Tensor(), {1, 2}, {1, 1});
  EXPECT_TRUE(all_equal(y, yc));
  // Unbatched [C, H, W] equals batch entry 0.
  EXPECT_TRUE(all_equal(conv2d(x.contiguous()[0], w, Tensor(), {1, 2}, {1, 1}), yc[0]));
  auto [one, two] = testing::one_and_two_threads([&] {
    Tensor xx = x.detach().requires_grad_();
    Tensor out = conv2d(xx, w, Tensor(), {1, 2}, {1, 1});
    out.backward(ones_like(out));
    return xx.grad();
  });
  EXPECT_TRUE(all_equal(one, two));
}

TEST(Conv, EmptyBatch) {
  Tensor x = zeros({0, 3, 5, 5}).requires_grad_();
  Tensor w = ones({2, 3, 3, 3}).requires_grad_();
  Tensor y = conv2d(x, w, ones({2}));
  EXPECT_EQ(y.shape(), (Shape{0, 2, 3, 3}));
  sum(y).backward();
  EXPECT_EQ(x.grad().shape(), x.shape());
  EXPECT_TRUE(all_equal(w.grad(), zeros({2, 3, 3, 3})));
}

TEST(Conv, BadShapesThrowWithShapes) {
  Tensor x = zeros({1, 3, 5, 5}), w = zeros({2, 4, 3, 3});
  try {
    conv2d(x, w);
    FAIL() << "expected attn::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[1, 3, 5, 5]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[2, 4, 3, 3]"), std::string::npos) << e.what();
  }
  try {
    conv2d(x, zeros({2, 3, 7, 3}), Tensor(), {1, 1}, {0, 0});
    FAIL() << "expected attn::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("larger than the padded input"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[1, 3, 5, 5]"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(conv2d(x, zeros({2, 3, 7, 3}), Tensor(), {1, 1}, {1, 0}));
  EXPECT_THROW(conv2d(x, zeros({2, 3, 3, 3}), Tensor(), {0, 1}), Error);
  EXPECT_THROW(conv2d(x, zeros({2, 1, 3, 3}), zeros({3}), {1, 1}, {0, 0}, {1, 1}, 3), Error);  // bias size
  EXPECT_THROW(conv2d(x, zeros({4, 1, 3, 3}), Tensor(), {1, 1}, {0, 0}, {1, 1}, 2), Error);    // groups !| C
  EXPECT_THROW(conv1d(zeros({1, 2, 4}), zeros({1, 2, 3}), Tensor(), 1, 0, 2), Error);          // dilated k 5 > 4
  EXPECT_THROW(conv2d(x, zeros({2, 3, 3, 3}, kFloat64)), Error);                               // dtype mismatch
}

}  // namespace
}  // namespace attn
