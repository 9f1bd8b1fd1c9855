// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a
// counter-based generator. The i-th random block depends only on (key, counter), so any thread
// can produce any element: the same seed gives the same numbers on every machine and for every
// thread count. dropout() draws its masks from it; the fused and local attention kernels
// regenerate their dropout masks from it in backward instead of storing them.
#pragma once
#include <array>
#include <cmath>
#include <cstdint>

namespace attn::kernels {

struct Philox {
  static constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  static constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;

  // Four 32-bit random words for the 128-bit counter (c0..c3) under the 64-bit key.
  static std::array<uint32_t, 4> block(uint64_t key, uint64_t ctr_lo, uint64_t ctr_hi = 0) {
    uint32_t c[4] = {uint32_t(ctr_lo), uint32_t(ctr_lo >> 32), uint32_t(ctr_hi), uint32_t(ctr_hi >> 32)};
    uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
    for (int r = 0; r < 10; ++r) {
      const uint64_t p0 = uint64_t(kM0) * c[0], p1 = uint64_t(kM1) * c[2];
      const uint32_t n0 = uint32_t(p1 >> 32) ^ c[1] ^ k0, n2 = uint32_t(p0 >> 32) ^ c[3] ^ k1;
      c[0] = n0, c[1] = uint32_t(p1), c[2] = n2, c[3] = uint32_t(p0);
      k0 += kW0, k1 += kW1;
    }
    return {c[0], c[1], c[2], c[3]};
  }
};

// Uniform in [0, 1) with 24 random bits (exactly representable in float).
inline float uniform_f32(uint32_t x) { return float(x >> 8) * (1.0f / 16777216.0f); }
// Uniform in [0, 1) with 53 random bits.
inline double uniform_f64(uint32_t hi, uint32_t lo) {
  return double((uint64_t(hi) << 21) ^ (lo >> 11)) * (1.0 / 9007199254740992.0);
}

}  // namespace attn::kernels
