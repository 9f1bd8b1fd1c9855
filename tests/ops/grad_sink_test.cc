// Leaf gradients added straight into .grad by backward closures (autograd::leaf_grad_sink): linear's
// dW (a GEMM with beta = 1) and embedding's rows (an index add). The result must be the gradient
// the engine would have accumulated itself: compared with autograd::grad(), which never uses the
// sink, and with the gradient of one fused call.
#include "attn/core/autograd.h"
#include "core/grad_sink.h"
#include "attn/ops/index.h"
#include "attn/ops/linalg.h"
#include "attn/ops/reduce.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::all_close;
using testing::all_equal;

// A weight used at several steps, as a decoder uses its output layer: sum_t <linear(x_t, W, b), dy_t>.
Tensor steps_loss(const Tensor& w, const Tensor& b, const std::vector<Tensor>& xs, const std::vector<Tensor>& dys) {
  Tensor loss;
  for (size_t t = 0; t < xs.size(); ++t) {
    Tensor l = sum(linear(xs[t], w, b) * dys[t]);
    loss = loss.defined() ? loss + l : l;
  }
  return loss;
}

TEST(GradSink, OutsideBackwardThereIsNone) {
  EXPECT_FALSE(autograd::leaf_grad_sink(0, {}).defined());
}

TEST(GradSink, LinearWeightUsedAtEveryStep) {
  for (const int64_t rows : {1, 3}) {
    for (const DType dt : {kFloat32, kFloat64}) {
      SCOPED_TRACE(std::to_string(rows) + " rows, " + dtype_name(dt));
      Generator g(5);
      const Tensor w = randn({37, 9}, dt, &g).requires_grad_(), b = randn({37}, dt, &g).requires_grad_();
      std::vector<Tensor> xs, dys;
      for (int t = 0; t < 4; ++t) {
        xs.push_back(randn({rows, 9}, dt, &g).requires_grad_());
        dys.push_back(randn({rows, 37}, dt, &g));
      }
      // Expected: grad() returns the gradients without touching .grad, so without the sink.
      const std::vector<Tensor> expected = autograd::grad({steps_loss(w, b, xs, dys)}, {w, b, xs[0]});
      steps_loss(w, b, xs, dys).backward();
      const Tensor grad_w = w.grad();  // the buffer that later backward passes add into
      // f32: only the order of additions differs (beta = 1 GEMM vs a temporary then an add).
      const double tol = dt == kFloat32 ? 1e-5 : 1e-12;
      EXPECT_TRUE(all_close(w.grad(), expected[0], tol, tol));
      EXPECT_TRUE(all_close(b.grad(), expected[1], tol, tol));
      EXPECT_TRUE(all_close(xs[0].grad(), expected[2], tol, tol));
      // A second backward accumulates into the same .grad tensor: references see the sum.
      steps_loss(w, b, xs, dys).backward();
      EXPECT_TRUE(w.grad().is_same(grad_w));
      EXPECT_TRUE(all_close(grad_w, expected[0] * 2.0, 2 * tol, tol));
    }
  }
}

// A .grad the engine would not update in place (a transposed view) is replaced by the sum as
// before, and the sink is not used for it.
TEST(GradSink, NonContiguousGradIsNotASink) {
  Generator g(6);
  Tensor w = randn({5, 4}, kFloat64, &g).requires_grad_();
  const Tensor start = randn({4, 5}, kFloat64, &g);
  w.set_grad(start.t());
  std::vector<Tensor> xs = {randn({1, 4}, kFloat64, &g), randn({1, 4}, kFloat64, &g)};
  std::vector<Tensor> dys = {randn({1, 5}, kFloat64, &g), randn({1, 5}, kFloat64, &g)};
  const Tensor expected = autograd::grad({steps_loss(w, Tensor(), xs, dys)}, {w})[0] + start.t();
  steps_loss(w, Tensor(), xs, dys).backward();
  EXPECT_TRUE(all_close(w.grad(), expected, 1e-12, 1e-12));
}

// The closure reads x while it writes the sink: when .grad shares x's storage, it must not write
// there first; the engine adds after the closure, as without a sink.
TEST(GradSink, GradSharingAnInputIsNotASink) {
  Generator g(7);
  Tensor w = randn({3, 3}, kFloat64, &g).requires_grad_();
  const Tensor buf = randn({3, 3}, kFloat64, &g);
  w.set_grad(buf);
  const Tensor x = buf.narrow(0, 0, 1);  // row 0 of w.grad's own buffer
  const Tensor dy = randn({1, 3}, kFloat64, &g);
  const Tensor expected = buf.clone() + matmul(dy.t(), x.clone());  // dW = dy^T x, from x before the add
  sum(linear(x, w, Tensor()) * dy).backward();
  EXPECT_TRUE(all_close(w.grad(), expected, 1e-12, 1e-12));
}

TEST(GradSink, EmbeddingRowsAddIntoGrad) {
  for (const int64_t padding : {-1, 2}) {
    SCOPED_TRACE("padding_idx " + std::to_string(padding));
    Generator g(8);
    const Tensor w = randn({6, 5}, kFloat64, &g).requires_grad_();
    // Step inputs with repeated and padding indices, as a decoder feeds one token per step.
    const std::vector<Tensor> ids = {tensor<int64_t>({1, 2, 1}), tensor<int64_t>({4}), tensor<int64_t>({1, 1}),
                                     tensor<int64_t>({2, 0})};
    std::vector<Tensor> dys;
    for (const Tensor& i : ids) dys.push_back(randn({i.numel(), 5}, kFloat64, &g));
    auto loss = [&] {
      Tensor l;
      for (size_t t = 0; t < ids.size(); ++t) {
        Tensor s = sum(embedding(w, ids[t], padding) * dys[t]);
        l = l.defined() ? l + s : s;
      }
      return l;
    };
    // Expected by hand: row v sums the output gradients of the positions that looked it up.
    Tensor expected = zeros({6, 5}, kFloat64);
    for (size_t t = 0; t < ids.size(); ++t)
      for (int64_t k = 0; k < ids[t].numel(); ++k) {
        const int64_t v = ids[t].data_ptr<int64_t>()[k];
        if (v != padding) expected.select(0, v).copy_(expected.select(0, v) + dys[t].select(0, k));
      }
    EXPECT_TRUE(all_close(autograd::grad({loss()}, {w})[0], expected, 1e-12, 1e-12));
    loss().backward();
    EXPECT_TRUE(all_close(w.grad(), expected, 1e-12, 1e-12));
    if (padding >= 0) {
      EXPECT_TRUE(all_equal(w.grad().select(0, padding), zeros({5}, kFloat64)));
    }
    loss().backward();
    EXPECT_TRUE(all_close(w.grad(), expected * 2.0, 1e-12, 1e-12));
  }
}

// Adding into .grad is parallel over columns only: the same bits for 1 and 2 threads.
TEST(GradSink, OneAndTwoThreadsAgree) {
  auto [one, two] = testing::one_and_two_threads([] {
    Generator g(9);
    const Tensor w = randn({300, 70}, kFloat32, &g).requires_grad_();
    const Tensor e = randn({300, 70}, kFloat32, &g).requires_grad_();
    Tensor loss;
    for (int t = 0; t < 5; ++t) {
      const Tensor ids = randint(0, 300, {3}, kInt64, &g);
      Tensor l = sum(linear(embedding(e, ids), w, Tensor()) * randn({3, 300}, kFloat32, &g));
      loss = loss.defined() ? loss + l : l;
    }
    loss.backward();
    return cat({w.grad(), e.grad()}, 0);
  });
  EXPECT_TRUE(all_equal(one, two));
}

}  // namespace
}  // namespace attn
