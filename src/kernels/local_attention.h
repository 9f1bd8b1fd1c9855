// Banded (sliding-window) attention kernels: softmax attention where query row i of a [T, S] score
// matrix only sees the keys of its band
//
//   lo_i = max(0, i + off - wl),  hi_i = min(S - 1, i + off + wr, key_len - 1)     (wl/wr = -1: no limit)
//   s_ij = scale * q_i . k_j,  p_ij = exp(s_ij - lse_i),  lse_i = log sum_{j in band, kept} exp(s_ij)
//   out_i = sum_j p_ij * m_ij * v_j,   m_ij = dropout multiplier (0 or 1 / (1 - p)), 1 without dropout
//
// off = 0 (top-left) or S - T (bottom-right alignment). Work and memory are O(T * W * E) with W the
// band width, never O(T * S): the [T, S] matrix is not formed (only written when the caller asks
// for dense weights). A row with no visible key has zero output and lse = -inf, which backward
// reads as "no gradient".
//
// Backward, with D_i = dout_i . out_i (= sum_j p_ij m_ij dout_i . v_j, so dropout needs no extra
// state):  dP_ij = m_ij (dout_i . v_j),  dS_ij = p_ij (dP_ij - D_i),
//          dq_i = scale sum_j dS_ij k_j,   dk_j = scale sum_i dS_ij q_i,   dv_j = sum_i p_ij m_ij dout_i.
// p_ij is recomputed from the saved lse. dq is computed row by row; dk and dv key by key (the
// transposed band i in [j - off - wr, j - off + wl]), so every output element is written by one
// thread and no reduction is split: results do not depend on the thread count. These kernels WRITE
// (=) their outputs, they do not accumulate; the op layer passes fresh buffers.
//
// Layout (all contiguous): q [BH, T, E], k [BHk, S, E], v [BHk, S, Ev], out [BH, T, Ev], lse [BH, T],
// with BH = BHk * group: query block bh reads key/value block bh / group (grouped-query attention;
// group = 1 for ordinary attention). Key masks are per batch b = bh / heads_per_batch.
//
// Dropout follows attn's dropout() on a contiguous [BH, T, S] weights tensor exactly: element
// e = (bh * T + i) * S + j is dropped when word e % 4 of Philox block (ctr0 + e / 4) is below the
// threshold. So a seed gives the same mask as scaled_dot_product_attention's dropout on the dense
// weights, and backward regenerates it instead of storing it.
//
// ref:: is the plain loop version (double accumulation), fast:: is Highway SIMD over E / Ev and the
// band; they agree to rounding. NaN inputs propagate as in ordinary arithmetic; no special casing.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/parallel.h"
#include "kernels/philox.h"

namespace attn::kernels {

struct LocalAttentionDims {
  int64_t BH = 0;               // query blocks (batch * heads)
  int64_t group = 1;            // query heads per key/value head
  int64_t heads_per_batch = 1;  // query blocks per batch entry (for the key masks)
  int64_t T = 0, S = 0, E = 0, Ev = 0;
  int64_t offset = 0;                           // 0 top-left, S - T bottom-right
  int64_t window_left = -1, window_right = -1;  // -1 = unbounded on that side
  const int64_t* key_len = nullptr;             // [B]: keys j >= key_len[b] are masked; null = none
  const uint8_t* key_keep = nullptr;            // [B, S]: 0 = key masked; null = none
  // Dropout on the weights: threshold 0 = none, >= 2^32 = every weight dropped.
  uint64_t drop_threshold = 0, drop_key = 0, drop_ctr0 = 0;
  double drop_scale = 1.0;

  // The band [lo, hi] of query row i of block bh (empty when lo > hi), key lengths included.
  void band(int64_t bh, int64_t i, int64_t& lo, int64_t& hi) const {
    const int64_t c = i + offset;
    lo = window_left < 0 ? 0 : std::max<int64_t>(0, c - window_left);
    hi = window_right < 0 ? S - 1 : std::min<int64_t>(S - 1, c + window_right);
    if (key_len) hi = std::min<int64_t>(hi, key_len[bh / heads_per_batch] - 1);
  }
  // The query rows [lo, hi] whose window contains key j (the transposed band, key lengths excluded).
  void rows_of_key(int64_t j, int64_t& lo, int64_t& hi) const {
    lo = window_right < 0 ? 0 : std::max<int64_t>(0, j - offset - window_right);
    hi = window_left < 0 ? T - 1 : std::min<int64_t>(T - 1, j - offset + window_left);
  }
  bool key_kept(int64_t bh, int64_t j) const {
    const int64_t b = bh / heads_per_batch;
    if (key_len && j >= key_len[b]) return false;
    return !key_keep || key_keep[b * S + j] != 0;
  }
  bool has_dropout() const { return drop_threshold != 0; }
  // The dropout multiplier of weight (bh, i, j): 0 or drop_scale. Evaluates one Philox block; the
  // fast kernels cache it across the four elements that share a block.
  double drop_mult(int64_t bh, int64_t i, int64_t j) const {
    if (drop_threshold == 0) return 1.0;
    if (drop_threshold >= (uint64_t(1) << 32)) return 0.0;
    const uint64_t e = (uint64_t(bh) * uint64_t(T) + uint64_t(i)) * uint64_t(S) + uint64_t(j);
    const auto r = Philox::block(drop_key, drop_ctr0 + e / 4);
    return uint64_t(r[size_t(e % 4)]) >= drop_threshold ? drop_scale : 0.0;
  }
};

// Query rows per parallel chunk: enough work (~32K multiply-adds) to amortise a thread hand-off.
inline int64_t local_attention_grain(const LocalAttentionDims& p) {
  const int64_t w = (p.window_left < 0 || p.window_right < 0) ? p.S : std::min(p.S, p.window_left + p.window_right + 1);
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, w * (p.E + p.Ev)));
}

namespace ref {

// Forward: out [BH, T, Ev], lse [BH, T]; weights (nullable) dense [BH, T, S], pre-zeroed, receives
// p_ij * m_ij inside the band.
template <class T>
void local_attention_forward(const LocalAttentionDims& p, const T* q, const T* k, const T* v, double scale, T* out,
                             T* lse, T* weights) {
  parallel_for(0, p.BH * p.T, local_attention_grain(p), [&](int64_t r0, int64_t r1) {
    std::vector<double> s(size_t(std::max<int64_t>(p.S, 1)));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t bh = r / p.T, i = r % p.T;
      const T* qi = q + r * p.E;
      const T* kb = k + (bh / p.group) * p.S * p.E;
      const T* vb = v + (bh / p.group) * p.S * p.Ev;
      T* oi = out + r * p.Ev;
      int64_t lo, hi;
      p.band(bh, i, lo, hi);
      double m = -std::numeric_limits<double>::infinity();
      for (int64_t j = lo; j <= hi; ++j) {
        if (!p.key_kept(bh, j)) {
          s[size_t(j)] = -std::numeric_limits<double>::infinity();
          continue;
        }
        double acc = 0;
        for (int64_t e = 0; e < p.E; ++e) acc += double(qi[e]) * double(kb[j * p.E + e]);
        s[size_t(j)] = scale * acc;
        m = std::max(m, s[size_t(j)]);
      }
      for (int64_t e = 0; e < p.Ev; ++e) oi[e] = T(0);
      if (m == -std::numeric_limits<double>::infinity()) {  // nothing visible: zero output
        lse[r] = -std::numeric_limits<T>::infinity();
        continue;
      }
      double sum = 0;
      for (int64_t j = lo; j <= hi; ++j) sum += std::exp(s[size_t(j)] - m);
      const double l = m + std::log(sum);
      lse[r] = T(l);
      std::vector<double> acc(size_t(p.Ev), 0.0);
      for (int64_t j = lo; j <= hi; ++j) {
        const double w = std::exp(s[size_t(j)] - l) * p.drop_mult(bh, i, j);
        if (weights) weights[r * p.S + j] = T(w);
        for (int64_t e = 0; e < p.Ev; ++e) acc[size_t(e)] += w * double(vb[j * p.Ev + e]);
      }
      for (int64_t e = 0; e < p.Ev; ++e) oi[e] = T(acc[size_t(e)]);
    }
  });
}

// p_ij * m_ij and dS_ij for one pair, given the row's lse, D_i and the two dot products.
inline void local_pair_grads(double s, double lse, double dov, double D, double m, double& pm, double& ds) {
  const double pij = std::exp(s - lse);
  pm = pij * m;
  ds = pij * (m * dov - D);
}

// Backward: dq [BH, T, E], dk [BHk, S, E], dv [BHk, S, Ev], all written.
template <class T>
void local_attention_backward(const LocalAttentionDims& p, const T* q, const T* k, const T* v, const T* out,
                              const T* dout, const T* lse, double scale, T* dq, T* dk, T* dv) {
  const int64_t rows = p.BH * p.T, BHk = p.BH / p.group;
  std::vector<double> D(static_cast<size_t>(rows));
  parallel_for(0, rows, 1024, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      double acc = 0;
      for (int64_t e = 0; e < p.Ev; ++e) acc += double(dout[r * p.Ev + e]) * double(out[r * p.Ev + e]);
      D[size_t(r)] = acc;
    }
  });
  auto dot = [](const T* a, const T* b, int64_t n) {
    double acc = 0;
    for (int64_t e = 0; e < n; ++e) acc += double(a[e]) * double(b[e]);
    return acc;
  };
  // dq, row by row.
  parallel_for(0, rows, local_attention_grain(p), [&](int64_t r0, int64_t r1) {
    std::vector<double> acc(size_t(p.E));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t bh = r / p.T, i = r % p.T;
      const T* kb = k + (bh / p.group) * p.S * p.E;
      const T* vb = v + (bh / p.group) * p.S * p.Ev;
      std::fill(acc.begin(), acc.end(), 0.0);
      int64_t lo, hi;
      p.band(bh, i, lo, hi);
      if (lse[r] != -std::numeric_limits<T>::infinity()) {
        for (int64_t j = lo; j <= hi; ++j) {
          if (!p.key_kept(bh, j)) continue;
          double pm, ds;
          local_pair_grads(scale * dot(q + r * p.E, kb + j * p.E, p.E), double(lse[r]),
                           dot(dout + r * p.Ev, vb + j * p.Ev, p.Ev), D[size_t(r)], p.drop_mult(bh, i, j), pm, ds);
          for (int64_t e = 0; e < p.E; ++e) acc[size_t(e)] += ds * double(kb[j * p.E + e]);
        }
      }
      for (int64_t e = 0; e < p.E; ++e) dq[r * p.E + e] = T(scale * acc[size_t(e)]);
    }
  });
  // dk, dv, key by key: every query head of the group, every row whose window holds key j.
  parallel_for(0, BHk * p.S, local_attention_grain(p), [&](int64_t c0, int64_t c1) {
    std::vector<double> ak(size_t(p.E)), av(size_t(p.Ev));
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t kvh = c / p.S, j = c % p.S;
      std::fill(ak.begin(), ak.end(), 0.0);
      std::fill(av.begin(), av.end(), 0.0);
      int64_t ilo, ihi;
      p.rows_of_key(j, ilo, ihi);
      for (int64_t bh = kvh * p.group; bh < (kvh + 1) * p.group; ++bh) {
        if (!p.key_kept(bh, j)) continue;
        for (int64_t i = ilo; i <= ihi; ++i) {
          const int64_t r = bh * p.T + i;
          int64_t lo, hi;
          p.band(bh, i, lo, hi);
          if (j < lo || j > hi || lse[r] == -std::numeric_limits<T>::infinity()) continue;
          double pm, ds;
          local_pair_grads(scale * dot(q + r * p.E, k + c * p.E, p.E), double(lse[r]),
                           dot(dout + r * p.Ev, v + c * p.Ev, p.Ev), D[size_t(r)], p.drop_mult(bh, i, j), pm, ds);
          for (int64_t e = 0; e < p.E; ++e) ak[size_t(e)] += ds * double(q[r * p.E + e]);
          for (int64_t e = 0; e < p.Ev; ++e) av[size_t(e)] += pm * double(dout[r * p.Ev + e]);
        }
      }
      for (int64_t e = 0; e < p.E; ++e) dk[c * p.E + e] = T(scale * ak[size_t(e)]);
      for (int64_t e = 0; e < p.Ev; ++e) dv[c * p.Ev + e] = T(av[size_t(e)]);
    }
  });
}

}  // namespace ref

namespace fast {
// Same contracts as ref::, Highway SIMD, agreeing with ref:: to rounding (float lanes for float).
void local_attention_forward(const LocalAttentionDims& p, const float* q, const float* k, const float* v, double scale,
                             float* out, float* lse, float* weights);
void local_attention_forward(const LocalAttentionDims& p, const double* q, const double* k, const double* v,
                             double scale, double* out, double* lse, double* weights);
void local_attention_backward(const LocalAttentionDims& p, const float* q, const float* k, const float* v,
                              const float* out, const float* dout, const float* lse, double scale, float* dq, float* dk,
                              float* dv);
void local_attention_backward(const LocalAttentionDims& p, const double* q, const double* k, const double* v,
                              const double* out, const double* dout, const double* lse, double scale, double* dq,
                              double* dk, double* dv);
}  // namespace fast

}  // namespace attn::kernels
