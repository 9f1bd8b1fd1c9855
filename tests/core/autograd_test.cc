#include "attn/core/autograd.h"

#include "test_util.h"

namespace attn {
namespace {

using testing::all_close;

TEST(Autograd, LeafGradAccumulates) {
  Tensor x = tensor({1.f, 2.f, 3.f}).requires_grad_();
  Tensor y = x * x;  // dy/dx = 2x
  y.backward(ones({3}));
  EXPECT_TRUE(all_close(x.grad(), tensor({2.f, 4.f, 6.f}), 0));
  Tensor z = x * 3.0;
  z.backward(ones({3}));
  EXPECT_TRUE(all_close(x.grad(), tensor({5.f, 7.f, 9.f}), 0));  // accumulated
}

TEST(Autograd, DiamondGraphSumsBothPaths) {
  Tensor x = tensor({2.0}, {}).to(kFloat64).requires_grad_();
  Tensor a = x * x, b = x * 3.0;
  Tensor y = a * b;  // 3 x^3 -> 9 x^2 = 36
  y.backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 36.0);
}

TEST(Autograd, SecondBackwardThroughFreedGraphThrows) {
  Tensor x = tensor({1.f}, {}).requires_grad_();
  Tensor y = x * x;
  y.backward();
  try {
    y.backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("second time"), std::string::npos) << e.what();
  }
  Tensor x2 = tensor({1.f}, {}).requires_grad_();
  Tensor y2 = x2 * x2;
  y2.backward(Tensor(), /*retain_graph=*/true);
  y2.backward();
  EXPECT_EQ(x2.grad().item(), 4.0);
}

TEST(Autograd, NoGradGuardStopsRecording) {
  Tensor x = ones({2}).requires_grad_();
  {
    NoGradGuard ng;
    Tensor y = x * 2.0;
    EXPECT_FALSE(y.requires_grad());
  }
  EXPECT_TRUE((x * 2.0).requires_grad());
}

TEST(Autograd, NonScalarBackwardNeedsGradient) {
  Tensor x = ones({2}).requires_grad_();
  EXPECT_THROW((x * 2.0).backward(), Error);
  EXPECT_THROW((x * 2.0).backward(ones({3})), Error);
}

TEST(Autograd, ViewsBackward) {
  Tensor x = arange(0, 6, 1, kFloat64).view({2, 3}).detach().requires_grad_();
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return in[0].transpose(0, 1).reshape({6}) * in[0].t().reshape({6}); },
                        std::vector<Tensor>{x});
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return in[0].narrow(1, 1, 2) * in[0].select(1, 0).unsqueeze(1); },
                        std::vector<Tensor>{x});
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return in[0].slice(1, 0, 3, 2).expand({4, 2, 2}) * 1.0; },
                        std::vector<Tensor>{x});
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return in[0].permute({1, 0}).flatten().unsqueeze(0).squeeze(0) * 2.0; },
                        std::vector<Tensor>{x});
}

TEST(Autograd, GradFunctionDoesNotTouchDotGrad) {
  Tensor x = tensor({3.0}, {}).to(kFloat64).requires_grad_();
  Tensor h = x * x;
  Tensor y = h * x;
  auto g = autograd::grad({y}, {x, h}, {}, true);
  EXPECT_DOUBLE_EQ(g[0].item(), 27.0);
  EXPECT_DOUBLE_EQ(g[1].item(), 3.0);
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, RetainGradOnIntermediate) {
  Tensor x = tensor({2.f}, {}).requires_grad_();
  Tensor h = x * x;
  h.retain_grad();
  (h * 5.0).backward();
  EXPECT_EQ(h.grad().item(), 5.0);
}

TEST(Autograd, InPlaceOnLeafThatRequiresGradThrows) {
  Tensor x = ones({2}).requires_grad_();
  EXPECT_THROW(x.fill_(1), Error);
  NoGradGuard ng;
  x.fill_(2);
  EXPECT_EQ(x.grad().defined(), false);
}

TEST(Autograd, GradcheckCatchesAWrongGradient) {
  // A deliberately wrong backward (d/dx x^2 reported as x) must fail gradcheck.
  auto wrong_square = [](const std::vector<Tensor>& in) {
    Tensor x = in[0];
    Tensor out = empty(x.shape(), x.dtype());
    {
      NoGradGuard ng;
      out.copy_(x * x);
    }
    autograd::record("wrong_square", out, {x}, [x = x.detach()](const Tensor& g) -> std::vector<Tensor> { return {g * x}; });
    return out;
  };
  Tensor x = tensor(std::vector<double>{1.0, 2.0}).requires_grad_();
  EXPECT_FALSE(gradcheck(wrong_square, {x}).ok);
}

}  // namespace
}  // namespace attn

namespace attn {
namespace {

// The engine adopts or updates gradient buffers in place when nothing else holds them; a
// gradient tensor that reaches several inputs at once must still be summed, not aliased.
TEST(Autograd, SharedGradientTensorsAreNotAliased) {
  Tensor x = tensor({1.0, 2.0, 3.0}).to(kFloat64).requires_grad_();
  Tensor a = x * 2.0;
  Tensor y = (a + a) + x;  // dy/dx = 2 * 2 + 1 = 5
  y.backward(ones({3}, kFloat64));
  EXPECT_EQ(to_double_vector(x.grad()), (std::vector<double>{5, 5, 5}));
  Tensor held = x.grad();
  (x + x).backward(ones({3}, kFloat64));  // accumulates into the same .grad tensor
  EXPECT_TRUE(held.is_same(x.grad()));
  EXPECT_EQ(to_double_vector(held), (std::vector<double>{7, 7, 7}));
  Tensor upstream = ones({3}, kFloat64);
  Tensor z = tensor({0.0, 0.0, 0.0}).to(kFloat64).requires_grad_();
  (z + 0.0).backward(upstream);
  z.grad().fill_(9);  // the user's upstream gradient must not have been adopted as .grad
  EXPECT_EQ(to_double_vector(upstream), (std::vector<double>{1, 1, 1}));
}

}  // namespace
}  // namespace attn
