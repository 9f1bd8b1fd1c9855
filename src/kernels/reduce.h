// Reduction kernels on a contiguous tensor viewed as [outer, n, inner]: each output (o, i) reduces
// the n elements x[(o * n + k) * inner + i], k < n, and outputs are laid out [outer, inner]. The op
// layer brings any set of reduced dims to this form (see src/ops/reduce.cc). inner == 1 is the row
// case (reduced dims innermost); inner > 1 the column case.
//
// Numerics: floating-point sums (sum, mean, var, logsumexp's sum of exponentials, cumsum)
// accumulate in double, also for float32 inputs, so a float32 sum is the correctly rounded value of
// a double sum: no pairwise scheme is needed for accuracy, and fixtures compare at float32
// rounding. Integer sums accumulate in int64. var is two-pass (mean first, then squared
// deviations), never sum-of-squares. max / min propagate NaN (the first NaN wins, as in PyTorch)
// and return the first index on ties.
//
// Threads: every kernel is parallel over outputs (or, for cumsum, over independent lines), never
// over the reduction, and each output is reduced in a fixed order, so 1 and N threads give the
// same bits.
//
// Backward helpers WRITE (=) dx rather than accumulate: the op layer always passes fresh buffers.
//
// ref:: is the plain per-line loop. fast:: (Highway, float and double) vectorises the row case of
// sum / mean, max / min, logsumexp and var, and the column case of sum / mean (bit-identical to
// ref::, same order) and max / min (cache-friendly scalar, identical to ref::); other column cases
// forward to ref::.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels/parallel.h"

namespace attn::kernels {

// Accumulator of sums: double for float and double, int64 for integers.
template <class T>
using reduce_acc_t = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

// Lines per parallel chunk: about 32K elements of work.
inline int64_t reduce_grain(int64_t n) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(n, 1)); }

namespace ref {

// Runs fn(base) for every line, base = element offset of the line's first element.
template <class F>
void for_each_line(int64_t outer, int64_t n, int64_t inner, const F& fn) {
  parallel_for(0, outer * inner, reduce_grain(n), [&](int64_t l0, int64_t l1) {
    for (int64_t l = l0; l < l1; ++l) fn(l, (l / inner) * n * inner + l % inner);
  });
}

// out[o, i] = sum_k x[o, k, i], divided by n when `mean` (floating T only).
template <class T>
void sum(const T* x, int64_t outer, int64_t n, int64_t inner, bool mean, T* out) {
  for_each_line(outer, n, inner, [&](int64_t l, int64_t base) {
    reduce_acc_t<T> acc = 0;
    for (int64_t k = 0; k < n; ++k) acc += reduce_acc_t<T>(x[base + k * inner]);
    if constexpr (std::is_floating_point_v<T>) out[l] = T(mean ? acc / double(n) : acc);
    else out[l] = T(acc);
  });
}

// One line of max / min: (value, index of its first occurrence); a NaN beats everything.
template <class T>
inline void max_min_line(const T* x, int64_t n, int64_t s, bool is_max, T* value, int64_t* index) {
  T best = x[0];
  int64_t bi = 0;
  for (int64_t k = 1; k < n; ++k) {
    const T v = x[k * s];
    if ((is_max ? v > best : v < best) || (v != v && best == best)) {
      best = v;
      bi = k;
    }
  }
  if (value) *value = best;
  if (index) *index = bi;
}

// values[o, i] / indices[o, i]: max (or min) over k and its first index. n >= 1. Either output
// may be null.
template <class T>
void max_min(const T* x, int64_t outer, int64_t n, int64_t inner, bool is_max, T* values, int64_t* indices) {
  for_each_line(outer, n, inner, [&](int64_t l, int64_t base) {
    max_min_line(x + base, n, inner, is_max, values ? values + l : nullptr, indices ? indices + l : nullptr);
  });
}

// log(sum_k exp(x_k)) computed as m + log(sum_k exp(x_k - m)), m = max_k x_k; an infinite m is
// replaced by 0 so that all -inf gives -inf and a +inf gives +inf (never NaN), as PyTorch.
template <class T>
inline T logsumexp_line(const T* x, int64_t n, int64_t s) {
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t k = 0; k < n; ++k) {
    const T v = x[k * s];
    if (v > m || v != v) m = v;
    if (v != v) break;
  }
  if (std::isinf(m)) m = 0;
  double acc = 0;
  for (int64_t k = 0; k < n; ++k) acc += double(std::exp(x[k * s] - m));
  return T(std::log(acc)) + m;
}

template <class T>
void logsumexp(const T* x, int64_t outer, int64_t n, int64_t inner, T* out) {
  for_each_line(outer, n, inner, [&](int64_t l, int64_t base) { out[l] = logsumexp_line(x + base, n, inner); });
}

// var = sum_k (x_k - mean)^2 / max(0, n - correction); std = sqrt(var). mean_out (may be null)
// receives the mean, which the backward needs.
template <class T>
inline void var_line(const T* x, int64_t n, int64_t s, int64_t correction, bool take_sqrt, T* out, T* mean_out) {
  double acc = 0;
  for (int64_t k = 0; k < n; ++k) acc += double(x[k * s]);
  const double mu = acc / double(n);
  double ss = 0;
  for (int64_t k = 0; k < n; ++k) ss += (double(x[k * s]) - mu) * (double(x[k * s]) - mu);
  const double v = ss / double(std::max<int64_t>(0, n - correction));
  *out = T(take_sqrt ? std::sqrt(v) : v);
  if (mean_out) *mean_out = T(mu);
}

template <class T>
void var(const T* x, int64_t outer, int64_t n, int64_t inner, int64_t correction, bool take_sqrt, T* out,
         T* mean_out) {
  for_each_line(outer, n, inner, [&](int64_t l, int64_t base) {
    var_line(x + base, n, inner, correction, take_sqrt, out + l, mean_out ? mean_out + l : nullptr);
  });
}

// out[o, k, i] = sum_{k' <= k} x[o, k', i] (or sum_{k' >= k} when `reverse`, the backward of cumsum).
template <class T>
void cumsum(const T* x, int64_t outer, int64_t n, int64_t inner, bool reverse, T* out) {
  for_each_line(outer, n, inner, [&](int64_t, int64_t base) {
    reduce_acc_t<T> acc = 0;
    for (int64_t j = 0; j < n; ++j) {
      const int64_t k = reverse ? n - 1 - j : j;
      acc += reduce_acc_t<T>(x[base + k * inner]);
      out[base + k * inner] = T(acc);
    }
  });
}

// --- backward helpers ----------------------------------------------------------------------------

// Backward of max / min along a dim: dx[o, k, i] = g[o, i] where k == index[o, i], else 0.
template <class T>
void index_backward(const T* g, const int64_t* index, int64_t outer, int64_t n, int64_t inner, T* dx) {
  for_each_line(outer, n, inner, [&](int64_t l, int64_t base) {
    for (int64_t k = 0; k < n; ++k) dx[base + k * inner] = k == index[l] ? g[l] : T(0);
  });
}

// Backward of the full max / min (PyTorch's evenly_distribute_backward): g is shared evenly by
// every element equal to `value` (every NaN when value is NaN).
template <class T>
void ties_backward(const T* x, int64_t n, T value, T g, T* dx) {
  const bool nan = value != value;
  int64_t count = 0;
  for (int64_t k = 0; k < n; ++k) count += nan ? x[k] != x[k] : x[k] == value;
  const T share = g / T(count);
  for (int64_t k = 0; k < n; ++k) dx[k] = (nan ? x[k] != x[k] : x[k] == value) ? share : T(0);
}

// Backward of logsumexp: dx[o, k, i] = g[o, i] * exp(x[o, k, i] - out[o, i]).
template <class T>
void logsumexp_backward(const T* x, const T* out, const T* g, int64_t outer, int64_t n, int64_t inner, T* dx) {
  for_each_line(outer, n, inner, [&](int64_t l, int64_t base) {
    for (int64_t k = 0; k < n; ++k) dx[base + k * inner] = g[l] * std::exp(x[base + k * inner] - out[l]);
  });
}

// Backward of var (std == nullptr): dx = g * 2 (x - mean) / (n - correction). Backward of std
// (std = the forward output): the same with g replaced by g / (2 std), taken as 0 where std == 0
// (PyTorch's convention, so a constant input gets a zero gradient rather than NaN).
template <class T>
void var_backward(const T* x, const T* mean, const T* g, const T* std, int64_t correction, int64_t outer, int64_t n,
                  int64_t inner, T* dx) {
  for_each_line(outer, n, inner, [&](int64_t l, int64_t base) {
    T gv = g[l];
    if (std) gv = std[l] == T(0) ? T(0) : gv / (T(2) * std[l]);
    const T coef = T(2) * gv / T(n - correction);
    for (int64_t k = 0; k < n; ++k) dx[base + k * inner] = coef * (x[base + k * inner] - mean[l]);
  });
}

}  // namespace ref

namespace fast {
void sum(const float* x, int64_t outer, int64_t n, int64_t inner, bool mean, float* out);
void sum(const double* x, int64_t outer, int64_t n, int64_t inner, bool mean, double* out);
void max_min(const float* x, int64_t outer, int64_t n, int64_t inner, bool is_max, float* values, int64_t* indices);
void max_min(const double* x, int64_t outer, int64_t n, int64_t inner, bool is_max, double* values, int64_t* indices);
void logsumexp(const float* x, int64_t outer, int64_t n, int64_t inner, float* out);
void logsumexp(const double* x, int64_t outer, int64_t n, int64_t inner, double* out);
void var(const float* x, int64_t outer, int64_t n, int64_t inner, int64_t correction, bool take_sqrt, float* out,
         float* mean_out);
void var(const double* x, int64_t outer, int64_t n, int64_t inner, int64_t correction, bool take_sqrt, double* out,
         double* mean_out);
}  // namespace fast

}  // namespace attn::kernels
