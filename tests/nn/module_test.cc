#include "attn/nn/module.h"

#include "attn/nn/nn.h"
#include "test_util.h"

namespace attn::nn {
namespace {

using testing::keys;

using testing::all_close;
using testing::all_equal;

// A small hierarchy with parameters, a persistent and a non-persistent buffer, and children
// registered between them, to pin down PyTorch's ordering rules.
struct Block : Module {
  Block() {
    fc = register_module("fc", std::make_shared<Linear>(3, 2));
    scale = register_parameter("scale", ones({2}));
    steps = register_buffer("steps", zeros({1}, kInt64));
    cache = register_buffer("cache", zeros({2}), /*persistent=*/false);
  }
  std::shared_ptr<Linear> fc;
  Tensor scale, steps, cache;
};

struct Net : Module {
  Net() {
    alpha = register_parameter("alpha", zeros({1}));
    blocks = register_module("blocks", std::make_shared<ModuleList>());
    blocks->push_back(std::make_shared<Block>());
    blocks->push_back(std::make_shared<Block>());
    head = register_module("head", std::make_shared<Sequential>(std::make_shared<Linear>(2, 4), std::make_shared<Dropout>(0.5)));
  }
  std::shared_ptr<ModuleList> blocks;
  std::shared_ptr<Sequential> head;
  Tensor alpha;
};

TEST(Module, NamesFollowPyTorchOrder) {
  auto net = std::make_shared<Net>();
  // state_dict: per module its parameters, then its persistent buffers, then its children.
  EXPECT_EQ(keys(net->state_dict()),
            (std::vector<std::string>{"alpha", "blocks.0.scale", "blocks.0.steps", "blocks.0.fc.weight", "blocks.0.fc.bias",
                                      "blocks.1.scale", "blocks.1.steps", "blocks.1.fc.weight", "blocks.1.fc.bias",
                                      "head.0.weight", "head.0.bias"}));
  // named_parameters: modules in pre-order, each module's own parameters first.
  EXPECT_EQ(keys(net->named_parameters()),
            (std::vector<std::string>{"alpha", "blocks.0.scale", "blocks.0.fc.weight", "blocks.0.fc.bias", "blocks.1.scale",
                                      "blocks.1.fc.weight", "blocks.1.fc.bias", "head.0.weight", "head.0.bias"}));
  EXPECT_EQ(keys(net->named_parameters(/*recurse=*/false)), (std::vector<std::string>{"alpha"}));
  EXPECT_EQ(keys(net->named_buffers()),
            (std::vector<std::string>{"blocks.0.steps", "blocks.0.cache", "blocks.1.steps", "blocks.1.cache"}));
  std::vector<std::string> mods;
  for (auto& [n, m] : net->named_modules()) mods.push_back(n + ":" + m->type_name());
  EXPECT_EQ(mods, (std::vector<std::string>{":Net", "blocks:ModuleList", "blocks.0:Block", "blocks.0.fc:Linear",
                                            "blocks.1:Block", "blocks.1.fc:Linear", "head:Sequential", "head.0:Linear",
                                            "head.1:Dropout"}));
  EXPECT_EQ(net->children().size(), 2u);
  EXPECT_TRUE(net->get_parameter("blocks.1.fc.weight").is_same(net->blocks->at<Block>(1)->fc->weight));
  EXPECT_TRUE(net->get_submodule("head.1") == net->head->at<Dropout>(1));
  EXPECT_TRUE(net->get_buffer("blocks.0.cache").is_same(net->blocks->at<Block>(0)->cache));
  EXPECT_THROW(net->get_parameter("blocks.2.fc.weight"), Error);
  EXPECT_THROW(net->get_parameter("blocks.0.fc.gamma"), Error);
  EXPECT_THROW(net->blocks->at<Linear>(0), Error);  // a Block, not a Linear
  EXPECT_THROW((*net->blocks)[2], Error);
  EXPECT_TRUE((*net->blocks)[-1] == net->blocks->at<Block>(1));
}

TEST(Module, StateDictSharesStorageAndIsDetached) {
  auto net = std::make_shared<Net>();
  auto sd = net->state_dict();
  EXPECT_FALSE(sd[0].second.requires_grad());
  EXPECT_EQ(sd[0].second.raw_data(), net->alpha.raw_data());
}

TEST(Module, RegistrationNameChecks) {
  Module m;
  m.register_parameter("w", zeros({2}));
  auto expect_error = [](auto fn, const std::string& needle) {
    try {
      fn();
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error([&] { m.register_parameter("w", zeros({2})); }, "\"w\" is already a parameter");
  expect_error([&] { m.register_buffer("w", zeros({2})); }, "\"w\" is already a parameter");
  expect_error([&] { m.register_module("w", std::make_shared<Identity>()); }, "\"w\" is already a parameter");
  expect_error([&] { m.register_module("a.b", std::make_shared<Identity>()); }, "contains \".\"");
  expect_error([&] { m.register_parameter("", zeros({2})); }, "empty name");
  expect_error([&] { m.register_module("x", std::shared_ptr<Identity>()); }, "null module");
  expect_error([&] { m.register_parameter("i", arange(3)); }, "must be floating point");
  m.register_buffer("b", arange(3));  // integer buffers are fine
  expect_error([&] { m.register_module("b", std::make_shared<Identity>()); }, "\"b\" is already a buffer");
}

TEST(Module, LoadStateDictCopiesInPlace) {
  auto a = std::make_shared<Net>(), b = std::make_shared<Net>();
  Tensor w_before = b->blocks->at<Block>(0)->fc->weight;  // a handle taken before loading
  EXPECT_FALSE(all_equal(w_before, a->blocks->at<Block>(0)->fc->weight));
  auto res = b->load_state_dict(a->state_dict());
  EXPECT_TRUE(res.missing_keys.empty() && res.unexpected_keys.empty());
  EXPECT_TRUE(all_equal(w_before, a->blocks->at<Block>(0)->fc->weight));
  EXPECT_TRUE(w_before.requires_grad());
  const NamedTensors sa = a->state_dict(), sb = b->state_dict();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_TRUE(all_equal(sb[i].second, sa[i].second)) << sa[i].first;
}

// The message of the attn::Error thrown by fn ("" when none is thrown).
template <class F>
std::string error_of(F fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Module, LoadStateDictErrorsListEveryProblemAndLoadNothing) {
  auto net = std::make_shared<Net>();
  NamedTensors sd = net->state_dict();
  for (auto& [k, t] : sd) t = t.clone();
  const NamedTensors original = net->state_dict();
  std::vector<Tensor> before;
  for (auto& [k, t] : original) before.push_back(t.clone());
  // Drop two keys, add an unknown one, change a shape and a dtype; also change a valid value
  // to check that nothing is copied when loading fails.
  NamedTensors bad;
  for (auto& [k, t] : sd) {
    if (k == "blocks.0.scale" || k == "head.0.bias") continue;
    if (k == "blocks.1.fc.weight") bad.emplace_back(k, zeros({3, 2}));
    else if (k == "alpha") bad.emplace_back(k, zeros({1}, kFloat64));
    else if (k == "blocks.0.fc.weight") bad.emplace_back(k, full({2, 3}, 7.0));
    else bad.emplace_back(k, t);
  }
  bad.emplace_back("blocks.0.fc.gamma", zeros({2}));
  const std::string msg = error_of([&] { net->load_state_dict(bad); });
  for (const char* needle : {"Missing key(s) in state_dict: \"blocks.0.scale\", \"head.0.bias\"",
                             "Unexpected key(s) in state_dict: \"blocks.0.fc.gamma\"",
                             "mismatch for blocks.1.fc.weight: copying a param of float32[3, 2] from checkpoint, the one in "
                             "the current model is float32[2, 3]",
                             "mismatch for alpha: copying a param of float64[1] from checkpoint, the one in the current model "
                             "is float32[1]"})
    EXPECT_NE(msg.find(needle), std::string::npos) << "missing \"" << needle << "\" in:\n" << msg;
  for (size_t i = 0; i < original.size(); ++i) EXPECT_TRUE(all_equal(original[i].second, before[i])) << original[i].first;

  // Non-strict: missing and unexpected keys are reported, not fatal; mismatches still are.
  EXPECT_NE(error_of([&] { net->load_state_dict(bad, /*strict=*/false); }).find("mismatch for alpha"), std::string::npos);
  NamedTensors partial = {{"blocks.0.fc.weight", full({2, 3}, 7.0)}, {"extra", zeros({1})}};
  auto res = net->load_state_dict(partial, /*strict=*/false);
  EXPECT_EQ(res.unexpected_keys, (std::vector<std::string>{"extra"}));
  EXPECT_EQ(res.missing_keys.size(), original.size() - 1);
  EXPECT_TRUE(all_equal(net->blocks->at<Block>(0)->fc->weight, full({2, 3}, 7.0)));

  // A key given twice is ambiguous.
  NamedTensors dup = sd;
  dup.push_back(sd[0]);
  EXPECT_NE(error_of([&] { net->load_state_dict(dup); }).find("more than once: \"alpha\""), std::string::npos);
}

TEST(Module, TrainEvalIsRecursiveAndDrivesDropout) {
  auto net = std::make_shared<Net>();
  for (auto& m : net->modules()) EXPECT_TRUE(m->is_training());
  net->eval();
  for (auto& m : net->modules()) EXPECT_FALSE(m->is_training()) << m->type_name();
  auto drop = net->head->at<Dropout>(1);
  Tensor x = ones({64});
  EXPECT_TRUE(all_equal((*drop)(x), x));  // eval: identity
  net->train();
  Tensor y = (*drop)(x);
  const std::vector<double> v = to_double_vector(y);
  const int64_t zeros_n = std::count(v.begin(), v.end(), 0.0), twos = std::count(v.begin(), v.end(), 2.0);
  EXPECT_EQ(zeros_n + twos, 64);  // every element dropped or scaled by 1 / (1 - 0.5)
  EXPECT_GT(zeros_n, 10);         // P(<= 10 of 64 dropped at p = 0.5) < 1e-7
  EXPECT_GT(twos, 10);
  net->blocks->eval();  // a subtree only
  EXPECT_TRUE(net->is_training());
  EXPECT_FALSE(net->blocks->at<Block>(1)->fc->is_training());
  EXPECT_TRUE(net->head->is_training());
}

TEST(Module, ParameterCountsAndSharedParameters) {
  auto net = std::make_shared<Net>();
  // alpha 1 + 2 blocks * (scale 2 + fc 3*2+2) + head 2*4+4 = 1 + 20 + 12.
  EXPECT_EQ(net->num_parameters(), 33);
  EXPECT_EQ(Linear(4, 3).num_parameters(), 15);
  EXPECT_EQ(Linear(4, 3, false).num_parameters(), 12);
  // Tie block 1's fc weight to block 0's: counted once, listed once by named_parameters (first
  // name wins), under both names in state_dict, as in PyTorch.
  auto b0 = net->blocks->at<Block>(0), b1 = net->blocks->at<Block>(1);
  b1->fc->weight = b1->fc->replace_parameter("weight", b0->fc->weight);
  EXPECT_EQ(net->num_parameters(), 27);
  EXPECT_EQ(net->named_parameters().size(), 8u);
  EXPECT_EQ(net->state_dict().size(), 11u);
  b0->fc->weight.requires_grad_(false);
  EXPECT_EQ(net->num_parameters(/*only_trainable=*/true), 21);
  EXPECT_THROW(b1->fc->replace_parameter("gamma", b0->fc->weight), Error);
}

TEST(Module, ZeroGradBothModes) {
  Linear lin(3, 2);
  Tensor x = randn({4, 3});
  auto step = [&] { lin(x).backward(ones({4, 2})); };
  step();
  ASSERT_TRUE(lin.weight.grad().defined());
  Tensor held = lin.weight.grad();
  const std::vector<double> held_values = to_double_vector(held);
  lin.zero_grad(/*set_to_none=*/false);
  EXPECT_TRUE(all_equal(lin.weight.grad(), zeros({2, 3})));
  EXPECT_EQ(to_double_vector(held), held_values);  // a gradient the caller holds is not overwritten
  step();
  EXPECT_TRUE(all_close(lin.weight.grad(), held, 0, 0));
  lin.zero_grad();
  EXPECT_FALSE(lin.weight.grad().defined());
  EXPECT_FALSE(lin.bias.grad().defined());
}

TEST(Module, ToDtypeKeepsHandles) {
  auto net = std::make_shared<Net>();
  Tensor w = net->head->at<Linear>(0)->weight;
  const std::vector<double> before = to_double_vector(w);
  net->to(kFloat64);
  EXPECT_EQ(w.dtype(), kFloat64);  // the handle taken before sees the conversion
  EXPECT_TRUE(w.requires_grad());
  EXPECT_EQ(to_double_vector(w), before);  // float -> double is exact
  EXPECT_EQ(net->get_buffer("blocks.0.steps").dtype(), kInt64);  // integer buffers keep their dtype
  EXPECT_EQ(net->get_buffer("blocks.0.cache").dtype(), kFloat64);
  Tensor y = (*net->head)(randn({5, 2}, kFloat64));
  EXPECT_EQ(y.dtype(), kFloat64);
  EXPECT_THROW(net->to(kInt64), Error);
}

TEST(Module, ApplyVisitsChildrenFirst) {
  auto net = std::make_shared<Net>();
  std::vector<std::string> order;
  net->apply([&](Module& m) { order.push_back(m.type_name()); });
  EXPECT_EQ(order, (std::vector<std::string>{"Linear", "Block", "Linear", "Block", "ModuleList", "Linear", "Dropout",
                                             "Sequential", "Net"}));
  // A typical use: re-initialise every Linear.
  net->apply([](Module& m) {
    if (auto* lin = dynamic_cast<Linear*>(&m)) init::zeros_(lin->weight);
  });
  EXPECT_TRUE(all_equal(net->head->at<Linear>(0)->weight, zeros({4, 2})));
}

TEST(Module, ToStringLooksLikePyTorch) {
  Sequential seq(std::make_shared<Linear>(4, 3), std::make_shared<Dropout>(0.1), std::make_shared<Linear>(3, 1, false));
  EXPECT_EQ(seq.to_string(),
            "Sequential(\n"
            "  (0): Linear(in_features=4, out_features=3, bias=True)\n"
            "  (1): Dropout(p=0.1, inplace=False)\n"
            "  (2): Linear(in_features=3, out_features=1, bias=False)\n"
            ")");
}

TEST(Module, SequentialChainsForwards) {
  manual_seed(3);
  auto l1 = std::make_shared<Linear>(4, 3), l2 = std::make_shared<Linear>(3, 2);
  Sequential seq;
  seq.push_back(l1);
  seq.push_back(std::make_shared<Identity>());
  seq.push_back("out", l2);
  Tensor x = randn({5, 4});
  EXPECT_TRUE(all_equal(seq(x), (*l2)((*l1)(x))));
  EXPECT_EQ(keys(seq.state_dict()), (std::vector<std::string>{"0.weight", "0.bias", "out.weight", "out.bias"}));
  EXPECT_EQ(seq.size(), 3);
  Sequential empty_seq;
  EXPECT_TRUE(empty_seq(x).is_same(x));
}

}  // namespace
}  // namespace attn::nn
