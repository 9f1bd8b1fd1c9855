// Fused (flash-style) attention kernels: softmax attention computed block by block without forming
// the [T, S] score matrix (Dao et al. 2022, "FlashAttention"; Dao 2023, "FlashAttention-2").
//
//   s_ij = scale * q_i . k_j + a_ij      (a = additive mask, 0 without one; -inf where j is hidden)
//   p_ij = exp(s_ij - lse_i),  lse_i = log sum_{visible j} exp(s_ij)
//   out_i = sum_j p_ij * m_ij * v_j,   m_ij = dropout multiplier (0 or 1 / (1 - p)), 1 without dropout
//
// Key j is visible to query i when it lies in the band c - window_left <= j <= c + window_right
// (c = i + offset, offset 0 top-left or S - T bottom-right; -1 = unbounded side; causal is (-1, 0)),
// j < key_len[b], key_keep[b, j] != 0, and the dense bool mask (if any) is true at (bh, i, j).
// A row with no visible key (or whose scores are all -inf) has zero output and lse = -inf, which
// backward reads as "no gradient".
//
// Forward streams the key blocks of one query block with an online softmax: a running max m and
// sum l per row; each new block rescales the partial output by exp(m_old - m_new). Extra memory is
// O(T + S) per head (the lse and packed copies of K and V), never O(T * S) unless dense weights
// are asked for (they are then written in a second pass from the saved lse).
//
// Backward, with D_i = dout_i . out_i (= sum_j p_ij m_ij dout_i . v_j, so dropout needs no extra
// state): dP_ij = m_ij (dout_i . v_j), dS_ij = p_ij (dP_ij - D_i),
//   dq_i = scale sum_j dS_ij k_j,   dk_j = scale sum_i dS_ij q_i,   dv_j = sum_i p_ij m_ij dout_i.
// p is recomputed per block from the saved lse. The fast kernel computes each (query block, key
// block) tile once per kv head (FlashAttention-2 order) or, with few kv heads, dq per query block
// and dk, dv per key block in a second parallel loop (over every query head of the kv group); the
// reference does the latter row by row. Every output element is written by one thread and no
// reduction is split: results do not depend on the thread count.
// The kernels WRITE (=) their outputs; the op layer passes fresh buffers.
//
// Layout (all contiguous): q [BH, T, E], k [BHk, S, E], v [BHk, S, Ev], out [BH, T, Ev], lse
// [BH, T], with BH = BHk * group: query block bh reads key/value block bh / group (grouped-query
// attention). Key masks are per batch b = bh / heads_per_batch. The dense masks are strided views
// (broadcasting has stride 0): element (bh, i, j) at mask_off[bh] + i * mask_rs + j * mask_cs.
//
// Dropout follows attn's dropout() on a contiguous [BH, T, S] weights tensor exactly: element
// e = (bh * T + i) * S + j is dropped when word e % 4 of Philox block (ctr0 + e / 4) is below the
// threshold. So a seed gives the same mask as the composed scaled_dot_product_attention, and
// backward regenerates it instead of storing it.
//
// ref:: is plain loops (double accumulation) running the same blockwise online softmax; fast:: is
// Highway SIMD with register-tiled block products. They agree to rounding.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/parallel.h"
#include "kernels/philox.h"

namespace attn::kernels {

// Query rows and keys per block (the fast kernels' tiles; the reference uses the same key blocks).
inline constexpr int64_t kFlashBlockM = 64;
inline constexpr int64_t kFlashBlockN = 64;

struct FlashDims {
  int64_t BH = 0;               // query blocks (batch * heads)
  int64_t group = 1;            // query heads per key/value head
  int64_t heads_per_batch = 1;  // query blocks per batch entry (for the key masks)
  int64_t T = 0, S = 0, E = 0, Ev = 0;
  int64_t offset = 0;                           // 0 top-left, S - T bottom-right
  int64_t window_left = -1, window_right = -1;  // -1 = unbounded on that side
  const int64_t* key_len = nullptr;             // [B]: keys j >= key_len[b] are masked; null = none
  const uint8_t* key_keep = nullptr;            // [B, S]: 0 = key masked; null = none
  // Dense masks broadcast to [BH, T, S] (strided; null = none): bool keeps where true, additive
  // (same element type as q) is added to the scaled scores.
  const bool* bool_mask = nullptr;
  const void* add_mask = nullptr;
  const int64_t* mask_off = nullptr;  // [BH] element offsets; shared by both masks
  int64_t mask_rs = 0, mask_cs = 0;
  // Dropout on the weights: threshold 0 = none, >= 2^32 = every weight dropped.
  uint64_t drop_threshold = 0, drop_key = 0, drop_ctr0 = 0;
  double drop_scale = 1.0;

  // The band [lo, hi] of query row i of block bh (empty when lo > hi), key lengths included. lo and
  // hi never decrease with i.
  void band(int64_t bh, int64_t i, int64_t& lo, int64_t& hi) const {
    const int64_t c = i + offset;
    lo = window_left < 0 ? 0 : std::max<int64_t>(0, c - window_left);
    hi = window_right < 0 ? S - 1 : std::min<int64_t>(S - 1, c + window_right);
    if (key_len) hi = std::min<int64_t>(hi, key_len[bh / heads_per_batch] - 1);
  }
  // The query rows [lo, hi] whose band contains key j (key lengths excluded).
  void rows_of_key(int64_t j, int64_t& lo, int64_t& hi) const {
    lo = window_right < 0 ? 0 : std::max<int64_t>(0, j - offset - window_right);
    hi = window_left < 0 ? T - 1 : std::min<int64_t>(T - 1, j - offset + window_left);
  }
  bool key_kept(int64_t bh, int64_t j) const {
    const int64_t b = bh / heads_per_batch;
    if (key_len && j >= key_len[b]) return false;
    return !key_keep || key_keep[b * S + j] != 0;
  }
  bool has_elementwise_mask() const { return key_keep || bool_mask || add_mask; }
  int64_t mask_at(int64_t bh, int64_t i, int64_t j) const { return mask_off[bh] + i * mask_rs + j * mask_cs; }
  // Everything but the additive mask: is key j visible to row i of block bh?
  bool visible(int64_t bh, int64_t i, int64_t j) const {
    int64_t lo, hi;
    band(bh, i, lo, hi);
    if (j < lo || j > hi || !key_kept(bh, j)) return false;
    return !bool_mask || bool_mask[mask_at(bh, i, j)];
  }
  bool has_dropout() const { return drop_threshold != 0; }
  double drop_mult(int64_t bh, int64_t i, int64_t j) const {
    if (drop_threshold == 0) return 1.0;
    if (drop_threshold >= (uint64_t(1) << 32)) return 0.0;
    const uint64_t e = (uint64_t(bh) * uint64_t(T) + uint64_t(i)) * uint64_t(S) + uint64_t(j);
    const auto r = Philox::block(drop_key, drop_ctr0 + e / 4);
    return uint64_t(r[size_t(e % 4)]) >= drop_threshold ? drop_scale : 0.0;
  }
};

namespace ref {

// The masked, scaled score of (bh, i, j), -inf when hidden; dot = q_i . k_j.
template <class T>
double flash_score(const FlashDims& p, int64_t bh, int64_t i, int64_t j, double dot, double scale) {
  if (!p.visible(bh, i, j)) return -std::numeric_limits<double>::infinity();
  double s = scale * dot;
  if (p.add_mask) s += double(static_cast<const T*>(p.add_mask)[p.mask_at(bh, i, j)]);
  return s;
}

template <class T>
double flash_dot(const T* a, const T* b, int64_t n) {
  double acc = 0;
  for (int64_t e = 0; e < n; ++e) acc += double(a[e]) * double(b[e]);
  return acc;
}

// Forward: out [BH, T, Ev], lse [BH, T]; weights (nullable) dense [BH, T, S], pre-zeroed, receives
// p_ij * m_ij. One row at a time, key blocks of kFlashBlockN with the online softmax.
template <class T>
void flash_attention_forward(const FlashDims& p, const T* q, const T* k, const T* v, double scale, T* out, T* lse,
                             T* weights) {
  const double ninf = -std::numeric_limits<double>::infinity();
  parallel_for(0, p.BH * p.T, 16, [&](int64_t r0, int64_t r1) {
    std::vector<double> s(static_cast<size_t>(kFlashBlockN)), acc(size_t(p.Ev));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t bh = r / p.T, i = r % p.T;
      const T* kb = k + (bh / p.group) * p.S * p.E;
      const T* vb = v + (bh / p.group) * p.S * p.Ev;
      double m = ninf, l = 0;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t j0 = 0; j0 < p.S; j0 += kFlashBlockN) {
        const int64_t nk = std::min(kFlashBlockN, p.S - j0);
        double bm = ninf;
        for (int64_t jj = 0; jj < nk; ++jj) {
          const int64_t j = j0 + jj;
          s[size_t(jj)] = flash_score<T>(p, bh, i, j, flash_dot(q + r * p.E, kb + j * p.E, p.E), scale);
          bm = std::max(bm, s[size_t(jj)]);
        }
        const double mn = std::max(m, bm);
        if (mn == ninf) continue;  // nothing visible so far
        const double corr = std::exp(m - mn);
        l *= corr;
        for (auto& a : acc) a *= corr;
        for (int64_t jj = 0; jj < nk; ++jj) {
          const double e = std::exp(s[size_t(jj)] - mn);
          l += e;
          const double w = e * p.drop_mult(bh, i, j0 + jj);
          if (w != 0)
            for (int64_t c = 0; c < p.Ev; ++c) acc[size_t(c)] += w * double(vb[(j0 + jj) * p.Ev + c]);
        }
        m = mn;
      }
      T* oi = out + r * p.Ev;
      if (m == ninf) {  // nothing visible: zero output, lse = -inf
        for (int64_t c = 0; c < p.Ev; ++c) oi[c] = T(0);
        lse[r] = -std::numeric_limits<T>::infinity();
        continue;
      }
      for (int64_t c = 0; c < p.Ev; ++c) oi[c] = T(acc[size_t(c)] / l);
      const double L = m + std::log(l);
      lse[r] = T(L);
      if (weights)  // second pass from the final lse
        for (int64_t j = 0; j < p.S; ++j) {
          const double sc = flash_score<T>(p, bh, i, j, flash_dot(q + r * p.E, kb + j * p.E, p.E), scale);
          weights[r * p.S + j] = T(std::exp(sc - L) * p.drop_mult(bh, i, j));
        }
    }
  });
}

// Backward: dq [BH, T, E], dk [BHk, S, E], dv [BHk, S, Ev], all written.
template <class T>
void flash_attention_backward(const FlashDims& p, const T* q, const T* k, const T* v, const T* out, const T* dout,
                              const T* lse, double scale, T* dq, T* dk, T* dv) {
  const int64_t rows = p.BH * p.T, BHk = p.BH / p.group;
  const T tninf = -std::numeric_limits<T>::infinity();
  std::vector<double> D(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) D[size_t(r)] = flash_dot(dout + r * p.Ev, out + r * p.Ev, p.Ev);
  // p_ij m_ij and dS_ij of one pair.
  auto pair = [&](int64_t bh, int64_t i, int64_t j, double& pm, double& ds) {
    const int64_t r = bh * p.T + i;
    const T* kj = k + ((bh / p.group) * p.S + j) * p.E;
    const T* vj = v + ((bh / p.group) * p.S + j) * p.Ev;
    const double s = flash_score<T>(p, bh, i, j, flash_dot(q + r * p.E, kj, p.E), scale);
    const double pij = std::exp(s - double(lse[r])), mult = p.drop_mult(bh, i, j);
    pm = pij * mult;
    ds = pij * (mult * flash_dot(dout + r * p.Ev, vj, p.Ev) - D[size_t(r)]);
  };
  parallel_for(0, rows, 16, [&](int64_t r0, int64_t r1) {
    std::vector<double> acc(size_t(p.E));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t bh = r / p.T, i = r % p.T;
      std::fill(acc.begin(), acc.end(), 0.0);
      if (lse[r] != tninf)
        for (int64_t j = 0; j < p.S; ++j) {
          if (!p.visible(bh, i, j)) continue;
          double pm, ds;
          pair(bh, i, j, pm, ds);
          const T* kj = k + ((bh / p.group) * p.S + j) * p.E;
          for (int64_t e = 0; e < p.E; ++e) acc[size_t(e)] += ds * double(kj[e]);
        }
      for (int64_t e = 0; e < p.E; ++e) dq[r * p.E + e] = T(scale * acc[size_t(e)]);
    }
  });
  parallel_for(0, BHk * p.S, 16, [&](int64_t c0, int64_t c1) {
    std::vector<double> ak(size_t(p.E)), av(size_t(p.Ev));
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t kvh = c / p.S, j = c % p.S;
      std::fill(ak.begin(), ak.end(), 0.0);
      std::fill(av.begin(), av.end(), 0.0);
      for (int64_t bh = kvh * p.group; bh < (kvh + 1) * p.group; ++bh)
        for (int64_t i = 0; i < p.T; ++i) {
          const int64_t r = bh * p.T + i;
          if (lse[r] == tninf || !p.visible(bh, i, j)) continue;
          double pm, ds;
          pair(bh, i, j, pm, ds);
          for (int64_t e = 0; e < p.E; ++e) ak[size_t(e)] += ds * double(q[r * p.E + e]);
          for (int64_t e = 0; e < p.Ev; ++e) av[size_t(e)] += pm * double(dout[r * p.Ev + e]);
        }
      for (int64_t e = 0; e < p.E; ++e) dk[c * p.E + e] = T(scale * ak[size_t(e)]);
      for (int64_t e = 0; e < p.Ev; ++e) dv[c * p.Ev + e] = T(av[size_t(e)]);
    }
  });
}

}  // namespace ref

namespace fast {
// Same contracts as ref::, Highway SIMD (float lanes for float), agreeing with ref:: to rounding.
void flash_attention_forward(const FlashDims& p, const float* q, const float* k, const float* v, double scale,
                             float* out, float* lse, float* weights);
void flash_attention_forward(const FlashDims& p, const double* q, const double* k, const double* v, double scale,
                             double* out, double* lse, double* weights);
void flash_attention_backward(const FlashDims& p, const float* q, const float* k, const float* v, const float* out,
                              const float* dout, const float* lse, double scale, float* dq, float* dk, float* dv);
void flash_attention_backward(const FlashDims& p, const double* q, const double* k, const double* v,
                              const double* out, const double* dout, const double* lse, double scale, double* dq,
                              double* dk, double* dv);
}  // namespace fast

}  // namespace attn::kernels
