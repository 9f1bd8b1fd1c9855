#include "attn/ops/dropout.h"

#include <cmath>
#include <type_traits>
#include <vector>

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

// The mask-writing forward and the mask-reading backward, ref and fast, on the range [i0, i1) of
// misaligned arrays of n elements. The independent reference is dropout_apply (Philox evaluated
// again): forward out == dropout_apply(x), bit i == keep(i) from Philox, bits outside [i0, i1)
// untouched, and backward == dropout_apply(dy) with the same key and counter.
template <class T>
void check_mask_kernels(int64_t n, int64_t i0, int64_t i1, uint64_t thr, uint64_t key, uint64_t ctr0) {
  const DType dt = std::is_same_v<T, float> ? kFloat32 : kFloat64;
  const T scale = T(1) / T(0.63);
  Tensor x = testing::misaligned_randn({n}, dt, 3), dy = testing::misaligned_randn({n}, dt, 4);
  Tensor applied = zeros({n}, dt), out_r = zeros({n}, dt), out_f = zeros({n}, dt);
  const size_t nbytes = size_t((n + 7) / 8);
  // One spare byte in front so the mask starts at an odd address; 0xA5 marks bits the kernels must not touch.
  std::vector<uint8_t> buf_r(nbytes + 1, 0xA5), buf_f(nbytes + 1, 0xA5);
  uint8_t *mask_r = buf_r.data() + 1, *mask_f = buf_f.data() + 1;
  kernels::ref::dropout_apply(i0, i1, x.data_ptr<T>(), applied.data_ptr<T>(), thr, scale, key, ctr0);
  kernels::ref::dropout_forward(i0, i1, x.data_ptr<T>(), out_r.data_ptr<T>(), mask_r, thr, scale, key, ctr0);
  kernels::fast::dropout_forward(i0, i1, x.data_ptr<T>(), out_f.data_ptr<T>(), mask_f, thr, scale, key, ctr0);
  EXPECT_TRUE(all_equal(out_r, applied));
  EXPECT_TRUE(all_equal(out_f, applied));
  for (int64_t i = 0; i < n; ++i) {
    const bool inside = i >= i0 && i < i1;
    const bool keep = kernels::Philox::block(key, ctr0 + uint64_t(i) / 4)[size_t(i % 4)] >= thr;
    const bool expected = inside ? keep : ((0xA5 >> (i % 8)) & 1);
    ASSERT_EQ(bool((mask_r[i / 8] >> (i % 8)) & 1), expected) << "ref bit " << i;
    ASSERT_EQ(bool((mask_f[i / 8] >> (i % 8)) & 1), expected) << "fast bit " << i;
  }
  EXPECT_EQ(buf_r[0], 0xA5);
  EXPECT_EQ(buf_f[0], 0xA5);
  // The backward from the stored bits against Philox regenerated on dy.
  Tensor regenerated = zeros({n}, dt), dx_r = zeros({n}, dt), dx_f = zeros({n}, dt);
  kernels::ref::dropout_apply(i0, i1, dy.data_ptr<T>(), regenerated.data_ptr<T>(), thr, scale, key, ctr0);
  kernels::ref::dropout_backward(i0, i1, dy.data_ptr<T>(), dx_r.data_ptr<T>(), mask_f, scale);
  kernels::fast::dropout_backward(i0, i1, dy.data_ptr<T>(), dx_f.data_ptr<T>(), mask_f, scale);
  EXPECT_TRUE(all_equal(dx_r, regenerated));
  EXPECT_TRUE(all_equal(dx_f, regenerated));
}

TEST(Dropout, MaskKernelsFastMatchReferenceOnAwkwardRanges) {
  // Ranges that start and end mid-byte and mid-Philox-block, sizes around the SIMD widths and the
  // 32-element blocks of the fast backward, and thresholds keep-all / p = 0.37 / drop-all.
  const uint64_t key = 0x5eed1234abcdull, ctr0 = 1000;
  std::vector<int64_t> sizes = testing::awkward_sizes();
  sizes.insert(sizes.end(), {63, 64, 65, 67, 130});
  for (const uint64_t thr : {kernels::dropout_threshold(0.37), kernels::dropout_threshold(0.0),
                             kernels::dropout_threshold(1.0)}) {
    for (int64_t n : sizes) {
      for (int64_t i0 : {0, 1, 3, 6, 8, 13, 33}) {
        for (int64_t cut : {0, 1, 5, 9}) {
          const int64_t i1 = n - cut;
          if (i0 > i1) continue;
          SCOPED_TRACE("n " + std::to_string(n) + " range [" + std::to_string(i0) + ", " + std::to_string(i1) +
                       ") threshold " + std::to_string(thr));
          check_mask_kernels<float>(n, i0, i1, thr, key, ctr0);
          check_mask_kernels<double>(n, i0, i1, thr, key, ctr0);
        }
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

TEST(Dropout, BackwardMatchesRegeneratedMaskForOneAndTwoThreadsAndBothKernels) {
  // 80367 elements (not a multiple of 8) so both the forward and the backward split over two
  // threads, at mask-byte boundaries. The reference is the Philox mask regenerated on dy.
  const Shape shape{301, 267};
  Tensor dy = randn(shape);
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor x = randn(shape, dt);
    Tensor dyt = dy.to(dt);
    auto run = [&] {
      Tensor xr = x.detach().requires_grad_();
      Generator g(77);
      g.set_offset(9);
      dropout(xr, 0.3, true, &g).backward(dyt);
      return xr.grad();
    };
    Tensor expected = empty(shape, dt);
    const double scale = 1.0 / 0.7;
    ATTN_DISPATCH_FLOATING(dt, "test", [&] {
      kernels::ref::dropout_apply(0, dyt.numel(), dyt.data_ptr<scalar_t>(), expected.data_ptr<scalar_t>(),
                                  kernels::dropout_threshold(0.3), scalar_t(scale), 77, 9);
    });
    auto [one, two] = testing::one_and_two_threads(run);
    EXPECT_TRUE(all_equal(one, expected));
    EXPECT_TRUE(all_equal(two, expected));
    auto [r, f] = testing::ref_and_fast(run);
    EXPECT_TRUE(all_equal(r, expected));
    EXPECT_TRUE(all_equal(f, expected));
  }
}

TEST(Dropout, SameOutputWithAndWithoutGradient) {
  // With a gradient the forward also writes the mask; the output must not change.
  Tensor x = randn({13, 29});
  Generator g1(8), g2(8);
  Tensor with = dropout(x.detach().requires_grad_(), 0.45, true, &g1);
  Tensor without = dropout(x, 0.45, true, &g2);
  EXPECT_TRUE(all_equal(with.detach(), without));
  EXPECT_EQ(g1.offset(), g2.offset());
}

TEST(Dropout, BackwardAppliesTheForwardMask) {
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
