// Softmax and log-softmax kernels along one dim of a contiguous tensor viewed as [outer, n, inner]:
// every one of the outer * inner lines (o, i) holds the n elements x[(o * n + k) * inner + i],
// k < n, and is normalised on its own. inner == 1 is the contiguous-last-dim case that attention
// hits; inner > 1 is a softmax over any other dim, computed in place with a strided (column) loop,
// never by transposing.
//
//   softmax:     y_k = exp(x_k - m) / sum_j exp(x_j - m),   m = max_j x_j   (subtracting m keeps
//                exp from overflowing; the result is the same in exact arithmetic)
//   log_softmax: y_k = x_k - m - log(sum_j exp(x_j - m))
//
// A line whose max is not finite (a NaN anywhere, a +inf, or every element -inf) is NaN everywhere,
// which is what PyTorch returns. attn's masked softmax (attention catalog) maps fully masked rows to
// zeros instead; that is a separate op, not this one.
//
// Backward, given y (the forward output) and dy:
//   softmax:     dx_k = y_k * (dy_k - sum_j dy_j y_j)
//   log_softmax: dx_k = dy_k - exp(y_k) * sum_j dy_j
//
// Backward kernels here WRITE dx (=) instead of accumulating into it: the op layer always hands
// them a freshly allocated buffer, and skipping the zero fill saves one full pass over memory on
// the attention hot path.
//
// ref:: accumulates the sum of exponentials in double (the obviously-correct version); fast:: is
// Highway SIMD with float lanes for float (hwy's Exp is within 1 ulp of std::exp) and agrees with
// ref:: to a few ulps. Both are parallel over lines (never over the sum), so results do not depend
// on the thread count.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/parallel.h"

namespace attn::kernels {

// Lines per parallel chunk: enough work (~16K elements) to amortise a thread hand-off.
inline int64_t softmax_grain(int64_t n) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1)); }

namespace ref {

// One line of softmax / log_softmax: n elements at stride s.
template <class T>
void softmax_line(const T* x, int64_t n, int64_t s, bool log, T* y) {
  if (n == 0) return;
  T m = -std::numeric_limits<T>::infinity();
  bool nan = false;
  for (int64_t k = 0; k < n; ++k) {
    const T v = x[k * s];
    nan |= v != v;
    m = v > m ? v : m;
  }
  if (nan || !std::isfinite(m)) {
    for (int64_t k = 0; k < n; ++k) y[k * s] = std::numeric_limits<T>::quiet_NaN();
    return;
  }
  double sum = 0;
  if (log) {
    for (int64_t k = 0; k < n; ++k) sum += double(std::exp(x[k * s] - m));
    const T shift = m + T(std::log(sum));
    for (int64_t k = 0; k < n; ++k) y[k * s] = x[k * s] - shift;
  } else {
    for (int64_t k = 0; k < n; ++k) {
      y[k * s] = std::exp(x[k * s] - m);
      sum += double(y[k * s]);
    }
    for (int64_t k = 0; k < n; ++k) y[k * s] = T(double(y[k * s]) / sum);
  }
}

template <class T>
void softmax_backward_line(const T* y, const T* dy, int64_t n, int64_t s, bool log, T* dx) {
  double acc = 0;
  if (log) {
    for (int64_t k = 0; k < n; ++k) acc += double(dy[k * s]);
    for (int64_t k = 0; k < n; ++k) dx[k * s] = dy[k * s] - std::exp(y[k * s]) * T(acc);
  } else {
    for (int64_t k = 0; k < n; ++k) acc += double(dy[k * s]) * double(y[k * s]);
    for (int64_t k = 0; k < n; ++k) dx[k * s] = y[k * s] * (dy[k * s] - T(acc));
  }
}

template <class T>
void softmax(const T* x, int64_t outer, int64_t n, int64_t inner, bool log, T* y) {
  parallel_for(0, outer * inner, softmax_grain(n), [&](int64_t l0, int64_t l1) {
    for (int64_t l = l0; l < l1; ++l) {
      const int64_t base = (l / inner) * n * inner + l % inner;
      softmax_line(x + base, n, inner, log, y + base);
    }
  });
}

template <class T>
void softmax_backward(const T* y, const T* dy, int64_t outer, int64_t n, int64_t inner, bool log, T* dx) {
  parallel_for(0, outer * inner, softmax_grain(n), [&](int64_t l0, int64_t l1) {
    for (int64_t l = l0; l < l1; ++l) {
      const int64_t base = (l / inner) * n * inner + l % inner;
      softmax_backward_line(y + base, dy + base, n, inner, log, dx + base);
    }
  });
}

}  // namespace ref

namespace fast {
// Same contract as ref::; SIMD along the line when inner == 1, across columns when inner > 1.
void softmax(const float* x, int64_t outer, int64_t n, int64_t inner, bool log, float* y);
void softmax(const double* x, int64_t outer, int64_t n, int64_t inner, bool log, double* y);
void softmax_backward(const float* y, const float* dy, int64_t outer, int64_t n, int64_t inner, bool log, float* dx);
void softmax_backward(const double* y, const double* dy, int64_t outer, int64_t n, int64_t inner, bool log,
                      double* dx);
}  // namespace fast

}  // namespace attn::kernels
