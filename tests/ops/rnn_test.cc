// gru_cell_fused / lstm_cell_fused: the SIMD kernels against the scalar reference (awkward sizes,
// misaligned pointers), the ops against the same cell composed from sigmoid / tanh / mul (forward
// and gradients), f64 gradchecks, thread-count independence and shape errors. The PyTorch
// comparison of these ops is the cell fixtures in tests/nn/rnn_test.cc (GRUCell and LSTMCell run
// through them).
#include "attn/ops/functional.h"
#include "kernels/rnn.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::all_close;
using testing::all_equal;

// The GRU step composed from differentiable ops: the obviously correct twin.
Tensor gru_composed(const Tensor& gi, const Tensor& gh, const Tensor& h) {
  const int64_t H = h.size(1);
  const Tensor r = sigmoid(gi.narrow(1, 0, H) + gh.narrow(1, 0, H));
  const Tensor z = sigmoid(gi.narrow(1, H, H) + gh.narrow(1, H, H));
  const Tensor n = tanh(gi.narrow(1, 2 * H, H) + r * gh.narrow(1, 2 * H, H));
  return (1.0 - z) * n + z * h;
}

Tensor lstm_composed(const Tensor& a, const Tensor& c) {
  const int64_t H = c.size(1);
  const Tensor i = sigmoid(a.narrow(1, 0, H)), f = sigmoid(a.narrow(1, H, H));
  const Tensor g = tanh(a.narrow(1, 2 * H, H)), o = sigmoid(a.narrow(1, 3 * H, H));
  const Tensor cn = f * c + i * g;
  return cat({o * tanh(cn), cn}, 1);
}

// Fast kernels against ref over awkward hidden sizes, misaligned inputs and outputs, both dtypes.
template <class T>
void check_kernels(DType dt, double fwd_tol, double bwd_tol) {
  for (int64_t B : {1, 3}) {
    for (int64_t H : testing::awkward_sizes()) {
      SCOPED_TRACE(detail::str_cat("B=", B, " H=", H));
      const Tensor gi = testing::misaligned_randn({B, 3 * H}, dt, 1), gh = testing::misaligned_randn({B, 3 * H}, dt, 2);
      const Tensor h = testing::misaligned_randn({B, H}, dt, 3), g = testing::misaligned_randn({B, H}, dt, 4);
      Tensor out_r = zeros({B, H}, dt), out_f = testing::misaligned_randn({B, H}, dt, 5);
      Tensor ws_r = zeros({B, 4 * H}, dt), ws_f = testing::misaligned_randn({B, 4 * H}, dt, 6);
      kernels::ref::gru_forward<T>(B, H, gi.data_ptr<T>(), gh.data_ptr<T>(), h.data_ptr<T>(), out_r.data_ptr<T>(),
                                   ws_r.data_ptr<T>());
      kernels::fast::gru_forward(B, H, gi.data_ptr<T>(), gh.data_ptr<T>(), h.data_ptr<T>(), out_f.data_ptr<T>(),
                                 ws_f.data_ptr<T>());
      EXPECT_TRUE(all_close(out_f, out_r, fwd_tol));
      EXPECT_TRUE(all_close(ws_f, ws_r, fwd_tol));
      // Backward from the same (reference) workspace: only rounding order differs.
      Tensor dgi_r = zeros({B, 3 * H}, dt), dgh_r = zeros({B, 3 * H}, dt), dh_r = zeros({B, H}, dt);
      Tensor dgi_f = testing::misaligned_randn({B, 3 * H}, dt, 7), dgh_f = testing::misaligned_randn({B, 3 * H}, dt, 8);
      Tensor dh_f = testing::misaligned_randn({B, H}, dt, 9);
      kernels::ref::gru_backward<T>(B, H, g.data_ptr<T>(), h.data_ptr<T>(), ws_r.data_ptr<T>(), dgi_r.data_ptr<T>(),
                                    dgh_r.data_ptr<T>(), dh_r.data_ptr<T>());
      kernels::fast::gru_backward(B, H, g.data_ptr<T>(), h.data_ptr<T>(), ws_r.data_ptr<T>(), dgi_f.data_ptr<T>(),
                                  dgh_f.data_ptr<T>(), dh_f.data_ptr<T>());
      EXPECT_TRUE(all_close(dgi_f, dgi_r, bwd_tol));
      EXPECT_TRUE(all_close(dgh_f, dgh_r, bwd_tol));
      EXPECT_TRUE(all_close(dh_f, dh_r, bwd_tol));

      const Tensor a = testing::misaligned_randn({B, 4 * H}, dt, 10) * 3.0, c = testing::misaligned_randn({B, H}, dt, 11);
      const Tensor dhc = testing::misaligned_randn({B, 2 * H}, dt, 12);
      Tensor hc_r = zeros({B, 2 * H}, dt), hc_f = testing::misaligned_randn({B, 2 * H}, dt, 13);
      Tensor lws_r = zeros({B, 5 * H}, dt), lws_f = testing::misaligned_randn({B, 5 * H}, dt, 14);
      kernels::ref::lstm_forward<T>(B, H, a.data_ptr<T>(), c.data_ptr<T>(), hc_r.data_ptr<T>(), lws_r.data_ptr<T>());
      kernels::fast::lstm_forward(B, H, a.data_ptr<T>(), c.data_ptr<T>(), hc_f.data_ptr<T>(), lws_f.data_ptr<T>());
      EXPECT_TRUE(all_close(hc_f, hc_r, fwd_tol));
      EXPECT_TRUE(all_close(lws_f, lws_r, fwd_tol));
      Tensor da_r = zeros({B, 4 * H}, dt), dc_r = zeros({B, H}, dt);
      Tensor da_f = testing::misaligned_randn({B, 4 * H}, dt, 15), dc_f = testing::misaligned_randn({B, H}, dt, 16);
      kernels::ref::lstm_backward<T>(B, H, dhc.data_ptr<T>(), c.data_ptr<T>(), lws_r.data_ptr<T>(), da_r.data_ptr<T>(),
                                     dc_r.data_ptr<T>());
      kernels::fast::lstm_backward(B, H, dhc.data_ptr<T>(), c.data_ptr<T>(), lws_r.data_ptr<T>(), da_f.data_ptr<T>(),
                                   dc_f.data_ptr<T>());
      EXPECT_TRUE(all_close(da_f, da_r, bwd_tol));
      EXPECT_TRUE(all_close(dc_f, dc_r, bwd_tol));
    }
  }
}

TEST(RnnKernels, FastMatchesReference) {
  // Forward: hwy Tanh (<= 4 ulp) and σ via tanh, absolute error of a few epsilon on values <= ~4.
  // Backward: the same products with FMA contraction, a few roundings on values up to ~10.
  check_kernels<float>(kFloat32, 4e-6, 1e-5);
  check_kernels<double>(kFloat64, 1e-14, 2e-14);
}

TEST(RnnOps, MatchComposedOps) {
  manual_seed(1);
  const Tensor gi = randn({3, 15}, kFloat64).requires_grad_(), gh = randn({3, 15}, kFloat64).requires_grad_();
  const Tensor h = randn({3, 5}, kFloat64).requires_grad_(), g = randn({3, 5}, kFloat64);
  const Tensor a = gru_cell_fused(gi, gh, h), b = gru_composed(gi, gh, h);
  // float64, the same formulas in a different grouping: 1e-14.
  EXPECT_TRUE(all_close(a, b, 1e-14));
  const auto ga = autograd::grad({a}, {gi, gh, h}, {g}), gb = autograd::grad({b}, {gi, gh, h}, {g});
  for (size_t k = 0; k < 3; ++k) EXPECT_TRUE(all_close(ga[k], gb[k], 1e-14)) << k;

  const Tensor gates = (randn({3, 20}, kFloat64) * 2.0).requires_grad_(), c = randn({3, 5}, kFloat64).requires_grad_();
  const Tensor gc = randn({3, 10}, kFloat64);
  const Tensor la = lstm_cell_fused(gates, c), lb = lstm_composed(gates, c);
  EXPECT_TRUE(all_close(la, lb, 1e-14));
  const auto lga = autograd::grad({la}, {gates, c}, {gc}), lgb = autograd::grad({lb}, {gates, c}, {gc});
  for (size_t k = 0; k < 2; ++k) EXPECT_TRUE(all_close(lga[k], lgb[k], 1e-14)) << k;
}

TEST(RnnOps, Gradcheck) {
  manual_seed(2);
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return gru_cell_fused(in[0], in[1], in[2]); },
                        (std::vector<Tensor>{randn({2, 9}, kFloat64).requires_grad_(),
                                             randn({2, 9}, kFloat64).requires_grad_(),
                                             randn({2, 3}, kFloat64).requires_grad_()}));
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return lstm_cell_fused(in[0], in[1]); },
                        (std::vector<Tensor>{randn({2, 12}, kFloat64).requires_grad_(),
                                             randn({2, 3}, kFloat64).requires_grad_()}));
}

TEST(RnnOps, OneAndTwoThreadsBitwise) {
  // Enough rows that the row split really uses two threads.
  manual_seed(3);
  const Tensor gi = randn({300, 3 * 70}), gh = randn({300, 3 * 70}), h = randn({300, 70}), g = randn({300, 70});
  auto [a1, a2] = testing::one_and_two_threads([&] {
    const Tensor x = gi.clone().requires_grad_();
    const Tensor y = gru_cell_fused(x, gh, h);
    return cat({y.flatten(), autograd::grad({y}, {x}, {g})[0].flatten()});
  });
  EXPECT_TRUE(all_equal(a1, a2));
  const Tensor gates = randn({300, 4 * 70}), c = randn({300, 70}), gc = randn({300, 140});
  auto [b1, b2] = testing::one_and_two_threads([&] {
    const Tensor x = gates.clone().requires_grad_();
    const Tensor y = lstm_cell_fused(x, c);
    return cat({y.flatten(), autograd::grad({y}, {x}, {gc})[0].flatten()});
  });
  EXPECT_TRUE(all_equal(b1, b2));
}

TEST(RnnOps, RefModeMatchesFast) {
  manual_seed(4);
  const Tensor gi = randn({4, 3 * 37}), gh = randn({4, 3 * 37}), h = randn({4, 37});
  auto [r, f] = testing::ref_and_fast([&] { return gru_cell_fused(gi, gh, h); });
  EXPECT_TRUE(all_close(f, r, 4e-6));  // the kernel tolerance above
}

TEST(RnnOps, UnbindStepsGradients) {
  manual_seed(5);
  const Tensor x = randn({4, 2, 3}, kFloat64).requires_grad_();
  const Tensor w = randn({2, 3}, kFloat64);
  auto loss_of = [&](const std::vector<Tensor>& steps) {
    // Steps 0 and 3 used (step 3 twice), steps 1 and 2 unused: their gradient must be 0.
    return sum(steps[0] * w) + sum(tanh(steps[3])) + sum(steps[3] * steps[0]);
  };
  std::vector<Tensor> sel;
  for (int64_t t = 0; t < 4; ++t) sel.push_back(x.select(0, t));
  const Tensor want = autograd::grad({loss_of(sel)}, {x})[0];
  const std::vector<Tensor> steps = unbind_steps(x);
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_TRUE(all_equal(steps[2], x.select(0, 2)));
  const Tensor loss = loss_of(steps);
  loss.backward(Tensor(), /*retain_graph=*/true);
  EXPECT_TRUE(all_close(x.grad(), want, 1e-15));  // the same products, summed the same way
  loss.backward();  // a retained graph gathers into a fresh buffer: the gradient doubles
  EXPECT_TRUE(all_close(x.grad(), want * 2.0, 1e-15));
  ATTN_EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return loss_of(unbind_steps(in[0])); },
                        (std::vector<Tensor>{x.detach().clone().requires_grad_()}));
  testing::expect_error([] { unbind_steps(scalar_tensor(1.0)); }, {"at least one dim"});
}

TEST(RnnOps, EmptyAndErrors) {
  EXPECT_EQ(gru_cell_fused(zeros({0, 6}), zeros({0, 6}), zeros({0, 2})).shape(), (Shape{0, 2}));
  EXPECT_EQ(lstm_cell_fused(zeros({2, 0}), zeros({2, 0})).shape(), (Shape{2, 0}));
  testing::expect_error([] { gru_cell_fused(zeros({2, 6}), zeros({2, 9}), zeros({2, 2})); }, {"[2, 6]", "[2, 9]", "[2, 2]"});
  testing::expect_error([] { gru_cell_fused(zeros({2, 6}), zeros({2, 6}), zeros({3, 2})); }, {"[2, 6]", "[3, 2]"});
  testing::expect_error([] { lstm_cell_fused(zeros({2, 7}), zeros({2, 2})); }, {"[2, 7]", "[2, 2]"});
  testing::expect_error([] { lstm_cell_fused(zeros({2, 8}), zeros({2, 2}, kFloat64)); }, {"float64"});
}

}  // namespace
}  // namespace attn
