// LR schedulers against PyTorch's sequences (tests/fixtures/optim/sched_*, tools/fixtures/optim.py).
#include "attn/optim/lr_scheduler.h"

#include <cmath>
#include <memory>

#include "attn/optim/sgd.h"
#include "test_util.h"

namespace attn::optim {
namespace {

using testing::all_equal;

struct TwoGroups {
  std::vector<Tensor> params{zeros({1}).requires_grad_(), zeros({1}).requires_grad_()};
  std::unique_ptr<SGD> opt;
  explicit TwoGroups(double lr0 = 0.1, double lr1 = 0.05) {
    opt = std::make_unique<SGD>(std::vector<ParamGroup<SGDOptions>>{{{params[0]}, {.lr = lr0}}, {{params[1]}, {.lr = lr1}}});
  }
};

std::unique_ptr<LRScheduler> make_scheduler(const io::SafetensorsFile& fx, Optimizer& opt) {
  const auto& m = fx.metadata;
  const std::string kind = m.at("scheduler");
  if (kind == "StepLR") return std::make_unique<StepLR>(opt, std::stoll(m.at("step_size")), std::stod(m.at("gamma")));
  if (kind == "CosineAnnealingLR")
    return std::make_unique<CosineAnnealingLR>(opt, std::stoll(m.at("T_max")), std::stod(m.at("eta_min")));
  if (kind == "LinearLR")
    return std::make_unique<LinearLR>(opt, std::stod(m.at("start_factor")), std::stod(m.at("end_factor")),
                                      std::stoll(m.at("total_iters")));
  if (kind == "LambdaLR") return std::make_unique<LambdaLR>(opt, [](int64_t e) { return std::pow(0.95, double(e)); });
  if (kind == "NoamLR")
    return std::make_unique<NoamLR>(opt, std::stoll(m.at("d_model")), std::stoll(m.at("warmup")), std::stod(m.at("factor")));
  ADD_FAILURE() << "unknown scheduler " << kind;
  return nullptr;
}

class SchedulerFixture : public ::testing::TestWithParam<const char*> {};

TEST_P(SchedulerFixture, MatchesPyTorchExactly) {
  const auto fx = testing::load_fixture(std::string("optim/") + GetParam());
  TwoGroups s(std::stod(fx.metadata.at("base_lr0")), std::stod(fx.metadata.at("base_lr1")));
  auto sched = make_scheduler(fx, *s.opt);
  const int64_t steps = std::stoll(fx.metadata.at("steps"));
  std::vector<double> got;
  for (int64_t k = 0; k <= steps; ++k) {
    if (k > 0) {
      s.opt->step();
      sched->step();
    }
    const auto& lr = sched->get_last_lr();
    ASSERT_EQ(lr.size(), 2u);
    EXPECT_EQ(s.opt->group_lr(0), lr[0]);
    EXPECT_EQ(s.opt->group_lr(1), lr[1]);
    got.insert(got.end(), lr.begin(), lr.end());
  }
  // Exact: the same double operations in the same order as torch.optim.lr_scheduler, and the same
  // libm (cos, pow) underneath Python's math module.
  EXPECT_TRUE(all_equal(tensor<double>(got, {steps + 1, 2}), fx.at("lr"))) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Optim, SchedulerFixture,
                         ::testing::Values("sched_steplr", "sched_cosine", "sched_linear_warmup", "sched_linear_decay",
                                           "sched_lambda", "sched_noam"));

TEST(LRScheduler, NoamFormula) {
  // Vaswani et al. eq. 3 with d_model 512, warmup 4000: peak at step 4000 = 512^-0.5 * 4000^-0.5.
  EXPECT_DOUBLE_EQ(NoamLR::rate(4000, 512, 4000, 1.0), 1.0 / std::sqrt(512.0 * 4000.0));
  EXPECT_DOUBLE_EQ(NoamLR::rate(100, 512, 4000, 1.0), 100.0 / std::sqrt(512.0) / std::pow(4000.0, 1.5));
  EXPECT_DOUBLE_EQ(NoamLR::rate(16000, 512, 4000, 2.0), 2.0 / std::sqrt(512.0 * 16000.0));
  EXPECT_EQ(NoamLR::rate(0, 512, 4000, 1.0), NoamLR::rate(1, 512, 4000, 1.0));
}

TEST(LRScheduler, StateDictResumesTheSchedule) {
  TwoGroups a, b;
  CosineAnnealingLR sa(*a.opt, 5, 0.01);
  for (int k = 0; k < 12; ++k) sa.step();

  CosineAnnealingLR sb(*b.opt, 5, 0.01);
  for (int k = 0; k < 4; ++k) sb.step();
  const StateDict opt_state = b.opt->state_dict(), sched_state = sb.state_dict();
  TwoGroups c;
  c.opt->load_state_dict(opt_state);  // brings back the current lrs and initial_lr
  CosineAnnealingLR sc(*c.opt, 5, 0.01);
  sc.load_state_dict(sched_state);
  for (int k = 4; k < 12; ++k) sc.step();
  EXPECT_EQ(sc.get_last_lr(), sa.get_last_lr());
  EXPECT_EQ(sc.last_epoch(), 12);
  EXPECT_EQ(c.opt->group_lr(1), a.opt->group_lr(1));
}

TEST(LRScheduler, ChainedWarmupThenDecayUsesTheOriginalBase) {
  // Like PyTorch: the second scheduler's base_lrs come from initial_lr, recorded by the first.
  TwoGroups s;
  LinearLR warm(*s.opt, 0.5, 1.0, 4);
  StepLR decay(*s.opt, 2, 0.5);
  EXPECT_EQ(decay.base_lrs(), (std::vector<double>{0.1, 0.05}));
  EXPECT_EQ(s.opt->initial_lr(0), 0.1);
  EXPECT_EQ(s.opt->lr(), 0.05);  // warmup's factor 0.5; StepLR's epoch 0 keeps it
}

TEST(LRScheduler, BadArgumentsThrow) {
  TwoGroups s;
  EXPECT_THROW(StepLR(*s.opt, 0), Error);
  EXPECT_THROW(CosineAnnealingLR(*s.opt, 0), Error);
  EXPECT_THROW(LinearLR(*s.opt, 0.0), Error);
  EXPECT_THROW(LinearLR(*s.opt, 0.5, 1.5), Error);
  EXPECT_THROW(NoamLR(*s.opt, 0, 10), Error);
  EXPECT_THROW(LambdaLR(*s.opt, std::vector<LambdaLR::Lambda>{[](int64_t) { return 1.0; }}), Error);
  StepLR ok(*s.opt, 2);
  EXPECT_THROW(ok.load_state_dict({{"last_epoch", scalar_tensor(1, kInt64)}}), Error);
}

}  // namespace
}  // namespace attn::optim
