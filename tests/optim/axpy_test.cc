// The axpy kernel behind plain SGD's step (kernels/axpy.h): y + alpha * x rounded once, checked
// element by element against std::fma (the correctly rounded result), fast and reference kernels,
// over loop-tail sizes and misaligned pointers; and SGD's step with it, 1 vs 2 threads.
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/axpy.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::all_equal;

template <class T>
void check_axpy(DType dt) {
  for (const int64_t n : testing::awkward_sizes()) {
    SCOPED_TRACE("n = " + std::to_string(n) + ", " + dtype_name(dt));
    const Tensor x = testing::misaligned_randn({n}, dt, 1);
    const Tensor y0 = testing::misaligned_randn({n}, dt, 2);
    const T alpha = T(-0.37);
    Tensor expected = empty({n}, dt);
    for (int64_t i = 0; i < n; ++i)
      expected.data_ptr<T>()[i] = std::fma(alpha, x.data_ptr<T>()[i], y0.data_ptr<T>()[i]);
    // Either kernel: exactly the fma. (The float reference adds in double, which rounds twice
    // only on exact ties of the double sum, about once in 2^29 random elements.)
    Tensor yf = testing::misaligned_randn({n}, dt, 2), yr = testing::misaligned_randn({n}, dt, 2);
    kernels::fast::axpy(n, alpha, x.data_ptr<T>(), yf.data_ptr<T>());
    kernels::ref::axpy(n, alpha, x.data_ptr<T>(), yr.data_ptr<T>());
    EXPECT_TRUE(all_equal(yf, expected));
    EXPECT_TRUE(all_equal(yr, expected));
  }
}

TEST(Axpy, FastAndReferenceRoundOnce) {
  check_axpy<float>(kFloat32);
  check_axpy<double>(kFloat64);
}

// Blocks of x that are all zero (fast:: skips some of them): the same bits as ref::, signed zeros
// of y included, for alphas where skipping is exact (-lr, -0) and where it is not (+, -inf).
TEST(Axpy, ZeroBlocksKeepEveryBit) {
  const int64_t n = 203;
  for (const float alpha : {-0.01f, -0.0f, 0.01f, -std::numeric_limits<float>::infinity()}) {
    SCOPED_TRACE("alpha " + std::to_string(alpha));
    Generator g(4);
    Tensor x = randn({n}, kFloat32, &g), y0 = randn({n}, kFloat32, &g);
    float* px = x.data_ptr<float>();
    float* py = y0.data_ptr<float>();
    for (int64_t i = 0; i < n; ++i) {
      if (i < 100 || (i >= 150 && i < 190)) px[i] = (i % 7 == 3 && i >= 150) ? -0.0f : 0.0f;  // +0 blocks, one with -0s
      if (i % 5 == 0) py[i] = -0.0f;
      if (i == 17) py[i] = std::numeric_limits<float>::infinity();
    }
    Tensor yf = y0.clone(), yr = y0.clone();
    kernels::fast::axpy(n, alpha, px, yf.data_ptr<float>());
    kernels::ref::axpy(n, alpha, px, yr.data_ptr<float>());
    EXPECT_EQ(std::memcmp(yf.data_ptr<float>(), yr.data_ptr<float>(), size_t(n) * sizeof(float)), 0);
    EXPECT_TRUE(testing::all_close(yf, yr, 0.0));  // prints the first mismatches, if any
  }
}

// Plain SGD over more elements than one parallel chunk: the same bits for 1 and 2 threads, and
// for the fast and reference kernels (both round p - lr * g once).
TEST(Axpy, PlainSgdStepThreadsAndKernels) {
  auto run = [] {
    Generator g(3);
    Tensor p = randn({70001}, kFloat32, &g).requires_grad_();
    p.set_grad(randn({70001}, kFloat32, &g));
    optim::SGD opt({p}, 0.01);
    opt.step();
    return p.detach();
  };
  auto [one, two] = testing::one_and_two_threads(run);
  EXPECT_TRUE(all_equal(one, two));
  auto [ref, fast] = testing::ref_and_fast(run);
  EXPECT_TRUE(all_equal(ref, fast));
}

}  // namespace
}  // namespace attn
