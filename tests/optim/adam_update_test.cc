// Adam's vectorised update loop (no amsgrad, no maximize) against the update written out one
// element at a time with the documented rounding (src/optim/adam.cc): bit for bit, on sizes that
// leave SIMD tails and span several parallel chunks, with and without (decoupled) weight decay.
#include <cmath>

#include "attn/optim/adam.h"
#include "test_util.h"

namespace attn::optim {
namespace {

using testing::all_equal;

// One Adam step of one float element, as torch.optim.Adam's single-tensor path rounds it.
void scalar_step(float& p, float g, float& m, float& v, int64_t t, double lr, double b1, double b2, double eps,
                 double wd, bool decoupled) {
  const double bc1 = 1.0 - std::pow(b1, double(t)), bc2 = 1.0 - std::pow(b2, double(t));
  const float step_size = float(lr / bc1), bc2_sqrt = float(std::sqrt(bc2));
  if (decoupled) p = p * float(1.0 - lr * wd);
  if (!decoupled && wd != 0) g = float(double(g) + double(float(wd)) * double(p));
  m = float(double(m * float(b1)) + double(float(1.0 - b1)) * double(g));
  v = v * float(b2) + (float(1.0 - b2) * g) * g;
  const float denom = std::sqrt(v) / bc2_sqrt + float(eps);
  p = p + (-step_size * m) / denom;
}

TEST(AdamUpdate, VectorisedLoopMatchesScalarFormula) {
  const double lr = 3e-3, b1 = 0.9, b2 = 0.98, eps = 1e-9;
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(13), int64_t(100), int64_t(20011)}) {
    for (int mode = 0; mode < 3; ++mode) {  // Adam, Adam + weight decay, AdamW
      const double wd = mode == 0 ? 0.0 : 0.05;
      const bool decoupled = mode == 2;
      Tensor p = testing::misaligned_randn({n}, kFloat32, 5).clone();
      p.requires_grad_();
      std::vector<float> ep(static_cast<size_t>(n)), em(static_cast<size_t>(n), 0.f), ev(static_cast<size_t>(n), 0.f);
      for (int64_t i = 0; i < n; ++i) ep[size_t(i)] = p.data_ptr<float>()[i];
      std::unique_ptr<Optimizer> opt;
      if (decoupled) opt = std::make_unique<AdamW>(std::vector<Tensor>{p}, lr, std::make_pair(b1, b2), eps, wd);
      else opt = std::make_unique<Adam>(std::vector<Tensor>{p}, lr, std::make_pair(b1, b2), eps, wd);
      for (int64_t t = 1; t <= 3; ++t) {
        Tensor g = testing::misaligned_randn({n}, kFloat32, 10 + uint64_t(t));
        p.set_grad(g.clone());
        opt->step();
        for (int64_t i = 0; i < n; ++i) {
          const size_t k = size_t(i);
          scalar_step(ep[k], g.data_ptr<float>()[i], em[k], ev[k], t, lr, b1, b2, eps, wd, decoupled);
        }
      }
      EXPECT_TRUE(all_equal(p.detach(), tensor(ep))) << "n " << n << " mode " << mode;
    }
  }
}

}  // namespace
}  // namespace attn::optim
