// Fused elementwise kernels of one recurrent step: all gate nonlinearities and the state update
// of a GRU or LSTM cell in one pass, after the two GEMMs (x W_ih^T + b_ih, h W_hh^T + b_hh) have
// produced the gate pre-activations. B rows, H hidden units; every array is contiguous, rows of
// G*H (gates, gate pre-activations, workspaces) or H (states) elements.
//
//   GRU  forward: gi, gh [B, 3H] (rows r, z, n), h [B, H] ->
//        h' [B, H] and ws [B, 4H] = (r, z, n, gh_n), the values the backward needs.
//        r = σ(gi_r + gh_r), z = σ(gi_z + gh_z), n = tanh(gi_n + r gh_n), h' = (1 - z) n + z h
//   GRU  backward: dh' [B, H], h, ws -> dgi, dgh [B, 3H], dh [B, H]
//   LSTM forward: gates [B, 4H] (= gi + gh, rows i, f, g, o), c [B, H] ->
//        hc [B, 2H] (row: h' then c') and ws [B, 5H] = (i, f, g, o, tanh(c'))
//        c' = σ(f) c + σ(i) tanh(g), h' = σ(o) tanh(c')
//   LSTM backward: dhc [B, 2H] (dh', dc'), c, ws -> dgates [B, 4H], dc [B, H]
//
// Backward kernels WRITE their outputs (=), they do not accumulate: the op layer hands them fresh
// buffers. ref:: is the plain scalar loop in T's precision with std::exp / std::tanh. fast:: is
// Highway SIMD (AVX2 / AVX-512 chosen at run time) built on hwy's Tanh (<= 4 ulp on every
// finite input); σ(x) is computed as 0.5 + 0.5 tanh(x / 2), exact in exact arithmetic, which
// keeps one transcendental per gate and needs no range checks (tanh saturates, exp would
// overflow); its absolute error stays within a few float epsilons. Each fast element depends only
// on its own inputs (tails run the same vector code on a padded copy), so results do not depend
// on alignment or on how rows are split between threads.
#pragma once
#include <cmath>
#include <cstdint>

namespace attn::kernels {

namespace ref {

template <class T>
inline T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

template <class T>
void gru_forward(int64_t B, int64_t H, const T* gi, const T* gh, const T* h, T* hn, T* ws) {
  for (int64_t b = 0; b < B; ++b) {
    const T* gib = gi + b * 3 * H;
    const T* ghb = gh + b * 3 * H;
    T* w = ws + b * 4 * H;
    for (int64_t j = 0; j < H; ++j) {
      const T r = sigmoid(gib[j] + ghb[j]);
      const T z = sigmoid(gib[H + j] + ghb[H + j]);
      const T n = std::tanh(gib[2 * H + j] + r * ghb[2 * H + j]);
      const T hp = h[b * H + j];
      hn[b * H + j] = (T(1) - z) * n + z * hp;
      w[j] = r;
      w[H + j] = z;
      w[2 * H + j] = n;
      w[3 * H + j] = ghb[2 * H + j];
    }
  }
}

// Forward was h' = (1 - z) n + z h with n = tanh(a_n), a_n = gi_n + r gh_n, r = σ(a_r),
// z = σ(a_z), therefore dz = g (h - n), dn = g (1 - z), dh = g z, da_n = dn (1 - n²),
// dgh_n = da_n r, da_r = da_n gh_n r (1 - r), da_z = dz z (1 - z); gi and gh share da_r, da_z.
template <class T>
void gru_backward(int64_t B, int64_t H, const T* g, const T* h, const T* ws, T* dgi, T* dgh, T* dh) {
  for (int64_t b = 0; b < B; ++b) {
    const T* w = ws + b * 4 * H;
    T* dgib = dgi + b * 3 * H;
    T* dghb = dgh + b * 3 * H;
    for (int64_t j = 0; j < H; ++j) {
      const T r = w[j], z = w[H + j], n = w[2 * H + j], ghn = w[3 * H + j];
      const T gj = g[b * H + j], hp = h[b * H + j];
      const T dz = gj * (hp - n);
      const T dn = gj * (T(1) - z);
      const T dan = dn * (T(1) - n * n);
      const T dar = dan * ghn * (r * (T(1) - r));
      const T daz = dz * (z * (T(1) - z));
      dgib[j] = dar;
      dgib[H + j] = daz;
      dgib[2 * H + j] = dan;
      dghb[j] = dar;
      dghb[H + j] = daz;
      dghb[2 * H + j] = dan * r;
      dh[b * H + j] = gj * z;
    }
  }
}

template <class T>
void lstm_forward(int64_t B, int64_t H, const T* gates, const T* c, T* hc, T* ws) {
  for (int64_t b = 0; b < B; ++b) {
    const T* a = gates + b * 4 * H;
    T* w = ws + b * 5 * H;
    for (int64_t j = 0; j < H; ++j) {
      const T i = sigmoid(a[j]), f = sigmoid(a[H + j]), gg = std::tanh(a[2 * H + j]), o = sigmoid(a[3 * H + j]);
      const T cn = f * c[b * H + j] + i * gg;
      const T tc = std::tanh(cn);
      hc[b * 2 * H + j] = o * tc;
      hc[b * 2 * H + H + j] = cn;
      w[j] = i;
      w[H + j] = f;
      w[2 * H + j] = gg;
      w[3 * H + j] = o;
      w[4 * H + j] = tc;
    }
  }
}

// Forward was c' = f c + i g, h' = o tanh(c'), therefore the total dc' = dc' + dh' o (1 - tanh²c'),
// di = dc' g, df = dc' c, dg = dc' i, do = dh' tanh(c'), dc = dc' f, and each pre-activation
// gradient multiplies by σ' = s (1 - s) or tanh' = 1 - t².
template <class T>
void lstm_backward(int64_t B, int64_t H, const T* dhc, const T* c, const T* ws, T* dgates, T* dc) {
  for (int64_t b = 0; b < B; ++b) {
    const T* w = ws + b * 5 * H;
    T* d = dgates + b * 4 * H;
    for (int64_t j = 0; j < H; ++j) {
      const T i = w[j], f = w[H + j], gg = w[2 * H + j], o = w[3 * H + j], tc = w[4 * H + j];
      const T dhj = dhc[b * 2 * H + j];
      const T dct = dhc[b * 2 * H + H + j] + dhj * o * (T(1) - tc * tc);
      d[j] = dct * gg * (i * (T(1) - i));
      d[H + j] = dct * c[b * H + j] * (f * (T(1) - f));
      d[2 * H + j] = dct * i * (T(1) - gg * gg);
      d[3 * H + j] = dhj * tc * (o * (T(1) - o));
      dc[b * H + j] = dct * f;
    }
  }
}

}  // namespace ref

namespace fast {
void gru_forward(int64_t B, int64_t H, const float* gi, const float* gh, const float* h, float* hn, float* ws);
void gru_forward(int64_t B, int64_t H, const double* gi, const double* gh, const double* h, double* hn, double* ws);
void gru_backward(int64_t B, int64_t H, const float* g, const float* h, const float* ws, float* dgi, float* dgh,
                  float* dh);
void gru_backward(int64_t B, int64_t H, const double* g, const double* h, const double* ws, double* dgi,
                  double* dgh, double* dh);
void lstm_forward(int64_t B, int64_t H, const float* gates, const float* c, float* hc, float* ws);
void lstm_forward(int64_t B, int64_t H, const double* gates, const double* c, double* hc, double* ws);
void lstm_backward(int64_t B, int64_t H, const float* dhc, const float* c, const float* ws, float* dgates, float* dc);
void lstm_backward(int64_t B, int64_t H, const double* dhc, const double* c, const double* ws, double* dgates,
                   double* dc);
}  // namespace fast

}  // namespace attn::kernels
