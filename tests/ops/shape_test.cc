#include "attn/ops/shape.h"

#include "attn/ops/elementwise.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::expect_error;

using testing::all_close;
using testing::all_equal;

// These ops only move, copy or zero elements, so forward and gradients match PyTorch exactly,
// except repeat's backward, which sums up to 6 float32 terms in its own order (tol 1e-6).
void check_single(const std::string& name, const std::vector<std::string>& inputs,
                  const std::function<Tensor(const std::vector<Tensor>&)>& f, double tol = 0.0) {
  auto fx = testing::load_fixture("shape/" + name);
  std::vector<Tensor> xs;
  for (const auto& n : inputs) xs.push_back(fx.at(n).detach().requires_grad_());
  Tensor out = f(xs);
  EXPECT_TRUE(all_close(out, fx.at("out"), tol, tol)) << name;
  out.backward(fx.at("grad_out"));
  for (size_t i = 0; i < inputs.size(); ++i)
    EXPECT_TRUE(all_close(xs[i].grad(), fx.at("grad_" + inputs[i]), tol, tol)) << name << " grad_" << inputs[i];
}

// Ops returning pieces (split, chunk): every piece against torch, then each piece's upstream
// gradient back-propagated (pieces are separate views, so their gradients add up in x.grad).
void check_pieces(const std::string& name, const std::function<std::vector<Tensor>(const Tensor&)>& f) {
  auto fx = testing::load_fixture("shape/" + name);
  Tensor x = fx.at("x").detach().requires_grad_();
  std::vector<Tensor> outs = f(x);
  size_t expected = 0;
  while (fx.contains("out" + std::to_string(expected))) ++expected;
  ASSERT_EQ(outs.size(), expected) << name;
  for (size_t i = 0; i < outs.size(); ++i) {
    const std::string si = std::to_string(i);
    EXPECT_TRUE(all_equal(outs[i], fx.at("out" + si))) << name << " piece " << i;
    outs[i].backward(fx.at("grad_out" + si));
  }
  EXPECT_TRUE(all_equal(x.grad(), fx.at("grad_x"))) << name;
}

TEST(Shape, PyTorchFixtures) {
  check_single("cat", {"a", "b", "c"}, [](const std::vector<Tensor>& x) { return cat(x, 1); });
  check_single("stack", {"a", "b", "c"}, [](const std::vector<Tensor>& x) { return stack(x, 1); });
  check_single("triu", {"x"}, [](const std::vector<Tensor>& x) { return triu(x[0], 1); });
  check_single("tril", {"x"}, [](const std::vector<Tensor>& x) { return tril(x[0], -1); });
  check_single("flip", {"x"}, [](const std::vector<Tensor>& x) { return flip(x[0], {0, 2}); });
  check_single("repeat", {"x"}, [](const std::vector<Tensor>& x) { return repeat(x[0], {2, 1, 3}); }, 1e-6);
  check_pieces("split", [](const Tensor& x) { return split(x, 2, 0); });
  check_pieces("split_sizes", [](const Tensor& x) { return split(x, std::vector<int64_t>{1, 4, 2}, 1); });
  check_pieces("chunk", [](const Tensor& x) { return chunk(x, 3, 1); });
}

TEST(Shape, Gradcheck) {
  Generator g(7);
  auto r = [&](Shape s) { return randn(std::move(s), kFloat64, &g).requires_grad_(); };
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return cat(x, -1); },
                        (std::vector<Tensor>{r({2, 3}), r({2, 1}), r({2, 0}), r({2, 2})}));
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return stack(x, 2); }, (std::vector<Tensor>{r({2, 3}), r({2, 3})}));
  // Pieces weighted differently, so a gradient routed to the wrong piece is caught.
  ATTN_EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& x) {
        auto p = split(x[0], 2, 1);
        return cat({p[0] * 2.0, p[1] * -1.0, p[2] * 3.0}, 1);
      },
      (std::vector<Tensor>{r({3, 5})}));
  ATTN_EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& x) {
        auto p = chunk(x[0], 2, 0);
        return cat({p[1] * 0.5, p[0] * 4.0}, 0);
      },
      (std::vector<Tensor>{r({5, 2})}));
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return triu(x[0], -1); }, (std::vector<Tensor>{r({2, 3, 4})}));
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return tril(x[0].transpose(1, 2), 1); }, (std::vector<Tensor>{r({2, 3, 4})}));
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return flip(x[0], {-1, 0}); }, (std::vector<Tensor>{r({2, 3, 4})}));
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return repeat(x[0], {3, 2}); }, (std::vector<Tensor>{r({2, 1})}));
}

TEST(Shape, ValuesOnStridedAndIntegerInputs) {
  Tensor x = arange(12).reshape({3, 4});  // int64
  EXPECT_EQ(to_int64_vector(triu(x)), (std::vector<int64_t>{0, 1, 2, 3, 0, 5, 6, 7, 0, 0, 10, 11}));
  EXPECT_EQ(to_int64_vector(tril(x.t(), -1)), (std::vector<int64_t>{0, 0, 0, 1, 0, 0, 2, 6, 0, 3, 7, 11}));
  EXPECT_EQ(to_int64_vector(flip(x.slice(1, 0, 4, 2), {0, 1})), (std::vector<int64_t>{10, 8, 6, 4, 2, 0}));
  EXPECT_EQ(to_int64_vector(repeat(tensor(std::vector<int64_t>{1, 2}), {2, 2})),
            (std::vector<int64_t>{1, 2, 1, 2, 1, 2, 1, 2}));
  // cat promotes dtypes (int64 + float32 -> float32) and reads strided inputs.
  Tensor c = cat({x.t().slice(0, 0, 2), tensor({0.5f, 0.25f, 0.125f}, {1, 3})}, 0);
  EXPECT_EQ(c.dtype(), kFloat32);
  EXPECT_EQ(to_double_vector(c), (std::vector<double>{0, 4, 8, 1, 5, 9, 0.5, 0.25, 0.125}));
  // split pieces are views: writing into one writes x.
  Tensor y = zeros({4, 2});
  split(y, 3, 0)[1].fill_(7.0);
  EXPECT_EQ(to_double_vector(y), (std::vector<double>{0, 0, 0, 0, 0, 0, 7, 7}));
}

TEST(Shape, EmptyDims) {
  EXPECT_EQ(cat({zeros({0, 3}), ones({2, 3})}, 0).shape(), (Shape{2, 3}));
  EXPECT_EQ(cat({empty({0}), ones({2, 3})}, 1).shape(), (Shape{2, 3}));  // legacy [0] is skipped
  EXPECT_EQ(cat({empty({0}), empty({0})}, 0).shape(), (Shape{0}));
  EXPECT_EQ(chunk(zeros({0, 2}), 3, 0).size(), 3u);  // torch: `chunks` empty pieces
  EXPECT_EQ(split(zeros({0, 2}), 2, 0).size(), 1u);
  EXPECT_EQ(split(ones({3}), std::vector<int64_t>{0, 3, 0}, 0)[1].shape(), (Shape{3}));
  EXPECT_EQ(chunk(ones({5}), 3).size(), 3u);
  EXPECT_EQ(chunk(ones({6}), 4).size(), 3u);  // ceil(6 / 4) = 2 per piece: torch also gives 3
  EXPECT_EQ(triu(zeros({2, 0, 3})).shape(), (Shape{2, 0, 3}));
  EXPECT_EQ(repeat(ones({2}), {0, 3}).shape(), (Shape{0, 6}));
  EXPECT_EQ(flip(zeros({0, 2}), {0}).shape(), (Shape{0, 2}));
  // A skipped legacy [0] input still gets a (zero-sized) gradient.
  Tensor e = zeros({0}).requires_grad_(), a = ones({2, 2}).requires_grad_();
  cat({e, a}, 1).backward(ones({2, 2}));
  EXPECT_EQ(e.grad().shape(), (Shape{0}));
  EXPECT_TRUE(all_equal(a.grad(), ones({2, 2})));
}

TEST(Shape, OneAndTwoThreadsAgree) {
  Tensor x = randn({7, 300, 257}), y = randn({7, 300, 100});
  auto [t1, t2] = testing::one_and_two_threads([&] { return triu(x.transpose(1, 2), 3); });
  EXPECT_TRUE(all_equal(t1, t2));
  auto [f1, f2] = testing::one_and_two_threads([&] { return flip(x, {1, 2}); });
  EXPECT_TRUE(all_equal(f1, f2));
  auto [c1, c2] = testing::one_and_two_threads([&] { return cat({x, y}, 2); });
  EXPECT_TRUE(all_equal(c1, c2));
  auto [r1, r2] = testing::one_and_two_threads([&] {
    Tensor xs = y.detach().requires_grad_();
    repeat(xs, {1, 2, 3}).backward(ones({7, 600, 300}));
    return xs.grad();
  });
  EXPECT_TRUE(all_equal(r1, r2));
}

TEST(Shape, ErrorsNameShapes) {
  expect_error([] { cat({ones({2, 3}), ones({2, 4})}, 0); }, {"cat", "[2, 3]", "[2, 4]"});
  expect_error([] { cat({ones({2, 3}), ones({2, 3, 1})}, 0); }, {"cat", "[2, 3]", "[2, 3, 1]"});
  expect_error([] { cat({}, 0); }, {"cat", "non-empty"});
  expect_error([] { cat({ones({2})}, 1); }, {"cat", "dimension 1"});
  expect_error([] { stack({ones({2, 3}), ones({3, 2})}); }, {"stack", "[2, 3]", "[3, 2]"});
  expect_error([] { split(ones({5, 2}), std::vector<int64_t>{2, 2}, 0); }, {"split", "[2, 2]", "[5, 2]", "5"});
  expect_error([] { split(ones({5, 2}), 0, 0); }, {"split", "split_size"});
  expect_error([] { chunk(ones({5}), 0); }, {"chunk", "0"});
  expect_error([] { triu(ones({4})); }, {"triu", "[4]"});
  expect_error([] { flip(ones({2, 3}), {1, -1}); }, {"flip", "dim 1"});
  expect_error([] { repeat(ones({2, 3}), {2}); }, {"repeat", "[2]", "[2, 3]"});
}

}  // namespace
}  // namespace attn
