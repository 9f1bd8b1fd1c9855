#include "attn/core/random.h"

#include <cmath>

#include "kernels/philox.h"
#include "test_util.h"

namespace attn {
namespace {

TEST(Random, SameSeedSameNumbersAnyThreadCount) {
  auto [one, two] = testing::one_and_two_threads([] {
    Generator g(42);
    return randn({1000}, kFloat32, &g);
  });
  EXPECT_TRUE(testing::all_equal(one, two));
  Generator g1(7), g2(7);
  EXPECT_TRUE(testing::all_equal(rand({33}, kFloat64, &g1), rand({33}, kFloat64, &g2)));
  manual_seed(3);
  Tensor a = randn({4});
  manual_seed(3);
  EXPECT_TRUE(testing::all_equal(a, randn({4})));
  EXPECT_FALSE(testing::all_equal(a, randn({4})));  // the generator advanced
}

TEST(Random, PhiloxKnownAnswer) {
  // Philox4x32-10 known-answer vector from the Random123 distribution (kat_vectors):
  // counter = {0,0,0,0}, key = {0,0} -> {6627e8d5, e169c58d, bc57ac4c, 9b00dbd8}.
  auto r = kernels::Philox::block(0, 0, 0);
  EXPECT_EQ(r[0], 0x6627e8d5u);
  EXPECT_EQ(r[1], 0xe169c58du);
  EXPECT_EQ(r[2], 0xbc57ac4cu);
  EXPECT_EQ(r[3], 0x9b00dbd8u);
}

TEST(Random, DistributionsHaveTheRightMoments) {
  Generator g(1);
  const int64_t n = 200000;
  auto moments = [](const Tensor& t) {
    std::vector<double> v = to_double_vector(t);
    double m = 0, s = 0;
    for (double x : v) m += x;
    m /= double(v.size());
    for (double x : v) s += (x - m) * (x - m);
    return std::make_pair(m, s / double(v.size()));
  };
  auto [mn, vn] = moments(randn({n}, kFloat64, &g));
  EXPECT_NEAR(mn, 0.0, 0.01);  // 4.5 sigma of the sample mean (1/sqrt(n) = 0.0022)
  EXPECT_NEAR(vn, 1.0, 0.015);
  auto [mu, vu] = moments(rand({n}, kFloat32, &g));
  EXPECT_NEAR(mu, 0.5, 0.003);
  EXPECT_NEAR(vu, 1.0 / 12, 0.002);
  Tensor ri = randint(3, 7, {n}, kInt64, &g);
  for (int64_t x : to_int64_vector(ri)) ASSERT_TRUE(x >= 3 && x < 7);
  auto [mb, vb] = moments(bernoulli({n}, 0.3, kFloat32, &g));
  EXPECT_NEAR(mb, 0.3, 0.005);
  std::vector<int64_t> p = to_int64_vector(randperm(100, &g));
  std::sort(p.begin(), p.end());
  for (int64_t i = 0; i < 100; ++i) EXPECT_EQ(p[size_t(i)], i);
  EXPECT_THROW(bernoulli(full({2}, 1.5)), Error);
}

}  // namespace
}  // namespace attn
