// Highway dropout kernel (see kernels/dropout.h). Philox is the cost of dropout (ten rounds of
// two 32x32->64 multiplies per four elements), so it is evaluated for Lanes(u64) blocks at once,
// one block per 64-bit lane holding a 32-bit counter word in its low half; MulEven gives the exact
// 64-bit products. The words are then written out in element order and applied with the same
// comparison and the same product as ref::dropout_apply, so the output is bit-identical. With a
// mask, the keep bits of each SIMD step are packed and written with ref::dropout_put_bits. The
// backward only reads the mask: 32 bits at a time, broadcast to every lane and tested against the
// lane's own bit, then a select on dy * scale.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/dropout.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/dropout.h"

#include <algorithm>
#include <type_traits>

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The scalar twin for the partial blocks at the ends: with or without writing the mask.
template <class T>
void DropoutRef(int64_t i0, int64_t i1, const T* x, T* out, uint8_t* mask, uint64_t threshold, T scale, uint64_t key,
                uint64_t ctr0) {
  if (mask) ref::dropout_forward(i0, i1, x, out, mask, threshold, scale, key, ctr0);
  else ref::dropout_apply(i0, i1, x, out, threshold, scale, key, ctr0);
}

// mask == nullptr: dropout_apply; otherwise dropout_forward.
template <class T>
void DropoutT(int64_t i0, int64_t i1, const T* HWY_RESTRICT x, T* HWY_RESTRICT out, uint8_t* HWY_RESTRICT mask,
              uint64_t threshold, T scale, uint64_t key, uint64_t ctr0) {
#if HWY_TARGET == HWY_SCALAR
  DropoutRef(i0, i1, x, out, mask, threshold, scale, key, ctr0);  // no u32 MulEven on this target
#else
  const hn::ScalableTag<uint64_t> d64;
  const hn::Repartition<uint32_t, decltype(d64)> d32;
  constexpr size_t kMaxLanes = HWY_MAX_BYTES / sizeof(uint64_t);
  const int64_t L = int64_t(hn::Lanes(d64));
  // Blocks fully inside [i0, i1) go through SIMD; the partial blocks at both ends use ref.
  const int64_t b_begin = (i0 + 3) / 4, b_end = i1 / 4;
  if (b_begin >= b_end) return DropoutRef(i0, i1, x, out, mask, threshold, scale, key, ctr0);
  DropoutRef(i0, b_begin * 4, x, out, mask, threshold, scale, key, ctr0);

  const auto lo_mask = hn::Set(d64, 0xFFFFFFFFull);
  const auto m0 = hn::Set(d64, uint64_t(Philox::kM0)), m1 = hn::Set(d64, uint64_t(Philox::kM1));
  uint64_t k0[10], k1[10];  // the key schedule is the same for every lane
  {
    uint32_t a = uint32_t(key), b = uint32_t(key >> 32);
    for (int r = 0; r < 10; ++r, a += Philox::kW0, b += Philox::kW1) k0[r] = a, k1[r] = b;
  }
  HWY_ALIGN uint64_t lane_ctr[kMaxLanes];
  HWY_ALIGN uint64_t words[4][kMaxLanes];
  HWY_ALIGN uint64_t ordered[2 * kMaxLanes];
  const hn::Repartition<int32_t, decltype(d64)> di;
  const hn::Repartition<float, decltype(d64)> df;
  const bool drop_all = threshold > 0xFFFFFFFFull;  // p == 1
  const auto sign = hn::Set(di, int32_t(0x80000000u));
  const auto thr_flipped = hn::Set(di, int32_t(uint32_t(threshold) ^ 0x80000000u));
  const auto scale_v = hn::Set(df, float(scale));
  int64_t b = b_begin;
  for (; b + L <= b_end; b += L) {
    for (int64_t l = 0; l < L; ++l) lane_ctr[l] = ctr0 + uint64_t(b + l);
    const auto ctr = hn::Load(d64, lane_ctr);
    auto c0 = hn::And(ctr, lo_mask), c1 = hn::ShiftRight<32>(ctr);
    auto c2 = hn::Zero(d64), c3 = hn::Zero(d64);  // the counter's high 64 bits are 0
    for (int r = 0; r < 10; ++r) {
      const auto p0 = hn::MulEven(hn::BitCast(d32, c0), hn::BitCast(d32, m0));
      const auto p1 = hn::MulEven(hn::BitCast(d32, c2), hn::BitCast(d32, m1));
      c0 = hn::Xor(hn::Xor(hn::ShiftRight<32>(p1), c1), hn::Set(d64, k0[r]));
      c2 = hn::Xor(hn::Xor(hn::ShiftRight<32>(p0), c3), hn::Set(d64, k1[r]));
      c1 = hn::And(p1, lo_mask);
      c3 = hn::And(p0, lo_mask);
    }
    if constexpr (std::is_same_v<T, float>) {
      // Words in element order (u64 lane 2l: words 0, 1 of block l; lane 2l + 1: words 2, 3), then
      // 2 * Lanes(u64) floats at a time: a branch-free select, where the scalar loop mispredicts.
      hn::Store(hn::Or(c0, hn::ShiftLeft<32>(c1)), d64, words[0]);
      hn::Store(hn::Or(c2, hn::ShiftLeft<32>(c3)), d64, words[1]);
      for (int64_t l = 0; l < L; ++l) ordered[2 * l] = words[0][l], ordered[2 * l + 1] = words[1][l];
      uint64_t dropped = 0;  // bit j: element b * 4 + j is dropped (4 L <= 32 bits)
      for (int64_t h = 0; h < 2; ++h) {
        const int64_t e = b * 4 + h * 2 * L;
        const auto word = hn::Load(di, reinterpret_cast<const int32_t*>(ordered) + h * 2 * L);
        // word >= threshold on unsigned 32-bit values, as a signed comparison with the sign bits flipped.
        const auto drop = drop_all ? hn::MaskFromVec(hn::Set(di, -1)) : hn::Lt(hn::Xor(word, sign), thr_flipped);
        const auto v = hn::Mul(hn::LoadU(df, x + e), scale_v);
        hn::StoreU(hn::IfThenZeroElse(hn::RebindMask(df, drop), v), df, out + e);
        if (mask) {
          uint8_t packed[8] = {};
          hn::StoreMaskBits(df, hn::RebindMask(df, drop), packed);
          uint64_t hb = 0;
          for (int k = 0; k < 4; ++k) hb |= uint64_t(packed[k]) << (8 * k);
          dropped |= (hb & ((uint64_t(1) << (2 * L)) - 1)) << (h * 2 * L);
        }
      }
      if (mask) ref::dropout_put_bits(mask, b * 4, ~dropped, int(4 * L));
    } else {
      hn::Store(c0, d64, words[0]);
      hn::Store(c1, d64, words[1]);
      hn::Store(c2, d64, words[2]);
      hn::Store(c3, d64, words[3]);
      uint64_t kept = 0;  // bit j: element b * 4 + j is kept (4 L <= 32 bits)
      for (int64_t l = 0; l < L; ++l) {
        const int64_t e = (b + l) * 4;
        for (int j = 0; j < 4; ++j) {
          const bool keep = words[j][l] >= threshold;
          out[e + j] = keep ? x[e + j] * scale : T(0);
          kept |= uint64_t(keep) << (4 * l + j);
        }
      }
      if (mask) ref::dropout_put_bits(mask, b * 4, kept, int(4 * L));
    }
  }
  DropoutRef(b * 4, i1, x, out, mask, threshold, scale, key, ctr0);
#endif
}

template <class T>
void DropoutBackwardT(int64_t i0, int64_t i1, const T* HWY_RESTRICT dy, T* HWY_RESTRICT dx,
                      const uint8_t* HWY_RESTRICT mask, T scale) {
  const hn::ScalableTag<T> d;
  const hn::RebindToUnsigned<decltype(d)> du;
  using U = hwy::MakeUnsigned<T>;
  constexpr int64_t kBlock = 32;  // elements per 32-bit load of the mask
  const int64_t N = int64_t(hn::Lanes(d));
  if (HWY_TARGET == HWY_SCALAR || kBlock % N != 0) return ref::dropout_backward(i0, i1, dy, dx, mask, scale);
  // Scalar up to the first mask byte boundary, then whole 32-element blocks, then a scalar tail.
  int64_t i = std::min(i1, (i0 + 7) / 8 * 8);
  ref::dropout_backward(i0, i, dy, dx, mask, scale);
  HWY_ALIGN U lane_bit[HWY_MAX_BYTES / sizeof(T)];
  for (int64_t j = 0; j < N; ++j) lane_bit[j] = U(U(1) << j);
  const auto bit = hn::Load(du, lane_bit);
  const auto s = hn::Set(d, scale);
  for (; i + kBlock <= i1; i += kBlock) {
    const uint8_t* m = mask + i / 8;
    const uint32_t w = uint32_t(m[0]) | uint32_t(m[1]) << 8 | uint32_t(m[2]) << 16 | uint32_t(m[3]) << 24;
    for (int64_t k = 0; k < kBlock; k += N) {
      const auto keep = hn::RebindMask(d, hn::TestBit(hn::Set(du, U(w >> k)), bit));
      hn::StoreU(hn::IfThenElseZero(keep, hn::Mul(hn::LoadU(d, dy + i + k), s)), d, dx + i + k);
    }
  }
  ref::dropout_backward(i, i1, dy, dx, mask, scale);
}

void DropoutF32(int64_t i0, int64_t i1, const float* x, float* out, uint8_t* mask, uint64_t threshold, float scale,
                uint64_t key, uint64_t ctr0) {
  DropoutT(i0, i1, x, out, mask, threshold, scale, key, ctr0);
}
void DropoutF64(int64_t i0, int64_t i1, const double* x, double* out, uint8_t* mask, uint64_t threshold, double scale,
                uint64_t key, uint64_t ctr0) {
  DropoutT(i0, i1, x, out, mask, threshold, scale, key, ctr0);
}
void DropoutBackwardF32(int64_t i0, int64_t i1, const float* dy, float* dx, const uint8_t* mask, float scale) {
  DropoutBackwardT(i0, i1, dy, dx, mask, scale);
}
void DropoutBackwardF64(int64_t i0, int64_t i1, const double* dy, double* dx, const uint8_t* mask, double scale) {
  DropoutBackwardT(i0, i1, dy, dx, mask, scale);
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attn::kernels {
HWY_EXPORT(DropoutF32);
HWY_EXPORT(DropoutF64);
HWY_EXPORT(DropoutBackwardF32);
HWY_EXPORT(DropoutBackwardF64);
namespace fast {
void dropout_apply(int64_t i0, int64_t i1, const float* x, float* out, uint64_t threshold, float scale, uint64_t key,
                   uint64_t ctr0) {
  HWY_DYNAMIC_DISPATCH(DropoutF32)(i0, i1, x, out, nullptr, threshold, scale, key, ctr0);
}
void dropout_apply(int64_t i0, int64_t i1, const double* x, double* out, uint64_t threshold, double scale, uint64_t key,
                   uint64_t ctr0) {
  HWY_DYNAMIC_DISPATCH(DropoutF64)(i0, i1, x, out, nullptr, threshold, scale, key, ctr0);
}
void dropout_forward(int64_t i0, int64_t i1, const float* x, float* out, uint8_t* mask, uint64_t threshold,
                     float scale, uint64_t key, uint64_t ctr0) {
  HWY_DYNAMIC_DISPATCH(DropoutF32)(i0, i1, x, out, mask, threshold, scale, key, ctr0);
}
void dropout_forward(int64_t i0, int64_t i1, const double* x, double* out, uint8_t* mask, uint64_t threshold,
                     double scale, uint64_t key, uint64_t ctr0) {
  HWY_DYNAMIC_DISPATCH(DropoutF64)(i0, i1, x, out, mask, threshold, scale, key, ctr0);
}
void dropout_backward(int64_t i0, int64_t i1, const float* dy, float* dx, const uint8_t* mask, float scale) {
  HWY_DYNAMIC_DISPATCH(DropoutBackwardF32)(i0, i1, dy, dx, mask, scale);
}
void dropout_backward(int64_t i0, int64_t i1, const double* dy, double* dx, const uint8_t* mask, double scale) {
  HWY_DYNAMIC_DISPATCH(DropoutBackwardF64)(i0, i1, dy, dx, mask, scale);
}
}  // namespace fast
}  // namespace attn::kernels
#endif
