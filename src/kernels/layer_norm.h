// Layer normalisation kernels (Ba, Kiros & Hinton 2016) on a contiguous [rows, n] matrix: each row
// is normalised over its n elements, then scaled and shifted per column.
//
//   mean = sum_j x_j / n,   var = sum_j (x_j - mean)^2 / n   (biased, two passes: no cancellation)
//   rstd = 1 / sqrt(var + eps),   xhat_j = (x_j - mean) * rstd,   y_j = xhat_j * w_j + b_j
//
// The forward saves mean and rstd per row ([rows]) for the backward:
//   gw_j = dy_j * w_j
//   dx_j = rstd * (gw_j - mean_k(gw_k) - xhat_j * mean_k(gw_k * xhat_k))
//   dw_j = sum_rows dy_j * xhat_j,   db_j = sum_rows dy_j
// w and b may be null (no affine transform: w = 1, b = 0); dx, dw, db may be null when not needed.
//
// Backward kernels WRITE (=) dx, dw and db rather than accumulate: the op layer always passes fresh
// buffers, and the hot path saves a zero fill.
//
// ref:: accumulates every sum in double. fast:: (Highway) accumulates row sums in float lanes and
// computes dw / db from fixed blocks of rows whose partial sums are added in block order, in
// double; the block size depends only on the shape, so results never depend on the thread count.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/parallel.h"

namespace attn::kernels {

namespace ref {

template <class T>
void layer_norm_forward(const T* x, const T* w, const T* b, int64_t rows, int64_t n, double eps, T* y, T* mean,
                        T* rstd) {
  parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * n;
      T* yr = y + r * n;
      double s = 0;
      for (int64_t j = 0; j < n; ++j) s += double(xr[j]);
      const double mu = s / double(n);
      double v = 0;
      for (int64_t j = 0; j < n; ++j) v += (double(xr[j]) - mu) * (double(xr[j]) - mu);
      const double rs = 1.0 / std::sqrt(v / double(n) + eps);
      for (int64_t j = 0; j < n; ++j) {
        const double xh = (double(xr[j]) - mu) * rs;
        yr[j] = T(xh * (w ? double(w[j]) : 1.0) + (b ? double(b[j]) : 0.0));
      }
      mean[r] = T(mu);
      rstd[r] = T(rs);
    }
  });
}

template <class T>
void layer_norm_backward(const T* dy, const T* x, const T* mean, const T* rstd, const T* w, int64_t rows, int64_t n,
                         T* dx, T* dw, T* db) {
  if (dx)
    parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* gr = dy + r * n;
        const T* xr = x + r * n;
        const double mu = mean[r], rs = rstd[r];
        double sg = 0, sgx = 0;
        for (int64_t j = 0; j < n; ++j) {
          const double gw = double(gr[j]) * (w ? double(w[j]) : 1.0);
          sg += gw;
          sgx += gw * (double(xr[j]) - mu) * rs;
        }
        sg /= double(n);
        sgx /= double(n);
        for (int64_t j = 0; j < n; ++j) {
          const double gw = double(gr[j]) * (w ? double(w[j]) : 1.0);
          dx[r * n + j] = T(rs * (gw - sg - (double(xr[j]) - mu) * rs * sgx));
        }
      }
    });
  if (dw || db)  // column sums over rows, parallel over columns
    parallel_for(0, n, std::max<int64_t>(1, 16384 / std::max<int64_t>(rows, 1)), [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        double sw = 0, sb = 0;
        for (int64_t r = 0; r < rows; ++r) {
          const double g = dy[r * n + j];
          sw += g * (double(x[r * n + j]) - double(mean[r])) * double(rstd[r]);
          sb += g;
        }
        if (dw) dw[j] = T(sw);
        if (db) db[j] = T(sb);
      }
    });
}

}  // namespace ref

namespace fast {
void layer_norm_forward(const float* x, const float* w, const float* b, int64_t rows, int64_t n, double eps, float* y,
                        float* mean, float* rstd);
void layer_norm_forward(const double* x, const double* w, const double* b, int64_t rows, int64_t n, double eps,
                        double* y, double* mean, double* rstd);
void layer_norm_backward(const float* dy, const float* x, const float* mean, const float* rstd, const float* w,
                         int64_t rows, int64_t n, float* dx, float* dw, float* db);
void layer_norm_backward(const double* dy, const double* x, const double* mean, const double* rstd, const double* w,
                         int64_t rows, int64_t n, double* dx, double* dw, double* db);
}  // namespace fast

}  // namespace attn::kernels
