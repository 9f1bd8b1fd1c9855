// Loss kernels: fused cross entropy (log_softmax + negative log likelihood + label smoothing in
// one pass per row) and the plain negative log likelihood gather.
//
// Layout: the input is contiguous [N, C, K] (K = product of the dims after the class dim, 1 for
// [N, C]); "row" r = n * K + k holds the C logits x[n*C*K + c*K + k], class stride K. Targets,
// per-row losses and per-row gradient scales are indexed by r. Rows are independent, so callers
// split [r0, r1) over threads; every value is computed by one thread in a fixed order.
//
// Cross entropy with class-index targets t_r, class weights w (1 when absent), smoothing eps:
//   lse_r  = log sum_c exp(x_rc)                      (max-subtracted)
//   loss_r = (1 - eps) w_t (lse_r - x_rt) + (eps / C) sum_c w_c (lse_r - x_rc)   (0 if t_r is ignored)
//   dx_rc  = s_r [ softmax_rc ((1 - eps) w_t + (eps / C) sum_c w_c) - (1 - eps) w_t [c == t] - (eps / C) w_c ]
// which without weights is s_r (softmax - smoothed one-hot). With class-probability targets p_rc:
//   q_rc = (1 - eps) p_rc + eps / C,   loss_r = sum_c w_c q_rc (lse_r - x_rc)
//   dx_rc = s_r [ softmax_rc sum_c' w_c' q_rc' - w_c q_rc ],   dp_rc = s_r (1 - eps) w_c (lse_r - x_rc)
// s_r is the upstream gradient of row r times the reduction's factor (1 for sum and none, 1 / W for
// mean). Backward kernels write (=) whole rows, they do not accumulate.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace attn::kernels {

template <class T>
struct CrossEntropyArgs {
  const T* x = nullptr;            // [N, C, K] logits
  int64_t C = 0, K = 1;
  const int64_t* target = nullptr;  // [N * K] class indices, or
  const T* probs = nullptr;         // [N, C, K] class probabilities (exactly one of the two is set)
  const T* weight = nullptr;        // [C] or nullptr
  T weight_sum = 0;                 // sum_c w_c (C without weights)
  int64_t ignore_index = -100;
  T smoothing = 0;
};

namespace ref {

// loss[r] and lse[r] for rows [r0, r1). Ignored rows get loss 0 (their lse is not used).
template <class T>
void cross_entropy_forward(const CrossEntropyArgs<T>& a, int64_t r0, int64_t r1, T* loss, T* lse) {
  const int64_t C = a.C, K = a.K;
  const T eps = a.smoothing;
  for (int64_t r = r0; r < r1; ++r) {
    const T* x = a.x + (r / K) * C * K + r % K;
    const int64_t t = a.target ? a.target[r] : 0;
    if (a.target && t == a.ignore_index) {
      loss[r] = T(0);
      lse[r] = T(0);
      continue;
    }
    T m = x[0];
    for (int64_t c = 1; c < C; ++c) m = std::max(m, x[c * K]);
    T s = 0;
    for (int64_t c = 0; c < C; ++c) s += std::exp(x[c * K] - m);
    const T l = m + std::log(s);
    lse[r] = l;
    auto w = [&](int64_t c) { return a.weight ? a.weight[c] : T(1); };
    if (a.target) {
      T smooth = 0;
      if (eps != T(0))
        for (int64_t c = 0; c < C; ++c) smooth += w(c) * (l - x[c * K]);
      loss[r] = (T(1) - eps) * w(t) * (l - x[t * K]) + eps / T(C) * smooth;
    } else {
      const T* p = a.probs + (r / K) * C * K + r % K;
      T acc = 0;
      for (int64_t c = 0; c < C; ++c) acc += w(c) * ((T(1) - eps) * p[c * K] + eps / T(C)) * (l - x[c * K]);
      loss[r] = acc;
    }
  }
}

// dx (and dprobs when non-null, probability targets only) for rows [r0, r1); the row scale is
// s_r = g[r * g_stride] * g_mult (g_stride 0 for a reduced loss).
template <class T>
void cross_entropy_backward(const CrossEntropyArgs<T>& a, const T* lse, const T* g, int64_t g_stride, T g_mult,
                            int64_t r0, int64_t r1, T* dx, T* dprobs) {
  const int64_t C = a.C, K = a.K;
  const T eps = a.smoothing;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t base = (r / K) * C * K + r % K;
    const T* x = a.x + base;
    T* d = dx + base;
    auto w = [&](int64_t c) { return a.weight ? a.weight[c] : T(1); };
    const T s = g[r * g_stride] * g_mult;
    if (a.target) {
      const int64_t t = a.target[r];
      if (t == a.ignore_index) {
        for (int64_t c = 0; c < C; ++c) d[c * K] = T(0);
        continue;
      }
      const T wt = (T(1) - eps) * w(t);
      const T total = wt + eps / T(C) * a.weight_sum;  // sum over c of the smoothed, weighted target
      for (int64_t c = 0; c < C; ++c)
        d[c * K] = s * (std::exp(x[c * K] - lse[r]) * total - eps / T(C) * w(c) - (c == t ? wt : T(0)));
    } else {
      const T* p = a.probs + base;
      T total = 0;
      for (int64_t c = 0; c < C; ++c) total += w(c) * ((T(1) - eps) * p[c * K] + eps / T(C));
      for (int64_t c = 0; c < C; ++c)
        d[c * K] = s * (std::exp(x[c * K] - lse[r]) * total - w(c) * ((T(1) - eps) * p[c * K] + eps / T(C)));
      if (dprobs)
        for (int64_t c = 0; c < C; ++c) dprobs[base + c * K] = s * (T(1) - eps) * w(c) * (lse[r] - x[c * K]);
    }
  }
}

// Negative log likelihood of log-probabilities lp ([N, C, K] as above): loss[r] = -w_t lp[r, t_r],
// 0 for ignored rows.
template <class T>
void nll_forward(const T* lp, int64_t C, int64_t K, const int64_t* target, const T* weight, int64_t ignore_index,
                 int64_t r0, int64_t r1, T* loss) {
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t t = target[r];
    loss[r] = t == ignore_index ? T(0) : -(weight ? weight[t] : T(1)) * lp[(r / K) * C * K + t * K + r % K];
  }
}

// d lp for rows [r0, r1): -w_t s_r at the target class, 0 elsewhere (dlp must be zero-filled).
template <class T>
void nll_backward(int64_t C, int64_t K, const int64_t* target, const T* weight, int64_t ignore_index, const T* g,
                  int64_t g_stride, T g_mult, int64_t r0, int64_t r1, T* dlp) {
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t t = target[r];
    if (t != ignore_index) dlp[(r / K) * C * K + t * K + r % K] = -(weight ? weight[t] : T(1)) * g[r * g_stride] * g_mult;
  }
}

}  // namespace ref

namespace fast {
// Same contracts as ref::cross_entropy_forward / _backward. Rows with K == 1 (contiguous classes)
// run in SIMD with Highway's Exp (within a few ulp of std::exp) and lane-parallel sums, so results
// agree with ref to rounding, not bit for bit; other layouts use ref.
void cross_entropy_forward(const CrossEntropyArgs<float>& a, int64_t r0, int64_t r1, float* loss, float* lse);
void cross_entropy_forward(const CrossEntropyArgs<double>& a, int64_t r0, int64_t r1, double* loss, double* lse);
void cross_entropy_backward(const CrossEntropyArgs<float>& a, const float* lse, const float* g, int64_t g_stride,
                            float g_mult, int64_t r0, int64_t r1, float* dx, float* dprobs);
void cross_entropy_backward(const CrossEntropyArgs<double>& a, const double* lse, const double* g, int64_t g_stride,
                            double g_mult, int64_t r0, int64_t r1, double* dx, double* dprobs);
}  // namespace fast

}  // namespace attn::kernels
