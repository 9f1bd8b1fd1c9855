#include "attn/core/autograd.h"

#include <cmath>
#include <type_traits>

#include "kernels/reduce_sum.h"
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

namespace attn {
namespace {

// sum_to's kernel: the contiguous-rows fast path (kept dims unit-stride) against the generic
// gather path and a plain loop in the same order. Both accumulate each output from 0 over the
// reduced indices in row-major order, so every comparison is bitwise.
template <class T>
void expect_rows_match_gather(const std::vector<int64_t>& kept_shape, const std::vector<int64_t>& kept_strides,
                              const std::vector<int64_t>& red_shape, const std::vector<int64_t>& red_strides,
                              int64_t numel) {
  const DType dt = std::is_same_v<T, float> ? kFloat32 : kFloat64;
  ASSERT_TRUE(kernels::detail::is_unit_stride(kept_shape, kept_strides));
  // Magnitudes spread over ~2^20, so a different summation order would change the bits.
  Tensor in = testing::misaligned_randn({numel}, dt, 5);
  T* p = in.data_ptr<T>();
  for (int64_t i = 0; i < numel; ++i) p[i] = std::ldexp(p[i], int(i * 7 % 21) - 10);
  const std::vector<int64_t> o_off = kernels::detail::all_offsets(kept_shape, kept_strides);
  const std::vector<int64_t> r_off = kernels::detail::all_offsets(red_shape, red_strides);
  const int64_t n_out = int64_t(o_off.size());
  Tensor gather = full({n_out}, 7.0, dt), loop = full({n_out}, 7.0, dt);
  auto run_fast = [&] {
    Tensor o = full({n_out}, 7.0, dt);
    kernels::sum_reduce<T>(p, kept_shape, kept_strides, red_shape, red_strides, o.data_ptr<T>());
    return o;
  };
  auto [one, two] = testing::one_and_two_threads(run_fast);
  kernels::detail::sum_reduce_gather<T>(p, o_off, r_off, gather.data_ptr<T>());
  for (int64_t o = 0; o < n_out; ++o) {
    T acc = 0;
    for (int64_t r_o : r_off) acc += p[o_off[size_t(o)] + r_o];
    loop.data_ptr<T>()[o] = acc;
  }
  EXPECT_TRUE(testing::all_equal(one, gather));
  EXPECT_TRUE(testing::all_equal(two, gather));
  EXPECT_TRUE(testing::all_equal(gather, loop));
}

TEST(Autograd, SumReduceContiguousRowsMatchesGatherBitwise) {
  // [M, N] summed over M: M = 1, N = 1, N not a multiple of 8, N over one tile (512) and over
  // the per-thread minimum (2 x 256), large M.
  const std::vector<std::pair<int64_t, int64_t>> mn = {{1, 1},   {1, 37},  {5, 1},   {3, 7},    {17, 9},
                                                        {2, 13},  {9, 8},   {4, 513}, {300, 1031}, {3000, 5}};
  for (auto [m, n] : mn) {
    SCOPED_TRACE("M " + std::to_string(m) + " N " + std::to_string(n));
    expect_rows_match_gather<float>({n}, {1}, {m}, {n}, m * n);
    expect_rows_match_gather<double>({n}, {1}, {m}, {n}, m * n);
  }
  // Kept [2, 5] contiguous inside rows of 10 with reduced dims [3, 4] walked in a permuted order;
  // a size-1 kept dim with an odd stride; nothing reduced (a copy); an empty reduction (zeros).
  expect_rows_match_gather<float>({2, 5}, {5, 1}, {3, 4}, {10, 30}, 120);
  expect_rows_match_gather<double>({1, 6}, {99, 1}, {7}, {6}, 42);
  expect_rows_match_gather<float>({11}, {1}, {}, {}, 11);
  expect_rows_match_gather<float>({11}, {1}, {0}, {11}, 11);
}

TEST(Autograd, SumToBiasGradientAndStridedGradients) {
  // The bias-gradient case through sum_to, and a transposed gradient (kept dim not unit stride,
  // the gather path): both against a plain loop.
  Tensor g = randn({37, 21});
  Tensor bias = autograd::sum_to(g, {21});
  Tensor gt = randn({21, 37}).t();  // [37, 21] with strides (1, 37)
  Tensor bias_t = autograd::sum_to(gt, {1, 21});
  Tensor gc = gt.contiguous();
  for (int64_t j = 0; j < 21; ++j) {
    float a = 0, b = 0;
    for (int64_t i = 0; i < 37; ++i) a += g.data_ptr<float>()[i * 21 + j], b += gc.data_ptr<float>()[i * 21 + j];
    EXPECT_EQ(bias.data_ptr<float>()[j], a) << j;
    EXPECT_EQ(bias_t.data_ptr<float>()[j], b) << j;
  }
  EXPECT_EQ(bias_t.shape(), (Shape{1, 21}));
}

}  // namespace
}  // namespace attn
