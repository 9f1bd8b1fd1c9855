// Highway SIMD versions of the fused GRU / LSTM step kernels (contract in kernels/rnn.h).
// Compiled once per SIMD target by foreach_target.h; HWY_DYNAMIC_DISPATCH picks the best target
// for this CPU at the first call.
//
// Each kernel is written once as a vector body over "lanes j..j+L of every stream" (a stream is
// one gate block of a row, a state row, a workspace block); RowLoop runs it over a row and runs
// the tail on copies padded with zeros, so a lane's result never depends on where it sits.
#include <algorithm>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/rnn.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"
#include "kernels/rnn.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Runs body(in, out, j) over j = 0, L, 2L, ... < n on the NI input and NO output streams, then
// once more on zero-padded copies of the tail.
template <int NI, int NO, class T, class Body>
HWY_INLINE void RowLoop(int64_t n, const T* const (&in)[NI], T* const (&out)[NO], const Body& body) {
  const hn::ScalableTag<T> d;
  const int64_t L = int64_t(hn::Lanes(d));
  int64_t j = 0;
  for (; j + L <= n; j += L) body(in, out, j);
  if (j < n) {
    constexpr int64_t kMax = HWY_MAX_BYTES / sizeof(T);
    HWY_ALIGN T bin[NI][kMax];
    HWY_ALIGN T bout[NO][kMax];
    const T* pin[NI];
    T* pout[NO];
    for (int k = 0; k < NI; ++k) {
      for (int64_t l = 0; l < L; ++l) bin[k][l] = j + l < n ? in[k][j + l] : T(0);
      pin[k] = bin[k];
    }
    for (int k = 0; k < NO; ++k) pout[k] = bout[k];
    body(pin, pout, 0);
    for (int k = 0; k < NO; ++k)
      for (int64_t l = 0; j + l < n; ++l) out[k][j + l] = bout[k][l];
  }
}

// σ(x) = 0.5 + 0.5 tanh(x / 2): one full-range transcendental, no overflow handling needed.
template <class D, class V>
HWY_INLINE V Sigmoid(D d, V x) {
  const auto half = hn::Set(d, hn::TFromD<D>(0.5));
  return hn::MulAdd(half, hn::Tanh(d, hn::Mul(half, x)), half);
}

template <class T>
void GruForward(int64_t B, int64_t H, const T* gi, const T* gh, const T* h, T* hn_out, T* ws) {
  const hn::ScalableTag<T> d;
  for (int64_t b = 0; b < B; ++b) {
    const T* gib = gi + b * 3 * H;
    const T* ghb = gh + b * 3 * H;
    T* w = ws + b * 4 * H;
    const T* const in[7] = {gib, gib + H, gib + 2 * H, ghb, ghb + H, ghb + 2 * H, h + b * H};
    T* const out[5] = {hn_out + b * H, w, w + H, w + 2 * H, w + 3 * H};
    RowLoop<7, 5>(H, in, out, [&](const T* const* I, T* const* O, int64_t j) {
      const auto ghn = hn::LoadU(d, I[5] + j);
      const auto r = Sigmoid(d, hn::Add(hn::LoadU(d, I[0] + j), hn::LoadU(d, I[3] + j)));
      const auto z = Sigmoid(d, hn::Add(hn::LoadU(d, I[1] + j), hn::LoadU(d, I[4] + j)));
      const auto n = hn::Tanh(d, hn::MulAdd(r, ghn, hn::LoadU(d, I[2] + j)));
      const auto hp = hn::LoadU(d, I[6] + j);
      // (1 - z) n + z h = n + z (h - n)
      hn::StoreU(hn::MulAdd(z, hn::Sub(hp, n), n), d, O[0] + j);
      hn::StoreU(r, d, O[1] + j);
      hn::StoreU(z, d, O[2] + j);
      hn::StoreU(n, d, O[3] + j);
      hn::StoreU(ghn, d, O[4] + j);
    });
  }
}

template <class T>
void GruBackward(int64_t B, int64_t H, const T* g, const T* h, const T* ws, T* dgi, T* dgh, T* dh) {
  const hn::ScalableTag<T> d;
  const auto one = hn::Set(d, T(1));
  for (int64_t b = 0; b < B; ++b) {
    const T* w = ws + b * 4 * H;
    T* dgib = dgi + b * 3 * H;
    T* dghb = dgh + b * 3 * H;
    const T* const in[6] = {g + b * H, h + b * H, w, w + H, w + 2 * H, w + 3 * H};
    T* const out[7] = {dgib, dgib + H, dgib + 2 * H, dghb, dghb + H, dghb + 2 * H, dh + b * H};
    RowLoop<6, 7>(H, in, out, [&](const T* const* I, T* const* O, int64_t j) {
      const auto gj = hn::LoadU(d, I[0] + j), hp = hn::LoadU(d, I[1] + j);
      const auto r = hn::LoadU(d, I[2] + j), z = hn::LoadU(d, I[3] + j);
      const auto n = hn::LoadU(d, I[4] + j), ghn = hn::LoadU(d, I[5] + j);
      const auto dz = hn::Mul(gj, hn::Sub(hp, n));
      const auto dn = hn::Mul(gj, hn::Sub(one, z));
      const auto dan = hn::Mul(dn, hn::NegMulAdd(n, n, one));
      const auto dar = hn::Mul(hn::Mul(dan, ghn), hn::Mul(r, hn::Sub(one, r)));
      const auto daz = hn::Mul(dz, hn::Mul(z, hn::Sub(one, z)));
      hn::StoreU(dar, d, O[0] + j);
      hn::StoreU(daz, d, O[1] + j);
      hn::StoreU(dan, d, O[2] + j);
      hn::StoreU(dar, d, O[3] + j);
      hn::StoreU(daz, d, O[4] + j);
      hn::StoreU(hn::Mul(dan, r), d, O[5] + j);
      hn::StoreU(hn::Mul(gj, z), d, O[6] + j);
    });
  }
}

template <class T>
void LstmForward(int64_t B, int64_t H, const T* gates, const T* c, T* hc, T* ws) {
  const hn::ScalableTag<T> d;
  for (int64_t b = 0; b < B; ++b) {
    const T* a = gates + b * 4 * H;
    T* w = ws + b * 5 * H;
    const T* const in[5] = {a, a + H, a + 2 * H, a + 3 * H, c + b * H};
    T* const out[7] = {hc + b * 2 * H, hc + b * 2 * H + H, w, w + H, w + 2 * H, w + 3 * H, w + 4 * H};
    RowLoop<5, 7>(H, in, out, [&](const T* const* I, T* const* O, int64_t j) {
      const auto i = Sigmoid(d, hn::LoadU(d, I[0] + j));
      const auto f = Sigmoid(d, hn::LoadU(d, I[1] + j));
      const auto gg = hn::Tanh(d, hn::LoadU(d, I[2] + j));
      const auto o = Sigmoid(d, hn::LoadU(d, I[3] + j));
      const auto cn = hn::MulAdd(f, hn::LoadU(d, I[4] + j), hn::Mul(i, gg));
      const auto tc = hn::Tanh(d, cn);
      hn::StoreU(hn::Mul(o, tc), d, O[0] + j);
      hn::StoreU(cn, d, O[1] + j);
      hn::StoreU(i, d, O[2] + j);
      hn::StoreU(f, d, O[3] + j);
      hn::StoreU(gg, d, O[4] + j);
      hn::StoreU(o, d, O[5] + j);
      hn::StoreU(tc, d, O[6] + j);
    });
  }
}

template <class T>
void LstmBackward(int64_t B, int64_t H, const T* dhc, const T* c, const T* ws, T* dgates, T* dc) {
  const hn::ScalableTag<T> d;
  const auto one = hn::Set(d, T(1));
  for (int64_t b = 0; b < B; ++b) {
    const T* w = ws + b * 5 * H;
    T* dg = dgates + b * 4 * H;
    const T* const in[8] = {dhc + b * 2 * H, dhc + b * 2 * H + H, c + b * H, w, w + H, w + 2 * H, w + 3 * H, w + 4 * H};
    T* const out[5] = {dg, dg + H, dg + 2 * H, dg + 3 * H, dc + b * H};
    RowLoop<8, 5>(H, in, out, [&](const T* const* I, T* const* O, int64_t j) {
      const auto dh = hn::LoadU(d, I[0] + j), dcn = hn::LoadU(d, I[1] + j), cp = hn::LoadU(d, I[2] + j);
      const auto i = hn::LoadU(d, I[3] + j), f = hn::LoadU(d, I[4] + j), gg = hn::LoadU(d, I[5] + j);
      const auto o = hn::LoadU(d, I[6] + j), tc = hn::LoadU(d, I[7] + j);
      const auto dct = hn::MulAdd(hn::Mul(dh, o), hn::NegMulAdd(tc, tc, one), dcn);
      hn::StoreU(hn::Mul(hn::Mul(dct, gg), hn::Mul(i, hn::Sub(one, i))), d, O[0] + j);
      hn::StoreU(hn::Mul(hn::Mul(dct, cp), hn::Mul(f, hn::Sub(one, f))), d, O[1] + j);
      hn::StoreU(hn::Mul(hn::Mul(dct, i), hn::NegMulAdd(gg, gg, one)), d, O[2] + j);
      hn::StoreU(hn::Mul(hn::Mul(dh, tc), hn::Mul(o, hn::Sub(one, o))), d, O[3] + j);
      hn::StoreU(hn::Mul(dct, f), d, O[4] + j);
    });
  }
}

void GruForwardF32(int64_t B, int64_t H, const float* gi, const float* gh, const float* h, float* o, float* ws) {
  GruForward(B, H, gi, gh, h, o, ws);
}
void GruForwardF64(int64_t B, int64_t H, const double* gi, const double* gh, const double* h, double* o, double* ws) {
  GruForward(B, H, gi, gh, h, o, ws);
}
void GruBackwardF32(int64_t B, int64_t H, const float* g, const float* h, const float* ws, float* dgi, float* dgh,
                    float* dh) {
  GruBackward(B, H, g, h, ws, dgi, dgh, dh);
}
void GruBackwardF64(int64_t B, int64_t H, const double* g, const double* h, const double* ws, double* dgi,
                    double* dgh, double* dh) {
  GruBackward(B, H, g, h, ws, dgi, dgh, dh);
}
void LstmForwardF32(int64_t B, int64_t H, const float* a, const float* c, float* hc, float* ws) {
  LstmForward(B, H, a, c, hc, ws);
}
void LstmForwardF64(int64_t B, int64_t H, const double* a, const double* c, double* hc, double* ws) {
  LstmForward(B, H, a, c, hc, ws);
}
void LstmBackwardF32(int64_t B, int64_t H, const float* dhc, const float* c, const float* ws, float* da, float* dc) {
  LstmBackward(B, H, dhc, c, ws, da, dc);
}
void LstmBackwardF64(int64_t B, int64_t H, const double* dhc, const double* c, const double* ws, double* da,
                     double* dc) {
  LstmBackward(B, H, dhc, c, ws, da, dc);
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attn::kernels {
HWY_EXPORT(GruForwardF32);
HWY_EXPORT(GruForwardF64);
HWY_EXPORT(GruBackwardF32);
HWY_EXPORT(GruBackwardF64);
HWY_EXPORT(LstmForwardF32);
HWY_EXPORT(LstmForwardF64);
HWY_EXPORT(LstmBackwardF32);
HWY_EXPORT(LstmBackwardF64);
namespace fast {
void gru_forward(int64_t B, int64_t H, const float* gi, const float* gh, const float* h, float* hn, float* ws) {
  HWY_DYNAMIC_DISPATCH(GruForwardF32)(B, H, gi, gh, h, hn, ws);
}
void gru_forward(int64_t B, int64_t H, const double* gi, const double* gh, const double* h, double* hn, double* ws) {
  HWY_DYNAMIC_DISPATCH(GruForwardF64)(B, H, gi, gh, h, hn, ws);
}
void gru_backward(int64_t B, int64_t H, const float* g, const float* h, const float* ws, float* dgi, float* dgh,
                  float* dh) {
  HWY_DYNAMIC_DISPATCH(GruBackwardF32)(B, H, g, h, ws, dgi, dgh, dh);
}
void gru_backward(int64_t B, int64_t H, const double* g, const double* h, const double* ws, double* dgi,
                  double* dgh, double* dh) {
  HWY_DYNAMIC_DISPATCH(GruBackwardF64)(B, H, g, h, ws, dgi, dgh, dh);
}
void lstm_forward(int64_t B, int64_t H, const float* gates, const float* c, float* hc, float* ws) {
  HWY_DYNAMIC_DISPATCH(LstmForwardF32)(B, H, gates, c, hc, ws);
}
void lstm_forward(int64_t B, int64_t H, const double* gates, const double* c, double* hc, double* ws) {
  HWY_DYNAMIC_DISPATCH(LstmForwardF64)(B, H, gates, c, hc, ws);
}
void lstm_backward(int64_t B, int64_t H, const float* dhc, const float* c, const float* ws, float* dgates, float* dc) {
  HWY_DYNAMIC_DISPATCH(LstmBackwardF32)(B, H, dhc, c, ws, dgates, dc);
}
void lstm_backward(int64_t B, int64_t H, const double* dhc, const double* c, const double* ws, double* dgates,
                   double* dc) {
  HWY_DYNAMIC_DISPATCH(LstmBackwardF64)(B, H, dhc, c, ws, dgates, dc);
}
}  // namespace fast
}  // namespace attn::kernels
#endif
