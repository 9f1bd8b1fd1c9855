#include "attn/ops/loss.h"

#include <cmath>

#include "attn/ops/functional.h"
#include "kernels/loss.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::all_close;
using testing::all_equal;

const std::pair<const char*, Reduction> kReductions[] = {
    {"none", Reduction::None}, {"mean", Reduction::Mean}, {"sum", Reduction::Sum}};

// The reference: cross entropy as PyTorch defines it, composed from log_softmax, nll_loss and
// reductions (torch's cross_entropy_loss_label_smoothing / _prob_target), autograd included.
Tensor composed_cross_entropy(const Tensor& x, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                              Reduction red, double eps) {
  const int64_t cdim = x.dim() == 1 ? 0 : 1, C = x.size(cdim);
  Shape wshape(size_t(x.dim()), 1);
  wshape[size_t(cdim)] = C;
  const Tensor wv = weight.defined() ? weight.reshape(wshape) : ones(wshape, x.dtype());
  const Tensor lsm = log_softmax(x, cdim);
  if (target.is_floating_point()) {
    Tensor q = target * (1 - eps) + eps / double(C);
    Tensor rows = -sum(lsm * q * wv, {cdim});
    return red == Reduction::None ? rows : red == Reduction::Sum ? sum(rows) : mean(rows);
  }
  Tensor nll = nll_loss(lsm, target, weight, ignore_index, red);
  if (eps == 0) return nll;
  Tensor smooth = masked_fill(-sum(lsm * wv, {cdim}), eq(target, double(ignore_index)), 0.0);
  if (red == Reduction::Sum) smooth = sum(smooth);
  if (red == Reduction::Mean) {
    // Divided by the summed weights of the non-ignored targets, like the nll term.
    const Tensor valid = logical_not(eq(target, double(ignore_index))).unsqueeze(cdim);
    const Tensor onehot = eq(target.unsqueeze(cdim), arange(double(C)).reshape(wshape)) & valid;
    smooth = sum(smooth) / sum(where(onehot, wv, 0.0)).detach();
  }
  return nll * (1 - eps) + smooth * (eps / double(C));
}


int64_t meta_int(const io::SafetensorsFile& fx, const std::string& key) { return std::stoll(fx.metadata.at(key)); }
double meta_double(const io::SafetensorsFile& fx, const std::string& key) { return std::stod(fx.metadata.at(key)); }

TEST(CrossEntropy, PyTorchFixtures) {
  for (const char* name : {"ce_basic", "ce_weight_smooth", "ce_kdim", "ce_probs", "ce_large", "ce_unbatched", "ce_all_ignored"}) {
    const auto fx = testing::load_fixture(std::string("loss/") + name);
    const int64_t ignore = meta_int(fx, "ignore_index");
    const double eps = meta_double(fx, "label_smoothing");
    const Tensor weight = fx.contains("weight") ? fx.at("weight") : Tensor();
    const bool probs = fx.at("target").is_floating_point();
    // float32 logits: the fused kernel and PyTorch round differently (max-subtracted exp sums in
    // another order); 1e-5 relative covers a few ulp of log-sum-exp. ce_large has |logits| ~ 100.
    const double tol = fx.at("input").dtype() == kFloat64 ? 1e-12 : 2e-5;
    for (auto [rname, red] : kReductions) {
      SCOPED_TRACE(std::string(name) + " reduction " + rname);
      Tensor x = fx.at("input").detach().requires_grad_();
      Tensor t = probs ? fx.at("target").detach().requires_grad_() : fx.at("target");
      Tensor out = cross_entropy(x, t, weight, ignore, red, eps);
      EXPECT_TRUE(all_close(out, fx.at(std::string("out_") + rname), tol, tol));
      out.backward(fx.at(std::string("grad_out_") + rname));
      EXPECT_TRUE(all_close(x.grad(), fx.at(std::string("grad_input_") + rname), tol, tol));
      if (probs) {
        EXPECT_TRUE(all_close(t.grad(), fx.at(std::string("grad_target_") + rname), tol, tol));
      }
    }
  }
}

TEST(CrossEntropy, AllIgnoredMeanIsNaNWithZeroGradient) {
  // PyTorch: the mean over no targets is 0 / 0 = NaN, but no element contributes to the gradient.
  Tensor x = randn({3, 4}).requires_grad_();
  Tensor t = tensor(std::vector<int64_t>{-100, -100, -100});
  Tensor l = cross_entropy(x, t, Tensor(), -100, Reduction::Mean, 0.1);
  EXPECT_TRUE(std::isnan(l.item()));
  l.backward();
  EXPECT_TRUE(all_equal(x.grad(), zeros({3, 4})));
  EXPECT_EQ(cross_entropy(x, t, Tensor(), -100, Reduction::Sum).item(), 0.0);
  // An empty batch likewise.
  EXPECT_TRUE(std::isnan(cross_entropy(zeros({0, 4}), zeros({0}, kInt64)).item()));
  EXPECT_EQ(cross_entropy(zeros({0, 4}), zeros({0}, kInt64), Tensor(), -100, Reduction::None).shape(), (Shape{0}));
}

// Random cases that exercise every branch: weights, smoothing, ignored targets, extra dims, probs.
struct Case {
  Shape shape;
  bool weight, probs;
  double eps;
  int64_t ignore;
};
const Case kCases[] = {
    {{7, 5}, false, false, 0.0, -100}, {{7, 5}, true, false, 0.3, 2}, {{3, 4, 5}, true, false, 0.1, -100},
    {{2, 3, 2, 2}, false, false, 0.2, 1}, {{6}, true, false, 0.25, -100}, {{4, 6}, true, true, 0.15, -100},
    {{2, 3, 4}, false, true, 0.0, -100}, {{0, 3}, true, false, 0.1, -100},
};

std::pair<Tensor, Tensor> random_inputs(const Case& c, DType dt, Generator& g) {
  Tensor x = randn(c.shape, dt, &g) * 2.0;
  const int64_t cdim = c.shape.size() == 1 ? 0 : 1, C = c.shape[size_t(cdim)];
  if (c.probs) return {x, softmax(randn(c.shape, dt, &g), cdim)};
  Shape tshape = c.shape;
  tshape.erase(tshape.begin() + cdim);
  Tensor t = randint(0, C, tshape, kInt64, &g);
  if (t.numel() > 1) t.view({-1}).select(0, 1).fill_(double(c.ignore));  // one ignored target (or a plain one)
  return {x, t};
}

TEST(CrossEntropy, FusedMatchesComposedForwardAndBackward) {
  Generator g(17);
  for (const Case& c : kCases) {
    for (auto [rname, red] : kReductions) {
      SCOPED_TRACE(shape_str(c.shape) + " probs " + std::to_string(c.probs) + " reduction " + rname);
      auto [x0, t0] = random_inputs(c, kFloat64, g);
      const int64_t C = c.shape[c.shape.size() == 1 ? 0 : 1];
      Tensor w = c.weight ? rand({C}, kFloat64, &g) + 0.5 : Tensor();
      Tensor x1 = x0.detach().requires_grad_(), x2 = x0.detach().requires_grad_();
      Tensor t1 = c.probs ? t0.detach().requires_grad_() : t0, t2 = c.probs ? t0.detach().requires_grad_() : t0;
      Tensor fused = cross_entropy(x1, t1, w, c.ignore, red, c.eps);
      Tensor comp = composed_cross_entropy(x2, t2, w, c.ignore, red, c.eps);
      // float64, same formulas in a different order: agreement to ~1e-15 relative, 1e-12 is ample.
      EXPECT_TRUE(all_close(fused, comp, 1e-12, 1e-12));
      if (fused.numel() == 0) continue;
      Tensor gy = randn(fused.shape(), kFloat64, &g);
      fused.backward(gy);
      comp.backward(gy);
      EXPECT_TRUE(all_close(x1.grad(), x2.grad(), 1e-12, 1e-12));
      if (c.probs) {
        EXPECT_TRUE(all_close(t1.grad(), t2.grad(), 1e-12, 1e-12));
      }
    }
  }
}

TEST(CrossEntropy, Gradcheck) {
  Generator g(23);
  for (const Case& c : kCases) {
    if (shape_numel(c.shape) == 0) continue;
    for (auto [rname, red] : kReductions) {
      SCOPED_TRACE(shape_str(c.shape) + " reduction " + rname);
      auto [x, t] = random_inputs(c, kFloat64, g);
      const int64_t C = c.shape[c.shape.size() == 1 ? 0 : 1];
      Tensor w = c.weight ? rand({C}, kFloat64, &g) + 0.5 : Tensor();
      std::vector<Tensor> in = {x.requires_grad_()};
      if (c.probs) in.push_back(t.requires_grad_());
      auto f = [&, t = t](const std::vector<Tensor>& v) {
        return cross_entropy(v[0], c.probs ? v[1] : t, w, c.ignore, red, c.eps);
      };
      ATTN_EXPECT_GRADCHECK(f, in);
    }
  }
}

TEST(CrossEntropy, FastMatchesReferenceOnAwkwardSizes) {
  // SIMD Exp (a few ulp) and lane-order sums against the scalar loop: float32 agreement to ~1e-6
  // relative on losses of O(log C) and gradients of O(1).
  Generator g(31);
  for (int64_t C : testing::awkward_sizes()) {
    if (C == 0) continue;
    for (bool weighted : {false, true}) {
      Tensor x = testing::misaligned_randn({9, C}, kFloat32, uint64_t(C)) * 3.0;
      Tensor t = randint(0, C, {9}, kInt64, &g);
      t.select(0, 4).fill_(-100.0);
      Tensor w = weighted ? rand({C}, kFloat32, &g) + 0.5 : Tensor();
      auto run = [&](Reduction red) {
        Tensor xr = x.detach().requires_grad_();
        Tensor l = cross_entropy(xr, t, w, -100, red, 0.1);
        l.backward(ones(l.shape()));
        return std::pair{l, xr.grad()};
      };
      for (auto [rname, red] : kReductions) {
        std::pair<Tensor, Tensor> r, f;
        {
          KernelModeGuard kg(true);
          r = run(red);
        }
        {
          KernelModeGuard kg(false);
          f = run(red);
        }
        EXPECT_TRUE(all_close(f.first, r.first, 1e-5, 1e-5)) << "C " << C << " " << rname;
        EXPECT_TRUE(all_close(f.second, r.second, 1e-6, 1e-5)) << "C " << C << " " << rname;
      }
    }
  }
}

TEST(CrossEntropy, OneAndTwoThreadsAgree) {
  Tensor x = randn({300, 257});
  Tensor t = randint(0, 257, {300});
  auto loss = [&] { return cross_entropy(x, t, Tensor(), -100, Reduction::None, 0.1); };
  auto [l1, l2] = testing::one_and_two_threads(loss);
  EXPECT_TRUE(all_equal(l1, l2));
  auto grad = [&] {
    Tensor xr = x.detach().requires_grad_();
    cross_entropy(xr, t).backward();
    return xr.grad();
  };
  auto [g1, g2] = testing::one_and_two_threads(grad);
  EXPECT_TRUE(all_equal(g1, g2));
}

TEST(CrossEntropy, NaNLogitGivesNaNRow) {
  Tensor x = randn({3, 20});
  x.select(0, 1).select(0, 7).fill_(NAN);
  for (bool ref : {true, false}) {
    KernelModeGuard kg(ref);
    const std::vector<double> l = to_double_vector(cross_entropy(x, tensor(std::vector<int64_t>{0, 1, 2}), Tensor(), -100,
                                                                 Reduction::None));
    EXPECT_FALSE(std::isnan(l[0]));
    EXPECT_TRUE(std::isnan(l[1])) << "ref " << ref;
    EXPECT_FALSE(std::isnan(l[2]));
  }
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CrossEntropy, BadInputsThrowWithShapes) {
  Tensor x = randn({3, 5});
  auto has = [](const std::string& msg, const std::string& needle) {
    return msg.find(needle) != std::string::npos ? ::testing::AssertionSuccess()
                                                 : ::testing::AssertionFailure() << "\"" << needle << "\" not in: " << msg;
  };
  std::string m = error_of([&] { cross_entropy(x, tensor(std::vector<int64_t>{0, 5, 1})); });
  EXPECT_TRUE(has(m, "target 5 at flat index 1 is out of range for 5 classes"));
  m = error_of([&] { cross_entropy(x, zeros({4}, kInt64)); });
  EXPECT_TRUE(has(m, "expected target of shape [3]"));
  EXPECT_TRUE(has(m, "float32[3, 5]"));
  EXPECT_TRUE(has(m, "int64[4]"));
  m = error_of([&] { cross_entropy(x, zeros({3}, kFloat32)); });
  EXPECT_TRUE(has(m, "float32[3]"));
  m = error_of([&] { cross_entropy(x, zeros({3}, kInt64), ones({4})); });
  EXPECT_TRUE(has(m, "expected weight of shape [5]"));
  EXPECT_TRUE(has(m, "float32[4]"));
  EXPECT_THROW(cross_entropy(x, zeros({3}, kInt64), Tensor(), -100, Reduction::Mean, 1.5), Error);
  EXPECT_THROW(cross_entropy(scalar_tensor(1.0), zeros({}, kInt64)), Error);
  EXPECT_THROW(cross_entropy(arange(6).reshape({3, 2}), zeros({3}, kInt64)), Error);
  EXPECT_THROW(nll_loss(x, tensor(std::vector<int64_t>{-1, 0, 0})), Error);
  m = error_of([&] { mse_loss(x, zeros({5})); });
  EXPECT_TRUE(has(m, "float32[3, 5]"));
  EXPECT_TRUE(has(m, "float32[5]"));
}

TEST(NllLoss, PyTorchFixtureAndGradcheck) {
  const auto fx = testing::load_fixture("loss/nll_kdim");
  for (auto [rname, red] : kReductions) {
    SCOPED_TRACE(rname);
    Tensor x = fx.at("input").detach().requires_grad_();
    Tensor out = nll_loss(x, fx.at("target"), fx.at("weight"), meta_int(fx, "ignore_index"), red);
    // A gather and one float32 division (mean) or a float32 sum vs attn's double sum: 1e-6.
    EXPECT_TRUE(all_close(out, fx.at(std::string("out_") + rname), 1e-6, 1e-6));
    out.backward(fx.at(std::string("grad_out_") + rname));
    EXPECT_TRUE(all_close(x.grad(), fx.at(std::string("grad_input_") + rname), 1e-6, 1e-6));
  }
  Generator g(3);
  Tensor x = randn({4, 3, 2}, kFloat64, &g).requires_grad_();
  Tensor t = randint(0, 3, {4, 2}, kInt64, &g);
  Tensor w = rand({3}, kFloat64, &g) + 0.5;
  for (auto [rname, red] : kReductions) {
    auto f = [&](const std::vector<Tensor>& v) { return nll_loss(v[0], t, w, 1, red); };
    ATTN_EXPECT_GRADCHECK(f, (std::vector<Tensor>{x}));
  }
}

TEST(MseLoss, PyTorchFixtureAndGradcheck) {
  const auto fx = testing::load_fixture("loss/mse");
  for (auto [rname, red] : kReductions) {
    SCOPED_TRACE(rname);
    Tensor a = fx.at("input").detach().requires_grad_(), b = fx.at("target").detach().requires_grad_();
    Tensor out = mse_loss(a, b, red);
    EXPECT_TRUE(all_close(out, fx.at(std::string("out_") + rname), 1e-6, 1e-6));  // float32 sums, other order
    out.backward(fx.at(std::string("grad_out_") + rname));
    EXPECT_TRUE(all_close(a.grad(), fx.at(std::string("grad_input_") + rname), 1e-6, 1e-6));
    EXPECT_TRUE(all_close(b.grad(), fx.at(std::string("grad_target_") + rname), 1e-6, 1e-6));
  }
  Generator g(4);
  Tensor a = randn({3, 4}, kFloat64, &g).requires_grad_(), b = randn({3, 4}, kFloat64, &g).requires_grad_();
  for (auto [rname, red] : kReductions) {
    auto f = [&](const std::vector<Tensor>& v) { return mse_loss(v[0], v[1], red); };
    ATTN_EXPECT_GRADCHECK(f, (std::vector<Tensor>{a, b}));
  }
}

}  // namespace
}  // namespace attn
