#include "attn/ops/linalg.h"

#include <cmath>
#include <limits>
#include <string>

#include "kernels/gemm.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::all_close;
using testing::all_equal;

// --- kernel level: fast (OpenBLAS) vs reference -------------------------------------------------

// A rows x cols operand in one of the layouts matmul meets: 0 row-major, 1 transposed view,
// 2 row-major with padded rows (ld > cols), 3 every other column (BLAS cannot read it: packed).
// All start one element into their buffer, so the data pointer is misaligned.
Tensor operand(int64_t rows, int64_t cols, int layout, DType dt, uint64_t seed) {
  switch (layout) {
    case 0: return testing::misaligned_randn({rows, cols}, dt, seed);
    case 1: return testing::misaligned_randn({cols, rows}, dt, seed).t();
    case 2: return testing::misaligned_randn({rows, cols + 3}, dt, seed).narrow(1, 0, cols);
    default: return testing::misaligned_randn({rows, 2 * cols}, dt, seed).slice(1, 0, 2 * cols, 2);
  }
}

template <class T>
kernels::GemmArgs<T> args_for(const Tensor& c, const Tensor& a, const Tensor& b, bool accumulate) {
  kernels::GemmArgs<T> p;
  p.m = c.size(0), p.n = c.size(1), p.k = a.size(1);
  p.a = a.data_ptr<T>(), p.a_rs = a.stride(0), p.a_cs = a.stride(1);
  p.b = b.data_ptr<T>(), p.b_rs = b.stride(0), p.b_cs = b.stride(1);
  p.c = c.data_ptr<T>(), p.c_rs = c.stride(0), p.c_cs = c.stride(1);
  p.accumulate = accumulate;
  return p;
}

// The standard forward error bound of a k-term dot product, applied to both results:
// |fast - ref| <= 2 k eps (|A| |B|)_ij (+ the same for the accumulated C). Exact, not a guess:
// it fails on any wrong element, and it does not depend on the summation order either side uses.
::testing::AssertionResult within_gemm_bound(const Tensor& fast, const Tensor& ref, const Tensor& a, const Tensor& b,
                                             const Tensor& c0, double eps) {
  const int64_t m = fast.size(0), n = fast.size(1), k = a.size(1);
  const std::vector<double> f = to_double_vector(fast), r = to_double_vector(ref), av = to_double_vector(a),
                            bv = to_double_vector(b), cv = c0.defined() ? to_double_vector(c0) : std::vector<double>();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double mag = cv.empty() ? 0.0 : std::abs(cv[size_t(i * n + j)]);
      for (int64_t p = 0; p < k; ++p) mag += std::abs(av[size_t(i * k + p)] * bv[size_t(p * n + j)]);
      const double tol = 2.0 * double(k + 2) * eps * mag;
      const double fv = f[size_t(i * n + j)], rv = r[size_t(i * n + j)];
      if (!(std::abs(fv - rv) <= tol))
        return ::testing::AssertionFailure() << "at [" << i << ", " << j << "]: fast " << fv << " vs ref " << rv
                                             << " (bound " << tol << ", m " << m << " n " << n << " k " << k << ")";
    }
  return ::testing::AssertionSuccess();
}

template <class T>
void check_fast_vs_ref(double eps) {
  const DType dt = dtype_of_v<T>;
  const std::vector<int64_t> sizes = {0, 1, 3, 7, 16, 17, 33, 64, 100};
  int variant = 0;
  for (int64_t m : sizes)
    for (int64_t n : sizes)
      for (int64_t k : sizes) {
        // Cycle the layouts of A, B and C and the accumulate flag over the size grid, so every
        // combination of layouts meets many shapes without running the full cross product.
        ++variant;
        const int la = variant % 4, lb = (variant / 4) % 4, lc = (variant / 16) % 3;
        const bool acc = (variant / 48) % 2 == 1;
        Tensor a = operand(m, k, la, dt, uint64_t(variant)), b = operand(k, n, lb, dt, uint64_t(variant) + 7);
        // C: contiguous, column-major (computed as C^T = B^T A^T), or strided (scratch path).
        Tensor c0 = testing::misaligned_randn({m, n}, dt, uint64_t(variant) + 13);
        auto make_c = [&] {
          Tensor c = lc == 0 ? empty({m, n}, dt) : lc == 1 ? empty({n, m}, dt).t() : empty({m, 2 * n}, dt).slice(1, 0, 2 * n, 2);
          c.copy_(c0);
          return c;
        };
        Tensor cr = make_c(), cf = make_c();
        kernels::ref::gemm(args_for<T>(cr, a, b, acc));
        kernels::fast::gemm(args_for<T>(cf, a, b, acc));
        ASSERT_TRUE(within_gemm_bound(cf, cr, a, b, acc ? c0 : Tensor(), eps))
            << "layouts A " << la << " B " << lb << " C " << lc << " accumulate " << acc;
      }
}

TEST(Gemm, FastMatchesReferenceFloat) { check_fast_vs_ref<float>(std::numeric_limits<float>::epsilon()); }
TEST(Gemm, FastMatchesReferenceDouble) { check_fast_vs_ref<double>(std::numeric_limits<double>::epsilon()); }

TEST(Gemm, BlasLayoutReadsTransposedViewsWithoutCopy) {
  Tensor x = randn({5, 7});
  auto l = kernels::blas_layout(5, 7, x.stride(0), x.stride(1));
  EXPECT_TRUE(l.ok && !l.trans && l.ld == 7);
  Tensor xt = x.t();  // [7, 5] with strides [1, 7]: BLAS reads it as Trans with ld 7
  l = kernels::blas_layout(7, 5, xt.stride(0), xt.stride(1));
  EXPECT_TRUE(l.ok && l.trans && l.ld == 7);
  Tensor s = randn({5, 14}).slice(1, 0, 14, 2);  // column stride 2: must be packed
  EXPECT_FALSE(kernels::blas_layout(5, 7, s.stride(0), s.stride(1)).ok);
  Tensor e = randn({1, 7}).expand({5, 7});  // row stride 0: rows overlap, must be packed
  EXPECT_FALSE(kernels::blas_layout(5, 7, e.stride(0), e.stride(1)).ok);
}

// Entries that share a C offset are summed (matmul's reduction over broadcast batch dims), both
// in the batch-parallel path (small matrices) and the serial path (big ones).
TEST(Gemm, BatchedReductionFastMatchesReference) {
  for (int64_t sz : {5, 150}) {
    const int64_t batch = 6;
    Tensor a = randn({batch, sz, sz}), b = randn({batch, sz, sz});
    std::vector<int64_t> ao, bo, co;
    for (int64_t e = 0; e < batch; ++e) {
      ao.push_back(e * sz * sz);
      bo.push_back(e * sz * sz);
      co.push_back((e % 2) * sz * sz);  // entries 0, 2, 4 -> C[0]; 1, 3, 5 -> C[1]
    }
    auto run = [&](bool ref) {
      Tensor c = full({2, sz, sz}, 100.0);  // untouched C values must not leak in (accumulate = false)
      kernels::GemmArgs<float> p;
      p.batch = batch, p.m = sz, p.n = sz, p.k = sz;
      p.a = a.data_ptr<float>(), p.a_rs = sz, p.a_cs = 1, p.a_off = ao.data();
      p.b = b.data_ptr<float>(), p.b_rs = sz, p.b_cs = 1, p.b_off = bo.data();
      p.c = c.data_ptr<float>(), p.c_rs = sz, p.c_cs = 1, p.c_off = co.data();
      ref ? kernels::ref::gemm(p) : kernels::fast::gemm(p);
      return c;
    };
    Tensor expect = zeros({2, sz, sz});
    {
      NoGradGuard ng;
      for (int64_t e = 0; e < batch; ++e) expect[e % 2].copy_(expect[e % 2] + mm(a[e], b[e]));
    }
    // 3 * sz products per element in float: a few ulps of the magnitude sqrt(3 sz).
    EXPECT_TRUE(all_close(run(false), expect, 1e-4 * std::sqrt(3.0 * double(sz)), 1e-5)) << "size " << sz;
    EXPECT_TRUE(all_close(run(true), expect, 1e-4 * std::sqrt(3.0 * double(sz)), 1e-5)) << "size " << sz;
  }
}

// The tiles fast::gemm hands to BLAS: they cover C exactly, depend on the shape only, and stay
// large (each tile is one BLAS call that packs its A and B strips again; small tiles ran a
// 2048^3 product at ~70% of OpenBLAS's own speed).
TEST(Gemm, TilingCoversCWithLargeTiles) {
  struct Case {
    int64_t m, n, k, entries, groups;
  };
  for (const Case c : {Case{5, 5, 5, 1, 1}, Case{256, 256, 256, 1, 1}, Case{1000, 1000, 1000, 1, 1},
                       Case{2048, 2048, 2048, 1, 1}, Case{4096, 2048, 512, 1, 1}, Case{601, 701, 97, 1, 1},
                       Case{128, 128, 64, 1, 64}, Case{128, 128, 65536, 1, 1}, Case{1, 4096, 4096, 1, 1},
                       Case{8192, 8192, 8192, 1, 1}, Case{300, 300, 300, 6, 2}}) {
    for (int64_t wanted : {int64_t(2), int64_t(8), kernels::detail::gemm_task_target()}) {
    const auto t = kernels::detail::gemm_tiling(c.m, c.n, c.k, c.entries, c.groups, wanted);
    const std::string where = std::to_string(c.m) + "x" + std::to_string(c.n) + "x" + std::to_string(c.k);
    EXPECT_TRUE(t.row_tiles >= 1 && (t.row_tiles - 1) * t.rows_per_tile < c.m && t.row_tiles * t.rows_per_tile >= c.m) << where;
    EXPECT_TRUE(t.col_tiles >= 1 && (t.col_tiles - 1) * t.cols_per_tile < c.n && t.col_tiles * t.cols_per_tile >= c.n) << where;
    const double tile_work = double(t.rows_per_tile) * double(t.cols_per_tile) * double(c.k) * double(c.entries);
    EXPECT_LE(tile_work, double(int64_t(1) << 31)) << where;  // huge products still make many tasks
    }
  }
  // On an 8-CPU machine:
  auto tiles = [](int64_t m, int64_t n, int64_t k, int64_t groups = 1) { return kernels::detail::gemm_tiling(m, n, k, 1, groups, 8); };
  EXPECT_EQ(tiles(5, 5, 5).count(), 1);              // tiny: one call
  EXPECT_EQ(tiles(128, 128, 64, 64).count(), 1);     // a batch already gives 64 tasks
  EXPECT_EQ(tiles(256, 256, 256).count(), 2);        // enough work for 2 threads, not for more calls
  EXPECT_EQ(tiles(128, 128, 65536).count(), 2);      // long k: split down to 64 x 128
  for (int64_t s : {1024, 2048}) {  // 8 tasks of at least 256 x 512
    const auto t = tiles(s, s, s);
    EXPECT_EQ(t.count(), 8) << s;
    EXPECT_GE(t.rows_per_tile, 256) << s;
    EXPECT_GE(t.cols_per_tile, 512) << s;
  }
  const auto lin = tiles(4096, 2048, 512);  // linear's 4096 tokens, 512 -> 2048
  EXPECT_EQ(lin.rows_per_tile, 1024);
  EXPECT_EQ(lin.cols_per_tile, 1024);
  // On a 2-CPU machine: one tile per CPU unless a tile would exceed 2^31 multiply-adds.
  auto tiles2 = [](int64_t m, int64_t n, int64_t k) { return kernels::detail::gemm_tiling(m, n, k, 1, 1, 2); };
  EXPECT_EQ(tiles2(640, 768, 256).count(), 2);  // a Transformer projection of 640 tokens
  EXPECT_EQ(tiles2(1024, 1024, 1024).count(), 2);
  EXPECT_EQ(tiles2(2048, 2048, 2048).count(), 4);  // 1024 x 2048 x 2048 would be 2^32
  EXPECT_GE(kernels::detail::gemm_task_target(), 2);
  EXPECT_LE(kernels::detail::gemm_task_target(), 8);
}

// A product cut into tiles with ragged edges (701 = 352 + 349 columns; on 4 CPUs or more also
// 601 = 304 + 297 rows): bitwise the same on 1 and 2 threads, and within the error bound of the reference,
// for each C layout (the column-major one is computed tile by tile as C^T = B^T A^T).
TEST(Gemm, TiledProductMatchesReferenceOnAnyThreadCount) {
  const int64_t m = 601, n = 701, k = 97;
  const auto t = kernels::detail::gemm_tiling(m, n, k, 1, 1);  // the tiling fast::gemm uses here
  ASSERT_GE(t.count(), 2);
  ASSERT_EQ(t.col_tiles, 2);
  for (int variant = 0; variant < 3; ++variant) {
    const bool acc = variant == 1;
    Tensor a = operand(m, k, variant, kFloat32, 40 + uint64_t(variant)), b = operand(k, n, 1 - variant % 2, kFloat32, 50);
    Tensor c0 = randn({m, n});
    auto make_c = [&] {
      Tensor c = variant == 0 ? empty({m, n}) : variant == 1 ? empty({n, m}).t() : empty({m, 2 * n}).slice(1, 0, 2 * n, 2);
      c.copy_(c0);
      return c;
    };
    auto fast = [&] {
      Tensor c = make_c();
      kernels::fast::gemm(args_for<float>(c, a, b, acc));
      return c;
    };
    auto [one, two] = testing::one_and_two_threads(fast);
    EXPECT_TRUE(all_equal(one, two)) << "variant " << variant;
    Tensor ref = make_c();
    kernels::ref::gemm(args_for<float>(ref, a, b, acc));
    EXPECT_TRUE(within_gemm_bound(two, ref, a, b, acc ? c0 : Tensor(), std::numeric_limits<float>::epsilon()))
        << "variant " << variant;
  }
}

// --- op level ---------------------------------------------------------------------------------

TEST(Linalg, SmallValues) {
  Tensor a = tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3});
  Tensor b = tensor({1.f, 0.f, 0.f, 1.f, 1.f, 1.f}, {3, 2});
  EXPECT_EQ(to_double_vector(mm(a, b)), (std::vector<double>{4, 5, 10, 11}));
  EXPECT_EQ(to_double_vector(matmul(a, a.t())), (std::vector<double>{14, 32, 32, 77}));
  EXPECT_EQ(matmul(tensor({1.f, 2.f}), tensor({3.f, 4.f})).shape(), Shape{});
  EXPECT_EQ(matmul(tensor({1.f, 2.f}), tensor({3.f, 4.f})).item(), 11.0);
  // Integer matmul runs the reference loop, exactly.
  Tensor ai = tensor(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_TRUE(all_equal(matmul(ai, ai.t()), tensor(std::vector<int64_t>{14, 32, 32, 77}, {2, 2})));
}

TEST(Linalg, ResultShapesFollowTorchMatmul) {
  EXPECT_EQ(matmul(randn({3, 4}), randn({4})).shape(), (Shape{3}));
  EXPECT_EQ(matmul(randn({4}), randn({4, 5})).shape(), (Shape{5}));
  EXPECT_EQ(matmul(randn({4}), randn({2, 4, 5})).shape(), (Shape{2, 5}));
  EXPECT_EQ(matmul(randn({2, 3, 4}), randn({4})).shape(), (Shape{2, 3}));
  EXPECT_EQ(matmul(randn({2, 1, 3, 4}), randn({5, 4, 2})).shape(), (Shape{2, 5, 3, 2}));
  EXPECT_EQ(matmul(randn({3, 4}), randn({2, 4, 5})).shape(), (Shape{2, 3, 5}));
  EXPECT_EQ(linear(randn({2, 3, 4}), randn({5, 4})).shape(), (Shape{2, 3, 5}));
  EXPECT_EQ(linear(randn({4}), randn({5, 4}), randn({5})).shape(), (Shape{5}));
}

// Each fixture: forward and both input grads against PyTorch. float32 with k <= 5 terms: PyTorch
// and OpenBLAS sum in different orders, a few ulps apart, hence 1e-5.
void check_fixture(const std::string& name, const std::function<Tensor(const std::vector<Tensor>&)>& f,
                   const std::vector<std::string>& inputs) {
  auto fx = testing::load_fixture("linalg/" + name);
  std::vector<Tensor> xs;
  for (const auto& n : inputs) xs.push_back(fx.at(n).detach().requires_grad_());
  Tensor out = f(xs);
  // tools/safetensors_min.py stores a 0-d tensor as shape [1] (numpy's ascontiguousarray makes
  // 0-d arrays 1-d), so the dot product's output is compared by value in our shape.
  Tensor want = fx.at("out").reshape(out.shape()), grad_out = fx.at("grad_out").reshape(out.shape());
  EXPECT_TRUE(all_close(out, want, 1e-5, 1e-5)) << name;
  out.backward(grad_out);
  for (size_t i = 0; i < inputs.size(); ++i)
    EXPECT_TRUE(all_close(xs[i].grad(), fx.at("grad_" + inputs[i]), 1e-5, 1e-5)) << name << " grad_" << inputs[i];
}

TEST(Linalg, PyTorchFixtures) {
  auto mm2 = [](const std::vector<Tensor>& x) { return mm(x[0], x[1]); };
  auto bmm2 = [](const std::vector<Tensor>& x) { return bmm(x[0], x[1]); };
  auto mat = [](const std::vector<Tensor>& x) { return matmul(x[0], x[1]); };
  check_fixture("mm", mm2, {"a", "b"});
  check_fixture("bmm", bmm2, {"a", "b"});
  for (const char* c : {"matmul_broadcast", "matmul_2d_batch", "matmul_batch_2d", "matmul_dot", "matmul_mv",
                        "matmul_vm_batch", "matmul_batch_v"})
    check_fixture(c, mat, {"a", "b"});
  check_fixture("linear", [](const std::vector<Tensor>& x) { return linear(x[0], x[1], x[2]); }, {"x", "weight", "bias"});
  check_fixture("linear_nobias", [](const std::vector<Tensor>& x) { return linear(x[0], x[1]); }, {"x", "weight"});
}

TEST(Linalg, FixturesThroughTransposedViews) {
  // The same products with operands handed over as transposed views (BLAS Trans path).
  auto fx = testing::load_fixture("linalg/mm");
  Tensor at = fx.at("a").t().contiguous().detach().requires_grad_();  // storage holds a^T
  Tensor bt = fx.at("b").t().contiguous().detach().requires_grad_();
  Tensor out = mm(at.t(), bt.t());
  EXPECT_TRUE(all_close(out, fx.at("out"), 1e-5, 1e-5));
  out.backward(fx.at("grad_out"));
  EXPECT_TRUE(all_close(at.grad().t(), fx.at("grad_a"), 1e-5, 1e-5));
  EXPECT_TRUE(all_close(bt.grad().t(), fx.at("grad_b"), 1e-5, 1e-5));
}

TEST(Linalg, Gradcheck) {
  Generator g(11);
  auto r = [&](Shape s) { return randn(std::move(s), kFloat64, &g).requires_grad_(); };
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return mm(x[0], x[1]); }, (std::vector<Tensor>{r({3, 4}), r({4, 2})}));
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return bmm(x[0], x[1]); },
                        (std::vector<Tensor>{r({2, 3, 4}), r({2, 4, 2})}));
  auto mat = [](const std::vector<Tensor>& x) { return matmul(x[0], x[1]); };
  ATTN_EXPECT_GRADCHECK(mat, (std::vector<Tensor>{r({2, 1, 3, 4}), r({5, 4, 2})}));
  ATTN_EXPECT_GRADCHECK(mat, (std::vector<Tensor>{r({3, 4}), r({2, 4, 5})}));
  ATTN_EXPECT_GRADCHECK(mat, (std::vector<Tensor>{r({2, 3, 3, 4}), r({4, 2})}));
  ATTN_EXPECT_GRADCHECK(mat, (std::vector<Tensor>{r({4}), r({4})}));
  ATTN_EXPECT_GRADCHECK(mat, (std::vector<Tensor>{r({4}), r({2, 4, 3})}));
  ATTN_EXPECT_GRADCHECK(mat, (std::vector<Tensor>{r({2, 3, 4}), r({4})}));
  // Transposed and batch-transposed views as operands (non-foldable leading dims).
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return matmul(x[0].transpose(0, 1), x[1].t()); },
                        (std::vector<Tensor>{r({3, 2, 4}), r({5, 4})}));
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return linear(x[0], x[1], x[2]); },
                        (std::vector<Tensor>{r({2, 3, 4}), r({5, 4}), r({5})}));
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return linear(x[0].transpose(0, 1), x[1]); },
                        (std::vector<Tensor>{r({3, 2, 4}), r({5, 4})}));
}

// Forward and backward of the op through fast and reference kernels, on a shape that takes the
// batch-parallel path, a broadcast-reduced gradient, one GEMM in one call, and GEMMs split into
// row tiles and into column tiles (kernels/gemm.h: tiles of at most 16M multiply-adds).
TEST(Linalg, FastMatchesReferenceThroughOps) {
  struct Case {
    Shape a, b;
  };
  for (const Case& c : {Case{{3, 1, 17, 33}, {5, 33, 16}}, Case{{33, 7}, {4, 7, 64}}, Case{{130, 150}, {150, 140}},
                      Case{{600, 64}, {64, 600}}, Case{{200, 64}, {64, 1400}}}) {
    Tensor a = randn(c.a), b = randn(c.b);
    auto run = [&](int which) {
      return [&, which] {
        Tensor x = a.detach().requires_grad_(), y = b.detach().requires_grad_();
        Tensor out = matmul(x, y);
        out.backward(ones_like(out));
        return which == 0 ? out : which == 1 ? x.grad() : y.grad();
      };
    };
    for (int which = 0; which < 3; ++which) {
      auto [r, f] = testing::ref_and_fast(run(which));
      // float sums of up to ~500 products of unit normals in different orders: relative 1e-5
      // of magnitudes ~sqrt(500) plus a small absolute floor for elements near zero.
      EXPECT_TRUE(all_close(f, r, 1e-4, 1e-5)) << shape_str(c.a) << " x " << shape_str(c.b) << " output " << which;
    }
  }
}

TEST(Linalg, OneAndTwoThreadsAgreeBitwise) {
  // Batch-parallel path (many small matrices), a GEMM split into row tiles, and linear's backward.
  Tensor a = randn({64, 16, 24}), b = randn({64, 24, 8}), c = randn({300, 260}), d = randn({260, 310});
  Tensor x = randn({4, 50, 96}), w = randn({128, 96}), bias = randn({128});
  auto [s1, s2] = testing::one_and_two_threads([&] { return matmul(a, b); });
  EXPECT_TRUE(all_equal(s1, s2));
  auto [b1, b2] = testing::one_and_two_threads([&] { return matmul(c, d); });
  EXPECT_TRUE(all_equal(b1, b2));
  auto [l1, l2] = testing::one_and_two_threads([&] {
    Tensor wg = w.detach().requires_grad_();
    Tensor y = linear(x, wg, bias);
    y.backward(ones_like(y));
    return wg.grad();
  });
  EXPECT_TRUE(all_equal(l1, l2));
}

TEST(Linalg, LinearMatchesComposedMatmul) {
  Generator g(3);
  Tensor x = randn({3, 5, 8}, kFloat64, &g), w = randn({6, 8}, kFloat64, &g), b = randn({6}, kFloat64, &g);
  Tensor gy = randn({3, 5, 6}, kFloat64, &g);
  auto grads = [&](bool fused) {
    Tensor xs = x.detach().requires_grad_(), ws = w.detach().requires_grad_(), bs = b.detach().requires_grad_();
    Tensor y = fused ? linear(xs, ws, bs) : matmul(xs, ws.t()) + bs;
    y.backward(gy);
    return std::vector<Tensor>{y, xs.grad(), ws.grad(), bs.grad()};
  };
  auto f = grads(true), c = grads(false);
  for (size_t i = 0; i < f.size(); ++i) EXPECT_TRUE(all_close(f[i], c[i], 1e-12, 1e-12)) << i;  // f64, order only
}

TEST(Linalg, EmptyDims) {
  EXPECT_EQ(mm(randn({0, 3}), randn({3, 4})).shape(), (Shape{0, 4}));
  // k = 0: an empty sum is 0 (and the bias alone for linear).
  EXPECT_TRUE(all_equal(mm(randn({3, 0}), randn({0, 4})), zeros({3, 4})));
  EXPECT_TRUE(all_equal(linear(randn({2, 0}), randn({3, 0}), ones({3})), ones({2, 3})));
  EXPECT_EQ(matmul(randn({0, 3, 4}), randn({4, 5})).shape(), (Shape{0, 3, 5}));
  // Gradients through an empty batch and an empty n are zero, not garbage.
  Tensor a = randn({1, 3, 4}).requires_grad_(), b = randn({0, 4, 5}).requires_grad_();
  Tensor out = matmul(a, b);
  EXPECT_EQ(out.shape(), (Shape{0, 3, 5}));
  out.backward(zeros({0, 3, 5}));
  EXPECT_TRUE(all_equal(a.grad(), zeros({1, 3, 4})));
  Tensor c = randn({3, 4}).requires_grad_(), d = randn({4, 0}).requires_grad_();
  Tensor o2 = mm(c, d);
  o2.backward(zeros({3, 0}));
  EXPECT_TRUE(all_equal(c.grad(), zeros({3, 4})));
  Tensor xl = randn({0, 4}).requires_grad_(), wl = randn({3, 4}).requires_grad_(), bl = randn({3}).requires_grad_();
  Tensor yl = linear(xl, wl, bl);
  yl.backward(zeros({0, 3}));
  EXPECT_TRUE(all_equal(wl.grad(), zeros({3, 4})));
  EXPECT_TRUE(all_equal(bl.grad(), zeros({3})));
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected attn::Error";
  } catch (const Error& e) {
    const std::string m = e.what();
    for (const auto& p : parts) EXPECT_NE(m.find(p), std::string::npos) << "'" << p << "' not in: " << m;
  }
}

TEST(Linalg, ErrorsNameBothShapes) {
  expect_error([] { matmul(randn({2, 3}), randn({4, 5})); }, {"matmul", "[2, 3]", "[4, 5]"});
  expect_error([] { matmul(randn({2, 3, 4}), randn({5, 3})); }, {"[2, 3, 4]", "[5, 3]"});
  expect_error([] { matmul(randn({2, 3, 4}), randn({3, 4, 5})); }, {"batch", "[2, 3, 4]", "[3, 4, 5]"});
  expect_error([] { matmul(scalar_tensor(1.0), randn({3})); }, {"[]", "[3]"});
  expect_error([] { mm(randn({2, 3, 4}), randn({4, 5})); }, {"mm", "[2, 3, 4]", "[4, 5]"});
  expect_error([] { mm(randn({2, 3}), randn({4, 5})); }, {"mm", "[2, 3]", "[4, 5]"});
  expect_error([] { bmm(randn({2, 3, 4}), randn({3, 4, 5})); }, {"bmm", "[2, 3, 4]", "[3, 4, 5]"});
  expect_error([] { matmul(randn({2, 3}), randn({3, 4}, kFloat64)); }, {"float32[2, 3]", "float64[3, 4]"});
  expect_error([] { linear(randn({2, 3}), randn({5, 4})); }, {"linear", "[2, 3]", "[5, 4]"});
  expect_error([] { linear(randn({2, 4}), randn({5, 4}), randn({4})); }, {"bias", "[4]", "[5, 4]"});
}

}  // namespace
}  // namespace attn
