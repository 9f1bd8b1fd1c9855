#include "attn/ops/index.h"

#include "attn/ops/elementwise.h"
#include "attn/ops/linalg.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::expect_error;

using testing::all_close;
using testing::all_equal;

Tensor i64(std::vector<int64_t> v) { return tensor(v); }
Tensor i64(std::vector<int64_t> v, Shape s) { return tensor(v, std::move(s)); }

// Forward values are copies (exact). Gradients are index-adds of at most 3 float32 terms, which
// PyTorch may sum in another order: 1e-6.
void check_fixture(const std::string& name, const std::vector<std::string>& inputs,
                   const std::function<Tensor(const std::vector<Tensor>&, const io::SafetensorsFile&)>& f) {
  auto fx = testing::load_fixture("index/" + name);
  std::vector<Tensor> xs;
  for (const auto& n : inputs) xs.push_back(fx.at(n).detach().requires_grad_());
  Tensor out = f(xs, fx);
  EXPECT_TRUE(all_equal(out, fx.at("out"))) << name;
  out.backward(fx.at("grad_out"));
  for (size_t i = 0; i < inputs.size(); ++i)
    EXPECT_TRUE(all_close(xs[i].grad(), fx.at("grad_" + inputs[i]), 1e-6, 1e-6)) << name << " grad_" << inputs[i];
}

TEST(Index, PyTorchFixtures) {
  using Fx = io::SafetensorsFile;
  check_fixture("index_select", {"x"}, [](const std::vector<Tensor>& x, const Fx& fx) { return index_select(x[0], 1, fx.at("index")); });
  check_fixture("gather", {"x"}, [](const std::vector<Tensor>& x, const Fx& fx) { return gather(x[0], 1, fx.at("index")); });
  check_fixture("gather_dim0", {"x"}, [](const std::vector<Tensor>& x, const Fx& fx) { return gather(x[0], 0, fx.at("index")); });
  check_fixture("scatter_add", {"x", "src"},
                [](const std::vector<Tensor>& x, const Fx& fx) { return scatter_add(x[0], 1, fx.at("index"), x[1]); });
  check_fixture("embedding", {"weight"},
                [](const std::vector<Tensor>& x, const Fx& fx) { return embedding(x[0], fx.at("indices"), 2); });
  check_fixture("embedding_nopad", {"weight"},
                [](const std::vector<Tensor>& x, const Fx& fx) { return embedding(x[0], fx.at("indices")); });
  auto fx = testing::load_fixture("index/one_hot");
  EXPECT_TRUE(all_equal(one_hot(fx.at("indices")), fx.at("out")));
  EXPECT_TRUE(all_equal(one_hot(fx.at("indices"), 5), fx.at("out5")));
}

TEST(Index, Gradcheck) {
  Generator g(9);
  auto r = [&](Shape s) { return randn(std::move(s), kFloat64, &g).requires_grad_(); };
  const Tensor sel = i64({3, 0, 3, 1, 3});  // repeated indices: the backward must sum them
  ATTN_EXPECT_GRADCHECK([&](const std::vector<Tensor>& x) { return index_select(x[0], 1, sel); }, (std::vector<Tensor>{r({2, 4, 3})}));
  ATTN_EXPECT_GRADCHECK([&](const std::vector<Tensor>& x) { return index_select(x[0], 0, sel); }, (std::vector<Tensor>{r({4, 2})}));
  const Tensor gi = i64({0, 2, 2, 1, 0, 0}, {2, 3});
  ATTN_EXPECT_GRADCHECK([&](const std::vector<Tensor>& x) { return gather(x[0], 1, gi); }, (std::vector<Tensor>{r({3, 4})}));
  ATTN_EXPECT_GRADCHECK([&](const std::vector<Tensor>& x) { return gather(x[0].t(), 0, gi); }, (std::vector<Tensor>{r({3, 4})}));
  ATTN_EXPECT_GRADCHECK([&](const std::vector<Tensor>& x) { return scatter_add(x[0], 1, gi, x[1]); },
                        (std::vector<Tensor>{r({2, 4}), r({2, 3})}));
  // src larger than index: the unused part of src gets zero gradient.
  ATTN_EXPECT_GRADCHECK([&](const std::vector<Tensor>& x) { return scatter_add(x[0], 0, gi, x[1]); },
                        (std::vector<Tensor>{r({3, 3}), r({3, 5})}));
  // No padding_idx here: by design the padding row gets no gradient although the output reads it,
  // which finite differences would flag. Padding is checked against PyTorch and one_hot @ g.
  const Tensor ei = i64({1, 4, 1, 0, 2, 1}, {3, 2});
  ATTN_EXPECT_GRADCHECK([&](const std::vector<Tensor>& x) { return embedding(x[0], ei); }, (std::vector<Tensor>{r({5, 3})}));
}

TEST(Index, EmbeddingBackwardMatchesOneHotMatmul) {
  // dW = one_hot(indices)^T @ g: an independent formula for the index-add, with the padding row
  // zeroed. f64, so only the summation order differs: 1e-12.
  Generator g(2);
  const int64_t V = 50, D = 300, pad = 7;
  Tensor idx = randint(0, V, {6, 40}, kInt64, &g);
  Tensor w = randn({V, D}, kFloat64, &g).requires_grad_();
  Tensor gy = randn({6, 40, D}, kFloat64, &g);
  Tensor out = embedding(w, idx, pad);
  EXPECT_TRUE(all_equal(out, index_select(w.detach(), 0, idx.reshape({-1})).reshape({6, 40, D})));
  out.backward(gy);
  Tensor oh = one_hot(idx.reshape({-1}), V).to(kFloat64);
  Tensor expect = mm(oh.t(), gy.reshape({-1, D}));
  expect.select(0, pad).fill_(0.0);
  EXPECT_TRUE(all_close(w.grad(), expect, 1e-12, 1e-12));
}

TEST(Index, OneAndTwoThreadsAgree) {
  Generator g(4);
  Tensor idx = randint(0, 1000, {64, 50}, kInt64, &g);
  Tensor w = randn({1000, 600}, kFloat32, &g);
  auto [e1, e2] = testing::one_and_two_threads([&] {
    Tensor ws = w.detach().requires_grad_();
    embedding(ws, idx, 0).backward(ones({64, 50, 600}));
    return ws.grad();
  });
  EXPECT_TRUE(all_equal(e1, e2));
  Tensor x = randn({300, 200, 3}, kFloat32, &g);
  Tensor sel = randint(0, 200, {500}, kInt64, &g);
  auto [s1, s2] = testing::one_and_two_threads([&] {
    Tensor xs = x.detach().requires_grad_();
    index_select(xs, 1, sel).backward(ones({300, 500, 3}));
    return xs.grad();
  });
  EXPECT_TRUE(all_equal(s1, s2));
  Tensor gi = randint(0, 300, {300, 200, 3}, kInt64, &g);
  auto [g1, g2] = testing::one_and_two_threads([&] {
    Tensor xs = x.detach().requires_grad_();
    gather(xs, 0, gi).backward(ones({300, 200, 3}));
    return xs.grad();
  });
  EXPECT_TRUE(all_equal(g1, g2));
}

TEST(Index, EmptyAndZeroDim) {
  Tensor w = randn({4, 3}).requires_grad_();
  Tensor out = embedding(w, i64({}, {0, 5}));
  EXPECT_EQ(out.shape(), (Shape{0, 5, 3}));
  out.backward(zeros({0, 5, 3}));
  EXPECT_TRUE(all_equal(w.grad(), zeros({4, 3})));
  EXPECT_EQ(index_select(randn({3, 2}), 0, i64({}, {0})).shape(), (Shape{0, 2}));
  EXPECT_EQ(gather(randn({3, 2}), 1, i64({}, {3, 0})).shape(), (Shape{3, 0}));
  EXPECT_TRUE(all_equal(scatter_add(ones({2, 2}), 0, i64({}, {0, 2}), ones({0, 2})), ones({2, 2})));
  EXPECT_EQ(one_hot(i64({}, {0}), 3).shape(), (Shape{0, 3}));
  EXPECT_EQ(embedding(w, i64({2}, {})).shape(), (Shape{3}));  // 0-d index: one row
}

TEST(Index, ErrorsNameValuePositionAndSize) {
  expect_error([] { embedding(randn({3, 2}), i64({0, 1, 2, 5}, {2, 2})); }, {"embedding", "index 5", "[1, 1]", "size 3"});
  expect_error([] { embedding(randn({3, 2}), i64({-1}, {1})); }, {"index -1", "[0]", "size 3"});
  expect_error([] { index_select(randn({4, 3}), 1, i64({0, 3})); }, {"index_select", "index 3", "[1]", "size 3"});
  expect_error([] { gather(randn({3, 4}), 0, i64({0, 1, 3, 0}, {2, 2})); }, {"gather", "index 3", "[1, 0]", "size 3"});
  expect_error([] { scatter_add(randn({3, 4}), 1, i64({9}, {1, 1}), randn({1, 1})); }, {"scatter_add", "index 9", "[0, 0]", "size 4"});
  expect_error([] { one_hot(i64({0, 4}), 3); }, {"one_hot", "index 4", "[1]", "size 3"});
  expect_error([] { one_hot(i64({}, {0})); }, {"one_hot", "empty"});
  expect_error([] { index_select(randn({4, 3}), 0, i64({0, 1}, {1, 2})); }, {"index_select", "1-D", "[1, 2]"});
  expect_error([] { gather(randn({3, 4}), 1, i64({0, 1}, {2})); }, {"gather", "int64[2]", "float32[3, 4]"});
  expect_error([] { gather(randn({3, 4}), 1, i64({0, 0, 0, 0, 0}, {5, 1})); }, {"gather", "[5, 1]", "[3, 4]"});
  expect_error([] { embedding(randn({3, 2}), randn({2})); }, {"embedding", "int64", "float32[2]"});
  expect_error([] { embedding(randn({3, 2}), i64({0}), 3); }, {"padding_idx 3", "3"});
}

}  // namespace
}  // namespace attn
