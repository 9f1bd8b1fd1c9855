// Attention modules (src/attention/modules.cc): d2l's DotProductAttention / AdditiveAttention,
// BahdanauAttention and LuongAttention (every score x mode) against PyTorch re-implementations of
// the published formulas (tools/fixtures/modules.py; the d2l parameters load as a d2l state_dict),
// f64 gradchecks into inputs and every parameter (W_p / v_p of local-p included), masking, the
// empty row, dropout, and errors.
#include <cmath>
#include <string>

#include "attn/attention/modules.h"
#include "test_util.h"

namespace attn::nn {
namespace {

using testing::expect_error;

using testing::all_close;
using testing::load_fixture;

// The fixture's parameters, under the module's own state_dict keys (strict load: the names must
// be exactly those of the PyTorch module).
void load_params(Module& m, const io::SafetensorsFile& fx) {
  NamedTensors sd;
  for (const auto& [name, t] : fx.tensors)
    if (name.find('.') != std::string::npos && name.rfind("grad_", 0) != 0) sd.emplace_back(name, t);
  m.load_state_dict(sd, /*strict=*/true);
}

Tensor leaf(const io::SafetensorsFile& fx, const std::string& name) {
  return fx.at(name).detach().clone().requires_grad_();
}

// f64, a few matmuls / tanh / exp of O(1) values: agreement to ~1e-15 relative; 1e-12 leaves room
// for summation order.
constexpr double kTol = 1e-12;

void expect_param_grads(Module& m, const io::SafetensorsFile& fx) {
  for (const auto& [name, p] : m.named_parameters()) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(p.grad().defined());
    EXPECT_TRUE(all_close(p.grad(), fx.at("grad_" + name), kTol, kTol));
  }
}

template <class M>
void check_d2l(const std::string& name, std::shared_ptr<M> m) {
  SCOPED_TRACE(name);
  auto fx = load_fixture("modules/" + name);
  m->to(kFloat64);
  load_params(*m, fx);
  m->eval();
  for (bool reference : {true, false}) {
    KernelModeGuard mode(reference);
    m->zero_grad();
    Tensor q = leaf(fx, "queries"), k = leaf(fx, "keys"), v = leaf(fx, "values");
    Tensor lens = fx.contains("valid_lens") ? fx.at("valid_lens") : Tensor();
    Tensor out = m->forward(q, k, v, lens);
    EXPECT_TRUE(all_close(out, fx.at("out"), kTol, kTol));
    EXPECT_TRUE(all_close(m->attention_weights, fx.at("weights"), kTol, kTol));
    out.backward(fx.at("grad_out"));
    EXPECT_TRUE(all_close(q.grad(), fx.at("grad_queries"), kTol, kTol));
    EXPECT_TRUE(all_close(k.grad(), fx.at("grad_keys"), kTol, kTol));
    EXPECT_TRUE(all_close(v.grad(), fx.at("grad_values"), kTol, kTol));
    expect_param_grads(*m, fx);
  }
}

TEST(D2lModules, DotProductAttentionMatchesPyTorch) {
  for (const char* c : {"dot_none", "dot_lens_1d", "dot_lens_2d"}) check_d2l(c, std::make_shared<DotProductAttention>(0.1));
}

TEST(D2lModules, AdditiveAttentionMatchesPyTorchAndLoadsD2lStateDict) {
  for (const char* c : {"additive_lens_1d", "additive_lens_2d"})
    check_d2l(c, std::make_shared<AdditiveAttention>(4, 6, 7, 0.1));
  auto m = std::make_shared<AdditiveAttention>(4, 6, 7);
  std::vector<std::string> keys;
  for (const auto& [k, t] : m->state_dict()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"W_k.weight", "W_q.weight", "w_v.weight"}));
}

TEST(D2lModules, EmptyRowGivesZeroOutputAndFiniteGrads) {
  // dot_lens_2d has valid_len 0 for query (0, 2): weights and output row are exactly 0.
  auto fx = load_fixture("modules/dot_lens_2d");
  DotProductAttention m;
  Tensor q = leaf(fx, "queries");
  Tensor out = m(q, fx.at("keys"), fx.at("values"), fx.at("valid_lens"));
  EXPECT_TRUE(all_close(out.select(0, 0).select(0, 2), zeros({3}, kFloat64), 0.0));
  EXPECT_TRUE(all_close(m.attention_weights.select(0, 0).select(0, 2), zeros({5}, kFloat64), 0.0));
  sum(out).backward();
  EXPECT_TRUE(all_close(q.grad().select(0, 0).select(0, 2), zeros({4}, kFloat64), 0.0));
}

TEST(D2lModules, Gradcheck) {
  Generator gen(3);
  Tensor q = randn({2, 3, 4}, kFloat64, &gen).requires_grad_(), k = randn({2, 5, 4}, kFloat64, &gen).requires_grad_();
  Tensor v = randn({2, 5, 3}, kFloat64, &gen).requires_grad_();
  Tensor lens = tensor<int64_t>({2, 0, 5, 4, 1, 3}, {2, 3});
  DotProductAttention dot;
  ATTN_EXPECT_GRADCHECK([&](const std::vector<Tensor>& x) { return dot(x[0], x[1], x[2], lens); },
                        (std::vector<Tensor>{q, k, v}));
  AdditiveAttention add(4, 4, 6, 0.0, kFloat64);
  Tensor qa = randn({2, 3, 4}, kFloat64, &gen).requires_grad_();
  auto f = [&](const std::vector<Tensor>& x) {
    add.W_q->weight = x[3];
    add.W_k->weight = x[4];
    add.w_v->weight = x[5];
    return add(x[0], x[1], x[2], lens);
  };
  ATTN_EXPECT_GRADCHECK(f, (std::vector<Tensor>{qa, k, v, add.W_q->weight.detach().clone().requires_grad_(),
                                                add.W_k->weight.detach().clone().requires_grad_(),
                                                add.w_v->weight.detach().clone().requires_grad_()}));
}

TEST(D2lModules, DropoutOnlyInTraining) {
  Generator gen(5);
  Tensor q = randn({2, 3, 4}, kFloat32, &gen), k = randn({2, 6, 4}, kFloat32, &gen), v = randn({2, 6, 8}, kFloat32, &gen);
  DotProductAttention m(0.5);
  Tensor train_out = m(q, k, v);
  Tensor w = m.attention_weights;
  Tensor ref = matmul(w, v);
  EXPECT_FALSE(all_close(train_out, ref, 1e-4));  // 72 weights, P(no drop) = 2^-72
  m.eval();
  // f32 matmul of the same operands: identical code path, exact.
  EXPECT_TRUE(all_close(m(q, k, v), ref, 0.0));
}

TEST(D2lModules, BadShapesThrow) {
  DotProductAttention dot;
  expect_error([&] { dot(zeros({2, 3, 4}), zeros({2, 5, 4}), zeros({2, 6, 3})); }, {"[2, 5, 4]", "[2, 6, 3]"});
  AdditiveAttention add(4, 6, 7);
  expect_error([&] { add(zeros({2, 3, 5}), zeros({2, 5, 4}), zeros({2, 5, 3})); }, {"[2, 3, 5]", "[2, 5, 4]"});
}

// --- Bahdanau / Luong ----------------------------------------------------------------------------

template <class M, class Call>
void check_step(const std::string& name, M& m, Call call) {
  SCOPED_TRACE(name);
  auto fx = load_fixture("modules/" + name);
  m.to(kFloat64);
  load_params(m, fx);
  for (bool reference : {true, false}) {
    KernelModeGuard mode(reference);
    m.zero_grad();
    Tensor q = leaf(fx, "query"), k = leaf(fx, "keys"), v = leaf(fx, "values");
    StepAttention r = call(m, q, k, v, fx);
    EXPECT_TRUE(all_close(r.context, fx.at("context"), kTol, kTol));
    EXPECT_TRUE(all_close(r.weights, fx.at("weights"), kTol, kTol));
    if (fx.contains("position")) {
      EXPECT_TRUE(all_close(r.position, fx.at("position"), kTol, kTol));
    }
    (sum(r.context * fx.at("grad_context")) + sum(r.weights * fx.at("grad_weights"))).backward();
    EXPECT_TRUE(all_close(q.grad(), fx.at("grad_query"), kTol, kTol));
    EXPECT_TRUE(all_close(k.grad(), fx.at("grad_keys"), kTol, kTol));
    EXPECT_TRUE(all_close(v.grad(), fx.at("grad_values"), kTol, kTol));
    expect_param_grads(m, fx);
  }
}

StepAttention with_lens(Module& mod, const Tensor& q, const Tensor& k, const Tensor& v, const io::SafetensorsFile& fx) {
  if (auto* b = dynamic_cast<BahdanauAttention*>(&mod)) return b->forward(q, k, v, {fx.at("valid_lens"), Tensor()});
  return dynamic_cast<LuongAttention&>(mod).forward(q, k, v, {fx.at("valid_lens"), Tensor()}, 2);
}

TEST(BahdanauAttention, MatchesPyTorch) {
  BahdanauAttention a(5, 4, 7);
  check_step("bahdanau_lens", a, with_lens);
  BahdanauAttention b(5, 4, 7);
  check_step("bahdanau_pad", b, [](Module& m, const Tensor& q, const Tensor& k, const Tensor& v, const auto& fx) {
    return static_cast<BahdanauAttention&>(m).forward(q, k, v, {Tensor(), fx.at("key_padding_mask")});
  });
}

TEST(LuongAttention, AllScoresAndModesMatchPyTorch) {
  struct Case { const char* name; int64_t q; LuongScore s; LuongMode m; int64_t D, H; };
  const Case cases[] = {
      {"luong_dot_global", 4, LuongScore::Dot, LuongMode::Global, 2, 4},
      {"luong_general_global", 5, LuongScore::General, LuongMode::Global, 2, 5},
      {"luong_concat_global", 5, LuongScore::Concat, LuongMode::Global, 2, 7},
      {"luong_general_local_m", 5, LuongScore::General, LuongMode::LocalM, 1, 5},
      {"luong_general_local_p", 5, LuongScore::General, LuongMode::LocalP, 2, 5},
      {"luong_concat_local_p", 5, LuongScore::Concat, LuongMode::LocalP, 2, 7},
  };
  for (const Case& c : cases) {
    LuongAttention m(c.q, 4, {c.s, c.m, c.D, c.H});
    check_step(c.name, m, with_lens);
  }
  LuongAttention m(4, 4, {LuongScore::Dot, LuongMode::LocalP, 1, 6});
  check_step("luong_dot_local_p_nolens", m,
             [](Module& mod, const Tensor& q, const Tensor& k, const Tensor& v, const auto&) {
               return static_cast<LuongAttention&>(mod).forward(q, k, v);
             });
}

TEST(LuongAttention, LocalPGradcheckIntoWpVp) {
  // Loads the fixture's parameters (p_t >= 0.27 away from every window edge, so the
  // finite differences never move a position across the window).
  auto fx = load_fixture("modules/luong_general_local_p");
  LuongAttention m(5, 4, {LuongScore::General, LuongMode::LocalP, 2, 5, kFloat64});
  load_params(m, fx);
  Tensor lens = fx.at("valid_lens");
  auto f = [&](const std::vector<Tensor>& x) {
    m.W_a->weight = x[2];
    m.W_p->weight = x[3];
    m.v_p->weight = x[4];
    StepAttention r = m(x[0], x[1], x[1], {lens, Tensor()});
    return cat({r.context.reshape({-1}), r.weights.reshape({-1}), r.position});
  };
  auto p = [](const Tensor& t) { return t.detach().clone().requires_grad_(); };
  ATTN_EXPECT_GRADCHECK(f, (std::vector<Tensor>{p(fx.at("query")), p(fx.at("keys")), p(fx.at("W_a.weight")),
                                                p(fx.at("W_p.weight")), p(fx.at("v_p.weight"))}));
}

TEST(BahdanauAndLuong, GradcheckConcatAndBahdanau) {
  Generator gen(9);
  Tensor q = randn({2, 3}, kFloat64, &gen).requires_grad_(), k = randn({2, 4, 3}, kFloat64, &gen).requires_grad_();
  Tensor pad = tensor<int64_t>({0, 0, 1, 1, 0, 0, 0, 0}, {2, 4}).to(kBool);
  BahdanauAttention b(3, 3, 5, kFloat64);
  ATTN_EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& x) {
        b.W_a->weight = x[2];
        b.U_a->weight = x[3];
        b.v_a->weight = x[4];
        return b(x[0], x[1], x[1], {Tensor(), pad}).context;
      },
      (std::vector<Tensor>{q, k, b.W_a->weight.detach().clone().requires_grad_(),
                           b.U_a->weight.detach().clone().requires_grad_(),
                           b.v_a->weight.detach().clone().requires_grad_()}));
  LuongAttention l(3, 3, {LuongScore::Concat, LuongMode::LocalM, 1, 4, kFloat64});
  ATTN_EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& x) {
        l.W_a->weight = x[2];
        l.v_a->weight = x[3];
        return l(x[0], x[1], x[1], {}, 1).context;
      },
      (std::vector<Tensor>{q, k, l.W_a->weight.detach().clone().requires_grad_(),
                           l.v_a->weight.detach().clone().requires_grad_()}));
}

TEST(LuongAttention, ParameterNamesAndErrors) {
  auto names = [](const Module& m) {
    std::vector<std::string> n;
    for (const auto& [k, t] : m.state_dict()) n.push_back(k);
    return n;
  };
  EXPECT_EQ(names(LuongAttention(4, 4, {LuongScore::Dot})), std::vector<std::string>{});
  EXPECT_EQ(names(LuongAttention(4, 3, {LuongScore::Concat, LuongMode::LocalP})),
            (std::vector<std::string>{"W_a.weight", "v_a.weight", "W_p.weight", "v_p.weight"}));
  EXPECT_EQ(names(BahdanauAttention(4, 3, 5)), (std::vector<std::string>{"W_a.weight", "U_a.weight", "v_a.weight"}));
  expect_error([] { LuongAttention(4, 3, {LuongScore::Dot}); }, {"4", "3"});
  LuongAttention lm(4, 4, {LuongScore::Dot, LuongMode::LocalM, 1});
  expect_error([&] { lm(zeros({2, 4}), zeros({2, 5, 4}), zeros({2, 5, 4})); }, {"local-m", "t"});
  expect_error([&] { lm(zeros({2, 4}), zeros({3, 5, 4}), zeros({3, 5, 4}), {}, 0); }, {"[2, 4]", "[3, 5, 4]"});
  BahdanauAttention b(4, 4, 5);
  expect_error([&] { b(zeros({2, 4}), zeros({2, 5, 4}), zeros({2, 5, 4}), {Tensor(), zeros({2, 4}).to(kBool)}); },
               {"key_padding_mask", "[2, 5]", "[2, 4]"});
}

TEST(LuongAttention, LocalMWindowIsExact) {
  // Window [t - D, t + D] clipped to the source: weights outside are exactly 0 and the rest sum to 1.
  Generator gen(2);
  Tensor q = randn({1, 4}, kFloat32, &gen), k = randn({1, 7, 4}, kFloat32, &gen);
  LuongAttention m(4, 4, {LuongScore::Dot, LuongMode::LocalM, 2});
  for (int64_t t : {0, 3, 6}) {
    std::vector<double> w = to_double_vector(m(q, k, k, {}, t).weights);
    double s = 0;
    for (int64_t j = 0; j < 7; ++j) {
      if (std::abs(j - t) > 2) EXPECT_EQ(w[size_t(j)], 0.0) << t << " " << j;
      else EXPECT_GT(w[size_t(j)], 0.0);
      s += w[size_t(j)];
    }
    EXPECT_NEAR(s, 1.0, 1e-6);  // f32 sum of <= 5 weights
  }
}

}  // namespace
}  // namespace attn::nn

namespace attn::nn {
namespace {

TEST(AttentionModules, EmptyDimsAndThreads) {
  // No source positions: every query attends to nothing -> zero output; an empty batch -> empty.
  DotProductAttention dot;
  EXPECT_TRUE(all_close(dot(ones({2, 3, 4}), zeros({2, 0, 4}), zeros({2, 0, 5})), zeros({2, 3, 5}), 0.0));
  EXPECT_EQ(dot(ones({0, 3, 4}), zeros({0, 6, 4}), zeros({0, 6, 5})).shape(), (Shape{0, 3, 5}));
  BahdanauAttention b(4, 4, 3);
  StepAttention r = b(ones({2, 4}), zeros({2, 0, 4}), zeros({2, 0, 4}));
  EXPECT_TRUE(all_close(r.context, zeros({2, 4}), 0.0));
  EXPECT_EQ(r.weights.shape(), (Shape{2, 0}));
  // Compositions of ops that parallelise over outputs only: 1 and 2 threads agree bitwise.
  Generator gen(12);
  Tensor q = randn({3, 8}, kFloat32, &gen), k = randn({3, 33, 8}, kFloat32, &gen);
  LuongAttention l(8, 8, {LuongScore::Concat, LuongMode::LocalP, 4, 16});
  auto [one, two] = testing::one_and_two_threads([&] { return l(q, k, k).context; });
  EXPECT_TRUE(testing::all_equal(one, two));
}

}  // namespace
}  // namespace attn::nn
