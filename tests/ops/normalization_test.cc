#include "attn/ops/normalization.h"

#include <cmath>

#include "attn/ops/elementwise.h"
#include "kernels/layer_norm.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::all_close;
using testing::all_equal;

// Forward and backward kernels, ref vs fast, on misaligned [rows, n] buffers.
template <class T>
void expect_fast_matches_ref(int64_t rows, int64_t n, bool affine, double atol, double rtol) {
  const DType dt = dtype_of_v<T>;
  // Mean 2 and std 3: the mean is not 0, so a wrong centring shows.
  Tensor x = testing::misaligned_randn({rows, n}, dt, 21) * 3.0 + 2.0;
  Tensor w = testing::misaligned_randn({n}, dt, 22), b = testing::misaligned_randn({n}, dt, 23);
  Tensor dy = testing::misaligned_randn({rows, n}, dt, 24);
  const T* pw = affine ? w.data_ptr<T>() : nullptr;
  const T* pb = affine ? b.data_ptr<T>() : nullptr;
  Tensor yr = empty({rows, n}, dt), mr = empty({rows}, dt), rr = empty({rows}, dt);
  Tensor yf = empty({rows, n}, dt), mf = empty({rows}, dt), rf = empty({rows}, dt);
  kernels::ref::layer_norm_forward(x.data_ptr<T>(), pw, pb, rows, n, 1e-5, yr.data_ptr<T>(), mr.data_ptr<T>(),
                                   rr.data_ptr<T>());
  kernels::fast::layer_norm_forward(x.data_ptr<T>(), pw, pb, rows, n, 1e-5, yf.data_ptr<T>(), mf.data_ptr<T>(),
                                    rf.data_ptr<T>());
  const std::string what = "rows " + std::to_string(rows) + " n " + std::to_string(n) + (affine ? " affine" : "");
  EXPECT_TRUE(all_close(yf, yr, atol, rtol)) << what;
  EXPECT_TRUE(all_close(mf, mr, atol, rtol)) << what;
  EXPECT_TRUE(all_close(rf, rr, atol, rtol)) << what;
  Tensor dxr = empty({rows, n}, dt), dwr = empty({n}, dt), dbr = empty({n}, dt);
  Tensor dxf = empty({rows, n}, dt), dwf = empty({n}, dt), dbf = empty({n}, dt);
  kernels::ref::layer_norm_backward(dy.data_ptr<T>(), x.data_ptr<T>(), mr.data_ptr<T>(), rr.data_ptr<T>(), pw, rows, n,
                                    dxr.data_ptr<T>(), dwr.data_ptr<T>(), dbr.data_ptr<T>());
  kernels::fast::layer_norm_backward(dy.data_ptr<T>(), x.data_ptr<T>(), mr.data_ptr<T>(), rr.data_ptr<T>(), pw, rows,
                                     n, dxf.data_ptr<T>(), dwf.data_ptr<T>(), dbf.data_ptr<T>());
  // dx carries a factor rstd, which is 1/sqrt(eps) ~ 316 when n == 1 (var = 0): float rounding of
  // dy * w (which the compiler may fuse into an FMA) is amplified by that much.
  EXPECT_TRUE(all_close(dxf, dxr, n == 1 ? 500 * atol : atol, rtol)) << what;
  EXPECT_TRUE(all_close(dwf, dwr, atol * std::sqrt(double(rows) + 1), rtol)) << what;
  EXPECT_TRUE(all_close(dbf, dbr, atol * std::sqrt(double(rows) + 1), rtol)) << what;
  // Only some gradients wanted (null outputs): the others must be unaffected.
  Tensor dx2 = empty({rows, n}, dt);
  kernels::fast::layer_norm_backward(dy.data_ptr<T>(), x.data_ptr<T>(), mr.data_ptr<T>(), rr.data_ptr<T>(), pw, rows,
                                     n, dx2.data_ptr<T>(), nullptr, nullptr);
  // Same formulas, but GCC's default -ffp-contract=fast may fuse a*b+c into an FMA differently in
  // the kernel variant without dw / db, so allow float rounding rather than demanding equal bits.
  EXPECT_TRUE(all_close(dx2, dxf, n == 1 ? 500 * atol : atol, rtol)) << what;
}

TEST(LayerNorm, FastMatchesReferenceOnAwkwardSizes) {
  for (int64_t n : testing::awkward_sizes()) {
    for (bool affine : {false, true}) {
      // float32: O(1) values after normalisation; fast sums squared deviations and gradient terms
      // in float lanes (ref in double), which rounds at ~1e-7 per term: 4e-6 leaves margin.
      expect_fast_matches_ref<float>(3, n, affine, 4e-6, 4e-6);
      expect_fast_matches_ref<double>(3, n, affine, 1e-12, 1e-12);
    }
  }
  // Many rows: several row blocks in the backward's dw / db partial sums, and a ragged last block.
  expect_fast_matches_ref<float>(613, 40, true, 4e-6, 4e-6);
  expect_fast_matches_ref<double>(613, 40, true, 1e-12, 1e-12);
}

TEST(LayerNorm, PyTorchFixtures) {
  struct Case {
    const char* name;
    Shape shape;
    bool w, b;
    double eps;
  };
  for (const Case& c : {Case{"affine", {37}, true, true, 1e-5}, Case{"affine_2d", {4, 5}, true, true, 1e-5},
                        Case{"no_affine", {17}, false, false, 1e-5}, Case{"weight_only", {9}, true, false, 1e-5},
                        Case{"large_mean", {64}, true, true, 1e-3}}) {
    for (bool ref : {true, false}) {
      KernelModeGuard guard(ref);
      auto fx = testing::load_fixture(std::string("normalization/") + c.name);
      Tensor x = fx.at("x").detach().requires_grad_();
      Tensor w = c.w ? fx.at("weight").detach().requires_grad_() : Tensor();
      Tensor b = c.b ? fx.at("bias").detach().requires_grad_() : Tensor();
      Tensor y = layer_norm(x, c.shape, w, b, c.eps);
      const std::string what = std::string(c.name) + (ref ? " ref" : " fast");
      // Forward: float32 rounding of O(1) outputs (a few ulp; large_mean's reference is float64).
      EXPECT_TRUE(all_close(y, fx.at("out"), 1e-5, 1e-5)) << what;
      y.backward(fx.at("grad_out"));
      // Backward: as PyTorch, attn saves the mean in float32; for large_mean (mean 100, std 0.1) its
      // rounding (half an ulp of 100 = 3.8e-6) shifts xhat by ~4e-5, so that case gets 1e-4.
      const double tol = std::string(c.name) == "large_mean" ? 1e-4 : 1e-5;
      EXPECT_TRUE(all_close(x.grad(), fx.at("grad_x"), tol, 1e-5)) << what;
      if (c.w) {
        EXPECT_TRUE(all_close(w.grad(), fx.at("grad_weight"), tol, 1e-5)) << what;
      }
      if (c.b) {
        EXPECT_TRUE(all_close(b.grad(), fx.at("grad_bias"), 1e-5, 1e-5)) << what;
      }
    }
  }
}

TEST(LayerNorm, Gradcheck) {
  Generator g(4);
  Tensor x = randn({3, 2, 6}, kFloat64, &g).requires_grad_();
  Tensor w = randn({6}, kFloat64, &g).requires_grad_(), b = randn({6}, kFloat64, &g).requires_grad_();
  Tensor w2 = randn({2, 6}, kFloat64, &g).requires_grad_();
  for (bool ref : {true, false}) {
    KernelModeGuard guard(ref);
    ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return layer_norm(in[0], {6}, in[1], in[2]); },
                          (std::vector<Tensor>{x, w, b}));
    ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return layer_norm(in[0], {2, 6}, in[1]); },
                          (std::vector<Tensor>{x, w2}));
    ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return layer_norm(in[0], {6}); }, std::vector<Tensor>{x});
  }
}

TEST(LayerNorm, NormalisesAndIsAccurateForLargeMeans) {
  // Rows with mean 1e4 and std 1: one-pass E[x^2] - E[x]^2 would lose every digit in float32.
  Tensor x = randn({4, 300}, kFloat64) + 1e4;
  Tensor x32 = x.to(kFloat32);
  Tensor expect = layer_norm(x32.to(kFloat64), {300});  // float64 of the same float32 inputs
  for (bool ref : {true, false}) {
    KernelModeGuard guard(ref);
    Tensor y = layer_norm(x32, {300});
    // Both kernels take x - mean without rounding the mean to float32 (ref in double, fast as
    // hi + lo), so the result is float32 rounding of O(1) values; a float32 mean would be off by up
    // to half an ulp of 1e4 (5e-4).
    EXPECT_TRUE(all_close(y, expect, 2e-6, 0)) << (ref ? "ref" : "fast");
  }
  // Output rows have mean 0 and biased variance 1 (up to eps).
  Tensor y = layer_norm(randn({5, 64}, kFloat64) * 4.0 + 3.0, {64}, Tensor(), Tensor(), 0.0);
  const std::vector<double> v = to_double_vector(y);
  for (int r = 0; r < 5; ++r) {
    double s = 0, ss = 0;
    for (int j = 0; j < 64; ++j) s += v[r * 64 + j], ss += v[r * 64 + j] * v[r * 64 + j];
    EXPECT_NEAR(s / 64, 0.0, 1e-12);
    EXPECT_NEAR(ss / 64, 1.0, 1e-12);
  }
}

TEST(LayerNorm, OneAndTwoThreadsAgree) {
  Tensor x = randn({300, 257}), w = randn({257}), b = randn({257}), dy = randn({300, 257});
  for (bool ref : {true, false}) {
    KernelModeGuard guard(ref);
    for (int which = 0; which < 4; ++which) {
      auto [one, two] = testing::one_and_two_threads([&] {
        Tensor xg = x.detach().requires_grad_(), wg = w.detach().requires_grad_(), bg = b.detach().requires_grad_();
        Tensor y = layer_norm(xg, {257}, wg, bg);
        if (which == 0) return y;
        y.backward(dy);
        return which == 1 ? xg.grad() : which == 2 ? wg.grad() : bg.grad();
      });
      EXPECT_TRUE(all_equal(one, two)) << "output " << which << (ref ? " ref" : " fast");
    }
  }
}

TEST(LayerNorm, EdgeCases) {
  // No rows: empty output; dweight / dbias are zero (a sum over no rows).
  Tensor x = zeros({0, 4}).requires_grad_();
  Tensor w = ones({4}).requires_grad_(), b = zeros({4}).requires_grad_();
  Tensor y = layer_norm(x, {4}, w, b);
  EXPECT_EQ(y.shape(), (Shape{0, 4}));
  y.backward(zeros({0, 4}));
  EXPECT_TRUE(all_equal(w.grad(), zeros({4})));
  EXPECT_TRUE(all_equal(b.grad(), zeros({4})));
  // A size-1 normalised dim: x - mean = 0, so y = bias.
  EXPECT_TRUE(all_equal(layer_norm(randn({3, 1}), {1}, Tensor(), full({1}, 2.0)), full({3, 1}, 2.0)));
  // Normalising a 1-d tensor over its only dim, and a non-contiguous input.
  Tensor v = randn({7, 5});
  EXPECT_TRUE(all_equal(layer_norm(v.t(), {7}), layer_norm(v.t().contiguous(), {7})));
  EXPECT_EQ(layer_norm(randn({5}), {5}).shape(), Shape{5});
}

TEST(LayerNorm, BadArgumentsThrow) {
  auto expect_error = [](const std::function<void()>& f, std::vector<std::string> parts) {
    try {
      f();
      FAIL() << "no error";
    } catch (const Error& e) {
      for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  };
  expect_error([] { layer_norm(zeros({2, 3}), {4}); }, {"[2, 3]", "[4]"});
  expect_error([] { layer_norm(zeros({3}), {2, 3}); }, {"[3]", "[2, 3]"});
  expect_error([] { layer_norm(zeros({2, 3}), {3}, ones({4})); }, {"[4]", "[3]"});
  expect_error([] { layer_norm(zeros({2, 3}), {3}, Tensor(), ones({2, 3})); }, {"bias", "[2, 3]"});
  expect_error([] { layer_norm(zeros({2, 3}), {3}, ones({3}, kFloat64)); }, {"float64", "float32"});
  expect_error([] { layer_norm(arange(3), {3}); }, {"int64"});
}

}  // namespace
}  // namespace attn
