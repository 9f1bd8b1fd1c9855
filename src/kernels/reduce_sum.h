// Generic strided sum over a set of dims: out[o] = sum_r in[o, r], where o ranges over the kept
// dims (out is contiguous over them) and r over the reduced dims. Parallel over output chunks;
// each output is summed in a fixed order (r in row-major order), so the result does not depend on
// the thread count. Used for broadcasting's backward and as the reference for sum().
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/parallel.h"

namespace attn::kernels {

namespace detail {
// Element offsets of every index in a row-major walk over `shape` with `strides`.
inline std::vector<int64_t> all_offsets(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  std::vector<int64_t> offs(size_t(n > 0 ? n : 0));
  if (n == 0) return offs;
  std::vector<int64_t> idx(shape.size(), 0);
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    offs[size_t(i)] = off;
    for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
      ++idx[d];
      off += strides[d];
      if (idx[d] < shape[d]) break;
      off -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
  return offs;
}
}  // namespace detail

template <class T, class Acc = T>
void sum_reduce(const T* in, const std::vector<int64_t>& kept_shape, const std::vector<int64_t>& kept_strides,
                const std::vector<int64_t>& red_shape, const std::vector<int64_t>& red_strides, T* out) {
  const std::vector<int64_t> o_off = detail::all_offsets(kept_shape, kept_strides);
  const std::vector<int64_t> r_off = detail::all_offsets(red_shape, red_strides);
  const int64_t n_out = int64_t(o_off.size()), n_red = int64_t(r_off.size());
  const int64_t grain = std::max<int64_t>(16, 32768 / std::max<int64_t>(n_red, 1));
  parallel_for(0, n_out, grain, [&](int64_t o0, int64_t o1) {
    std::vector<Acc> acc(size_t(o1 - o0), Acc(0));
    for (int64_t r = 0; r < n_red; ++r) {
      const T* base = in + r_off[size_t(r)];
      for (int64_t o = o0; o < o1; ++o) acc[size_t(o - o0)] += Acc(base[o_off[size_t(o)]]);
    }
    for (int64_t o = o0; o < o1; ++o) out[o] = T(acc[size_t(o - o0)]);
  });
}

}  // namespace attn::kernels
