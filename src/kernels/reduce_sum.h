// Generic strided sum over a set of dims: out[o] = sum_r in[o, r], where o ranges over the kept
// dims (out is contiguous over them) and r over the reduced dims. Parallel over output chunks;
// each output is summed in a fixed order (r in row-major order), so the result does not depend on
// the thread count. Used for broadcasting's backward and as the reference for sum().
//
// Fast path: when the kept dims are contiguous (unit stride innermost, as in a bias gradient: a
// contiguous [M, N] gradient summed over its rows to [N]), out[o] = sum_r in[r_off[r] + o], so
// whole row segments are added with contiguous loops the compiler vectorises instead of an
// indirect gather. Each output still accumulates in Acc from 0 with r in row-major order, so the
// bits equal the generic path's.
#pragma once
#include <algorithm>
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

// True when a row-major walk over `shape` with `strides` visits offsets 0, 1, 2, ... (size-1 dims
// may have any stride).
inline bool is_unit_stride(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
  int64_t expected = 1;
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    if (shape[size_t(d)] == 1) continue;
    if (strides[size_t(d)] != expected) return false;
    expected *= shape[size_t(d)];
  }
  return true;
}

// The generic path: out[o] = sum_r in[o_off[o] + r_off[r]], gathering through the offset tables.
template <class T, class Acc = T>
void sum_reduce_gather(const T* in, const std::vector<int64_t>& o_off, const std::vector<int64_t>& r_off, T* out) {
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

// The fast path, for kept offsets 0 .. n_out - 1: out[o] = sum_r in[r_off[r] + o]. Threads own
// column ranges of at least kMinCols outputs; within one, columns go in tiles of kTile whose
// accumulators stay in L1 while every row's segment of the tile streams through.
template <class T, class Acc = T>
void sum_reduce_rows(const T* in, int64_t n_out, const std::vector<int64_t>& r_off, T* out) {
  constexpr int64_t kTile = 512, kMinCols = 256;
  const int64_t n_red = int64_t(r_off.size());
  const int64_t grain = std::max<int64_t>(kMinCols, 32768 / std::max<int64_t>(n_red, 1));
  parallel_for(0, n_out, grain, [&](int64_t o0, int64_t o1) {
    Acc acc[kTile];
    for (int64_t t0 = o0; t0 < o1; t0 += kTile) {
      const int64_t w = std::min(kTile, o1 - t0);
      for (int64_t j = 0; j < w; ++j) acc[j] = Acc(0);
      for (int64_t r = 0; r < n_red; ++r) {
        const T* __restrict row = in + r_off[size_t(r)] + t0;
#pragma omp simd
        for (int64_t j = 0; j < w; ++j) acc[j] += Acc(row[j]);
      }
      for (int64_t j = 0; j < w; ++j) out[t0 + j] = T(acc[j]);
    }
  });
}
}  // namespace detail

template <class T, class Acc = T>
void sum_reduce(const T* in, const std::vector<int64_t>& kept_shape, const std::vector<int64_t>& kept_strides,
                const std::vector<int64_t>& red_shape, const std::vector<int64_t>& red_strides, T* out) {
  const std::vector<int64_t> r_off = detail::all_offsets(red_shape, red_strides);
  if (detail::is_unit_stride(kept_shape, kept_strides)) {
    int64_t n_out = 1;
    for (int64_t s : kept_shape) n_out *= s;
    return detail::sum_reduce_rows<T, Acc>(in, n_out, r_off, out);
  }
  detail::sum_reduce_gather<T, Acc>(in, detail::all_offsets(kept_shape, kept_strides), r_off, out);
}

}  // namespace attn::kernels
