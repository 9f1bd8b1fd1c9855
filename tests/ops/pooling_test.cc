#include "attn/ops/pooling.h"

#include <cmath>
#include <limits>

#include "attn/core/gradcheck.h"
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

TEST(Pooling, MatchesPyTorchFixtures) {
  const char* names[] = {"adaptive_avg_global", "adaptive_avg_5x3",     "adaptive_avg_up", "adaptive_max_global",
                         "adaptive_max_3x4",    "avg_k3_s2_p1",         "avg_k2x3_nopad_count", "max_k3_s2_p1",
                         "max_k2_default_stride", "max_dilated",        "adaptive_avg_1d"};
  for (const std::string name : names) {
    auto fx = testing::load_fixture("pooling/" + name);
    const auto& m = fx.metadata;
    Tensor x = fx.at("x").detach().requires_grad_();
    Tensor y, idx;
    if (name.rfind("adaptive_avg_1d", 0) == 0) {
      y = adaptive_avg_pool1d(x, std::stol(m.at("output_size")));
    } else if (name.rfind("adaptive_avg", 0) == 0) {
      y = adaptive_avg_pool2d(x, parse_pair(m.at("output_size")));
    } else if (name.rfind("adaptive_max", 0) == 0) {
      auto r = adaptive_max_pool2d_with_indices(x, parse_pair(m.at("output_size")));
      y = r.values, idx = r.indices;
    } else if (name.rfind("avg", 0) == 0) {
      y = avg_pool2d(x, parse_pair(m.at("kernel")), parse_pair(m.at("stride")), parse_pair(m.at("padding")),
                     m.at("count_include_pad") == "1");
    } else {
      auto r = max_pool2d_with_indices(x, parse_pair(m.at("kernel")), parse_pair(m.at("stride")),
                                       parse_pair(m.at("padding")), parse_pair(m.at("dilation")));
      y = r.values, idx = r.indices;
    }
    // Averages of at most 35 float32 values (summed in double here): a few ulp; maxima are exact.
    EXPECT_TRUE(all_close(y, fx.at("out"), 1e-6, 1e-6)) << name;
    if (idx.defined()) {
      EXPECT_TRUE(all_equal(idx, fx.at("indices"))) << name;
    }
    y.backward(fx.at("grad_out"));
    EXPECT_TRUE(all_close(x.grad(), fx.at("grad_x"), 1e-6, 1e-6)) << name;
  }
}

TEST(Pooling, GradcheckFloat64) {
  Generator gen(11);
  Tensor x = randn({2, 2, 7, 5}, kFloat64, &gen).requires_grad_();
  using V = std::vector<Tensor>;
  ATTN_EXPECT_GRADCHECK([](const V& in) { return adaptive_avg_pool2d(in[0], {3, 2}); }, (V{x}));
  ATTN_EXPECT_GRADCHECK([](const V& in) { return adaptive_avg_pool2d(in[0], {9, 6}); }, (V{x}));
  ATTN_EXPECT_GRADCHECK([](const V& in) { return avg_pool2d(in[0], {3, 2}, {2, 1}, {1, 1}); }, (V{x}));
  ATTN_EXPECT_GRADCHECK([](const V& in) { return avg_pool2d(in[0], {3, 3}, {1, 2}, {1, 1}, false); }, (V{x}));
  // Max pools: random inputs have distinct values, so the finite differences do not cross a tie.
  ATTN_EXPECT_GRADCHECK([](const V& in) { return adaptive_max_pool2d(in[0], {3, 2}); }, (V{x}));
  ATTN_EXPECT_GRADCHECK([](const V& in) { return max_pool2d(in[0], {2, 3}, {1, 2}, {1, 1}, {2, 1}); }, (V{x}));
  Tensor x1 = randn({2, 3, 9}, kFloat64, &gen).requires_grad_();
  ATTN_EXPECT_GRADCHECK([](const V& in) { return adaptive_avg_pool1d(in[0], 4); }, (V{x1}));
}

TEST(Pooling, GlobalPoolingEqualsMeanAndMax) {
  Generator gen(2);
  Tensor x = randn({3, 4, 6, 7}, kFloat32, &gen);
  EXPECT_TRUE(all_close(adaptive_avg_pool2d(x, {1, 1}), mean(x, {2, 3}, true), 1e-6, 1e-6));
  Tensor mx = max(max(x, 3, true).values, 2, true).values;
  EXPECT_TRUE(all_equal(adaptive_max_pool2d(x, {1, 1}), mx));
  // Identity sizes: adaptive pooling to the input size returns the input.
  EXPECT_TRUE(all_equal(adaptive_avg_pool2d(x, {6, 7}), x));
}

TEST(Pooling, UnbatchedStridedAndThreads) {
  Generator gen(4);
  Tensor x = randn({2, 5, 8, 6}, kFloat32, &gen).transpose(2, 3);  // [2, 5, 6, 8] strided
  Tensor xc = x.contiguous();
  EXPECT_TRUE(all_equal(max_pool2d(x, {3, 3}, {2, 2}, {1, 1}), max_pool2d(xc, {3, 3}, {2, 2}, {1, 1})));
  EXPECT_TRUE(all_equal(avg_pool2d(xc[1], {2, 2}), avg_pool2d(xc, {2, 2})[1]));
  auto [one, two] = testing::one_and_two_threads([&] {
    Tensor xx = x.detach().requires_grad_();
    Tensor y = adaptive_avg_pool2d(xx, {4, 3}) * 2.0 + sum(max_pool2d(xx, {2, 2}));
    y.backward(ones_like(y));
    return xx.grad();
  });
  EXPECT_TRUE(all_equal(one, two));
}

TEST(Pooling, NaNPropagatesThroughMax) {
  Tensor x = tensor({1.f, std::nanf(""), 3.f, 2.f}, {1, 1, 2, 2});
  auto r = adaptive_max_pool2d_with_indices(x, {1, 1});
  EXPECT_TRUE(std::isnan(r.values.item()));
  EXPECT_EQ(r.indices.item<int64_t>(), 1);
}

TEST(Pooling, EmptyBatchAndBadShapes) {
  Tensor e = zeros({0, 3, 4, 4}).requires_grad_();
  Tensor y = adaptive_avg_pool2d(e, {2, 2});
  EXPECT_EQ(y.shape(), (Shape{0, 3, 2, 2}));
  sum(y).backward();
  EXPECT_EQ(e.grad().shape(), e.shape());
  Tensor x = zeros({1, 2, 5, 5});
  try {
    max_pool2d(x, {7, 7});
    FAIL() << "expected attn::Error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("[1, 2, 5, 5]"), std::string::npos) << err.what();
  }
  EXPECT_THROW(max_pool2d(x, {2, 2}, {1, 1}, {2, 2}), Error);  // padding > kernel / 2
  EXPECT_THROW(adaptive_avg_pool2d(zeros({5, 5}), {1, 1}), Error);
  EXPECT_THROW(adaptive_avg_pool2d(x, {0, 1}), Error);
  EXPECT_THROW(avg_pool2d(x, {2, 0}), Error);
  EXPECT_THROW(adaptive_avg_pool2d(zeros({1, 2, 5, 5}, kInt64), {1, 1}), Error);
}

}  // namespace
}  // namespace attn
