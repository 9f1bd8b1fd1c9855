#include "attn/ops/batch_norm.h"

#include "attn/core/gradcheck.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/reduce.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::all_close;
using testing::all_equal;

TEST(BatchNorm, MatchesPyTorchFixtures) {
  for (const std::string name : {"train_2d", "train_1d_bc", "train_1d_bcl", "train_no_stats", "eval_2d"}) {
    for (bool ref : {true, false}) {
      KernelModeGuard mode(ref);
      auto fx = testing::load_fixture("batch_norm/" + name);
      const bool track = fx.contains("running_mean"), affine = fx.contains("weight");
      Tensor x = fx.at("x").detach().requires_grad_();
      Tensor rm = track ? fx.at("running_mean").clone() : Tensor();
      Tensor rv = track ? fx.at("running_var").clone() : Tensor();
      Tensor w = affine ? fx.at("weight").detach().requires_grad_() : Tensor();
      Tensor b = affine ? fx.at("bias").detach().requires_grad_() : Tensor();
      Tensor y = batch_norm(x, rm, rv, w, b, fx.metadata.at("training") == "1", std::stod(fx.metadata.at("momentum")),
                            std::stod(fx.metadata.at("eps")));
      const std::string what = name + (ref ? " ref" : " fast");
      // float32 normalisation of O(1) values; the statistics sum up to 120 values in another order.
      EXPECT_TRUE(all_close(y, fx.at("out"), 1e-5, 1e-5)) << what;
      y.backward(fx.at("grad_out"));
      EXPECT_TRUE(all_close(x.grad(), fx.at("grad_x"), 2e-5, 1e-5)) << what;
      if (affine) {
        EXPECT_TRUE(all_close(w.grad(), fx.at("grad_weight"), 5e-5, 1e-5)) << what;
        EXPECT_TRUE(all_close(b.grad(), fx.at("grad_bias"), 5e-5, 1e-5)) << what;
      }
      if (track) {
        EXPECT_TRUE(all_close(rm, fx.at("new_running_mean"), 1e-6, 1e-6)) << what;
        EXPECT_TRUE(all_close(rv, fx.at("new_running_var"), 1e-6, 1e-6)) << what;
        EXPECT_FALSE(rm.requires_grad());
      }
    }
  }
}

TEST(BatchNorm, GradcheckFloat64) {
  Generator gen(9);
  Tensor x = randn({3, 2, 3, 2}, kFloat64, &gen).requires_grad_();
  Tensor w = randn({2}, kFloat64, &gen).requires_grad_(), b = randn({2}, kFloat64, &gen).requires_grad_();
  Tensor rm = randn({2}, kFloat64, &gen), rv = ones({2}, kFloat64) * 1.5;
  using V = std::vector<Tensor>;
  ATTN_EXPECT_GRADCHECK([&](const V& in) { return batch_norm(in[0], Tensor(), Tensor(), in[1], in[2], true); },
                        (V{x, w, b}));
  ATTN_EXPECT_GRADCHECK([&](const V& in) { return batch_norm(in[0], rm, rv, in[1], in[2], false); }, (V{x, w, b}));
  Tensor x2 = randn({5, 3}, kFloat64, &gen).requires_grad_();
  ATTN_EXPECT_GRADCHECK([&](const V& in) { return batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true); },
                        (V{x2}));
}

TEST(BatchNorm, TrainingNormalisesPerChannelAndThreads) {
  Generator gen(1);
  Tensor x = randn({6, 3, 4}, kFloat32, &gen) * 5.0 + 2.0;
  Tensor y = batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true);
  // Per channel: mean 0 and biased variance 1 - eps-ish (var / (var + eps), var ~ 25).
  EXPECT_TRUE(all_close(mean(y, {0, 2}), zeros({3}), 1e-6));
  EXPECT_TRUE(all_close(var(y, {0, 2}, 0), ones({3}), 1e-5));
  auto [one, two] = testing::one_and_two_threads([&] {
    Tensor xx = x.detach().requires_grad_();
    Tensor out = batch_norm(xx, Tensor(), Tensor(), Tensor(), Tensor(), true);
    out.backward(x);
    return xx.grad();
  });
  EXPECT_TRUE(all_equal(one, two));
}

TEST(BatchNorm, BadShapesThrow) {
  Tensor x = zeros({2, 3, 4});
  try {
    batch_norm(x, zeros({4}), ones({4}));
    FAIL() << "expected attn::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[2, 3, 4]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[4]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(batch_norm(zeros({1, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true), Error);  // 1 value/channel
  EXPECT_THROW(batch_norm(x, Tensor(), Tensor()), Error);                                        // eval, no stats
  EXPECT_THROW(batch_norm(zeros({3}), Tensor(), Tensor(), Tensor(), Tensor(), true), Error);
  EXPECT_THROW(batch_norm(x, zeros({3}), Tensor(), Tensor(), Tensor(), true), Error);
}

}  // namespace
}  // namespace attn
