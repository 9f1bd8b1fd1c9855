// sliding_window_attention (src/attention/local.cc, on the fused kernel of flash.h): PyTorch fixtures
// of band-masked softmax attention (tools/fixtures/local.py), equality with the composed
// scaled_dot_product_attention under the equivalent dense mask (forward, dq, dk, dv) over awkward
// sizes, key lengths, padding masks, fully masked rows, both alignments and GQA; fast vs reference
// kernels with misaligned inputs; f64 gradchecks (dropout included, with a fixed seed); 1 vs 2
// threads bitwise; dropout masks identical to sdpa's for the same generator state; errors.
#include <cmath>
#include <string>

#include "attn/attention/local.h"
#include "attn/attention/sdpa.h"
#include "attention_grads.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::all_close;
using testing::all_equal;
using testing::all_finite;
using testing::expect_close;
using testing::expect_error;
using testing::Grads;
using testing::run;
using testing::load_fixture;

// The dense keep mask for sdpa: band [T, S] and key lengths [B] / padding mask [B, S] -> [B, 1.., T, S].
Tensor dense_mask(int64_t ndim, int64_t T, int64_t S, int64_t wl, int64_t wr, CausalAlign a, const Tensor& lens,
                  const Tensor& kpm) {
  Tensor m = sliding_window_mask(T, S, wl, wr, a);
  auto per_batch = [&](Tensor keep) {  // [B, S] -> [B, 1, ..., 1, S]
    Shape s(size_t(ndim), 1);
    s[0] = keep.size(0), s.back() = S;
    return keep.reshape(s);
  };
  if (lens.defined()) m = logical_and(m, per_batch(arange(double(S)).unsqueeze(0) < lens.to(kFloat64).unsqueeze(1)));
  if (kpm.defined()) m = logical_and(m, per_batch(logical_not(kpm)));
  return m;
}

TEST(SlidingWindow, MatchesPyTorchFixtures) {
  for (const char* name : {"sym_2", "causal_w3_br", "lens_tl", "diag_d1"}) {
    SCOPED_TRACE(name);
    auto fx = load_fixture(std::string("local/") + name);
    std::vector<double> w = to_double_vector(fx.at("window"));
    SlidingWindowOptions o;
    o.align = w[2] != 0 ? CausalAlign::BottomRight : CausalAlign::TopLeft;
    if (fx.contains("valid_lens")) o.valid_lens = fx.at("valid_lens");
    o.need_weights = true;
    for (bool reference : {true, false}) {
      KernelModeGuard mode(reference);
      Grads g = run(fx.at("q"), fx.at("k"), fx.at("v"), fx.at("grad_out"), [&](auto& q, auto& k, auto& v) {
        return sliding_window_attention(q, k, v, int64_t(w[0]), int64_t(w[1]), o);
      });
      // f64: dot products and softmax over <= 8 terms; a few ulps of O(1) values.
      EXPECT_TRUE(all_close(g.out, fx.at("out"), 1e-13, 1e-12)) << reference;
      EXPECT_TRUE(all_close(g.weights, fx.at("weights"), 1e-14, 1e-12)) << reference;
      EXPECT_TRUE(all_close(g.dq, fx.at("grad_q"), 1e-12, 1e-11)) << reference;
      EXPECT_TRUE(all_close(g.dk, fx.at("grad_k"), 1e-12, 1e-11)) << reference;
      EXPECT_TRUE(all_close(g.dv, fx.at("grad_v"), 1e-12, 1e-11)) << reference;
      // f32: inputs rounded (rel 6e-8), scores O(5) through exp: ~1e-6 relative on O(1) outputs.
      auto r32 = sliding_window_attention(fx.at("q").to(kFloat32), fx.at("k").to(kFloat32), fx.at("v").to(kFloat32),
                                          int64_t(w[0]), int64_t(w[1]), o);
      EXPECT_TRUE(all_close(r32.output, fx.at("out").to(kFloat32), 1e-5, 1e-5)) << reference;
    }
  }
}

TEST(SlidingWindow, EqualsDenseMaskedSdpaOverAwkwardSizes) {
  struct Case {
    int64_t B, H, T, S, E, Ev, wl, wr;
    CausalAlign a;
  };
  const CausalAlign TL = CausalAlign::TopLeft, BR = CausalAlign::BottomRight;
  const std::vector<Case> cases = {
      {1, 1, 1, 1, 1, 1, 0, 0, TL},      {2, 1, 1, 9, 7, 3, 2, 0, BR},     {2, 2, 9, 1, 7, 2, 3, 3, TL},
      {1, 2, 5, 5, 1, 1, 0, 0, TL},      {2, 1, 6, 4, 7, 5, 100, 100, TL}, {1, 3, 7, 11, 7, 4, -1, 0, BR},
      {2, 2, 11, 7, 7, 3, 1, -1, BR},    {1, 1, 17, 17, 64, 64, 4, 2, TL}, {2, 1, 8, 13, 64, 9, -1, -1, TL},
      {1, 2, 10, 10, 5, 6, 0, 3, TL},    {1, 1, 12, 20, 3, 2, 2, 5, BR},
  };
  for (size_t c = 0; c < cases.size(); ++c) {
    const Case& x = cases[c];
    SCOPED_TRACE("case " + std::to_string(c));
    Generator g(100 + c);
    Tensor q = randn({x.B, x.H, x.T, x.E}, kFloat64, &g), k = randn({x.B, x.H, x.S, x.E}, kFloat64, &g),
           v = randn({x.B, x.H, x.S, x.Ev}, kFloat64, &g), gout = randn({x.B, x.H, x.T, x.Ev}, kFloat64, &g);
    // Every other case with key lengths (one batch entry seeing at most one key) or a padding mask.
    Tensor lens, kpm;
    if (c % 3 == 1) lens = tensor(std::vector<int64_t>{x.S, 1}, {2}).narrow(0, 0, x.B);
    if (c % 3 == 2) kpm = rand({x.B, x.S}, kFloat64, &g) > 0.7;
    SlidingWindowOptions o;
    o.align = x.a, o.valid_lens = lens, o.key_padding_mask = kpm, o.need_weights = true;
    Tensor m = dense_mask(4, x.T, x.S, x.wl, x.wr, x.a, lens, kpm);
    Grads want = run(q, k, v, gout, [&](auto& q_, auto& k_, auto& v_) {
      return scaled_dot_product_attention(q_, k_, v_, m, 0.0, false, std::nullopt, false, true);
    });
    for (bool reference : {true, false}) {
      KernelModeGuard mode(reference);
      Grads got = run(q, k, v, gout, [&](auto& q_, auto& k_, auto& v_) {
        return sliding_window_attention(q_, k_, v_, x.wl, x.wr, o);
      });
      // f64, both sides exact up to summation order over <= 64 terms.
      expect_close(got, want, 1e-12);
      EXPECT_TRUE(all_close(got.weights, want.weights, 1e-13, 1e-12)) << reference;
    }
  }
}

TEST(SlidingWindow, GqaMatchesRepeatedHeadsAndDenseSdpa) {
  Generator g(3);
  Tensor q = randn({2, 6, 5, 4}, kFloat64, &g), k = randn({2, 2, 7, 4}, kFloat64, &g), v = randn({2, 2, 7, 3}, kFloat64, &g);
  SlidingWindowOptions o;
  o.enable_gqa = true, o.align = CausalAlign::BottomRight;
  Tensor m = sliding_window_mask(5, 7, 2, 0, CausalAlign::BottomRight);
  Grads want = run(q, k, v, Tensor(), [&](auto& a, auto& b, auto& c) {
    return scaled_dot_product_attention(a, b, c, m, 0.0, false, std::nullopt, true);
  });
  for (bool reference : {true, false}) {
    KernelModeGuard mode(reference);
    Grads got = run(q, k, v, Tensor(), [&](auto& a, auto& b, auto& c) { return sliding_window_attention(a, b, c, 2, 0, o); });
    expect_close(got, want, 1e-12);  // f64; dk, dv sum 3 heads in a different order
  }
}

TEST(SlidingWindow, FastMatchesReferenceMisalignedAwkwardSizes) {
  for (int64_t E : testing::awkward_sizes()) {
    if (E > 40) continue;  // the real size is covered in the dense-sdpa test; keep the test fast
    SCOPED_TRACE("E = " + std::to_string(E));
    const int64_t T = 9, S = 12;
    Tensor q = testing::misaligned_randn({2, T, E}, kFloat32, 1), k = testing::misaligned_randn({2, S, E}, kFloat32, 2),
           v = testing::misaligned_randn({2, S, E + 1}, kFloat32, 3), gout = testing::misaligned_randn({2, T, E + 1}, kFloat32, 4);
    SlidingWindowOptions o;
    o.valid_lens = tensor(std::vector<int64_t>{10, 0}, {2});  // batch 1 sees nothing
    o.need_weights = true;
    o.align = CausalAlign::BottomRight;
    Grads r, f;
    for (bool reference : {true, false}) {
      KernelModeGuard mode(reference);
      (reference ? r : f) = run(q, k, v, gout, [&](auto& a, auto& b, auto& c) { return sliding_window_attention(a, b, c, 3, 2, o); });
    }
    // float lanes vs double accumulation over <= 40 terms, then exp: ~1e-6 relative on O(1) values.
    expect_close(f, r, 2e-5);
    EXPECT_TRUE(all_close(f.weights, r.weights, 1e-6, 1e-5));
    EXPECT_TRUE(all_equal(f.out.select(0, 1), zeros({T, E + 1})));
  }
}

TEST(SlidingWindow, GradcheckF64) {
  Generator g(7);
  auto in = [&](Shape s) { return randn(std::move(s), kFloat64, &g).requires_grad_(); };
  std::vector<Tensor> x = {in({2, 2, 5, 3}), in({2, 2, 6, 3}), in({2, 2, 6, 2})};
  for (bool reference : {true, false}) {
    KernelModeGuard mode(reference);
    SlidingWindowOptions o;
    o.valid_lens = tensor(std::vector<int64_t>{6, 2}, {2});
    o.scale = 0.7;
    ATTN_EXPECT_GRADCHECK([&](const std::vector<Tensor>& t) { return sliding_window_attention(t[0], t[1], t[2], 1, 2, o).output; }, x);
    SlidingWindowOptions br;
    br.align = CausalAlign::BottomRight;
    ATTN_EXPECT_GRADCHECK([&](const std::vector<Tensor>& t) { return sliding_window_attention(t[0], t[1], t[2], 2, 0, br).output; }, x);
    // Dropout with a fixed seed: every evaluation draws the same mask from a fresh generator.
    ATTN_EXPECT_GRADCHECK(([&](const std::vector<Tensor>& t) {
                            Generator gen(99);
                            SlidingWindowOptions d;
                            d.dropout_p = 0.4, d.generator = &gen;
                            return sliding_window_attention(t[0], t[1], t[2], 2, 1, d).output;
                          }),
                          x);
  }
}

TEST(SlidingWindow, OneAndTwoThreadsBitwise) {
  for (DType dt : {kFloat32, kFloat64}) {
    for (bool reference : {true, false}) {
      KernelModeGuard mode(reference);
      Generator g(11);
      Tensor q = randn({2, 3, 33, 8}, dt, &g), k = randn({2, 3, 40, 8}, dt, &g), v = randn({2, 3, 40, 5}, dt, &g);
      auto [one, two] = testing::one_and_two_threads([&] {
        Generator dg(5);
        SlidingWindowOptions o;
        o.dropout_p = 0.2, o.generator = &dg, o.align = CausalAlign::BottomRight;
        Grads r = run(q, k, v, Tensor(), [&](auto& a, auto& b, auto& c) { return sliding_window_attention(a, b, c, 6, 3, o); });
        return cat({r.out.reshape({-1}), r.dq.reshape({-1}), r.dk.reshape({-1}), r.dv.reshape({-1})});
      });
      EXPECT_TRUE(all_equal(one, two)) << reference;
    }
  }
}

TEST(SlidingWindow, DropoutSameSeedSameResultAndSameMaskAsSdpa) {
  Generator g(9);
  Tensor q = randn({2, 2, 6, 4}, kFloat64, &g), k = randn({2, 2, 7, 4}, kFloat64, &g), v = randn({2, 2, 7, 3}, kFloat64, &g);
  Tensor m = sliding_window_mask(6, 7, 1, 2);
  for (bool reference : {true, false}) {
    KernelModeGuard mode(reference);
    auto local = [&](uint64_t seed, double p) {
      Generator gen(seed);
      SlidingWindowOptions o;
      o.dropout_p = p, o.generator = &gen, o.need_weights = true;
      Grads r = run(q, k, v, Tensor(), [&](auto& a, auto& b, auto& c) { return sliding_window_attention(a, b, c, 1, 2, o); });
      EXPECT_EQ(gen.offset(), p > 0 && p < 1 ? (2u * 2 * 6 * 7 + 3) / 4 : 0u);  // as dropout() on [2, 2, 6, 7]
      return r;
    };
    Grads a = local(42, 0.5), b = local(42, 0.5), c = local(43, 0.5);
    EXPECT_TRUE(all_equal(a.out, b.out) && all_equal(a.dq, b.dq) && all_equal(a.dk, b.dk) && all_equal(a.dv, b.dv));
    EXPECT_FALSE(all_equal(a.out, c.out));
    // The dense sdpa path with the same generator state drops the same weights.
    Generator sg(42);
    Grads s = run(q, k, v, Tensor(), [&](auto& x, auto& y, auto& z) {
      return scaled_dot_product_attention(x, y, z, m, 0.5, false, std::nullopt, false, true, &sg);
    });
    expect_close(a, s, 1e-12);  // f64
    EXPECT_TRUE(all_close(a.weights, s.weights, 1e-14, 1e-12));
    // p = 1 drops everything (zero output and gradients), p = 0 draws nothing.
    Grads all = local(1, 1.0);
    EXPECT_TRUE(all_equal(all.out, zeros({2, 2, 6, 3}, kFloat64)));
    EXPECT_TRUE(all_equal(all.dq, zeros_like(q)) && all_equal(all.dk, zeros_like(k)));
    local(1, 0.0);
  }
}

TEST(SlidingWindow, FullyMaskedRowsAreZeroAndFinite) {
  for (DType dt : {kFloat32, kFloat64}) {
    for (bool reference : {true, false}) {
      KernelModeGuard mode(reference);
      Generator g(8);
      Tensor q = randn({2, 5, 4}, dt, &g), k = randn({2, 3, 4}, dt, &g), v = randn({2, 3, 2}, dt, &g);
      // Bottom-right, T > S, causal window: rows 0 and 1 see no key; batch 1 has every key padded.
      SlidingWindowOptions o;
      o.align = CausalAlign::BottomRight, o.need_weights = true;
      o.key_padding_mask = tensor(std::vector<float>{0, 0, 0, 1, 1, 1}, {2, 3}) > 0.5;
      Grads r = run(q, k, v, Tensor(), [&](auto& a, auto& b, auto& c) { return sliding_window_attention(a, b, c, 1, 0, o); });
      EXPECT_TRUE(all_finite(r.out) && all_finite(r.dq) && all_finite(r.dk) && all_finite(r.dv));
      EXPECT_TRUE(all_equal(r.out.narrow(1, 0, 2), zeros({2, 2, 2}, dt)));
      EXPECT_TRUE(all_equal(r.out.select(0, 1), zeros({5, 2}, dt)));
      EXPECT_TRUE(all_equal(r.weights.select(0, 1), zeros({5, 3}, dt)));
      EXPECT_TRUE(all_equal(r.dq.select(0, 1), zeros({5, 4}, dt)));
      EXPECT_TRUE(all_equal(r.dk.select(0, 1), zeros({3, 4}, dt)));
      EXPECT_FALSE(all_equal(r.out.select(0, 0).narrow(0, 2, 3), zeros({3, 2}, dt)));
    }
  }
}

TEST(SlidingWindow, MaskFormAndEmptyDims) {
  for (CausalAlign a : {CausalAlign::TopLeft, CausalAlign::BottomRight}) {
    EXPECT_TRUE(all_equal(sliding_window_mask(4, 6, -1, 0, a), causal_mask(4, 6, a)));
    EXPECT_TRUE(all_equal(sliding_window_mask(6, 4, -1, 0, a), causal_mask(6, 4, a)));
  }
  EXPECT_TRUE(all_equal(sliding_window_mask(3, 3, 0, 1), tensor(std::vector<float>{1, 1, 0, 0, 1, 1, 0, 0, 1}, {3, 3}) > 0.5));
  EXPECT_EQ(sliding_window_attention(zeros({2, 0, 4}), zeros({2, 3, 4}), zeros({2, 3, 5}), 1, 1).output.shape(), (Shape{2, 0, 5}));
  auto r = sliding_window_attention(randn({2, 3, 4}), zeros({2, 0, 4}), zeros({2, 0, 5}), 1, 1);
  EXPECT_TRUE(all_equal(r.output, zeros({2, 3, 5})));
}

TEST(SlidingWindow, BadInputsThrow) {
  Tensor q = randn({2, 4, 3, 8}), k = randn({2, 4, 5, 8}), v = randn({2, 4, 5, 6});
  expect_error([&] { sliding_window_attention(q, randn({2, 4, 5, 7}), v, 1, 1); }, {"[2, 4, 3, 8]", "[2, 4, 5, 7]"});
  expect_error([&] { sliding_window_attention(q, k, randn({2, 4, 6, 6}), 1, 1); }, {"[2, 4, 5, 8]", "[2, 4, 6, 6]"});
  expect_error([&] { sliding_window_attention(q, randn({3, 4, 5, 8}), randn({3, 4, 5, 6}), 1, 1); },
               {"[2, 4, 3, 8]", "[3, 4, 5, 8]"});
  expect_error([&] { sliding_window_attention(q, randn({2, 3, 5, 8}), randn({2, 3, 5, 6}), 1, 1); }, {"Hq = 4", "Hk = 3"});
  expect_error([&] { sliding_window_attention(q, randn({4, 5, 8}), randn({4, 5, 6}), 1, 1); }, {"[2, 4, 3, 8]", "[4, 5, 8]"});
  expect_error([&] { sliding_window_attention(q, k, v, -2, 1); }, {"window_left = -2"});
  SlidingWindowOptions o;
  o.valid_lens = tensor(std::vector<int64_t>{1, 2, 3}, {3});
  expect_error([&] { sliding_window_attention(q, k, v, 1, 1, o); }, {"valid_lens", "[2, 4, 3, 8]"});
  SlidingWindowOptions m;
  m.key_padding_mask = ones({2, 4}, kBool);
  expect_error([&] { sliding_window_attention(q, k, v, 1, 1, m); }, {"key_padding_mask", "[2, 5]"});
  SlidingWindowOptions d;
  d.dropout_p = 1.5;
  expect_error([&] { sliding_window_attention(q, k, v, 1, 1, d); }, {"dropout_p"});
  expect_error([&] { sliding_window_attention(q, k.to(kFloat64), v, 1, 1); }, {"float32", "float64"});
}

}  // namespace
}  // namespace attn
