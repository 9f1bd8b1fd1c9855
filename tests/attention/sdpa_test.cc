// scaled_dot_product_attention (src/attention/sdpa.cc): PyTorch fixtures of the PyTorch 2.x
// formula (tools/fixtures/sdpa.py: causal, bool and float masks, GQA, T != S, batch 1, odd
// sizes), f64 gradchecks for q, k, v, the fully masked row (zero output, finite zero gradients),
// dropout and need_weights semantics, agreement with the score -> align -> fuse parts, errors.
#include <cmath>
#include <limits>
#include <string>

#include "attn/attention/align.h"
#include "attn/attention/flash.h"
#include "attn/attention/score.h"
#include "attn/attention/sdpa.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::expect_error;
using testing::all_finite;

using testing::all_close;
using testing::all_equal;
using testing::load_fixture;

struct Args {
  bool is_causal = false;
  std::optional<double> scale;
  bool enable_gqa = false;
};

void check_fixture(const std::string& name, Args a) {
  SCOPED_TRACE(name);
  auto fx = load_fixture("sdpa/" + name);
  Tensor mask = fx.contains("attn_mask") ? fx.at("attn_mask") : Tensor();
  for (bool reference : {true, false}) {
    KernelModeGuard mode(reference);
    Tensor q = fx.at("q").detach().clone().requires_grad_(), k = fx.at("k").detach().clone().requires_grad_(),
           v = fx.at("v").detach().clone().requires_grad_();
    auto r = scaled_dot_product_attention(q, k, v, mask, 0.0, a.is_causal, a.scale, a.enable_gqa, true);
    // f64: two GEMMs and a softmax over <= 7 terms; a few ulps of O(1) values.
    EXPECT_TRUE(all_close(r.output, fx.at("out"), 1e-13, 1e-12)) << reference;
    EXPECT_TRUE(all_close(r.weights, fx.at("weights"), 1e-14, 1e-12)) << reference;
    r.output.backward(fx.at("grad_out"));
    EXPECT_TRUE(all_close(q.grad(), fx.at("grad_q"), 1e-12, 1e-11)) << reference;
    EXPECT_TRUE(all_close(k.grad(), fx.at("grad_k"), 1e-12, 1e-11)) << reference;
    EXPECT_TRUE(all_close(v.grad(), fx.at("grad_v"), 1e-12, 1e-11)) << reference;
    // f32: inputs rounded (rel 6e-8), scores O(5) through exp: ~1e-6 relative on O(1) outputs.
    Tensor mf = mask.defined() && mask.dtype() == kFloat64 ? mask.to(kFloat32) : mask;
    auto r32 = scaled_dot_product_attention(fx.at("q").to(kFloat32), fx.at("k").to(kFloat32), fx.at("v").to(kFloat32), mf,
                                            0.0, a.is_causal, a.scale, a.enable_gqa);
    EXPECT_TRUE(all_close(r32.output, fx.at("out").to(kFloat32), 1e-5, 1e-5)) << reference;
    EXPECT_FALSE(r32.weights.defined());  // need_weights = false
  }
}

TEST(Sdpa, PlainMatchesPyTorch) { check_fixture("plain", {}); }
TEST(Sdpa, CausalMatchesPyTorch) {
  check_fixture("causal_4x6", {true, std::nullopt, false});
  check_fixture("causal_5x3", {true, std::nullopt, false});
}
TEST(Sdpa, BoolMaskWithFullyMaskedRowMatchesPyTorch) { check_fixture("bool_mask", {}); }
TEST(Sdpa, FloatMaskAndScaleMatchPyTorch) { check_fixture("float_mask_scale", {false, 0.3, false}); }
TEST(Sdpa, GqaMatchesPyTorch) { check_fixture("gqa_causal", {true, std::nullopt, true}); }
TEST(Sdpa, BatchOneOddSizesMatchPyTorch) { check_fixture("batch1_odd", {}); }

TEST(Sdpa, IsCausalEqualsTopLeftMaskAndComposedParts) {
  // Bitwise against the composed parts: pin the composed path (the fused kernel agrees to rounding,
  // tests/attention/flash_test.cc).
  SdpaBackendGuard composed(SdpaBackend::Composed);
  Generator g(5);
  Tensor q = randn({2, 3, 4, 8}, kFloat32, &g), k = randn({2, 3, 6, 8}, kFloat32, &g), v = randn({2, 3, 6, 5}, kFloat32, &g);
  auto a = scaled_dot_product_attention(q, k, v, Tensor(), 0.0, true, std::nullopt, false, true);
  auto b = scaled_dot_product_attention(q, k, v, causal_mask(4, 6), 0.0, false, std::nullopt, false, true);
  EXPECT_TRUE(all_equal(a.output, b.output));
  // score -> align -> fuse by hand gives the same numbers.
  Tensor w = masked_softmax(scaled_dot_score(q, k), causal_mask(4, 6), MaskPolarity::TrueKeeps);
  EXPECT_TRUE(all_equal(a.weights, w));
  EXPECT_TRUE(all_equal(a.output, matmul(w, v)));
  // A bool mask and the equivalent -inf float mask agree.
  Tensor m = causal_mask(4, 6, CausalAlign::BottomRight);
  Tensor fm = masked_fill(zeros({4, 6}), logical_not(m), -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(all_equal(scaled_dot_product_attention(q, k, v, m).output, scaled_dot_product_attention(q, k, v, fm).output));
}

TEST(Sdpa, GqaEqualsExplicitlyRepeatedHeads) {
  Generator g(6);
  Tensor q = randn({2, 4, 3, 5}, kFloat64, &g), k = randn({2, 2, 4, 5}, kFloat64, &g), v = randn({2, 2, 4, 3}, kFloat64, &g);
  auto r = scaled_dot_product_attention(q, k, v, Tensor(), 0.0, false, std::nullopt, true);
  // Query head h reads kv head h / 2 (repeat_interleave), not h % 2.
  for (int64_t h = 0; h < 4; ++h) {
    auto one = scaled_dot_product_attention(q.narrow(1, h, 1), k.narrow(1, h / 2, 1), v.narrow(1, h / 2, 1));
    EXPECT_TRUE(all_close(r.output.narrow(1, h, 1), one.output, 1e-15)) << h;
  }
}

TEST(Sdpa, GradcheckQKV) {
  Generator g(7);
  auto in = [&](Shape s) { return randn(std::move(s), kFloat64, &g).requires_grad_(); };
  std::vector<Tensor> x = {in({2, 2, 3, 4}), in({2, 2, 5, 4}), in({2, 2, 5, 3})};
  Tensor bm = rand({2, 1, 3, 5}, kFloat64, &g) > 0.3;
  bm.narrow(2, 0, 1).fill_(0.0);  // a fully masked row: its gradient is exactly zero
  ATTN_EXPECT_GRADCHECK([&](const std::vector<Tensor>& t) { return scaled_dot_product_attention(t[0], t[1], t[2], bm).output; }, x);
  ATTN_EXPECT_GRADCHECK([&](const std::vector<Tensor>& t) { return scaled_dot_product_attention(t[0], t[1], t[2], Tensor(), 0.0, true).output; }, x);
  Tensor fm = randn({3, 5}, kFloat64, &g);
  ATTN_EXPECT_GRADCHECK([&](const std::vector<Tensor>& t) { return scaled_dot_product_attention(t[0], t[1], t[2], fm, 0.0, false, 0.7).output; }, x);
  std::vector<Tensor> xg = {in({1, 4, 3, 2}), in({1, 2, 4, 2}), in({1, 2, 4, 3})};
  ATTN_EXPECT_GRADCHECK([&](const std::vector<Tensor>& t) { return scaled_dot_product_attention(t[0], t[1], t[2], Tensor(), 0.0, true, std::nullopt, true).output; }, xg);
}

TEST(Sdpa, FullyMaskedRowGivesZeroOutputAndFiniteZeroGradient) {
  for (DType dt : {kFloat32, kFloat64}) {
    for (bool reference : {true, false}) {
      KernelModeGuard mode(reference);
      Generator g(8);
      Tensor q = randn({2, 3, 4}, dt, &g).requires_grad_(), k = randn({2, 5, 4}, dt, &g).requires_grad_(),
             v = randn({2, 5, 3}, dt, &g).requires_grad_();
      Tensor m = ones({2, 3, 5}, kBool);
      m.select(0, 1).select(0, 1).fill_(0.0);  // batch 1, query 1 sees nothing
      auto [one, two] = testing::one_and_two_threads([&] {
        for (Tensor t : {q, k, v}) t.set_grad(Tensor());
        auto r = scaled_dot_product_attention(q, k, v, m, 0.0, false, std::nullopt, false, true);
        EXPECT_TRUE(all_finite(r.output));
        r.output.backward(ones_like(r.output));
        EXPECT_TRUE(all_finite(q.grad()) && all_finite(k.grad()) && all_finite(v.grad()));
        EXPECT_TRUE(all_equal(r.output[1][1], zeros({3}, dt)));
        EXPECT_TRUE(all_equal(r.weights[1][1], zeros({5}, dt)));
        EXPECT_TRUE(all_equal(q.grad()[1][1], zeros({4}, dt)));
        return cat({r.output.reshape({-1}), q.grad().reshape({-1}), k.grad().reshape({-1}), v.grad().reshape({-1})});
      });
      EXPECT_TRUE(all_equal(one, two));
    }
  }
  Tensor fm = zeros({3, 5});
  fm.narrow(0, 2, 1).fill_(-std::numeric_limits<double>::infinity());
  // The same through a -inf float mask, whose add passes any NaN of the softmax backward straight
  // to q and k (a bool mask's masked_fill would hide it).
  Tensor q = randn({3, 4}).requires_grad_(), k = randn({5, 4}).requires_grad_(), v = randn({5, 2}).requires_grad_();
  auto r = scaled_dot_product_attention(q, k, v, fm);
  EXPECT_TRUE(all_equal(r.output[2], zeros({2})));
  r.output.backward(ones_like(r.output));
  EXPECT_TRUE(all_finite(q.grad()) && all_finite(k.grad()) && all_finite(v.grad()));
  EXPECT_TRUE(all_equal(q.grad()[2], zeros({4})));
}

TEST(Sdpa, DropoutOnWeights) {
  Generator g(9);
  Tensor q = randn({2, 2, 6, 4}, kFloat32, &g), k = randn({2, 2, 7, 4}, kFloat32, &g), v = randn({2, 2, 7, 3}, kFloat32, &g);
  auto clean = scaled_dot_product_attention(q, k, v, Tensor(), 0.0, false, std::nullopt, false, true);
  Generator a(42), b(42);
  auto d1 = scaled_dot_product_attention(q, k, v, Tensor(), 0.5, false, std::nullopt, false, true, &a);
  auto d2 = scaled_dot_product_attention(q, k, v, Tensor(), 0.5, false, std::nullopt, false, true, &b);
  EXPECT_TRUE(all_equal(d1.output, d2.output));  // same seed, same mask
  EXPECT_TRUE(all_close(d1.output, matmul(d1.weights, v), 1e-6));  // weights returned are the ones used
  // Every weight is either dropped (0) or kept and scaled by 1 / (1 - p) = 2.
  std::vector<double> w = to_double_vector(d1.weights), c = to_double_vector(clean.weights);
  int dropped = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    if (w[i] == 0) ++dropped;
    else EXPECT_NEAR(w[i], 2 * c[i], 1e-6);
  }
  EXPECT_GT(dropped, 0);
  EXPECT_LT(dropped, int(w.size()));
  // p = 1 drops everything.
  EXPECT_TRUE(all_equal(scaled_dot_product_attention(q, k, v, Tensor(), 1.0).output, zeros({2, 2, 6, 3})));
  // p = 0 draws no random numbers.
  Generator c0(1);
  scaled_dot_product_attention(q, k, v, Tensor(), 0.0, false, std::nullopt, false, false, &c0);
  EXPECT_EQ(c0.offset(), 0u);
}

TEST(Sdpa, EmptyDimsAndBroadcast) {
  EXPECT_EQ(scaled_dot_product_attention(zeros({2, 0, 4}), zeros({2, 3, 4}), zeros({2, 3, 5})).output.shape(), (Shape{2, 0, 5}));
  auto r = scaled_dot_product_attention(randn({2, 3, 4}), zeros({2, 0, 4}), zeros({2, 0, 5}));
  EXPECT_TRUE(all_equal(r.output, zeros({2, 3, 5})));
  // k, v with one head broadcast over q's heads (matmul broadcasting, no enable_gqa needed).
  Generator g(10);
  Tensor q = randn({2, 3, 4, 5}, kFloat32, &g), k = randn({2, 1, 6, 5}, kFloat32, &g), v = randn({2, 1, 6, 2}, kFloat32, &g);
  EXPECT_TRUE(all_equal(scaled_dot_product_attention(q, k, v).output,
                        scaled_dot_product_attention(q, k.expand({2, 3, 6, 5}), v.expand({2, 3, 6, 2})).output));
}

TEST(Sdpa, BadInputsThrow) {
  Tensor q = randn({2, 4, 3, 8}), k = randn({2, 3, 5, 8}), v = randn({2, 3, 5, 6});
  expect_error([&] { scaled_dot_product_attention(q, k, v, Tensor(), 0, false, std::nullopt, true); },
               {"Hq = 4", "Hk = 3"});
  expect_error([&] { scaled_dot_product_attention(q, k, v); }, {"Hq = 4", "Hk = 3", "enable_gqa"});
  expect_error([&] { scaled_dot_product_attention(q, randn({2, 4, 5, 7}), randn({2, 4, 5, 6})); }, {"[2, 4, 3, 8]", "[2, 4, 5, 7]"});
  expect_error([&] { scaled_dot_product_attention(q, randn({2, 4, 5, 8}), randn({2, 4, 6, 6})); }, {"[2, 4, 5, 8]", "[2, 4, 6, 6]"});
  Tensor k4 = randn({2, 4, 5, 8}), v4 = randn({2, 4, 5, 6});
  expect_error([&] { scaled_dot_product_attention(q, k4, v4, ones({3, 5}, kBool), 0, true); }, {"attn_mask", "is_causal"});
  expect_error([&] { scaled_dot_product_attention(q, k4, v4, ones({4, 5}, kBool)); }, {"[4, 5]", "[2, 4, 3, 5]"});
  expect_error([&] { scaled_dot_product_attention(q, k4, v4, Tensor(), 1.5); }, {"dropout_p"});
  expect_error([&] { scaled_dot_product_attention(q, k4.to(kFloat64), v4); }, {"float32", "float64"});
}

}  // namespace
}  // namespace attn
