// Random numbers from a counter-based generator (Philox4x32-10). Element i of a draw depends
// only on (seed, offset + i), never on the thread that computes it, so the same seed gives the
// same tensors on every machine and for every thread count. Each draw advances the offset.
#pragma once
#include <cstdint>

#include "attn/core/tensor.h"

namespace attn {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) : seed_(seed) {}
  void manual_seed(uint64_t seed) {
    seed_ = seed;
    offset_ = 0;
  }
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_offset(uint64_t off) { offset_ = off; }
  // Reserves `n` Philox blocks and returns the first counter: the caller owns [ret, ret + n).
  uint64_t reserve(uint64_t n) {
    const uint64_t r = offset_;
    offset_ += n;
    return r;
  }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// The process-wide default generator (torch.default_generator).
Generator& default_generator();
void manual_seed(uint64_t seed);

// Uniform [0, 1).
Tensor rand(Shape shape, DType dtype = kFloat32, Generator* gen = nullptr);
// Standard normal (Box-Muller on Philox output).
Tensor randn(Shape shape, DType dtype = kFloat32, Generator* gen = nullptr);
// Integers uniform in [low, high).
Tensor randint(int64_t low, int64_t high, Shape shape, DType dtype = kInt64, Generator* gen = nullptr);
// 1 with probability p (elementwise when p is a tensor), else 0; same dtype as p.
Tensor bernoulli(const Tensor& p, Generator* gen = nullptr);
Tensor bernoulli(Shape shape, double p, DType dtype = kFloat32, Generator* gen = nullptr);
// A random permutation of 0..n-1 (int64).
Tensor randperm(int64_t n, Generator* gen = nullptr);
// In place: uniform [low, high) and normal(mean, std), used by parameter initialisers.
void uniform_(Tensor& t, double low, double high, Generator* gen = nullptr);
void normal_(Tensor& t, double mean, double std, Generator* gen = nullptr);

}  // namespace attn
