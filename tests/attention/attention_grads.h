// Comparison helpers for the attention kernels' tests: run an attention function on fresh leaf
// copies of q, k, v, backpropagate, and compare the output, the three input gradients and
// (optionally) the attention weights of two runs.
#pragma once
#include "attn/attention/sdpa.h"
#include "test_util.h"

namespace attn::testing {

struct Grads {
  Tensor out, dq, dk, dv, weights;  // weights undefined when the function returned none
};

// Runs f(q, k, v) -> AttentionResult on fresh leaf copies and backpropagates `gout` (ones if undefined).
template <class F>
Grads run(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& gout, F f) {
  Tensor qq = q.detach().clone().requires_grad_(), kk = k.detach().clone().requires_grad_(),
         vv = v.detach().clone().requires_grad_();
  AttentionResult r = f(qq, kk, vv);
  r.output.backward(gout.defined() ? gout : ones_like(r.output));
  return {r.output.detach(), qq.grad(), kk.grad(), vv.grad(), r.weights.defined() ? r.weights.detach() : Tensor()};
}

// Output and gradients within `tol` (absolute and relative); the weights too with `weights`.
inline void expect_close(const Grads& a, const Grads& b, double tol, bool weights = false) {
  EXPECT_TRUE(all_close(a.out, b.out, tol, tol));
  EXPECT_TRUE(all_close(a.dq, b.dq, tol, tol));
  EXPECT_TRUE(all_close(a.dk, b.dk, tol, tol));
  EXPECT_TRUE(all_close(a.dv, b.dv, tol, tol));
  if (weights) {
    EXPECT_TRUE(all_close(a.weights, b.weights, tol, tol));
  }
}

}  // namespace attn::testing
