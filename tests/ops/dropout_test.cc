#include "attn/ops/dropout.h"

#include <cmath>

#include "kernels/dropout.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::all_close;
using testing::all_equal;

TEST(Dropout, FastMatchesReferenceOnAwkwardSizes) {
  // The fast kernel evaluates Philox for several blocks at once; it must reproduce ref bit for bit,
  // including partial blocks at both ends of the range and misaligned pointers.
  const uint64_t key = 0x1234abcd9876ull, ctr0 = 77;
  // p = 0.37, and the ends: keep everything (threshold 0) and drop everything (threshold 2^32).
  for (const uint64_t thr : {kernels::dropout_threshold(0.37), kernels::dropout_threshold(0.0),
                             kernels::dropout_threshold(1.0)}) {
    for (int64_t n : testing::awkward_sizes()) {
      for (int64_t i0 : {int64_t(0), int64_t(1), int64_t(3), int64_t(6)}) {
        if (i0 > n) continue;
        Tensor x = testing::misaligned_randn({n + 1}, kFloat32, 3);
        Tensor r = zeros({n}), f = zeros({n});
        kernels::ref::dropout_apply(i0, n, x.data_ptr<float>(), r.data_ptr<float>(), thr, 1.5f, key, ctr0);
        kernels::fast::dropout_apply(i0, n, x.data_ptr<float>(), f.data_ptr<float>(), thr, 1.5f, key, ctr0);
        EXPECT_TRUE(all_equal(f, r)) << "n " << n << " i0 " << i0 << " threshold " << thr;
        Tensor xd = x.to(kFloat64), rd = zeros({n}, kFloat64), fd = zeros({n}, kFloat64);
        kernels::ref::dropout_apply(i0, n, xd.data_ptr<double>(), rd.data_ptr<double>(), thr, 1.5, key, ctr0);
        kernels::fast::dropout_apply(i0, n, xd.data_ptr<double>(), fd.data_ptr<double>(), thr, 1.5, key, ctr0);
        EXPECT_TRUE(all_equal(fd, rd)) << "n " << n << " i0 " << i0 << " threshold " << thr;
      }
    }
  }
}

TEST(Dropout, MaskIsPhiloxWordAgainstThreshold) {
  // The documented layout: element i is kept iff word i % 4 of block (offset + i / 4) >= round(p 2^32).
  Generator g(99);
  g.set_offset(5);
  Tensor y = dropout(ones({11}), 0.5, true, &g);
  EXPECT_EQ(g.offset(), 5u + 3u);  // ceil(11 / 4) blocks reserved
  const std::vector<double> v = to_double_vector(y);
  for (int64_t i = 0; i < 11; ++i) {
    const uint32_t w = kernels::Philox::block(99, 5 + uint64_t(i) / 4)[size_t(i % 4)];
    EXPECT_EQ(v[size_t(i)], w >= (1ull << 31) ? 2.0 : 0.0) << "element " << i;
  }
}

TEST(Dropout, PreservesMeanAndDropsFractionP) {
  // n = 2e5 Bernoulli draws: the drop fraction has std sqrt(p(1-p)/n) ~ 1e-3; 5 sigma bounds.
  const int64_t n = 200000;
  for (double p : {0.1, 0.5, 0.9}) {
    Generator g(7);
    Tensor y = dropout(full({n}, 2.0), p, true, &g);
    const std::vector<double> v = to_double_vector(y);
    int64_t dropped = 0;
    double sum = 0;
    const double kept_value = double(float(2.0 * float(1.0 / (1.0 - p))));
    for (double e : v) {
      if (e == 0) ++dropped;
      else EXPECT_EQ(e, kept_value);
      sum += e;
    }
    const double sd = std::sqrt(p * (1 - p) / double(n));
    EXPECT_NEAR(double(dropped) / double(n), p, 5 * sd) << "p " << p;
    // mean = 2 * kept_fraction / (1 - p): std 2 sd / (1 - p).
    EXPECT_NEAR(sum / double(n), 2.0, 5 * 2 * sd / (1 - p)) << "p " << p;
  }
}

TEST(Dropout, SameSeedSameMaskForOneAndTwoThreadsAndBothKernels) {
  Tensor x = randn({301, 67});
  auto run = [&] {
    Generator g(2024);
    return dropout(x, 0.3, true, &g);
  };
  auto [one, two] = testing::one_and_two_threads(run);
  EXPECT_TRUE(all_equal(one, two));
  auto [r, f] = testing::ref_and_fast(run);
  EXPECT_TRUE(all_equal(r, f));
  // Consecutive calls on one generator draw fresh masks.
  Generator g(2024);
  Tensor a = dropout(x, 0.3, true, &g), b = dropout(x, 0.3, true, &g);
  EXPECT_TRUE(all_equal(a, one));
  EXPECT_FALSE(all_equal(a, b));
}

TEST(Dropout, BackwardRegeneratesTheForwardMask) {
  Generator g(11);
  Tensor x = (rand({37, 5}, kFloat32, &g) + 0.5).requires_grad_();
  Tensor y = dropout(x, 0.25, true, &g);
  Tensor dy = randn({37, 5}, kFloat32, &g);
  y.backward(dy);
  // dx = dy * keep / (1 - p) and keep = (y != 0) since x > 0.
  const std::vector<double> yv = to_double_vector(y), dyv = to_double_vector(dy), dxv = to_double_vector(x.grad());
  for (size_t i = 0; i < yv.size(); ++i)
    EXPECT_EQ(dxv[i], yv[i] != 0 ? double(float(dyv[i]) * float(1.0 / 0.75)) : 0.0) << "element " << i;
}

TEST(Dropout, NonContiguousInput) {
  // The mask is indexed by the logical (row-major) position, so a transposed view gets the mask
  // its contiguous copy would get.
  Tensor x = randn({6, 9});
  Generator g1(5), g2(5);
  EXPECT_TRUE(all_equal(dropout(x.t(), 0.5, true, &g1), dropout(x.t().contiguous(), 0.5, true, &g2)));
}

TEST(Dropout, Gradcheck) {
  // A fixed generator reset before each call makes f deterministic, as gradcheck needs.
  Generator g(3);
  auto f = [&](const std::vector<Tensor>& in) {
    g.set_offset(0);
    return dropout(in[0], 0.4, true, &g) * in[0];
  };
  Tensor x = randn({4, 7}, kFloat64, &g).requires_grad_();
  ATTN_EXPECT_GRADCHECK(f, (std::vector<Tensor>{x}));
}

TEST(Dropout, EvalZeroAndOne) {
  Tensor x = randn({3, 4}).requires_grad_();
  Generator g(1);
  EXPECT_TRUE(dropout(x, 0.5, false, &g).is_same(x));  // eval: identity, nothing drawn
  EXPECT_TRUE(dropout(x, 0.0, true, &g).is_same(x));
  EXPECT_EQ(g.offset(), 0u);
  Tensor z = dropout(x, 1.0, true, &g);
  EXPECT_TRUE(all_equal(z, zeros({3, 4})));
  EXPECT_EQ(g.offset(), 0u);
  z.backward(ones({3, 4}));
  EXPECT_TRUE(all_equal(x.grad(), zeros({3, 4})));
  // Empty tensors pass through with the right shape.
  EXPECT_EQ(dropout(zeros({0, 3}), 0.5, true, &g).shape(), (Shape{0, 3}));
}

TEST(Dropout, BadArgumentsThrow) {
  Tensor x = randn({2});
  EXPECT_THROW(dropout(x, -0.1), Error);
  EXPECT_THROW(dropout(x, 1.5, false), Error);
  try {
    dropout(arange(4), 0.5);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("int64[4]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace attn
