// Random tensors from Philox. Each element i uses Philox block (offset + i / 4) word i % 4
// (normal draws use two words per element), so results are independent of threading.
#include "attn/core/random.h"

#include <cmath>

#include "attn/core/autograd.h"
#include "kernels/parallel.h"
#include "kernels/philox.h"

namespace attn {

Generator& default_generator() {
  static Generator g;
  return g;
}
void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

namespace {

Generator& gen_or_default(Generator* g) { return g ? *g : default_generator(); }

// Calls fn(i, u32 word) for every element; `words` random 32-bit words per element.
template <class F>
void philox_fill(Generator& gen, int64_t n, int words, const F& fn) {
  const uint64_t total_words = uint64_t(n) * uint64_t(words);
  const uint64_t base = gen.reserve((total_words + 3) / 4);
  const uint64_t key = gen.seed();
  kernels::parallel_for(0, int64_t((total_words + 3) / 4), 4096, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const auto r = kernels::Philox::block(key, base + uint64_t(b));
      for (int j = 0; j < 4; ++j) {
        const uint64_t w = uint64_t(b) * 4 + uint64_t(j);
        if (w < total_words) fn(int64_t(w), r[j]);
      }
    }
  });
}

template <class T>
void fill_uniform(T* p, int64_t n, double low, double high, Generator& gen) {
  if constexpr (std::is_same_v<T, double>) {
    std::vector<uint32_t> words(size_t(n) * 2);
    philox_fill(gen, n, 2, [&](int64_t w, uint32_t x) { words[size_t(w)] = x; });
    for (int64_t i = 0; i < n; ++i) p[i] = low + (high - low) * kernels::uniform_f64(words[2 * i], words[2 * i + 1]);
  } else {
    philox_fill(gen, n, 1, [&](int64_t w, uint32_t x) { p[w] = T(low + (high - low) * double(kernels::uniform_f32(x))); });
  }
}

template <class T>
void fill_normal(T* p, int64_t n, double mean, double std, Generator& gen) {
  // Box-Muller: element i takes words (2i, 2i+1); u1 is shifted away from 0 so log() is finite.
  std::vector<uint32_t> words(size_t(n) * 2);
  philox_fill(gen, n, 2, [&](int64_t w, uint32_t x) { words[size_t(w)] = x; });
  kernels::parallel_for(0, n, 8192, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const double u1 = (double(words[2 * i]) + 1.0) * (1.0 / 4294967297.0);
      const double u2 = double(words[2 * i + 1]) * (1.0 / 4294967296.0);
      p[i] = T(mean + std * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
    }
  });
}

Tensor contiguous_target(Tensor& t, const char* op) {
  ATTN_CHECK(t.is_floating_point(), op, ": expects a floating-point tensor, got ", t.dtype());
  return t.is_contiguous() ? t : empty(t.shape(), t.dtype());
}

}  // namespace

void uniform_(Tensor& t, double low, double high, Generator* gen) {
  NoGradGuard ng;
  Tensor c = contiguous_target(t, "uniform_");
  ATTN_DISPATCH_FLOATING(t.dtype(), "uniform_", [&] { fill_uniform(c.data_ptr<scalar_t>(), c.numel(), low, high, gen_or_default(gen)); });
  if (!c.is_same(t)) t.copy_(c);
}

void normal_(Tensor& t, double mean, double std, Generator* gen) {
  NoGradGuard ng;
  Tensor c = contiguous_target(t, "normal_");
  ATTN_DISPATCH_FLOATING(t.dtype(), "normal_", [&] { fill_normal(c.data_ptr<scalar_t>(), c.numel(), mean, std, gen_or_default(gen)); });
  if (!c.is_same(t)) t.copy_(c);
}

Tensor rand(Shape shape, DType dtype, Generator* gen) {
  Tensor t = empty(std::move(shape), dtype);
  uniform_(t, 0.0, 1.0, gen);
  return t;
}

Tensor randn(Shape shape, DType dtype, Generator* gen) {
  Tensor t = empty(std::move(shape), dtype);
  normal_(t, 0.0, 1.0, gen);
  return t;
}

Tensor randint(int64_t low, int64_t high, Shape shape, DType dtype, Generator* gen) {
  ATTN_CHECK(high > low, "randint: empty range [", low, ", ", high, ")");
  Tensor t = empty(std::move(shape), dtype);
  const uint64_t range = uint64_t(high - low);
  std::vector<uint32_t> words(size_t(t.numel()) * 2);
  philox_fill(gen_or_default(gen), t.numel(), 2, [&](int64_t w, uint32_t x) { words[size_t(w)] = x; });
  ATTN_DISPATCH_NUMERIC(dtype, "randint", [&] {
    scalar_t* p = t.data_ptr<scalar_t>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      const uint64_t r = (uint64_t(words[2 * i]) << 32) | words[2 * i + 1];
      p[i] = scalar_t(low + int64_t(r % range));  // bias <= range / 2^64: negligible
    }
  });
  return t;
}

Tensor bernoulli(const Tensor& p, Generator* gen) {
  ATTN_CHECK(p.is_floating_point(), "bernoulli: p must be floating point, got ", p.dtype());
  Tensor pc = p.contiguous();
  Tensor u = rand(p.shape(), p.dtype(), gen);
  Tensor out = empty(p.shape(), p.dtype());
  ATTN_DISPATCH_FLOATING(p.dtype(), "bernoulli", [&] {
    const scalar_t* pp = pc.data_ptr<scalar_t>();
    const scalar_t* pu = u.data_ptr<scalar_t>();
    scalar_t* po = out.data_ptr<scalar_t>();
    for (int64_t i = 0; i < out.numel(); ++i) {
      ATTN_CHECK(pp[i] >= 0 && pp[i] <= 1, "bernoulli: probability ", pp[i], " at flat index ", i, " is outside [0, 1]");
      po[i] = pu[i] < pp[i] ? scalar_t(1) : scalar_t(0);
    }
  });
  return out;
}

Tensor bernoulli(Shape shape, double p, DType dtype, Generator* gen) { return bernoulli(full(std::move(shape), p, dtype), gen); }

Tensor randperm(int64_t n, Generator* gen) {
  ATTN_CHECK(n >= 0, "randperm: n must be non-negative, got ", n);
  Tensor keys = randint(0, INT64_MAX, {n}, kInt64, gen);
  Tensor out = arange(double(n));
  int64_t* po = out.data_ptr<int64_t>();
  const int64_t* pk = keys.data_ptr<int64_t>();
  // Fisher-Yates driven by the Philox keys.
  for (int64_t i = n - 1; i > 0; --i) std::swap(po[i], po[pk[i] % (i + 1)]);
  return out;
}

}  // namespace attn
