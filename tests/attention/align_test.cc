// masked_softmax and the mask builders (src/attention/align.cc): PyTorch fixtures written row by
// row (tools/fixtures/align.py), d2l agreement, f64 gradchecks, the fully masked row (zeros,
// finite zero gradient, never NaN, in both kernel modes and at 1 and 2 threads), polarity,
// temperature, and errors. The softmax kernels themselves are tested in tests/ops/softmax_test.cc.
#include <cmath>
#include <limits>
#include <string>

#include "attn/attention/align.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::expect_error;
using testing::all_finite;

using testing::all_close;
using testing::all_equal;
using testing::load_fixture;

// Runs fn(scores) in f64 in both kernel modes against the fixture's out and grad_scores.
void check_fixture(const std::string& name, const std::function<Tensor(const Tensor&)>& fn) {
  SCOPED_TRACE(name);
  auto fx = load_fixture("align/" + name);
  for (bool reference : {true, false}) {
    KernelModeGuard mode(reference);
    Tensor x = fx.at("scores").detach().clone().requires_grad_();
    Tensor out = fn(x);
    // f64 softmax of <= 6 terms: a few ulps; masked entries and empty rows are exact zeros.
    EXPECT_TRUE(all_close(out, fx.at("out"), 1e-14, 1e-13)) << reference;
    out.backward(fx.at("grad_out"));
    EXPECT_TRUE(all_close(x.grad(), fx.at("grad_scores"), 1e-13, 1e-12)) << reference;
    // f32: scores rounded to f32 then exp: relative error ~ 1e-6 of weights <= 1.
    EXPECT_TRUE(all_close(fn(fx.at("scores").to(kFloat32)), fx.at("out").to(kFloat32), 2e-6, 1e-5)) << reference;
  }
}

TEST(MaskedSoftmax, ValidLens1dMatchesPyTorchAndD2l) {
  auto fx = load_fixture("align/valid_lens_1d");
  check_fixture("valid_lens_1d", [&](const Tensor& s) { return masked_softmax(s, fx.at("valid_lens")); });
  // No row is empty here, so d2l's -1e6 fill gives the same weights (exp(-1e6) == 0 in f64).
  EXPECT_TRUE(all_close(masked_softmax(fx.at("scores"), fx.at("valid_lens")), fx.at("d2l_out"), 1e-15));
  // Float lengths (d2l passes them sometimes) are the same counts.
  EXPECT_TRUE(all_equal(masked_softmax(fx.at("scores"), fx.at("valid_lens").to(kFloat32)),
                        masked_softmax(fx.at("scores"), fx.at("valid_lens"))));
}

TEST(MaskedSoftmax, ValidLens2dWithEmptyRowMatchesPyTorch) {
  auto fx = load_fixture("align/valid_lens_2d");
  check_fixture("valid_lens_2d", [&](const Tensor& s) { return masked_softmax(s, fx.at("valid_lens")); });
  // The same weights from the explicit bool mask the lengths describe.
  EXPECT_TRUE(all_equal(valid_lens_mask(fx.at("valid_lens"), 5, 4).expand({2, 3, 3, 5}).contiguous(),
                        fx.at("keep").expand({2, 3, 3, 5}).contiguous()));
}

TEST(MaskedSoftmax, BoolMaskBothPolaritiesMatchPyTorch) {
  auto fx = load_fixture("align/bool_mask");
  Tensor keep = fx.at("keep");
  check_fixture("bool_mask", [&](const Tensor& s) { return masked_softmax(s, keep, MaskPolarity::TrueKeeps); });
  check_fixture("bool_mask", [&](const Tensor& s) { return masked_softmax(s, ~keep, MaskPolarity::TrueMasks); });
}

TEST(MaskedSoftmax, AdditiveMaskWithTemperatureMatchesPyTorch) {
  auto fx = load_fixture("align/additive_temperature");
  check_fixture("additive_temperature", [&](const Tensor& s) {
    MaskedSoftmaxOptions o;
    o.additive_mask = fx.at("additive_mask");
    o.temperature = 0.7;
    return masked_softmax(s, o);
  });
}

TEST(MaskedSoftmax, CausalMasksMatchPyTorch) {
  for (auto [T, S] : {std::pair<int64_t, int64_t>{3, 5}, {5, 3}}) {
    const std::string sz = std::to_string(T) + "x" + std::to_string(S);
    for (auto [align, name] : {std::pair{CausalAlign::TopLeft, "causal_top_left_"},
                               std::pair{CausalAlign::BottomRight, "causal_bottom_right_"}}) {
      auto fx = load_fixture(std::string("align/") + name + sz);
      EXPECT_TRUE(all_equal(causal_mask(T, S, align), fx.at("keep"))) << name << sz;
      check_fixture(name + sz, [&](const Tensor& s) { return masked_softmax(s, causal_mask(T, S, align), MaskPolarity::TrueKeeps); });
    }
  }
  // Square: both alignments are torch.tril.
  EXPECT_TRUE(all_equal(causal_mask(4, 4, CausalAlign::TopLeft), causal_mask(4, 4, CausalAlign::BottomRight)));
  EXPECT_EQ(causal_mask(0, 3).shape(), (Shape{0, 3}));
}

TEST(MaskedSoftmax, FullyMaskedRowIsZeroWithZeroFiniteGradient) {
  // Every way of masking a whole row, forward and backward, both kernel modes, 1 and 2 threads.
  const double inf = std::numeric_limits<double>::infinity();
  for (DType dt : {kFloat32, kFloat64}) {
    Generator gen(3);
    Tensor base = randn({2, 3, 4}, dt, &gen);
    Tensor lens = tensor<int64_t>({0, 2}, {2});
    Tensor additive = zeros({3, 4}, dt);
    additive.narrow(0, 1, 1).fill_(-inf);
    std::vector<std::function<Tensor(const Tensor&)>> variants = {
        [&](const Tensor& s) { return masked_softmax(s, lens); },
        [&](const Tensor& s) { return masked_softmax(s, zeros({2, 1, 4}, kBool), MaskPolarity::TrueKeeps); },
        [&](const Tensor& s) { return masked_softmax(s, ones({4}, kBool), MaskPolarity::TrueMasks); },
        [&](const Tensor& s) {
          MaskedSoftmaxOptions o;
          o.additive_mask = additive;
          o.temperature = 0.5;
          return masked_softmax(s, o);
        },
        [&](const Tensor& s) { return masked_softmax(s.narrow(1, 0, 1).expand({2, 5, 4}).contiguous(),
                                                     causal_mask(5, 4, CausalAlign::BottomRight), MaskPolarity::TrueKeeps); },
    };
    for (size_t v = 0; v < variants.size(); ++v) {
      for (bool reference : {true, false}) {
        KernelModeGuard mode(reference);
        auto [one, two] = testing::one_and_two_threads([&] {
          Tensor x = base.detach().clone().requires_grad_();
          Tensor p = variants[v](x);
          EXPECT_TRUE(all_finite(p)) << v;
          Generator g2(4);
          p.backward(randn(p.shape(), dt, &g2));
          EXPECT_TRUE(all_finite(x.grad())) << v;
          return cat({p.reshape({-1}), x.grad().reshape({-1})});
        });
        EXPECT_TRUE(all_equal(one, two)) << v;
      }
    }
    // Where the rows are empty, weights and gradients are exactly zero.
    Tensor x = base.detach().clone().requires_grad_();
    Tensor p = masked_softmax(x, lens);
    p.backward(ones_like(p));
    EXPECT_TRUE(all_equal(p[0], zeros({3, 4}, dt)));
    EXPECT_TRUE(all_equal(x.grad()[0], zeros({3, 4}, dt)));
    // Rows that are not empty still sum to 1.
    EXPECT_TRUE(all_close(sum(p[1], {-1}), ones({3}, dt), 1e-6));
  }
}

TEST(MaskedSoftmax, NanScoresStayNanAndLargeNegativeIsAnOrdinaryScore) {
  Tensor s = tensor({1.0f, std::nanf(""), 0.0f, 2.0f}, {2, 2});
  Tensor p = masked_softmax(s, ones({2, 2}, kBool), MaskPolarity::TrueKeeps);
  EXPECT_TRUE(std::isnan(p[0][0].item()));
  // -1e9 is not -inf: a row of equal -1e9 scores is uniform (as PyTorch), not zero.
  MaskedSoftmaxOptions o;
  o.additive_mask = full({2, 2}, -1e9);
  Tensor u = masked_softmax(zeros({2, 2}), o);
  EXPECT_TRUE(all_close(u, full({2, 2}, 0.5), 1e-7));
}

TEST(MaskedSoftmax, TemperatureSharpensAndFlattens) {
  Tensor s = tensor({1.0f, 2.0f, 3.0f});
  Tensor plain = masked_softmax(s.unsqueeze(0), ones({1, 3}, kBool), MaskPolarity::TrueKeeps, 1.0);
  EXPECT_TRUE(all_close(plain, softmax(s.unsqueeze(0), -1), 1e-7));
  EXPECT_TRUE(all_close(masked_softmax(s.unsqueeze(0), ones({1, 3}, kBool), MaskPolarity::TrueKeeps, 0.5),
                        softmax(s.unsqueeze(0) * 2.0, -1), 1e-7));
}

TEST(MaskedSoftmax, Gradcheck) {
  Generator g(9);
  Tensor s = randn({2, 3, 5}, kFloat64, &g).requires_grad_();
  Tensor lens = tensor<int64_t>({{1, 0, 5, 3, 2, 4}}, {2, 3});
  ATTN_EXPECT_GRADCHECK([&](const std::vector<Tensor>& x) { return masked_softmax(x[0], lens, 0.8); },
                        (std::vector<Tensor>{s}));
  Tensor add = randn({3, 5}, kFloat64, &g).requires_grad_();  // a learned bias gets a gradient too
  ATTN_EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& x) {
        MaskedSoftmaxOptions o;
        o.additive_mask = x[1];
        o.mask = causal_mask(3, 5, CausalAlign::BottomRight);
        o.polarity = MaskPolarity::TrueKeeps;
        return masked_softmax(x[0], o);
      },
      (std::vector<Tensor>{s, add}));
}

TEST(MaskedSoftmax, EmptyDims) {
  EXPECT_EQ(masked_softmax(zeros({2, 0, 3}), tensor<int64_t>({1, 2}, {2})).shape(), (Shape{2, 0, 3}));
  EXPECT_EQ(masked_softmax(zeros({2, 3, 0}), tensor<int64_t>({0, 0}, {2})).shape(), (Shape{2, 3, 0}));
  // S = 1 and a length > S (clipped by the comparison).
  EXPECT_TRUE(all_equal(masked_softmax(zeros({2, 1}), tensor<int64_t>({0, 7}, {2})), tensor({0.0f, 1.0f}, {2, 1})));
}

TEST(MaskedSoftmax, BadInputsThrow) {
  Tensor s = randn({2, 3, 4});
  expect_error([&] { masked_softmax(s, tensor<int64_t>({1, 2, 3}, {3})); }, {"[3]", "[2, 3, 4]"});
  expect_error([&] { masked_softmax(s, tensor<int64_t>({1, 2, 3, 4}, {2, 2})); }, {"[2, 2]", "[2, 3, 4]"});
  expect_error([&] { masked_softmax(s, ones({3, 3}, kBool), MaskPolarity::TrueKeeps); }, {"[3, 3]", "[2, 3, 4]"});
  expect_error([&] { masked_softmax(s, ones({2, 3, 4}, kBool)); }, {"bool", "MaskPolarity"});
  MaskedSoftmaxOptions o;
  o.mask = ones({4}, kBool);
  expect_error([&] { masked_softmax(s, o); }, {"polarity"});
  o = {};
  o.mask = ones({4});
  o.polarity = MaskPolarity::TrueKeeps;
  expect_error([&] { masked_softmax(s, o); }, {"bool", "float32"});
  o = {};
  o.additive_mask = ones({5});
  expect_error([&] { masked_softmax(s, o); }, {"[5]", "[2, 3, 4]"});
  o = {};
  o.temperature = 0;
  expect_error([&] { masked_softmax(s, o); }, {"temperature"});
}

}  // namespace
}  // namespace attn
