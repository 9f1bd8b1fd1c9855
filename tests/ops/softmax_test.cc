#include "attn/ops/softmax.h"

#include <cmath>

#include "attn/ops/elementwise.h"
#include "kernels/softmax.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::all_close;
using testing::all_equal;

constexpr double kInf = INFINITY;

// Runs the ref and fast forward + backward kernels on [outer, n, inner] views of misaligned buffers
// and compares them.
template <class T>
void expect_fast_matches_ref(int64_t outer, int64_t n, int64_t inner, bool log, double atol, double rtol) {
  const DType dt = dtype_of_v<T>;
  const Shape shape{outer, n, inner};
  Tensor x = testing::misaligned_randn(shape, dt, 11) * 3.0;
  Tensor dy = testing::misaligned_randn(shape, dt, 12);
  Tensor yr = empty(shape, dt), yf = testing::misaligned_randn(shape, dt, 13);
  kernels::ref::softmax(x.data_ptr<T>(), outer, n, inner, log, yr.data_ptr<T>());
  kernels::fast::softmax(x.data_ptr<T>(), outer, n, inner, log, yf.data_ptr<T>());
  EXPECT_TRUE(all_close(yf, yr, atol, rtol)) << (log ? "log_softmax" : "softmax") << " " << shape_str(shape);
  Tensor dxr = empty(shape, dt), dxf = testing::misaligned_randn(shape, dt, 14);
  kernels::ref::softmax_backward(yr.data_ptr<T>(), dy.data_ptr<T>(), outer, n, inner, log, dxr.data_ptr<T>());
  kernels::fast::softmax_backward(yr.data_ptr<T>(), dy.data_ptr<T>(), outer, n, inner, log, dxf.data_ptr<T>());
  EXPECT_TRUE(all_close(dxf, dxr, atol, rtol)) << (log ? "log_softmax" : "softmax") << " backward " << shape_str(shape);
}

TEST(Softmax, FastMatchesReferenceOnAwkwardSizes) {
  for (bool log : {false, true}) {
    for (int64_t n : testing::awkward_sizes()) {
      // Rows (inner == 1) and columns (inner > 1, with SIMD tails across columns).
      // float32: hwy Exp is within 1 ulp and row sums use float lanes (<= ~60 terms per lane at n =
      // 1000), so outputs agree to a few ulp; 1e-5 relative (plus 1e-6 absolute for log-probabilities
      // near 0 and for backward cancellation) leaves margin.
      expect_fast_matches_ref<float>(3, n, 1, log, 1e-6, 1e-5);
      expect_fast_matches_ref<float>(2, n, 17, log, 1e-6, 1e-5);
      expect_fast_matches_ref<float>(1, std::min<int64_t>(n, 40), n, log, 1e-6, 1e-5);
      // float64: same algorithms with 2^29 times smaller rounding.
      expect_fast_matches_ref<double>(3, n, 1, log, 1e-14, 1e-12);
      expect_fast_matches_ref<double>(2, n, 9, log, 1e-14, 1e-12);
    }
  }
  // A column block boundary (kColBlock = 256) with a tail.
  expect_fast_matches_ref<float>(2, 5, 300, false, 1e-6, 1e-5);
}

TEST(Softmax, KnownValues) {
  // softmax([1, 2, 3]) = e^k / (e + e^2 + e^3).
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  Tensor x = tensor({1.f, 2.f, 3.f});
  for (bool ref : {true, false}) {
    KernelModeGuard guard(ref);
    Tensor expect = tensor({float(std::exp(1.0) / z), float(std::exp(2.0) / z), float(std::exp(3.0) / z)});
    EXPECT_TRUE(all_close(softmax(x, 0), expect, 1e-7, 1e-6));  // float32 rounding of the exponentials
    Tensor expect_log = tensor({float(1 - std::log(z)), float(2 - std::log(z)), float(3 - std::log(z))});
    EXPECT_TRUE(all_close(log_softmax(x, -1), expect_log, 1e-6, 1e-6));
  }
}

TEST(Softmax, PyTorchFixtures) {
  struct Case {
    const char* name;
    bool log;
    int64_t dim;
  };
  for (const Case& c : {Case{"softmax_last", false, -1}, Case{"softmax_dim1", false, 1}, Case{"softmax_dim0", false, 0},
                        Case{"softmax_large", false, -1}, Case{"softmax_masked", false, -1},
                        Case{"log_softmax_last", true, -1}, Case{"log_softmax_dim1", true, 1},
                        Case{"log_softmax_dim0", true, 0}, Case{"log_softmax_large", true, -1}}) {
    for (bool ref : {true, false}) {
      KernelModeGuard guard(ref);
      auto fx = testing::load_fixture(std::string("softmax/") + c.name);
      Tensor x = fx.at("x").detach().requires_grad_();
      Tensor y = c.log ? log_softmax(x, c.dim) : softmax(x, c.dim);
      // float32 with different exp implementations and summation orders: a few ulp. The large-logit
      // log_softmax case has outputs near -120, so its absolute error scales with that.
      EXPECT_TRUE(all_close(y, fx.at("out"), 1e-5, 1e-5)) << c.name << (ref ? " ref" : " fast");
      y.backward(fx.at("grad_out"));
      EXPECT_TRUE(all_close(x.grad(), fx.at("grad_x"), 1e-5, 1e-5)) << c.name << (ref ? " ref" : " fast");
    }
  }
}

TEST(Softmax, Gradcheck) {
  Generator g(3);
  Tensor x = randn({3, 4, 5}, kFloat64, &g).requires_grad_();
  for (bool ref : {true, false}) {
    KernelModeGuard guard(ref);
    for (int64_t dim : {-1, 1, 0}) {
      ATTN_EXPECT_GRADCHECK([dim](const std::vector<Tensor>& in) { return softmax(in[0], dim); },
                            std::vector<Tensor>{x});
      ATTN_EXPECT_GRADCHECK([dim](const std::vector<Tensor>& in) { return log_softmax(in[0], dim); },
                            std::vector<Tensor>{x});
    }
  }
}

TEST(Softmax, NonFiniteRowsFollowPyTorch) {
  // 37 elements per line: SIMD body plus tail on every target. Row 0 all -inf, row 1 one NaN,
  // row 2 one +inf, row 3 partially -inf (finite result), row 4 ordinary.
  Tensor x = randn({5, 37}, kFloat32);
  {
    NoGradGuard ng;
    x.select(0, 0).fill_(-kInf);
    x.select(0, 1).narrow(0, 20, 1).fill_(NAN);
    x.select(0, 2).narrow(0, 36, 1).fill_(kInf);
    x.select(0, 3).narrow(0, 0, 30).fill_(-kInf);
  }
  for (bool ref : {true, false}) {
    KernelModeGuard guard(ref);
    for (bool log : {false, true}) {
      for (bool columns : {false, true}) {
        // columns: the same lines laid out along dim 0 of the transpose, through the strided kernel.
        Tensor in = columns ? x.t().contiguous() : x;
        Tensor y = log ? log_softmax(in, columns ? 0 : 1) : softmax(in, columns ? 0 : 1);
        if (columns) y = y.t().contiguous();
        const std::vector<double> v = to_double_vector(y);
        for (int64_t r = 0; r < 3; ++r)
          for (int64_t k = 0; k < 37; ++k) EXPECT_TRUE(std::isnan(v[r * 37 + k])) << "row " << r << " k " << k;
        for (int64_t k = 0; k < 30; ++k) EXPECT_EQ(v[3 * 37 + k], log ? -kInf : 0.0) << "k " << k;
        for (int64_t k = 30; k < 37; ++k) EXPECT_TRUE(std::isfinite(v[3 * 37 + k]));
        for (int64_t k = 0; k < 37; ++k) EXPECT_TRUE(std::isfinite(v[4 * 37 + k]));
      }
    }
  }
}

TEST(Softmax, OneAndTwoThreadsAgree) {
  Tensor x = randn({300, 257}) * 4.0, dy = randn({300, 257});
  for (int64_t dim : {1, 0}) {
    for (bool log : {false, true}) {
      for (bool grad : {false, true}) {
        auto [one, two] = testing::one_and_two_threads([&] {
          Tensor xg = x.detach().requires_grad_();
          Tensor y = log ? log_softmax(xg, dim) : softmax(xg, dim);
          if (!grad) return y;
          y.backward(dy);
          return xg.grad();
        });
        EXPECT_TRUE(all_equal(one, two)) << "dim " << dim << " log " << log << " grad " << grad;
      }
    }
  }
}

TEST(Softmax, ShapesAndEdgeCases) {
  // 0-d: a single element normalises to 1 (log: 0).
  EXPECT_EQ(softmax(scalar_tensor(5.0), 0).item(), 1.0);
  EXPECT_EQ(log_softmax(scalar_tensor(5.0), -1).item(), 0.0);
  EXPECT_EQ(softmax(scalar_tensor(5.0), 0).shape(), Shape{});
  // Empty tensors and size-1 dims.
  EXPECT_EQ(softmax(zeros({0, 5}), 1).shape(), (Shape{0, 5}));
  EXPECT_EQ(softmax(zeros({5, 0}), 1).shape(), (Shape{5, 0}));
  EXPECT_TRUE(all_equal(softmax(randn({4, 1, 3}), 1), ones({4, 1, 3})));
  // A non-contiguous input gives the same result as its contiguous copy.
  Tensor x = randn({6, 9});
  EXPECT_TRUE(all_equal(softmax(x.t(), 1), softmax(x.t().contiguous(), 1)));
  // float64 stays float64.
  EXPECT_EQ(softmax(randn({2, 3}, kFloat64), 1).dtype(), kFloat64);
}

TEST(Softmax, BadArgumentsThrow) {
  for (int64_t dim : {2, -3}) {
    try {
      softmax(zeros({2, 3}), dim);
      FAIL() << "dim " << dim;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(log_softmax(arange(4), 0), Error);  // integer input
}

}  // namespace
}  // namespace attn
