// MixtureOfExperts (src/attention/moe.cc): output, aux loss, router state and every gradient
// against a PyTorch re-implementation that routes with dense masks (tools/fixtures/moe.py),
// f64 gradchecks of output and aux loss, balance and empty-input edge cases, 1 vs 2 threads, errors.
#include <cmath>
#include <string>
#include <vector>

#include "attn/attention/moe.h"
#include "test_util.h"

namespace attn::nn {
namespace {

using testing::expect_error;

using testing::all_close;
using testing::all_equal;
using testing::load_fixture;

// f64, small matmuls, softmax, GELU / ReLU of O(1) values; the reference sums the experts in a
// different order (dense masks): 1e-12 leaves room for that.
constexpr double kTol = 1e-12;

void check_fixture(const std::string& name, int64_t d, int64_t E, int64_t k, int64_t ff, MixtureOfExpertsOptions o) {
  SCOPED_TRACE(name);
  auto fx = load_fixture("moe/" + name);
  o.dtype = kFloat64;
  MixtureOfExperts m(d, E, k, ff, o);
  NamedTensors sd;
  for (const auto& [n, t] : fx.tensors)
    if (n.find('.') != std::string::npos && n.rfind("grad_", 0) != 0) sd.emplace_back(n, t);
  m.load_state_dict(sd, /*strict=*/true);
  for (bool reference : {true, false}) {
    KernelModeGuard mode(reference);
    m.zero_grad();
    Tensor x = fx.at("x").detach().clone().requires_grad_();
    MoEOutput r = m(x);
    EXPECT_TRUE(all_close(r.output, fx.at("out"), kTol, kTol));
    EXPECT_EQ(r.aux_loss.dim(), 0);
    EXPECT_TRUE(all_close(r.aux_loss, fx.at("aux"), kTol, kTol));
    EXPECT_TRUE(all_close(m.last_router_probs(), fx.at("probs"), kTol, kTol));
    EXPECT_TRUE(all_equal(m.last_expert_indices(), fx.at("indices")));
    EXPECT_TRUE(all_close(m.last_weights(), fx.at("weights"), kTol, kTol));
    EXPECT_EQ(sum(m.last_tokens_per_expert()).item<int64_t>(), x.numel() / d * k);
    (sum(r.output * fx.at("grad_out")) + r.aux_loss * fx.at("grad_aux")).backward();
    EXPECT_TRUE(all_close(x.grad(), fx.at("grad_x"), kTol, kTol));
    for (const auto& [pn, p] : m.named_parameters()) {
      SCOPED_TRACE(pn);
      // An expert that received no token is never run: no gradient (PyTorch's reference: zeros).
      Tensor g = p.grad().defined() ? p.grad() : zeros(p.shape(), kFloat64);
      EXPECT_TRUE(all_close(g, fx.at("grad_" + pn), kTol, kTol));
    }
  }
}

TEST(MixtureOfExperts, MatchesPyTorch) {
  check_fixture("top2_relu", 4, 4, 2, 6, {});
  check_fixture("top1_switch_gelu", 4, 3, 1, 5, {false, "gelu"});  // expert 2 gets no token
  check_fixture("top1_renorm", 3, 4, 1, 4, {});
  check_fixture("top4_of_4", 3, 4, 4, 3, {});
}

TEST(MixtureOfExperts, StateDictKeysAndShapes) {
  MixtureOfExperts m(8, 3, 2, 16);
  std::vector<std::string> k;
  for (const auto& [n, t] : m.state_dict()) k.push_back(n);
  EXPECT_EQ(k, (std::vector<std::string>{"gate.weight", "experts.0.0.weight", "experts.0.0.bias", "experts.0.2.weight",
                                         "experts.0.2.bias", "experts.1.0.weight", "experts.1.0.bias",
                                         "experts.1.2.weight", "experts.1.2.bias", "experts.2.0.weight",
                                         "experts.2.0.bias", "experts.2.2.weight", "experts.2.2.bias"}));
  EXPECT_EQ(m.gate->weight.shape(), (Shape{3, 8}));
  Tensor x = randn({2, 3, 5, 8});
  MoEOutput r = m(x);
  EXPECT_EQ(r.output.shape(), x.shape());
  EXPECT_EQ(m.last_expert_indices().shape(), (Shape{30, 2}));
  EXPECT_TRUE(all_close(sum(m.last_weights(), {1}), ones({30}), 1e-6));  // renormalised over the top-k
}

TEST(MixtureOfExperts, AuxLossIsOneWhenEveryExpertIsChosen) {
  // top_k = E: f_i = 1/E for all i and sum_i P_i = 1, so aux = E * (1/E) * 1 = 1 whatever the router.
  Generator gen(2);
  MixtureOfExperts m(5, 4, 4, 3);
  MoEOutput r = m(randn({9, 5}, kFloat32, &gen));
  EXPECT_NEAR(r.aux_loss.item(), 1.0, 1e-6);
  // And the combination is then the probability-weighted dense mixture.
  EXPECT_TRUE(all_equal(m.last_tokens_per_expert(), tensor<int64_t>({9, 9, 9, 9})));
}

TEST(MixtureOfExperts, GradcheckOutputAndAuxF64) {
  Generator gen(7);
  MixtureOfExpertsOptions o;
  o.dtype = kFloat64;
  o.activation = "gelu";
  MixtureOfExperts m(3, 3, 2, 4, o);
  auto l0 = std::dynamic_pointer_cast<Linear>(m.get_submodule("experts.0.0"));
  auto l2 = std::dynamic_pointer_cast<Linear>(m.get_submodule("experts.1.2"));
  ASSERT_TRUE(l0 && l2);
  Tensor x = randn({5, 3}, kFloat64, &gen).requires_grad_();
  auto p = [](const Tensor& t) { return t.detach().clone().requires_grad_(); };
  ATTN_EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& v) {
        m.gate->weight = v[1];
        l0->weight = v[2];
        l2->bias = v[3];
        MoEOutput r = m(v[0]);
        return cat({r.output.reshape({-1}), r.aux_loss.reshape({1})}, 0);
      },
      (std::vector<Tensor>{x, p(m.gate->weight), p(l0->weight), p(l2->bias)}));
}

TEST(MixtureOfExperts, EmptyInputAndOneToken) {
  MixtureOfExperts m(4, 3, 2, 5);
  MoEOutput r = m(zeros({0, 4}));
  EXPECT_EQ(r.output.shape(), (Shape{0, 4}));
  EXPECT_EQ(r.aux_loss.item(), 0.0);
  Tensor x = randn({4});  // a single token without batch dims
  r = m(x);
  EXPECT_EQ(r.output.shape(), (Shape{4}));
  EXPECT_TRUE(std::isfinite(r.aux_loss.item()));
}

TEST(MixtureOfExperts, OneAndTwoThreadsAgreeBitwise) {
  Generator gen(9);
  MixtureOfExperts m(16, 4, 2, 32);
  Tensor x = randn({3, 20, 16}, kFloat32, &gen);
  auto [one, two] = testing::one_and_two_threads([&] {
    MoEOutput r = m(x);
    return cat({r.output.reshape({-1}), r.aux_loss.reshape({1})}, 0);
  });
  EXPECT_TRUE(all_equal(one, two));
}

TEST(MixtureOfExperts, BadArgumentsThrow) {
  MixtureOfExperts m(4, 3, 2, 5);
  expect_error([&] { m(randn({2, 5})); }, {"MixtureOfExperts", "[..., 4]", "[2, 5]"});
  expect_error([] { MixtureOfExperts(4, 3, 4, 5); }, {"top_k", "3", "4"});
  MixtureOfExpertsOptions o;
  o.activation = "tanh";
  expect_error([&] { MixtureOfExperts(4, 3, 1, 5, o); }, {"activation", "tanh"});
}

}  // namespace
}  // namespace attn::nn
