// Dropout kernels: out[i] = keep(i) ? x[i] * scale : 0, where keep(i) is decided by Philox
// (kernels/philox.h) from (key, counter) alone. Element i uses 32-bit word i % 4 of block
// ctr0 + i / 4 (the same layout as attn::rand), and is dropped when that word is below
// `threshold` = round(p * 2^32), so P(drop) = threshold / 2^32 = p to within 2^-33. Because the
// mask is a pure function of (key, ctr0, i), any thread can produce any element: the result does
// not depend on the thread count.
//
// Training keeps the mask for backward as packed bits rather than regenerating it (Philox is the
// cost of dropout): dropout_forward also writes bit i % 8 of mask[i / 8] = keep(i), and
// dropout_backward computes dx[i] = keep(i) ? dy[i] * scale : 0 from those bits, which is exactly
// dropout_apply(dy) with the same (key, ctr0, threshold, scale). The mask costs ceil(n / 8) bytes,
// kept until backward. dropout_apply (no mask) serves evaluation without gradients and is the
// independent reference for the backward. These kernels write (=), they do not accumulate.
//
// The kernels process the element range [i0, i1) of contiguous arrays x and out (pointers to
// element 0), so callers split the range over threads without changing any element's counter.
// dropout_forward updates only the mask bits of [i0, i1), by read-modify-write of the bytes the
// range covers partly: concurrent ranges must therefore start and end on multiples of 8 (or at n),
// so that no two threads touch the same mask byte.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/philox.h"

namespace attn::kernels {

// The drop threshold on a uniform 32-bit word for drop probability p in [0, 1]: 0 keeps every
// element, 2^32 (p == 1) drops every element.
inline uint64_t dropout_threshold(double p) {
  if (!(p > 0)) return 0;
  if (p >= 1) return uint64_t(1) << 32;
  return uint64_t(std::llround(p * 4294967296.0));
}

namespace ref {
template <class T>
void dropout_apply(int64_t i0, int64_t i1, const T* x, T* out, uint64_t threshold, T scale, uint64_t key, uint64_t ctr0) {
  for (int64_t i = i0; i < i1; ++i) {
    const auto r = Philox::block(key, ctr0 + uint64_t(i) / 4);  // recomputed per element: this is the slow, obvious twin
    const bool keep = uint64_t(r[size_t(i % 4)]) >= threshold;
    out[i] = keep ? x[i] * scale : T(0);
  }
}

// Writes bits [e, e + nbits) of `mask` (nbits <= 32) from the low bits of `bits`, leaving the
// other bits of the bytes it touches as they were.
inline void dropout_put_bits(uint8_t* mask, int64_t e, uint64_t bits, int nbits) {
  const int sh = int(e % 8);
  const uint64_t sel = ((uint64_t(1) << nbits) - 1) << sh, val = (bits << sh) & sel;
  uint8_t* p = mask + e / 8;
  for (int k = 0; k * 8 < sh + nbits; ++k)
    p[k] = uint8_t((p[k] & ~uint8_t(sel >> (8 * k))) | uint8_t(val >> (8 * k)));
}

template <class T>
void dropout_forward(int64_t i0, int64_t i1, const T* x, T* out, uint8_t* mask, uint64_t threshold, T scale,
                     uint64_t key, uint64_t ctr0) {
  for (int64_t i = i0; i < i1; ++i) {
    const auto r = Philox::block(key, ctr0 + uint64_t(i) / 4);
    const bool keep = uint64_t(r[size_t(i % 4)]) >= threshold;
    out[i] = keep ? x[i] * scale : T(0);
    dropout_put_bits(mask, i, keep ? 1 : 0, 1);
  }
}

template <class T>
void dropout_backward(int64_t i0, int64_t i1, const T* dy, T* dx, const uint8_t* mask, T scale) {
  for (int64_t i = i0; i < i1; ++i) dx[i] = (mask[i / 8] >> (i % 8)) & 1 ? dy[i] * scale : T(0);
}
}  // namespace ref

namespace fast {
// Same contract as ref::dropout_apply, bit-identical output: Philox is evaluated for several
// blocks at once in SIMD lanes, and x * scale is the same correctly rounded product.
void dropout_apply(int64_t i0, int64_t i1, const float* x, float* out, uint64_t threshold, float scale, uint64_t key,
                   uint64_t ctr0);
void dropout_apply(int64_t i0, int64_t i1, const double* x, double* out, uint64_t threshold, double scale, uint64_t key,
                   uint64_t ctr0);
// Same contracts as ref::dropout_forward / ref::dropout_backward, bit-identical results. The
// backward is a streaming select (mask bits expanded to lane masks), so it runs at memory speed.
void dropout_forward(int64_t i0, int64_t i1, const float* x, float* out, uint8_t* mask, uint64_t threshold,
                     float scale, uint64_t key, uint64_t ctr0);
void dropout_forward(int64_t i0, int64_t i1, const double* x, double* out, uint8_t* mask, uint64_t threshold,
                     double scale, uint64_t key, uint64_t ctr0);
void dropout_backward(int64_t i0, int64_t i1, const float* dy, float* dx, const uint8_t* mask, float scale);
void dropout_backward(int64_t i0, int64_t i1, const double* dy, double* dx, const uint8_t* mask, double scale);
}  // namespace fast

}  // namespace attn::kernels
