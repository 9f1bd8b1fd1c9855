// Dropout kernels: out[i] = keep(i) ? x[i] * scale : 0, where keep(i) is decided by Philox
// (kernels/philox.h) from (key, counter) alone. Element i uses 32-bit word i % 4 of block
// ctr0 + i / 4 (the same layout as attn::rand), and is dropped when that word is below
// `threshold` = round(p * 2^32), so P(drop) = threshold / 2^32 = p to within 2^-33. Because the
// mask is a pure function of (key, ctr0, i), backward regenerates it instead of storing it, and any
// thread can produce any element: the result does not depend on the thread count.
//
// Dropout is linear in x, so the same kernel is its own backward: dx = dropout_apply(dy) with the
// same (key, ctr0, threshold, scale). These kernels write (=), they do not accumulate.
//
// The kernels process the element range [i0, i1) of contiguous arrays x and out (pointers to
// element 0), so callers split the range over threads without changing any element's counter.
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
}  // namespace ref

namespace fast {
// Same contract as ref::dropout_apply, bit-identical output: Philox is evaluated for several
// blocks at once in SIMD lanes, and x * scale is the same correctly rounded product.
void dropout_apply(int64_t i0, int64_t i1, const float* x, float* out, uint64_t threshold, float scale, uint64_t key,
                   uint64_t ctr0);
void dropout_apply(int64_t i0, int64_t i1, const double* x, double* out, uint64_t threshold, double scale, uint64_t key,
                   uint64_t ctr0);
}  // namespace fast

}  // namespace attn::kernels
