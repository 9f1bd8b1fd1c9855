// Positional encodings (src/attention/positional.cc): PyTorch fixtures of each formula
// (tools/fixtures/positional.py), f64 gradchecks where something is differentiable, the offset /
// cached-decoding identities, and errors. There are no kernels of their own; the ops underneath
// are run in both kernel modes where results could differ.
#include <cmath>
#include <string>

#include "attn/attention/positional.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::expect_error;

using testing::all_close;
using testing::all_equal;
using testing::load_fixture;

// EXPECT that fn throws attn::Error whose message contains every one of `parts`.
// --- sinusoidal ------------------------------------------------------------------------------

TEST(Sinusoidal, TableMatchesPyTorch) {
  struct Case {
    int64_t len, d;
  };
  for (Case c : {Case{9, 8}, Case{6, 7}, Case{4, 1}}) {
    auto fx = load_fixture("positional/sinusoidal_table_" + std::to_string(c.len) + "x" + std::to_string(c.d));
    // float64: both sides evaluate exp/sin/cos of the same f64 angles; libm differences are ulps.
    EXPECT_TRUE(all_close(nn::sinusoidal_table(c.len, c.d, kFloat64), fx.at("table"), 1e-12)) << c.d;
    // float32: the f64 table rounded once, so within half an f32 ulp of |value| <= 1.
    EXPECT_TRUE(all_close(nn::sinusoidal_table(c.len, c.d), fx.at("table").to(kFloat32), 6e-8)) << c.d;
  }
  // Odd d: sine in the last column, with d (not d + 1) in the exponent.
  Tensor t = nn::sinusoidal_table(3, 5, kFloat64);
  EXPECT_NEAR(t[2][4].item(), std::sin(2.0 / std::pow(10000.0, 4.0 / 5.0)), 1e-15);
  EXPECT_EQ(nn::sinusoidal_table(0, 4).shape(), (Shape{0, 4}));
}

TEST(Sinusoidal, ModuleForwardWithOffsetMatchesPyTorch) {
  auto fx = load_fixture("positional/sinusoidal_forward");
  for (bool reference : {true, false}) {
    KernelModeGuard mode(reference);
    nn::SinusoidalPositionalEncoding pe(6, /*dropout=*/0.1, /*max_len=*/16, kFloat64);
    pe.eval();  // dropout off
    Tensor x = fx.at("x").detach().requires_grad_();
    Tensor out = pe(x, 5);
    EXPECT_TRUE(all_close(out, fx.at("out"), 1e-12)) << reference;  // f64 table, one add
    Tensor dy = randn(out.shape(), kFloat64);
    out.backward(dy);
    EXPECT_TRUE(all_equal(x.grad(), dy));  // d(x + pe)/dx = identity
  }
}

TEST(Sinusoidal, StepwiseDecodingEqualsFullSequence) {
  nn::SinusoidalPositionalEncoding pe(5, 0.0, 10);  // odd d, p = 0 keeps training mode exact
  Generator gen(1);
  Tensor x = randn({2, 6, 5}, kFloat32, &gen);
  Tensor full = pe(x);
  for (int64_t t = 0; t < 6; ++t)
    EXPECT_TRUE(all_equal(pe(x.narrow(1, t, 1), t), full.narrow(1, t, 1).contiguous())) << "step " << t;
}

TEST(Sinusoidal, DropoutOnlyInTraining) {
  nn::SinusoidalPositionalEncoding pe(4, 0.5, 8);
  Generator gen(2);
  pe.generator = &gen;
  Tensor x = randn({3, 8, 4}, kFloat32, &gen);
  Tensor clean = x + nn::sinusoidal_table(8, 4);
  Tensor out = pe(x);
  std::vector<double> o = to_double_vector(out), c = to_double_vector(clean);
  int zeros = 0;
  for (size_t i = 0; i < o.size(); ++i) {
    if (o[i] == 0.0) ++zeros;
    else EXPECT_NEAR(o[i], 2.0 * c[i], 1e-6);  // kept values scaled by 1 / (1 - p)
  }
  EXPECT_GT(zeros, 10);  // 96 elements at p = 0.5: P(<= 10 dropped) is negligible
  EXPECT_LT(zeros, 86);
  pe.eval();
  EXPECT_TRUE(all_equal(pe(x), clean));
}

TEST(Sinusoidal, BufferAndErrors) {
  nn::SinusoidalPositionalEncoding pe(4, 0.1, 8);
  EXPECT_EQ(pe.pe.shape(), (Shape{8, 4}));
  EXPECT_TRUE(pe.state_dict().empty());  // non-persistent: a function of the constructor arguments
  EXPECT_EQ(pe.buffers().size(), 1u);
  expect_error([&] { pe(zeros({2, 5, 4}), 4); }, {"T = 5", "offset = 4", "max_len = 8", "[2, 5, 4]"});
  expect_error([&] { pe(zeros({2, 5, 3})); }, {"[2, 5, 3]", "d_model = 4"});
  expect_error([&] { pe(zeros({5, 4})); }, {"[5, 4]"});
  expect_error([&] { pe(zeros({1, 1, 4}), -1); }, {"offset", "-1"});
  expect_error([] { nn::sinusoidal_table(4, 0); }, {"d_model 0"});
  // f64 input with the f32 table: the table is converted, the output keeps x's dtype.
  pe.eval();
  EXPECT_EQ(pe(zeros({1, 1, 4}, kFloat64), 7).dtype(), kFloat64);
}

// --- learned ---------------------------------------------------------------------------------

TEST(LearnedPositional, MatchesPyTorchWithOffset) {
  auto fx = load_fixture("positional/learned");
  nn::LearnedPositionalEmbedding m(6, 4, kFloat64);
  m.load_state_dict({{"weight", fx.at("weight")}});
  Tensor x = fx.at("x").detach().requires_grad_();
  Tensor out = m(x, 1);
  EXPECT_TRUE(all_close(out, fx.at("out"), 1e-15));  // one f64 add each
  out.backward(fx.at("grad_out"));
  EXPECT_TRUE(all_close(x.grad(), fx.at("grad_x"), 1e-15));
  EXPECT_TRUE(all_close(m.weight.grad(), fx.at("grad_weight"), 1e-14));  // sums of two f64 terms
  EXPECT_TRUE(all_equal(m.position_embeddings(3, 1), fx.at("weight").narrow(0, 1, 3).contiguous()));
}

TEST(LearnedPositional, Gradcheck) {
  nn::LearnedPositionalEmbedding m(5, 3, kFloat64);
  Generator gen(4);
  Tensor x = randn({2, 2, 3}, kFloat64, &gen).requires_grad_();
  Tensor w = randn({5, 3}, kFloat64, &gen).requires_grad_();
  ATTN_EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        m.weight = m.replace_parameter("weight", in[1]);
        return m(in[0], 2) * m(in[0], 3);  // nonlinear, so the check sees both inputs' values
      },
      (std::vector<Tensor>{x, w}));
}

TEST(LearnedPositional, Errors) {
  nn::LearnedPositionalEmbedding m(4, 2);
  EXPECT_EQ(m.state_dict().size(), 1u);
  EXPECT_EQ(m(zeros({1, 1, 2}), 3).shape(), (Shape{1, 1, 2}));  // T = 1 at the last position
  expect_error([&] { m(zeros({1, 5, 2})); }, {"T = 5", "max_len = 4"});
  expect_error([&] { m(zeros({1, 2, 2}), 3); }, {"T = 2", "offset = 3", "max_len = 4"});
  expect_error([&] { m.position_embeddings(5); }, {"T = 5", "max_len = 4"});
  expect_error([&] { m(zeros({1, 2, 3})); }, {"[1, 2, 3]", "d_model = 2"});
}

// --- rotary ----------------------------------------------------------------------------------

TEST(Rotary, MatchesHuggingFaceRotateHalf) {
  for (int offset : {0, 3}) {
    auto fx = load_fixture("positional/rope_offset" + std::to_string(offset));
    for (bool reference : {true, false}) {
      KernelModeGuard mode(reference);
      Tensor x = fx.at("x").detach().requires_grad_();
      Tensor out = nn::apply_rotary(x, offset);
      // float32: x * cos + rotate_half(x) * sin, each product rounded once on both sides.
      EXPECT_TRUE(all_close(out, fx.at("out"), 1e-6, 1e-6)) << offset << " ref=" << reference;
      out.backward(fx.at("grad_out"));
      EXPECT_TRUE(all_close(x.grad(), fx.at("grad_x"), 1e-6, 1e-6)) << offset << " ref=" << reference;
    }
  }
}

TEST(Rotary, Gradcheck) {
  Generator gen(5);
  Tensor x = randn({1, 2, 3, 4}, kFloat64, &gen).requires_grad_();
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return nn::apply_rotary(in[0], 2); },
                        (std::vector<Tensor>{x}));
}

TEST(Rotary, OffsetEqualsSlicingTheFullSequence) {
  Generator gen(6);
  Tensor x = randn({2, 3, 7, 6}, kFloat32, &gen);
  Tensor full = nn::apply_rotary(x);
  for (int64_t start : {0, 3, 6}) {
    const int64_t len = start == 6 ? 1 : 4;  // T = 1 at the end: one-step decoding
    Tensor part = nn::apply_rotary(x.narrow(2, start, len).contiguous(), start);
    // Same f64 angles, same f32 products: equal up to the fast kernels' tail handling.
    EXPECT_TRUE(all_close(part, full.narrow(2, start, len), 1e-7, 1e-6)) << start;
  }
}

TEST(Rotary, ScoresDependOnlyOnRelativePosition) {
  // <R(m) q, R(n) k> = <q, R(n - m) k>: shifting both positions leaves the score unchanged.
  Generator gen(7);
  Tensor q = randn({1, 1, 1, 8}, kFloat64, &gen), k = randn({1, 1, 1, 8}, kFloat64, &gen);
  auto score = [&](int64_t m, int64_t n) { return sum(nn::apply_rotary(q, m) * nn::apply_rotary(k, n)).item(); };
  EXPECT_NEAR(score(2, 0), score(9, 7), 1e-12);
  EXPECT_NEAR(score(0, 5), score(100, 105), 1e-11);
  EXPECT_GT(std::abs(score(2, 0) - score(0, 2)), 1e-6);  // but the sign of the offset matters
  // Position 0 is the identity; norms are preserved.
  EXPECT_TRUE(all_close(nn::apply_rotary(q, 0), q, 0.0));
  EXPECT_NEAR(sum(square(nn::apply_rotary(q, 11))).item(), sum(square(q)).item(), 1e-12);
}

TEST(Rotary, RotateHalfAndErrors) {
  Tensor x = tensor({1.f, 2.f, 3.f, 4.f});
  EXPECT_TRUE(all_equal(nn::rotate_half(x), tensor({-3.f, -4.f, 1.f, 2.f})));
  expect_error([] { nn::apply_rotary(zeros({1, 2, 3, 5})); }, {"[1, 2, 3, 5]", "even"});
  expect_error([] { nn::apply_rotary(zeros({2, 3, 4})); }, {"[2, 3, 4]", "[B, H, T, Dh]"});
  expect_error([] { nn::apply_rotary(zeros({1, 1, 1, 4}), -2); }, {"offset = -2"});
  nn::RotaryCosSin cs = nn::rotary_cos_sin(3, 4, 0, 10000.0, kFloat64);
  EXPECT_EQ(cs.cos.shape(), (Shape{3, 4}));
  EXPECT_NEAR(cs.sin[2][1].item(), std::sin(2.0 / 100.0), 1e-15);  // inv_freq[1] = 10000^(-2/4)
  EXPECT_NEAR(cs.sin[2][3].item(), std::sin(2.0 / 100.0), 1e-15);  // second half repeats it
}

TEST(Positional, OneAndTwoThreadsAgreeBitwise) {
  Generator gen(9);
  Tensor x = randn({2, 3, 33, 10}, kFloat32, &gen);
  auto [one, two] = testing::one_and_two_threads([&] { return nn::apply_rotary(x, 4); });
  EXPECT_TRUE(all_equal(one, two));
  Tensor mask = rand({2, 9, 7}, kFloat32, &gen) > 0.7;
  nn::PositionEmbeddingSine pe(6, 10000.0, true);
  auto [a, b] = testing::one_and_two_threads([&] { return pe(mask); });
  EXPECT_TRUE(all_equal(a, b));
}

// --- ALiBi -----------------------------------------------------------------------------------

TEST(Alibi, SlopesMatchReferenceImplementation) {
  for (int n : {1, 2, 3, 4, 5, 6, 8, 12, 16, 24}) {
    auto fx = load_fixture("positional/alibi_slopes_" + std::to_string(n));
    // Python's ** and std::pow of the same doubles: a few ulps at most.
    EXPECT_TRUE(all_close(nn::alibi_slopes(n, kFloat64), fx.at("slopes"), 0.0, 1e-14)) << n;
  }
  // The paper's 8 heads: 1/2, 1/4, ..., 1/256.
  EXPECT_TRUE(all_close(nn::alibi_slopes(8, kFloat64),
                        tensor<double>({0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625}), 0.0,
                        1e-15));
  expect_error([] { nn::alibi_slopes(0); }, {"num_heads", "0"});
}

TEST(Alibi, BiasMatchesReference) {
  struct Case {
    int64_t h, t, s;
  };
  for (Case c : {Case{6, 3, 5}, Case{4, 4, 4}, Case{3, 1, 1}}) {
    auto fx = load_fixture("positional/alibi_bias_" + std::to_string(c.h) + "x" + std::to_string(c.t) + "x" +
                           std::to_string(c.s));
    Tensor b = nn::alibi_bias(c.h, c.t, c.s, kFloat64);
    EXPECT_EQ(b.shape(), (Shape{c.h, c.t, c.s}));
    EXPECT_TRUE(all_close(b, fx.at("bias"), 0.0, 1e-14)) << c.h;  // slope * small integer
  }
  // Decoding one step against 5 cached keys is the last row of the full bias.
  EXPECT_TRUE(all_close(nn::alibi_bias(4, 1, 5), nn::alibi_bias(4, 5, 5).narrow(1, 4, 1), 0.0));
  expect_error([] { nn::alibi_bias(2, 4, 3); }, {"T (4)", "S (3)"});
}

// --- DETR 2-D sine ---------------------------------------------------------------------------

TEST(PositionEmbeddingSine, MatchesDetr) {
  for (int norm : {0, 1}) {
    auto fx = load_fixture("positional/detr_sine_norm" + std::to_string(norm));
    nn::PositionEmbeddingSine pe(8, 10000.0, norm == 1);
    for (bool reference : {true, false}) {
      KernelModeGuard mode(reference);
      Tensor out = pe(fx.at("mask"));
      EXPECT_EQ(out.shape(), (Shape{2, 16, 5, 6}));
      // DETR rounds the angles (<= 2*pi or <= 6) to float32 before sin/cos; we round after.
      EXPECT_TRUE(all_close(out, fx.at("out"), 2e-6, 1e-5)) << norm << " ref=" << reference;
    }
  }
}

TEST(PositionEmbeddingSine, ChannelLayoutAndErrors) {
  // One 1 x 2 image, no padding, 2 features: channels are [sin(y), cos(y), sin(x), cos(x/T^1)].
  nn::PositionEmbeddingSine pe(2, 100.0);
  Tensor out = pe(zeros({1, 1, 2}, kBool));  // [1, 4, 1, 2]
  EXPECT_NEAR(out[0][0][0][1].item(), std::sin(1.0), 1e-7);
  EXPECT_NEAR(out[0][1][0][1].item(), std::cos(1.0), 1e-7);
  EXPECT_NEAR(out[0][2][0][1].item(), std::sin(2.0), 1e-7);
  EXPECT_NEAR(out[0][3][0][1].item(), std::cos(2.0), 1e-7);  // dim_t[1] = 100^(2*0/2) = 1
  expect_error([&] { pe(zeros({1, 2, 2})); }, {"float32[1, 2, 2]"});
  expect_error([&] { pe(zeros({2, 2}, kBool)); }, {"bool[2, 2]"});
  expect_error([] { nn::PositionEmbeddingSine(7); }, {"7"});
}

// --- Shaw relative positions -----------------------------------------------------------------

TEST(RelativePosition, MatchesPyTorch) {
  auto fx = load_fixture("positional/shaw");
  nn::RelativePositionEmbedding m(2, 3, kFloat64);
  m.load_state_dict({{"weight", fx.at("weight")}});
  EXPECT_TRUE(all_equal(m.relative_indices(4, 6), fx.at("index")));
  Tensor out = m(4, 6);
  EXPECT_TRUE(all_equal(out, fx.at("out")));  // a pure gather
  out.backward(fx.at("grad_out"));
  // Rows receive sums of up to 9 f64 terms, accumulated in a different order than PyTorch's.
  EXPECT_TRUE(all_close(m.weight.grad(), fx.at("grad_weight"), 1e-13));
}

TEST(RelativePosition, GradcheckAndEdges) {
  nn::RelativePositionEmbedding m(1, 2, kFloat64);
  Generator gen(8);
  Tensor w = randn({3, 2}, kFloat64, &gen).requires_grad_();
  ATTN_EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        m.weight = m.replace_parameter("weight", in[0]);
        return square(m(3, 4));
      },
      (std::vector<Tensor>{w}));
  // k = 0: every pair maps to the single row.
  nn::RelativePositionEmbedding z(0, 2);
  EXPECT_TRUE(all_equal(z.relative_indices(2, 3), zeros({2, 3}, kInt64)));
  EXPECT_EQ(z(1, 1).shape(), (Shape{1, 1, 2}));
  EXPECT_EQ(z.state_dict().front().first, "weight");
  expect_error([] { nn::RelativePositionEmbedding(-1, 4); }, {"-1"});
  expect_error([&] { z(-1, 2); }, {"T = -1"});
}

}  // namespace
}  // namespace attn
