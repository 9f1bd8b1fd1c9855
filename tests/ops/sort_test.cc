#include "attn/ops/sort.h"

#include <cmath>

#include "attn/ops/elementwise.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::expect_error;

using testing::all_equal;

// Sorting moves values and its backward places each upstream gradient at one input position, so
// values, indices and gradients all match PyTorch exactly.
void check_fixture(const std::string& name, const std::function<ValuesIndices(const Tensor&)>& f) {
  auto fx = testing::load_fixture("sort/" + name);
  Tensor x = fx.at("x").detach().requires_grad_();
  ValuesIndices r = f(x);
  EXPECT_TRUE(all_equal(r.values, fx.at("values"))) << name;
  EXPECT_TRUE(all_equal(r.indices, fx.at("indices"))) << name;
  r.values.backward(fx.at("grad_out"));
  EXPECT_TRUE(all_equal(x.grad(), fx.at("grad_x"))) << name;
}

TEST(Sort, PyTorchFixtures) {
  check_fixture("sort", [](const Tensor& x) { return sort(x, 1); });
  check_fixture("sort_desc_dim0", [](const Tensor& x) { return sort(x, 0, true); });
  check_fixture("sort_ties", [](const Tensor& x) { return sort(x, 1); });
  check_fixture("sort_ties_desc", [](const Tensor& x) { return sort(x, -1, true); });
  check_fixture("sort_nan", [](const Tensor& x) { return sort(x); });
  check_fixture("sort_nan_desc", [](const Tensor& x) { return sort(x, 0, true); });
  check_fixture("topk", [](const Tensor& x) { return topk(x, 3, 1); });
  check_fixture("topk_smallest_dim0", [](const Tensor& x) { return topk(x, 2, 0, false); });
}

TEST(Sort, Gradcheck) {
  // randn values are distinct, so the finite-difference steps (1e-6) never reorder them.
  Generator g(5);
  auto r = [&](Shape s) { return randn(std::move(s), kFloat64, &g).requires_grad_(); };
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return sort(x[0], 1).values; }, (std::vector<Tensor>{r({3, 6})}));
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return sort(x[0].t(), 0, true).values; }, (std::vector<Tensor>{r({3, 6})}));
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return topk(x[0], 2, 0).values; }, (std::vector<Tensor>{r({5, 3})}));
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return topk(x[0], 3, -1, false).values; }, (std::vector<Tensor>{r({2, 2, 7})}));
}

TEST(Sort, ArgsortIntegersAndStridedInput) {
  Tensor x = tensor(std::vector<int64_t>{3, 1, 2, 1, 0, 5}, {2, 3});
  EXPECT_EQ(to_int64_vector(sort(x, 1).values), (std::vector<int64_t>{1, 2, 3, 0, 1, 5}));
  EXPECT_EQ(to_int64_vector(argsort(x, 1)), (std::vector<int64_t>{1, 2, 0, 1, 0, 2}));
  EXPECT_EQ(to_int64_vector(argsort(x.t(), 1, true)), (std::vector<int64_t>{0, 1, 0, 1, 1, 0}));
  EXPECT_EQ(to_int64_vector(topk(x.t(), 1, 0).indices), (std::vector<int64_t>{0, 2}));
  EXPECT_FALSE(argsort(randn({3}).requires_grad_()).requires_grad());
}

TEST(Sort, EdgeShapes) {
  ValuesIndices s = sort(scalar_tensor(2.0));  // 0-d: itself, index 0
  EXPECT_EQ(s.values.shape(), Shape{});
  EXPECT_EQ(s.indices.item<int64_t>(), 0);
  EXPECT_EQ(sort(zeros({3, 0}), 1).values.shape(), (Shape{3, 0}));
  EXPECT_EQ(sort(zeros({0, 3}), 1).indices.shape(), (Shape{0, 3}));
  EXPECT_EQ(topk(zeros({3, 4}), 0, 1).values.shape(), (Shape{3, 0}));
  EXPECT_EQ(to_int64_vector(topk(zeros({5}), 5).indices), (std::vector<int64_t>{0, 1, 2, 3, 4}));  // ties: lower index first
  Tensor n = tensor({NAN, 1.f, NAN});
  EXPECT_EQ(to_int64_vector(topk(n, 2).indices), (std::vector<int64_t>{0, 2}));  // NaN counts as largest, as in torch
  EXPECT_EQ(to_int64_vector(topk(n, 1, 0, false).indices), (std::vector<int64_t>{1}));
}

TEST(Sort, OneAndTwoThreadsAgree) {
  Tensor x = randn({300, 257});
  for (int64_t dim : {0, 1}) {
    auto [v1, v2] = testing::one_and_two_threads([&] { return sort(x, dim).values; });
    EXPECT_TRUE(all_equal(v1, v2));
    auto [i1, i2] = testing::one_and_two_threads([&] { return topk(x, 10, dim).indices; });
    EXPECT_TRUE(all_equal(i1, i2));
  }
}

TEST(Sort, Errors) {
  expect_error([] { topk(randn({2, 3}), 4, 1); }, {"topk", "k (4)", "size 3", "[2, 3]"});
  expect_error([] { topk(randn({2, 3}), -1); }, {"topk", "k (-1)"});
  expect_error([] { sort(randn({2, 3}), 2); }, {"sort", "dimension 2"});
  expect_error([] { sort(tensor(std::vector<bool>{true, false})); }, {"sort", "bool"});
}

}  // namespace
}  // namespace attn
