// flash_attention (src/attention/flash.cc, kernels/flash_attention.h) and the SdpaBackend dispatch
// of scaled_dot_product_attention: the fused kernel equals the composed path (forward, dq, dk, dv,
// dense weights) over random shapes with every mask kind (none, causal top-left / bottom-right,
// sliding window, key lengths, key padding, bool and additive masks of several broadcast shapes),
// GQA / MQA, dropout (same seed, same mask), fully masked rows, and head dims 1 .. 128; fast vs
// reference kernels on misaligned inputs; f64 gradchecks; 1 vs 2 threads bitwise; errors naming
// the shapes; the backend switch.
#include <cmath>
#include <limits>
#include <string>

#include "attn/attention/flash.h"
#include "attn/attention/local.h"
#include "attn/attention/multihead.h"
#include "attn/attention/sdpa.h"
#include "attention_grads.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::all_close;
using testing::all_equal;
using testing::all_finite;
using testing::expect_close;
using testing::expect_error;
using testing::Grads;
using testing::run;

// The composed path's single attn_mask equivalent to the fused options: bool keep mask
// [B, 1.., T, S] (or the additive mask with hidden keys at -inf).
Tensor dense_mask(const FlashOptions& o, int64_t ndim, int64_t B, int64_t T, int64_t S, DType dt) {
  Tensor keep = ones({T, S}, kBool);
  if (o.is_causal) keep = logical_and(keep, causal_mask(T, S, o.align));
  if (o.window_left >= 0 || o.window_right >= 0)
    keep = logical_and(keep, sliding_window_mask(T, S, o.window_left, o.window_right, o.align));
  auto per_batch = [&](Tensor k) {  // [B, S] -> [B, 1, ..., 1, S]
    Shape s(size_t(ndim), 1);
    s[0] = B, s.back() = S;
    return k.reshape(s);
  };
  if (o.valid_lens.defined())
    keep = logical_and(keep, per_batch(arange(double(S)).unsqueeze(0) < o.valid_lens.to(kFloat64).unsqueeze(1)));
  if (o.key_padding_mask.defined()) keep = logical_and(keep, per_batch(logical_not(o.key_padding_mask)));
  if (o.attn_mask.defined() && o.attn_mask.dtype() == kBool) keep = logical_and(keep, o.attn_mask);
  if (o.attn_mask.defined() && o.attn_mask.dtype() != kBool) {
    Shape w = broadcast_shapes(keep.shape(), o.attn_mask.shape());
    return masked_fill(o.attn_mask.expand(w).contiguous(), logical_not(keep.expand(w)), -INFINITY).to(dt);
  }
  return keep;
}

Grads composed(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& gout, const FlashOptions& o,
               Generator* gen = nullptr) {
  SdpaBackendGuard b(SdpaBackend::Composed);
  const int64_t B = q.dim() >= 3 ? q.size(0) : 1;
  Tensor m = dense_mask(o, q.dim(), B, q.size(-2), k.size(-2), q.dtype());
  return run(q, k, v, gout, [&](auto& a, auto& b_, auto& c) {
    return scaled_dot_product_attention(a, b_, c, m, o.dropout_p, false, o.scale, o.enable_gqa, o.need_weights, gen);
  });
}

Grads fused(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& gout, const FlashOptions& o) {
  return run(q, k, v, gout, [&](auto& a, auto& b, auto& c) { return flash_attention(a, b, c, o); });
}

enum Kind { None, CausalTL, CausalBR, Window, WindowBR, Lens, Padding, BoolTS, BoolB1TS, BoolHead, BoolKey, AddTS, AddB11S, Mixed };
const char* kind_name(Kind k) {
  static const char* n[] = {"none", "causal_tl", "causal_br", "window", "window_br", "lens", "padding",
                            "bool_ts", "bool_b1ts", "bool_1h1s", "bool_s", "add_ts", "add_b11s", "mixed"};
  return n[k];
}

FlashOptions options_for(Kind kind, int64_t B, int64_t H, int64_t T, int64_t S, DType dt, Generator& g) {
  FlashOptions o;
  switch (kind) {
    case None: break;
    case CausalTL: o.is_causal = true; break;
    case CausalBR: o.is_causal = true, o.align = CausalAlign::BottomRight; break;
    case Window: o.window_left = 5, o.window_right = 17; break;
    case WindowBR: o.window_left = 40, o.window_right = 0, o.align = CausalAlign::BottomRight; break;
    case Lens: {  // one batch entry sees nothing, one a fractional length
      std::vector<double> l = {double(S) - 3.5, 0.0, double(S), 1.0};
      o.valid_lens = tensor(l, {4}).narrow(0, 0, B);
      break;
    }
    case Padding: o.key_padding_mask = rand({B, S}, kFloat64, &g) > 0.6; break;
    case BoolTS: o.attn_mask = rand({T, S}, kFloat64, &g) > 0.3; break;
    case BoolB1TS: o.attn_mask = rand({B, 1, T, S}, kFloat64, &g) > 0.5; break;
    case BoolHead: o.attn_mask = rand({1, H, 1, S}, kFloat64, &g) > 0.4; break;
    case BoolKey: o.attn_mask = rand({S}, kFloat64, &g) > 0.2; break;
    case AddTS: {  // a bias with some -inf entries (a row of them: fully masked)
      Tensor a = randn({T, S}, dt, &g);
      o.attn_mask = masked_fill(a, rand({T, S}, kFloat64, &g) > 0.8, -INFINITY);
      if (T > 2) o.attn_mask = masked_fill(o.attn_mask, eq(arange(double(T)), 2.0).unsqueeze(1).expand({T, S}), -INFINITY);
      break;
    }
    case AddB11S: o.attn_mask = randn({B, 1, 1, S}, dt, &g) * 3.0; break;
    case Mixed:  // causal bottom-right + window + key lengths + key padding + bool mask
      o.is_causal = true, o.align = CausalAlign::BottomRight, o.window_left = 30;
      o.valid_lens = tensor(std::vector<double>{double(S) - 1, double(S) / 2, 2.0, 0.0}, {4}).narrow(0, 0, B);
      o.key_padding_mask = rand({B, S}, kFloat64, &g) > 0.9;
      o.attn_mask = rand({T, S}, kFloat64, &g) > 0.1;
      break;
  }
  return o;
}

TEST(FlashAttention, EqualsComposedEveryMaskKind) {
  struct Shape4 {
    int64_t B, H, T, S, E, Ev;
  };
  // T, S: 1, not multiples of the 64 tile, T < S and T > S, several blocks.
  const std::vector<Shape4> shapes = {{2, 2, 1, 1, 3, 2}, {2, 2, 70, 129, 4, 3}, {3, 2, 131, 67, 3, 5}};
  for (size_t si = 0; si < shapes.size(); ++si) {
    const Shape4& x = shapes[si];
    for (int kind = None; kind <= Mixed; ++kind) {
      SCOPED_TRACE("shape " + std::to_string(si) + ", mask " + kind_name(Kind(kind)));
      Generator g(1000 * si + kind);
      Tensor q = randn({x.B, x.H, x.T, x.E}, kFloat64, &g), k = randn({x.B, x.H, x.S, x.E}, kFloat64, &g),
             v = randn({x.B, x.H, x.S, x.Ev}, kFloat64, &g), gout = randn({x.B, x.H, x.T, x.Ev}, kFloat64, &g);
      FlashOptions o = options_for(Kind(kind), x.B, x.H, x.T, x.S, kFloat64, g);
      o.need_weights = true;
      o.scale = 0.3 + 0.1 * double(kind);
      Grads want = composed(q, k, v, gout, o);
      for (bool reference : {true, false}) {
        KernelModeGuard mode(reference);
        // f64 both sides; sums over <= 131 terms in a different order (blocks, online rescaling).
        expect_close(fused(q, k, v, gout, o), want, 1e-11, true);
      }
    }
  }
}

TEST(FlashAttention, HeadDimsFloat32) {
  for (int64_t E : {1, 7, 32, 64, 80, 96, 128}) {
    for (bool causal : {false, true}) {
      SCOPED_TRACE("E = " + std::to_string(E) + (causal ? " causal" : ""));
      Generator g(E);
      const int64_t T = 67, S = 93;
      Tensor q = randn({1, 1, T, E}, kFloat32, &g), k = randn({1, 1, S, E}, kFloat32, &g),
             v = randn({1, 1, S, E}, kFloat32, &g), gout = randn({1, 1, T, E}, kFloat32, &g);
      FlashOptions o;
      o.is_causal = causal;
      Grads want = composed(q, k, v, gout, o);
      for (bool reference : {true, false}) {
        KernelModeGuard mode(reference);
        // f32: dot products over E <= 128 and sums over <= 93 keys in float lanes vs the composed
        // path's own float rounding; outputs and grads are O(1): a few 1e-6 relative.
        expect_close(fused(q, k, v, gout, o), want, 2e-5);
      }
    }
  }
}

TEST(FlashAttention, GqaAndMqaMatchComposed) {
  Generator g(3);
  for (int64_t Hk : {1, 2}) {
    SCOPED_TRACE("Hk = " + std::to_string(Hk));
    Tensor q = randn({2, 6, 70, 8}, kFloat64, &g), k = randn({2, Hk, 75, 8}, kFloat64, &g),
           v = randn({2, Hk, 75, 4}, kFloat64, &g), gout = randn({2, 6, 70, 4}, kFloat64, &g);
    FlashOptions o;
    o.enable_gqa = Hk == 2, o.is_causal = true, o.align = CausalAlign::BottomRight;
    o.valid_lens = tensor(std::vector<int64_t>{75, 30}, {2});
    Grads want = composed(q, k, v, gout, o);
    for (bool reference : {true, false}) {
      KernelModeGuard mode(reference);
      expect_close(fused(q, k, v, gout, o), want, 1e-11);  // f64; dk, dv sum 3 or 6 heads in another order
    }
  }
}

TEST(FlashAttention, DropoutSameSeedSameMaskAsComposed) {
  Generator g(9);
  Tensor q = randn({2, 2, 70, 4}, kFloat64, &g), k = randn({2, 2, 67, 4}, kFloat64, &g),
         v = randn({2, 2, 67, 3}, kFloat64, &g), gout = randn({2, 2, 70, 3}, kFloat64, &g);
  for (bool reference : {true, false}) {
    KernelModeGuard mode(reference);
    auto flash = [&](uint64_t seed, double p) {
      Generator gen(seed);
      FlashOptions o;
      o.dropout_p = p, o.generator = &gen, o.need_weights = true, o.is_causal = true;
      Grads r = fused(q, k, v, gout, o);
      EXPECT_EQ(gen.offset(), p > 0 && p < 1 ? (2u * 2 * 70 * 67 + 3) / 4 : 0u);  // as dropout() on [2, 2, 70, 67]
      return r;
    };
    Grads a = flash(42, 0.3), b = flash(42, 0.3), c = flash(43, 0.3);
    EXPECT_TRUE(all_equal(a.out, b.out) && all_equal(a.dq, b.dq) && all_equal(a.dk, b.dk) && all_equal(a.dv, b.dv));
    EXPECT_FALSE(all_equal(a.out, c.out));
    // The composed path with the same generator state drops the same weights.
    Generator sg(42);
    FlashOptions o;
    o.dropout_p = 0.3, o.need_weights = true, o.is_causal = true;
    Grads s = composed(q, k, v, gout, o, &sg);
    expect_close(a, s, 1e-11, true);  // f64
    // p = 1 drops everything (zero output and gradients).
    Grads all = flash(1, 1.0);
    EXPECT_TRUE(all_equal(all.out, zeros({2, 2, 70, 3}, kFloat64)));
    EXPECT_TRUE(all_equal(all.dq, zeros_like(q)) && all_equal(all.dk, zeros_like(k)) && all_equal(all.dv, zeros_like(v)));
  }
}

TEST(FlashAttention, WeightsAreDifferentiableLikeComposed) {
  Generator g(12);
  Tensor q = randn({2, 4, 9, 5}, kFloat64, &g), k = randn({2, 2, 70, 5}, kFloat64, &g),
         v = randn({2, 2, 70, 3}, kFloat64, &g), gout = randn({2, 4, 9, 3}, kFloat64, &g),
         gw = randn({2, 4, 9, 70}, kFloat64, &g);
  for (double p : {0.0, 0.3}) {
    SCOPED_TRACE("dropout " + std::to_string(p));
    // loss = <out, gout> + <weights, gw>, through each path.
    auto loss_grads = [&](bool fuse) {
      Tensor qq = q.clone().requires_grad_(), kk = k.clone().requires_grad_(), vv = v.clone().requires_grad_();
      Generator gen(77);
      SdpaBackendGuard b(fuse ? SdpaBackend::Fused : SdpaBackend::Composed);
      auto r = scaled_dot_product_attention(qq, kk, vv, causal_mask(9, 70, CausalAlign::BottomRight), p, false,
                                            std::nullopt, true, true, &gen);
      (sum(r.output * gout) + sum(r.weights * gw)).backward();
      return Grads{r.output.detach(), qq.grad(), kk.grad(), vv.grad(), r.weights.detach()};
    };
    for (bool reference : {true, false}) {
      KernelModeGuard mode(reference);
      expect_close(loss_grads(true), loss_grads(false), 1e-11, true);  // f64
    }
  }
}

TEST(FlashAttention, DroppedResultsFreeTheirMemory) {
  // With need_weights and inputs that need gradients, the weights get a backward node of their
  // own. It must not hold the weights themselves: they would keep their node alive, and the
  // saved q, k, v with it, whenever no backward runs through the weights (the usual case: a
  // backward through the output only, or none). Dropping the results must return every byte.
  Generator g(9);
  Tensor q = randn({2, 3, 40, 16}, kFloat32, &g).requires_grad_();
  Tensor k = randn({2, 3, 50, 16}, kFloat32, &g).requires_grad_();
  Tensor v = randn({2, 3, 50, 8}, kFloat32, &g).requires_grad_();
  for (double p : {0.0, 0.2})
    for (bool backward : {false, true}) {
      SCOPED_TRACE("dropout " + std::to_string(p) + (backward ? ", backward through the output" : ""));
      FlashOptions o;
      o.need_weights = true, o.dropout_p = p;
      auto call = [&] {
        AttentionResult r = flash_attention(q, k, v, o);
        if (backward) sum(r.output).backward();
      };
      call();  // the first backward allocates q, k, v's gradients; later ones add into them
      const size_t before = allocator_stats().allocated_bytes;
      call();
      EXPECT_EQ(allocator_stats().allocated_bytes, before);
    }
}

TEST(FlashAttention, FullyMaskedRowsAreZeroAndFinite) {
  for (DType dt : {kFloat32, kFloat64}) {
    for (bool reference : {true, false}) {
      KernelModeGuard mode(reference);
      Generator g(8);
      Tensor q = randn({2, 5, 4}, dt, &g), k = randn({2, 3, 4}, dt, &g), v = randn({2, 3, 2}, dt, &g);
      // Bottom-right causal, T > S: rows 0 and 1 see no key; batch 1 has every key padded.
      FlashOptions o;
      o.is_causal = true, o.align = CausalAlign::BottomRight, o.need_weights = true;
      o.key_padding_mask = tensor(std::vector<float>{0, 0, 0, 1, 1, 1}, {2, 3}) > 0.5;
      Grads r = fused(q, k, v, Tensor(), o);
      EXPECT_TRUE(all_finite(r.out) && all_finite(r.dq) && all_finite(r.dk) && all_finite(r.dv));
      EXPECT_TRUE(all_equal(r.out.narrow(1, 0, 2), zeros({2, 2, 2}, dt)));
      EXPECT_TRUE(all_equal(r.out.select(0, 1), zeros({5, 2}, dt)));
      EXPECT_TRUE(all_equal(r.weights.select(0, 1), zeros({5, 3}, dt)));
      EXPECT_TRUE(all_equal(r.dq.select(0, 1), zeros({5, 4}, dt)));
      EXPECT_TRUE(all_equal(r.dk.select(0, 1), zeros({3, 4}, dt)));
      EXPECT_FALSE(all_equal(r.out.select(0, 0).narrow(0, 2, 3), zeros({3, 2}, dt)));
      // A bool mask row of False and an additive row of -inf: zero too, and equal to composed.
      FlashOptions b;
      b.attn_mask = tensor(std::vector<float>{1, 0, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0}, {5, 3}) > 0.5;
      Grads rb = fused(q, k, v, Tensor(), b);
      EXPECT_TRUE(all_equal(rb.out.narrow(1, 1, 1), zeros({2, 1, 2}, dt)));
      expect_close(rb, composed(q, k, v, Tensor(), b), dt == kFloat32 ? 1e-5 : 1e-12);
      FlashOptions a;
      a.attn_mask = masked_fill(zeros({5, 3}, dt), logical_not(b.attn_mask), -INFINITY);
      Grads ra = fused(q, k, v, Tensor(), a);
      EXPECT_TRUE(all_equal(ra.out, rb.out) && all_equal(ra.dq, rb.dq) && all_equal(ra.dk, rb.dk));
    }
  }
}

TEST(FlashAttention, FastMatchesReferenceMisaligned) {
  for (int64_t E : {1, 7, 9, 17, 64}) {
    SCOPED_TRACE("E = " + std::to_string(E));
    const int64_t T = 70, S = 66;
    Tensor q = testing::misaligned_randn({2, T, E}, kFloat32, 1), k = testing::misaligned_randn({2, S, E}, kFloat32, 2),
           v = testing::misaligned_randn({2, S, E + 1}, kFloat32, 3),
           gout = testing::misaligned_randn({2, T, E + 1}, kFloat32, 4);
    FlashOptions o;
    o.valid_lens = tensor(std::vector<int64_t>{60, 0}, {2});  // batch 1 sees nothing
    o.need_weights = true, o.window_left = 20, o.window_right = 3;
    Grads r, f;
    for (bool reference : {true, false}) {
      KernelModeGuard mode(reference);
      (reference ? r : f) = fused(q, k, v, gout, o);
    }
    // float lanes vs double accumulation over <= 64 terms, then exp: ~1e-6 relative on O(1) values.
    expect_close(f, r, 2e-5, true);
    EXPECT_TRUE(all_equal(f.out.select(0, 1), zeros({T, E + 1})));
  }
}

TEST(FlashAttention, FastMatchesReferenceOnDiagonalBlocks) {
  // Blocks the causal diagonal or a window edge cuts: the fast forward and backward compute only
  // the columns each row panel can see there. Lengths around and off the 64-wide tiles, both alignments, a
  // window, key lengths, and weights (the second pass computes whole tiles).
  struct Case {
    int64_t T, S;
    CausalAlign align;
    int64_t left;
    bool lens;
  };
  const CausalAlign tl = CausalAlign::TopLeft, br = CausalAlign::BottomRight;
  for (const Case& c : {Case{130, 130, tl, -1, false}, Case{70, 200, br, -1, false}, Case{200, 70, tl, -1, true},
                        Case{200, 70, br, -1, false}, Case{1, 65, br, -1, false}, Case{150, 150, tl, 40, true},
                        Case{64, 64, tl, -1, false}}) {
    SCOPED_TRACE("T = " + std::to_string(c.T) + ", S = " + std::to_string(c.S));
    Tensor q = testing::misaligned_randn({2, c.T, 64}, kFloat32, 1),
           k = testing::misaligned_randn({2, c.S, 64}, kFloat32, 2),
           v = testing::misaligned_randn({2, c.S, 24}, kFloat32, 3),
           gout = testing::misaligned_randn({2, c.T, 24}, kFloat32, 4);
    FlashOptions o;
    o.is_causal = c.left < 0, o.align = c.align, o.need_weights = true;
    if (c.left >= 0) o.window_left = c.left, o.window_right = 0;
    if (c.lens) o.valid_lens = tensor(std::vector<int64_t>{c.S - 7, c.S / 3}, {2});
    Grads r, f;
    for (bool reference : {true, false}) {
      KernelModeGuard mode(reference);
      (reference ? r : f) = fused(q, k, v, gout, o);
    }
    expect_close(f, r, 2e-5, true);
  }
}

TEST(FlashAttention, GradcheckF64) {
  Generator g(7);
  auto in = [&](Shape s) { return randn(std::move(s), kFloat64, &g).requires_grad_(); };
  std::vector<Tensor> x = {in({2, 2, 4, 3}), in({2, 1, 5, 3}), in({2, 1, 5, 2})};  // MQA
  Tensor add = randn({4, 5}, kFloat64, &g);
  for (bool reference : {true, false}) {
    KernelModeGuard mode(reference);
    FlashOptions o;
    o.valid_lens = tensor(std::vector<int64_t>{5, 2}, {2});
    o.scale = 0.7, o.is_causal = true, o.align = CausalAlign::BottomRight;
    ATTN_EXPECT_GRADCHECK([&](const std::vector<Tensor>& t) { return flash_attention(t[0], t[1], t[2], o).output; }, x);
    FlashOptions a;
    a.attn_mask = add, a.window_left = 2;
    ATTN_EXPECT_GRADCHECK([&](const std::vector<Tensor>& t) { return flash_attention(t[0], t[1], t[2], a).output; }, x);
    // Dropout with a fixed seed: every evaluation draws the same mask from a fresh generator.
    ATTN_EXPECT_GRADCHECK(([&](const std::vector<Tensor>& t) {
                            Generator gen(99);
                            FlashOptions d;
                            d.dropout_p = 0.4, d.generator = &gen;
                            return flash_attention(t[0], t[1], t[2], d).output;
                          }),
                          x);
  }
}

TEST(FlashAttention, OneAndTwoThreadsBitwise) {
  // Six kv heads, and one (MQA over three query heads: the fast backward then runs one pass per kv
  // head on one thread but a dq pass and a dk / dv pass on two, which must agree bitwise).
  for (int64_t Hk : {3, 1}) {
    const int64_t B = Hk == 3 ? 2 : 1;
    for (DType dt : {kFloat32, kFloat64}) {
      for (bool reference : {true, false}) {
        KernelModeGuard mode(reference);
        Generator g(11);
        Tensor q = randn({B, 3, 150, 8}, dt, &g), k = randn({B, Hk, 130, 8}, dt, &g),
               v = randn({B, Hk, 130, 5}, dt, &g);
        auto [one, two] = testing::one_and_two_threads([&] {
          Generator dg(5);
          FlashOptions o;
          o.dropout_p = 0.2, o.generator = &dg, o.is_causal = true, o.align = CausalAlign::BottomRight;
          Grads r = fused(q, k, v, Tensor(), o);
          return cat({r.out.reshape({-1}), r.dq.reshape({-1}), r.dk.reshape({-1}), r.dv.reshape({-1})});
        });
        EXPECT_TRUE(all_equal(one, two)) << reference << " Hk = " << Hk;
      }
    }
  }
}

TEST(FlashAttention, EmptyDims) {
  EXPECT_EQ(flash_attention(zeros({2, 0, 4}), zeros({2, 3, 4}), zeros({2, 3, 5})).output.shape(), (Shape{2, 0, 5}));
  auto r = flash_attention(randn({2, 3, 4}), zeros({2, 0, 4}), zeros({2, 0, 5}));
  EXPECT_TRUE(all_equal(r.output, zeros({2, 3, 5})));
  EXPECT_EQ(flash_attention(zeros({0, 2, 3, 4}), zeros({0, 2, 3, 4}), zeros({0, 2, 3, 4})).output.shape(),
            (Shape{0, 2, 3, 4}));
}

TEST(FlashAttention, BadInputsThrowNamingShapes) {
  Tensor q = randn({2, 4, 3, 8}), k = randn({2, 4, 5, 8}), v = randn({2, 4, 5, 6});
  expect_error([&] { flash_attention(q, randn({2, 4, 5, 7}), v); }, {"[2, 4, 3, 8]", "[2, 4, 5, 7]"});
  expect_error([&] { flash_attention(q, k, randn({2, 4, 6, 6})); }, {"[2, 4, 5, 8]", "[2, 4, 6, 6]"});
  expect_error([&] { flash_attention(q, randn({3, 4, 5, 8}), randn({3, 4, 5, 6})); }, {"[2, 4, 3, 8]", "[3, 4, 5, 8]"});
  expect_error([&] { flash_attention(q, randn({2, 3, 5, 8}), randn({2, 3, 5, 6})); }, {"Hq = 4", "Hk = 3"});
  FlashOptions gqa;
  gqa.enable_gqa = true;
  expect_error([&] { flash_attention(q, randn({2, 3, 5, 8}), randn({2, 3, 5, 6}), gqa); }, {"Hq = 4", "Hk = 3"});
  expect_error([&] { flash_attention(q, randn({4, 5, 8}), randn({4, 5, 6})); }, {"[2, 4, 3, 8]", "[4, 5, 8]"});
  FlashOptions m;
  m.attn_mask = ones({3, 4}, kBool);
  expect_error([&] { flash_attention(q, k, v, m); }, {"attn_mask", "[3, 4]", "[2, 4, 3, 5]"});
  FlashOptions w;
  w.window_left = -2;
  expect_error([&] { flash_attention(q, k, v, w); }, {"window_left = -2"});
  FlashOptions l;
  l.valid_lens = tensor(std::vector<int64_t>{1, 2, 3}, {3});
  expect_error([&] { flash_attention(q, k, v, l); }, {"valid_lens", "[2, 4, 3, 8]"});
  FlashOptions kp;
  kp.key_padding_mask = ones({2, 4}, kBool);
  expect_error([&] { flash_attention(q, k, v, kp); }, {"key_padding_mask", "[2, 5]"});
  FlashOptions d;
  d.dropout_p = 1.5;
  expect_error([&] { flash_attention(q, k, v, d); }, {"dropout_p"});
  expect_error([&] { flash_attention(q, k.to(kFloat64), v); }, {"float32", "float64"});
  // The forced fused backend refuses what it cannot take (sdpa's broadcast of leading dims).
  SdpaBackendGuard b(SdpaBackend::Fused);
  expect_error([&] { scaled_dot_product_attention(q, randn({4, 5, 8}), randn({4, 5, 6})); },
               {"SdpaBackend::Fused", "[2, 4, 3, 8]", "[4, 5, 8]"});
}

TEST(FlashAttention, SdpaBackendDispatch) {
  Generator g(21);
  Tensor q = randn({2, 3, 9, 8}, kFloat32, &g).requires_grad_(), k = randn({2, 3, 11, 8}, kFloat32, &g),
         v = randn({2, 3, 11, 4}, kFloat32, &g);
  auto node = [&](const AttentionResult& r) { return r.output.grad_fn() ? r.output.grad_fn()->name : std::string(); };
  {
    SdpaBackendGuard b(SdpaBackend::Auto);
    EXPECT_EQ(node(scaled_dot_product_attention(q, k, v, Tensor(), 0.0, true)), "flash_attention");
    // need_weights does not change the path: the output is the same with and without it.
    auto with = scaled_dot_product_attention(q, k, v, Tensor(), 0.0, true, std::nullopt, false, true);
    EXPECT_EQ(node(with), "flash_attention");
    EXPECT_TRUE(with.weights.defined());
    EXPECT_TRUE(all_equal(with.output, scaled_dot_product_attention(q, k, v, Tensor(), 0.0, true).output));
    // An additive mask that wants a gradient: composed (the fused kernel gives the mask none).
    Tensor bias = zeros({9, 11}).requires_grad_();
    EXPECT_NE(node(scaled_dot_product_attention(q, k, v, bias)), "flash_attention");
    EXPECT_EQ(node(scaled_dot_product_attention(q, k, v, bias.detach())), "flash_attention");
    // Broadcast leading dims are not fused: composed.
    EXPECT_NE(node(scaled_dot_product_attention(q, k.select(0, 0), v.select(0, 0))), "flash_attention");
  }
  {
    SdpaBackendGuard b(SdpaBackend::Composed);
    EXPECT_NE(node(scaled_dot_product_attention(q, k, v)), "flash_attention");
  }
  {
    SdpaBackendGuard b(SdpaBackend::Fused);
    EXPECT_EQ(node(scaled_dot_product_attention(q, k, v, Tensor(), 0.0, false, std::nullopt, false, true)),
              "flash_attention");
  }
  // nn.MultiheadAttention goes through sdpa: both backends agree (f32, E = 16 per head).
  nn::MultiheadAttention mha(32, 2, 0.0, true, false, false, -1, -1, /*batch_first=*/true);
  Tensor x = randn({2, 7, 32}, kFloat32, &g);
  Tensor pad = tensor(std::vector<float>{0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0}, {2, 7}) > 0.5;
  Tensor a, c;
  {
    SdpaBackendGuard b(SdpaBackend::Fused);
    a = mha.forward(x, x, x, pad, false).output;
  }
  {
    SdpaBackendGuard b(SdpaBackend::Composed);
    c = mha.forward(x, x, x, pad, false).output;
  }
  EXPECT_TRUE(all_close(a, c, 1e-5, 1e-5));  // f32, sums over 7 keys
}

}  // namespace
}  // namespace attn
