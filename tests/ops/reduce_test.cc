#include "attn/ops/reduce.h"

#include <cmath>

#include "attn/ops/elementwise.h"
#include "kernels/reduce.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::expect_error;

using testing::all_close;
using testing::all_equal;

constexpr double kInf = INFINITY;

// --- kernels: fast vs reference --------------------------------------------------------------------

template <class T>
void expect_fast_matches_ref(int64_t outer, int64_t n, int64_t inner) {
  const DType dt = dtype_of_v<T>;
  const bool f32 = dt == kFloat32;
  const Shape shape{outer, n, inner};
  const std::string what = std::string(dtype_name(dt)) + " " + shape_str(shape);
  Tensor x = testing::misaligned_randn(shape, dt, 31) * 2.0 + 0.5;
  const int64_t m = outer * inner;
  auto out = [&] { return testing::misaligned_randn({m}, dt, 32); };  // garbage-filled, misaligned
  const T* px = x.data_ptr<T>();

  for (bool mean : {false, true}) {
    Tensor r = out(), f = out();
    kernels::ref::sum(px, outer, n, inner, mean, r.data_ptr<T>());
    kernels::fast::sum(px, outer, n, inner, mean, f.data_ptr<T>());
    if (inner > 1) {
      // Columns add in the same order (k = 0..n-1, in double) as ref: identical bits.
      EXPECT_TRUE(all_equal(f, r)) << "sum " << what;
    } else {
      // Rows: both sum in double, in different orders (~1e-16 relative); rounding to float32 can
      // then differ by one ulp (1.2e-7 relative).
      EXPECT_TRUE(all_close(f, r, 1e-12, f32 ? 2.4e-7 : 1e-12)) << "sum " << what;
    }
  }
  if (n > 0) {
    // Few distinct values (ties) and a NaN in some lines: values and indices must match exactly.
    Tensor t = (testing::misaligned_randn(shape, dt, 33) * 1.5).to(kInt64).to(dt);
    if (t.numel() > 7) {
      NoGradGuard ng;
      t.view({-1}).narrow(0, t.numel() / 3, 1).fill_(NAN);
    }
    const T* pt = t.data_ptr<T>();
    for (bool is_max : {true, false}) {
      Tensor rv = out(), fv = out(), ri = empty({m}, kInt64), fi = empty({m}, kInt64);
      kernels::ref::max_min(pt, outer, n, inner, is_max, rv.data_ptr<T>(), ri.data_ptr<int64_t>());
      kernels::fast::max_min(pt, outer, n, inner, is_max, fv.data_ptr<T>(), fi.data_ptr<int64_t>());
      EXPECT_TRUE(all_equal(fv, rv)) << (is_max ? "max " : "min ") << what;
      EXPECT_TRUE(all_equal(fi, ri)) << (is_max ? "argmax " : "argmin ") << what;
    }
  }
  {
    Tensor r = out(), f = out();
    kernels::ref::logsumexp(px, outer, n, inner, r.data_ptr<T>());
    kernels::fast::logsumexp(px, outer, n, inner, f.data_ptr<T>());
    // float32: hwy Exp (1 ulp) and float-lane sums vs double; the log of a sum is O(1..10).
    EXPECT_TRUE(all_close(f, r, f32 ? 2e-6 : 1e-13, f32 ? 1e-6 : 1e-13)) << "logsumexp " << what;
  }
  for (int64_t correction : {0, 1}) {
    for (bool take_sqrt : {false, true}) {
      Tensor r = out(), f = out(), rm = out(), fm = out();
      kernels::ref::var(px, outer, n, inner, correction, take_sqrt, r.data_ptr<T>(), rm.data_ptr<T>());
      kernels::fast::var(px, outer, n, inner, correction, take_sqrt, f.data_ptr<T>(), fm.data_ptr<T>());
      // Both accumulate in double in different orders: equal up to a float32 ulp.
      EXPECT_TRUE(all_close(f, r, 1e-12, f32 ? 2.4e-7 : 1e-12)) << "var " << what;
      EXPECT_TRUE(all_close(fm, rm, 1e-12, f32 ? 2.4e-7 : 1e-12)) << "var mean " << what;
    }
  }
}

TEST(Reduce, FastMatchesReferenceOnAwkwardSizes) {
  for (int64_t n : testing::awkward_sizes()) {
    expect_fast_matches_ref<float>(3, n, 1);
    expect_fast_matches_ref<float>(2, n, 17);
    expect_fast_matches_ref<float>(1, std::min<int64_t>(n, 30), n);
    expect_fast_matches_ref<double>(3, n, 1);
    expect_fast_matches_ref<double>(2, n, 9);
  }
  expect_fast_matches_ref<float>(2, 7, 300);  // a column block boundary (256) with a tail
}

TEST(Reduce, Float32SumsAccumulateInDouble) {
  // 2^24 followed by 1000 ones: a float32 running sum would stay at 2^24 (each +1 rounds away);
  // attn accumulates in double, so the exact 2^24 + 1000 (representable in float32) comes out.
  std::vector<float> v(1001, 1.0f);
  v[0] = 16777216.0f;
  Tensor x = tensor(v);
  for (bool ref : {true, false}) {
    KernelModeGuard guard(ref);
    EXPECT_EQ(sum(x).item(), 16778216.0);
    Tensor cols = x.view({1001, 1}).expand({1001, 3}).contiguous();  // inner = 3: the column kernel
    EXPECT_EQ(to_double_vector(sum(cols, {0})), (std::vector<double>(3, 16778216.0)));
    EXPECT_EQ(to_double_vector(cumsum(x, 0)).back(), 16778216.0);
  }
}

// --- PyTorch fixtures --------------------------------------------------------------------------------

TEST(Reduce, PyTorchFixtures) {
  using Fn = std::function<Tensor(const Tensor&)>;
  struct Case {
    const char* name;
    Fn fn;
  };
  // Ops returning {values, indices}: the test checks indices separately, below.
  const std::vector<Case> cases = {
      {"sum_all", [](const Tensor& x) { return sum(x); }},
      {"sum_dims02", [](const Tensor& x) { return sum(x, {0, 2}); }},
      {"sum_dim1_keep", [](const Tensor& x) { return sum(x, {1}, true); }},
      {"sum_int", [](const Tensor& x) { return sum(x, {1}); }},
      {"mean_all", [](const Tensor& x) { return mean(x); }},
      {"mean_neg_keep", [](const Tensor& x) { return mean(x, {-1}, true); }},
      {"mean_dims01", [](const Tensor& x) { return mean(x, {0, 1}); }},
      {"max_dim1", [](const Tensor& x) { return max(x, 1).values; }},
      {"min_dim_last_keep", [](const Tensor& x) { return min(x, -1, true).values; }},
      {"max_all", [](const Tensor& x) { return max(x); }},
      {"min_all", [](const Tensor& x) { return min(x); }},
      {"argmax_dim0", [](const Tensor& x) { return argmax(x, 0); }},
      {"argmin_all", [](const Tensor& x) { return argmin(x); }},
      {"argmax_all", [](const Tensor& x) { return argmax(x); }},
      {"logsumexp_dim2", [](const Tensor& x) { return logsumexp(x, {2}); }},
      {"logsumexp_dim1", [](const Tensor& x) { return logsumexp(x, {1}); }},
      {"logsumexp_dims02_keep", [](const Tensor& x) { return logsumexp(x, {0, 2}, true); }},
      {"var_dim1", [](const Tensor& x) { return var(x, {1}); }},
      {"var_dims02_biased_keep", [](const Tensor& x) { return var(x, {0, 2}, 0, true); }},
      {"std_last", [](const Tensor& x) { return std(x, {-1}); }},
      {"std_all", [](const Tensor& x) { return std(x); }},
      {"cumsum_dim1", [](const Tensor& x) { return cumsum(x, 1); }},
      {"cumsum_dim0", [](const Tensor& x) { return cumsum(x, 0); }},
  };
  for (const Case& c : cases) {
    for (bool ref : {true, false}) {
      KernelModeGuard guard(ref);
      const std::string what = std::string(c.name) + (ref ? " ref" : " fast");
      auto fx = testing::load_fixture(std::string("reduce/") + c.name);
      const Tensor& x0 = fx.at("x");
      Tensor x = x0.is_floating_point() ? x0.detach().requires_grad_() : x0;
      Tensor out = c.fn(x);
      // tools/safetensors_min.py stores 0-d tensors as shape [1] (numpy's ascontiguousarray makes
      // them 1-d), so 0-d results are compared after a reshape.
      auto as_out = [&](const Tensor& t) { return out.dim() == 0 && t.numel() == 1 ? t.reshape({}) : t; };
      const Tensor expect = as_out(fx.at("out"));
      EXPECT_EQ(out.dtype(), expect.dtype()) << what;
      // float32 outputs: sums of <= 60 O(1) terms; attn rounds a double sum once, PyTorch sums in
      // float32, so they differ by a few float32 ulp.
      EXPECT_TRUE(all_close(out, expect, 1e-5, 1e-5)) << what;
      if (fx.contains("indices")) {
        const ValuesIndices vi = std::string(c.name).rfind("max", 0) == 0 ? max(x, 1) : min(x, -1, true);
        EXPECT_TRUE(all_equal(vi.indices, fx.at("indices"))) << what;
      }
      if (fx.contains("grad_x")) {
        out.backward(as_out(fx.at("grad_out")));
        EXPECT_TRUE(all_close(x.grad(), fx.at("grad_x"), 1e-5, 1e-5)) << what;
      }
    }
  }
}

// --- gradients ---------------------------------------------------------------------------------------

TEST(Reduce, Gradcheck) {
  Generator g(7);
  Tensor x = randn({3, 4, 5}, kFloat64, &g).requires_grad_();
  using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
  const std::vector<std::pair<const char*, Fn>> fns = {
      {"sum", [](const std::vector<Tensor>& v) { return sum(v[0], {0, 2}); }},
      {"sum_all", [](const std::vector<Tensor>& v) { return sum(v[0]); }},
      {"mean", [](const std::vector<Tensor>& v) { return mean(v[0], {-1}, true); }},
      {"max_dim", [](const std::vector<Tensor>& v) { return max(v[0], 1).values; }},
      {"min_dim", [](const std::vector<Tensor>& v) { return min(v[0], 0, true).values; }},
      {"max_all", [](const std::vector<Tensor>& v) { return max(v[0]); }},
      {"min_all", [](const std::vector<Tensor>& v) { return min(v[0]); }},
      {"logsumexp", [](const std::vector<Tensor>& v) { return logsumexp(v[0], {0, 2}); }},
      {"logsumexp_last", [](const std::vector<Tensor>& v) { return logsumexp(v[0], {-1}, true); }},
      {"var", [](const std::vector<Tensor>& v) { return var(v[0], {1}); }},
      {"var_interleaved", [](const std::vector<Tensor>& v) { return var(v[0], {0, 2}, 0, true); }},
      {"std", [](const std::vector<Tensor>& v) { return std(v[0], {-1}); }},
      {"std_all", [](const std::vector<Tensor>& v) { return std(v[0]); }},
      {"cumsum", [](const std::vector<Tensor>& v) { return cumsum(v[0], 1); }},
  };
  for (bool ref : {true, false}) {
    KernelModeGuard guard(ref);
    for (const auto& [name, f] : fns) {
      auto r = gradcheck(f, {x});
      EXPECT_TRUE(r.ok) << name << (ref ? " ref: " : " fast: ") << r.message();
    }
  }
}

TEST(Reduce, MaxGradientGoesToFirstIndexAndTiesShareFullMax) {
  Tensor x = tensor({1.f, 3.f, 3.f, 2.f}).requires_grad_();
  max(x, 0).values.backward();
  EXPECT_EQ(to_double_vector(x.grad()), (std::vector<double>{0, 1, 0, 0}));
  Tensor y = tensor({1.f, 3.f, 3.f, 2.f}).requires_grad_();
  max(y).backward();  // evenly distributed among the tied maxima, as torch.max(x)
  EXPECT_EQ(to_double_vector(y.grad()), (std::vector<double>{0, 0.5, 0.5, 0}));
}

// --- semantics and edge cases ------------------------------------------------------------------------

TEST(Reduce, DimsKeepdimAndShapes) {
  Tensor x = randn({2, 3, 4});
  EXPECT_EQ(sum(x).shape(), Shape{});
  EXPECT_EQ(sum(x, {}).shape(), Shape{});  // empty dims: all
  EXPECT_EQ(sum(x, {}, true).shape(), (Shape{1, 1, 1}));
  EXPECT_EQ(sum(x, {-1}).shape(), (Shape{2, 3}));
  EXPECT_EQ(mean(x, {0, 2}, true).shape(), (Shape{1, 3, 1}));
  EXPECT_EQ(var(x, {1}).shape(), (Shape{2, 4}));
  EXPECT_EQ(max(x, -2, true).values.shape(), (Shape{2, 1, 4}));
  EXPECT_EQ(argmax(x, 1).shape(), (Shape{2, 4}));
  EXPECT_EQ(argmax(x).shape(), Shape{});
  EXPECT_EQ(argmin(x, std::nullopt, true).shape(), (Shape{1, 1, 1}));
  EXPECT_EQ(logsumexp(x, {0, 1, 2}).shape(), Shape{});
  EXPECT_EQ(cumsum(x, -1).shape(), x.shape());
  // Negative and positive spellings agree; dims order does not matter.
  EXPECT_TRUE(all_equal(sum(x, {-1, 0}), sum(x, {0, 2})));
  // Interleaved dims (permuted internally) agree with reducing one dim at a time.
  EXPECT_TRUE(all_close(sum(x, {0, 2}), sum(sum(x, {2}), {0}), 1e-6, 1e-6));
  // Size-1 dims: reducing them is the identity on values.
  Tensor y = randn({3, 1, 5});
  EXPECT_TRUE(all_equal(sum(y, {1}), y.view({3, 5})));
  EXPECT_TRUE(all_equal(max(y, 1).values, y.view({3, 5})));
  EXPECT_TRUE(all_equal(sum(y, {0, 1}), sum(y.view({3, 5}), {0})));
  // Non-contiguous input.
  Tensor z = randn({5, 6});
  EXPECT_TRUE(all_equal(sum(z.t(), {1}), sum(z, {0})));
  EXPECT_TRUE(all_equal(max(z.t(), 0).indices, argmax(z, 1)));
  // 0-d input: dim 0 and -1 are allowed; the result is 0-d.
  Tensor s = scalar_tensor(2.5);
  EXPECT_EQ(sum(s, {0}).item(), 2.5);
  EXPECT_EQ(max(s, -1).values.item(), 2.5);
  EXPECT_EQ(max(s, 0).indices.item(), 0.0);
  EXPECT_EQ(cumsum(s, 0).item(), 2.5);
}

TEST(Reduce, ValuesAndDtypes) {
  Tensor x = tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3});
  EXPECT_EQ(to_double_vector(sum(x, {0})), (std::vector<double>{5, 7, 9}));
  EXPECT_EQ(to_double_vector(mean(x, {1})), (std::vector<double>{2, 5}));
  EXPECT_EQ(to_double_vector(var(x, {1})), (std::vector<double>{1, 1}));
  EXPECT_EQ(to_double_vector(var(x, {1}, 0)), (std::vector<double>{2.0f / 3, 2.0f / 3}));
  EXPECT_EQ(to_double_vector(cumsum(x, 1)), (std::vector<double>{1, 3, 6, 4, 9, 15}));
  EXPECT_EQ(max(x).item(), 6.0);
  EXPECT_EQ(min(x).item(), 1.0);
  // Integer and bool sums are int64, as in PyTorch; max keeps the dtype.
  EXPECT_EQ(sum(arange(5)).dtype(), kInt64);
  EXPECT_EQ(sum(arange(5)).item(), 10.0);
  Tensor b = tensor(std::vector<bool>{true, false, true});
  EXPECT_EQ(sum(b).dtype(), kInt64);
  EXPECT_EQ(sum(b).item(), 2.0);
  EXPECT_EQ(cumsum(b, 0).dtype(), kInt64);
  EXPECT_EQ(max(arange(5)).dtype(), kInt64);
  EXPECT_EQ(max(arange(5), 0).values.item(), 4.0);
  EXPECT_EQ(argmin(tensor({3.f, 1.f, 1.f, 2.f})).item(), 1.0);
}

TEST(Reduce, NonFiniteAndEmptyInputs) {
  for (bool ref : {true, false}) {
    KernelModeGuard guard(ref);
    // 40 elements: SIMD body and tail. NaN wins max and min, and its first index is returned.
    std::vector<float> v(40, 1.f);
    v[25] = NAN;
    v[31] = NAN;
    ValuesIndices mx = max(tensor(v), 0), mn = min(tensor(v), 0);
    EXPECT_TRUE(std::isnan(mx.values.item()));
    EXPECT_EQ(mx.indices.item(), 25.0);
    EXPECT_TRUE(std::isnan(mn.values.item()));
    EXPECT_EQ(argmax(tensor(v)).item(), 25.0);
    EXPECT_TRUE(std::isnan(max(tensor(v)).item()));
    // logsumexp: -inf lines give -inf, +inf gives +inf, huge finite values do not overflow.
    std::vector<float> ninf(40, -INFINITY), pinf(40, 0.f), big(40, 1000.f);
    pinf[33] = INFINITY;
    EXPECT_EQ(logsumexp(tensor(ninf), {0}).item(), -kInf);
    EXPECT_EQ(logsumexp(tensor(pinf), {0}).item(), kInf);
    EXPECT_NEAR(logsumexp(tensor(big), {0}).item(), 1000.0 + std::log(40.0), 1e-4);
    EXPECT_TRUE(std::isnan(logsumexp(tensor(v), {0}).item()));
    // Empty reductions: sum 0, mean NaN, logsumexp -inf, var NaN; max needs a non-empty dim.
    EXPECT_TRUE(all_equal(sum(zeros({0, 3}), {0}), zeros({3})));
    EXPECT_TRUE(std::isnan(mean(zeros({0})).item()));
    EXPECT_EQ(logsumexp(zeros({0}), {0}).item(), -kInf);
    EXPECT_TRUE(std::isnan(var(zeros({0})).item()));
    EXPECT_EQ(max(zeros({0, 3}), 1).values.shape(), (Shape{0}));
    EXPECT_EQ(cumsum(zeros({0, 3}), 0).shape(), (Shape{0, 3}));
    // var of one element with correction 1: 0 / 0 = NaN, as PyTorch.
    EXPECT_TRUE(std::isnan(var(ones({1})).item()));
  }
  // std of a constant: the gradient is 0, not NaN (PyTorch masks std == 0).
  Tensor c = full({4}, 3.0).requires_grad_();
  std(c).backward();
  EXPECT_TRUE(all_equal(c.grad(), zeros({4})));
}

TEST(Reduce, BadArgumentsThrow) {
  Tensor x = zeros({2, 3});
  expect_error([&] { sum(x, {2}); }, {"dim 2", "[2, 3]"});
  expect_error([&] { sum(x, {-3}); }, {"[2, 3]"});
  expect_error([&] { mean(x, {1, -1}); }, {"more than once", "[2, 3]"});
  expect_error([&] { max(x, 5); }, {"[2, 3]"});
  expect_error([&] { argmax(x, -3); }, {"[2, 3]"});
  expect_error([&] { var(x, {0, 0}); }, {"[2, 3]"});
  expect_error([&] { logsumexp(x, {7}); }, {"[2, 3]"});
  expect_error([&] { cumsum(x, 2); }, {"[2, 3]"});
  expect_error([] { max(zeros({0, 2})); }, {"[0, 2]"});
  expect_error([] { max(zeros({2, 0}), 1); }, {"[2, 0]"});
  expect_error([] { argmax(zeros({0})); }, {"[0]"});
  expect_error([] { mean(arange(3)); }, {"int64"});
  expect_error([] { var(arange(3)); }, {"int64"});
  expect_error([] { logsumexp(arange(3), {0}); }, {"int64"});
}

TEST(Reduce, OneAndTwoThreadsAgree) {
  Tensor x = randn({37, 21, 67});  // rows of 67: SIMD body + tail; columns of 21 x 67
  using Fn = std::function<Tensor(const Tensor&)>;
  const std::vector<std::pair<const char*, Fn>> fns = {
      {"sum_rows", [](const Tensor& t) { return sum(t, {2}); }},
      {"sum_cols", [](const Tensor& t) { return sum(t, {0}); }},
      {"sum_mid", [](const Tensor& t) { return mean(t, {1}); }},
      {"sum_all", [](const Tensor& t) { return sum(t); }},
      {"max_rows", [](const Tensor& t) { return max(t, 2).values; }},
      {"argmax_cols", [](const Tensor& t) { return argmax(t, 0); }},
      {"logsumexp", [](const Tensor& t) { return logsumexp(t, {2}); }},
      {"logsumexp_cols", [](const Tensor& t) { return logsumexp(t, {0}); }},
      {"var", [](const Tensor& t) { return var(t, {2}); }},
      {"std_interleaved", [](const Tensor& t) { return std(t, {0, 2}); }},
      {"cumsum", [](const Tensor& t) { return cumsum(t, 1); }},
  };
  for (bool ref : {true, false}) {
    KernelModeGuard guard(ref);
    for (const auto& [name, f] : fns) {
      auto [one, two] = testing::one_and_two_threads([&] { return f(x); });
      EXPECT_TRUE(all_equal(one, two)) << name << (ref ? " ref" : " fast");
      // And the gradients.
      auto [g1, g2] = testing::one_and_two_threads([&] {
        Tensor xg = x.detach().requires_grad_();
        Tensor y = f(xg);
        if (!y.is_floating_point()) return y;
        y.backward(ones_like(y));
        return xg.grad();
      });
      EXPECT_TRUE(all_equal(g1, g2)) << name << " grad" << (ref ? " ref" : " fast");
    }
  }
}

}  // namespace
}  // namespace attn
