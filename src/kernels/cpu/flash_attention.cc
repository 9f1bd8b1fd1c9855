// Highway SIMD flash attention (see kernels/flash_attention.h for the contract). Compiled once per
// SIMD target by foreach_target.h; HWY_DYNAMIC_DISPATCH picks the best target at the first call.
//
// Work is split into tiles of kFlashBlockM query rows x kFlashBlockN keys (fewer keys when the
// whole key sequence is shorter). Every product of two tiles (Q K^T, P V, dO V^T, dS K, P^T dO,
// dS^T Q) is one small GEMM, Panels() below: a register tile of 6 rows x 2 vectors of columns, fed by
// broadcasting one element of A and FMA-ing it into a row of B. A is read one scalar at a time,
// so any strides work (a transposed tile costs nothing); B's rows must be whole vectors, so K and
// V are packed into block-transposed [E][kFlashBlockN] tiles (zero-padded past S; once per call,
// or once per kv-head task in the one-pass backward), and operands whose row length is not a
// multiple of the vector width are copied with zero-padded rows. The softmax bookkeeping (scale,
// masks, max, exp, sums) runs on the score tile row by row in SIMD.
//
// Causal and sliding-window masks are band masks: key blocks entirely outside a query block's band
// are never visited, and masks are evaluated only in blocks the band cuts (or when an element-wise
// mask or a partial block needs them).
//
// Backward computes each tile's P and dS once and feeds dv, dk and dq from them, one kv head per
// task (FlashAttention-2: key blocks outer, query blocks inner, dq accumulated over the key
// blocks); with fewer kv heads than threads it splits into a dq pass per (head, query block) and a
// dk / dv pass per (kv head, key block) instead, recomputing the tiles, with identical results.
//
// Threads: tasks are handed out dynamically (the longest causal tasks first), so a thread slowed
// down by other processes takes fewer of them; each task owns its outputs, so results do not
// depend on the thread count.
#include <atomic>
#include <memory>
#include <type_traits>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/flash_attention.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"
#include "kernels/flash_attention.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr int64_t BM = kFlashBlockM;

// What a register tile does with its sums before storing them to C:
//  kAdd: C += A B;  kSet: C = A B;  kSetScale: C = scale A B;
//  kSetScaleMax: that, and the running row maxima mx[r][lane] = max(mx[r][lane], the row's new
//    values) (one vector per row, reduced across lanes by the caller);
//  kProbs: C = exp(scale A B - row[r]) (row: the log-sum-exp; +inf gives 0 on a dead row);
//  kDS: C = P o (A B - row[r]) (row: D; P: a tile laid out like C).
// Pointers rather than values, so that nothing but the sums holds a vector register in the loop.
enum class Epi { kAdd, kSet, kSetScale, kSetScaleMax, kProbs, kDS };
template <class T>
struct EpiArgs {
  const T* scale = nullptr;
  T* mx = nullptr;
  const T* row = nullptr;
  const T* p = nullptr;
};

// e^x for float lanes x <= 0 (scores minus their running max), exactly 0 below -87 and at -inf
// (hidden keys). Highway's Exp with the parts a non-positive argument does not need taken out:
// n = round(x / ln 2), r = x - n ln 2 in two FMAs, e^r - 1 by Exp's minimax polynomial, and 2^n
// built directly in the exponent field (n >= -126 here, so one scale suffices). Agrees with Exp
// to about an ulp.
template <class D>
HWY_INLINE hn::Vec<D> ExpNonPositive(D d, hn::Vec<D> x) {
  const hn::Rebind<int32_t, D> di;
  const auto n = hn::Round(hn::Mul(x, hn::Set(d, 1.44269504088896341f)));
  auto r = hn::MulAdd(n, hn::Set(d, -0.693145751953125f), x);
  r = hn::MulAdd(n, hn::Set(d, -1.428606765330187045e-6f), r);
  auto p = hn::MulAdd(hn::Set(d, 0.000198527617612853646278381f), r, hn::Set(d, 0.00139304355252534151077271f));
  p = hn::MulAdd(p, r, hn::Set(d, 0.00833336077630519866943359f));
  p = hn::MulAdd(p, r, hn::Set(d, 0.0416664853692054748535156f));
  p = hn::MulAdd(p, r, hn::Set(d, 0.166666671633720397949219f));
  p = hn::MulAdd(p, r, hn::Set(d, 0.5f));
  const auto em1 = hn::MulAdd(p, hn::Mul(r, r), r);  // e^r - 1
  const auto pow2n = hn::BitCast(d, hn::ShiftLeft<23>(hn::Add(hn::ConvertTo(di, n), hn::Set(di, 127))));
  return hn::IfThenZeroElse(hn::Lt(x, hn::Set(d, -87.0f)), hn::MulAdd(em1, pow2n, pow2n));
}
// e^x for x <= 0: the float version above, Highway's Exp for doubles.
template <class D>
HWY_INLINE hn::Vec<D> ExpNeg(D d, hn::Vec<D> x) {
  if constexpr (std::is_same_v<hn::TFromD<D>, float>)
    return ExpNonPositive(d, x);
  else
    return hn::Exp(d, x);
}

// C[MR x NV*L] (+)= A[MR x K] B[K x NV*L]: A(r, k) = a[r * ars + k * acs], B rows ldb apart; C is
// rows [r0, r0 + MR) x columns [n0, n0 + NV*L) of the tile the epilogue arguments describe. The
// MR x NV accumulators stay in registers (6 x 2 = 12 of AVX2's 16: enough independent FMA chains
// to cover the FMA latency on two ports).
template <int MR, int NV, Epi kEpi, class D, class T = hn::TFromD<D>>
HWY_INLINE void Tile(D d, int64_t K, const T* HWY_RESTRICT a, int64_t ars, int64_t acs, const T* HWY_RESTRICT b,
                     int64_t ldb, T* HWY_RESTRICT c, int64_t ldc, const EpiArgs<T>& e, int64_t r0, int64_t n0) {
  using V = decltype(hn::Zero(d));
  const int64_t L = int64_t(hn::Lanes(d));
  V acc[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = kEpi == Epi::kAdd ? hn::LoadU(d, c + r * ldc + v * L) : hn::Zero(d);
  for (int64_t k = 0; k < K; ++k) {
    V bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = hn::LoadU(d, b + k * ldb + v * L);
    const T* ak = a + k * acs;
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const V av = hn::Set(d, ak[r * ars]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = hn::MulAdd(av, bv[v], acc[r][v]);
    }
  }
  if constexpr (kEpi == Epi::kSetScale || kEpi == Epi::kSetScaleMax || kEpi == Epi::kProbs) {
    const V vs = hn::Set(d, *e.scale);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = hn::Mul(acc[r][v], vs);
  }
  if constexpr (kEpi == Epi::kSetScaleMax) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      T* mr = e.mx + (r0 + r) * L;
      V m = hn::LoadU(d, mr);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) m = hn::Max(m, acc[r][v]);
      hn::StoreU(m, d, mr);
    }
  }
  if constexpr (kEpi == Epi::kProbs || kEpi == Epi::kDS) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const V vr = hn::Set(d, e.row[r0 + r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        if constexpr (kEpi == Epi::kProbs)
          acc[r][v] = ExpNeg(d, hn::Sub(acc[r][v], vr));
        else
          acc[r][v] = hn::Mul(hn::LoadU(d, e.p + (r0 + r) * ldc + n0 + v * L), hn::Sub(acc[r][v], vr));
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) hn::StoreU(acc[r][v], d, c + r * ldc + v * L);
}

// Rows [r, r + MR) of C[M x N] (+)= A B, N a multiple of the vector width.
template <int MR, Epi kEpi, class D, class T = hn::TFromD<D>>
HWY_INLINE void RowPanel(D d, int64_t N, int64_t K, const T* a, int64_t ars, int64_t acs, const T* b, int64_t ldb, T* c,
                         int64_t ldc, const EpiArgs<T>& e, int64_t r0) {
  const int64_t L = int64_t(hn::Lanes(d));
  int64_t n = 0;
  for (; n + 2 * L <= N; n += 2 * L) Tile<MR, 2, kEpi>(d, K, a, ars, acs, b + n, ldb, c + n, ldc, e, r0, n);
  for (; n < N; n += L) Tile<MR, 1, kEpi>(d, K, a, ars, acs, b + n, ldb, c + n, ldc, e, r0, n);
}

// The row panels of an M-row product: f(r, MR) for panels of 6 rows while at least 12 rows are
// left, then the rest in one or two panels of 1-6 rows as even as possible (20 rows: 6, 6, 4, 4),
// since a panel of fewer rows has fewer independent FMA chains to hide the FMA latency with.
// Callers that give each panel its own width use the same split.
template <int MR, class F>
HWY_INLINE void Panel(int64_t r, const F& f) {
  f(r, std::integral_constant<int, MR>());
}
template <class F>
HWY_INLINE void ForPanels(int64_t M, const F& f) {
  int64_t r = 0;
  for (; M - r >= 12; r += 6) Panel<6>(r, f);
  auto one = [&](int64_t n) {  // a panel of n = 1..6 rows at r
    switch (n) {
      case 6: Panel<6>(r, f); break;
      case 5: Panel<5>(r, f); break;
      case 4: Panel<4>(r, f); break;
      case 3: Panel<3>(r, f); break;
      case 2: Panel<2>(r, f); break;
      default: Panel<1>(r, f); break;
    }
    r += n;
  };
  const int64_t rem = M - r;
  if (rem > 6) one((rem + 1) / 2);
  if (M > r) one(M - r);
}

// C[M x N] (+)= A[M x K] B[K x N], N a multiple of the vector width. Optional per-row limits (read
// at each panel's first row): the panel's columns stop at min(N, nlim[r]) (a multiple of the
// vector width) and its sums run over the terms [kbeg[r], min(K, klim[r])), for tiles whose other
// columns are unused or whose other terms are zero.
template <Epi kEpi, class D, class T = hn::TFromD<D>>
HWY_NOINLINE void Panels(D d, int64_t M, int64_t N, int64_t K, const T* a, int64_t ars, int64_t acs, const T* b,
                         int64_t ldb, T* c, int64_t ldc, const EpiArgs<hn::TFromD<D>>& e = {},
                         const int64_t* nlim = nullptr, const int64_t* klim = nullptr, const int64_t* kbeg = nullptr) {
  ForPanels(M, [&](int64_t r, auto mr) {
    const int64_t n = nlim ? std::min(N, nlim[r]) : N, k1 = klim ? std::min(K, klim[r]) : K;
    const int64_t k0 = kbeg ? std::min(kbeg[r], k1) : 0;
    if constexpr (kEpi == Epi::kAdd) {
      if (k1 <= k0) return;
    }
    RowPanel<decltype(mr)::value, kEpi>(d, n, k1 - k0, a + r * ars + k0 * acs, ars, acs, b + k0 * ldb, ldb,
                                        c + r * ldc, ldc, e, r);
  });
}

// Panels with C = A B for the first product of a sum (set), C += A B after it.
template <class D, class... A>
HWY_INLINE void SetOrAdd(bool set, D d, const A&... args) {
  if (set)
    Panels<Epi::kSet>(d, args...);
  else
    Panels<Epi::kAdd>(d, args...);
}

template <class T>
int64_t RoundUp(int64_t x, int64_t m) {
  return (x + m - 1) / m * m;
}

// Everything shared by the passes: dims, packed operands and tile helpers.
template <class T>
struct Ctx {
  hn::ScalableTag<T> d;
  const FlashDims& p;
  int64_t L, BN, EP, EvP, nQB, nKB, BHk;
  T sc;

  Ctx(const FlashDims& dims, double scale) : p(dims) {
    L = int64_t(hn::Lanes(d));
    // Key tiles of kFlashBlockN, or of S rounded up to the vector width when the keys are fewer:
    // a 20-key sequence then works on 24-wide tiles instead of 64-wide ones that are two thirds
    // padding. The padding keys hold exact zeros (probability 0), so a narrower tile adds the same
    // terms in the same order: the results do not change.
    BN = std::min<int64_t>(kFlashBlockN, RoundUp<T>(std::max<int64_t>(p.S, 1), L));
    EP = RoundUp<T>(std::max<int64_t>(p.E, 1), L);
    EvP = RoundUp<T>(std::max<int64_t>(p.Ev, 1), L);
    nQB = (p.T + BM - 1) / BM;
    nKB = (p.S + BN - 1) / BN;
    BHk = p.group > 0 ? p.BH / p.group : 0;
    sc = T(scale);
  }

  // x [R, n] row-major -> [nblk][n][BN] block-transposed, zero past R (kept blocks: R rows).
  // (Written once each, so not zero-filled first.)
  void PackTransposed(const T* x, int64_t heads, int64_t R, int64_t n, std::unique_ptr<T[]>& out) const {
    const int64_t nb = (R + BN - 1) / BN;
    out.reset(new T[size_t(heads * nb * n * BN)]);
    parallel_for(0, heads * nb, 4, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) PackBlock(x + t / nb * R * n, R, n, t % nb, out.get() + t * n * BN);
    });
  }
  // Block b of one head's x [R, n] -> o [n][BN], zero past R.
  void PackBlock(const T* x, int64_t R, int64_t n, int64_t b, T* o) const {
    const int64_t j0 = b * BN, nk = std::min(BN, R - j0);
    const T* src = x + j0 * n;
    int64_t jj = 0;
#if HWY_TARGET != HWY_SCALAR
    if constexpr (std::is_same_v<T, float>) {  // 4 x 4 blocks transposed in 128-bit registers
      const hn::Full128<float> d4;
      for (; jj + 4 <= nk; jj += 4) {
        int64_t e = 0;
        for (; e + 4 <= n; e += 4) {
          const float* x0 = src + jj * n + e;
          const auto r0 = hn::LoadU(d4, x0), r1 = hn::LoadU(d4, x0 + n);
          const auto r2 = hn::LoadU(d4, x0 + 2 * n), r3 = hn::LoadU(d4, x0 + 3 * n);
          const auto t0 = hn::InterleaveLower(d4, r0, r1), t1 = hn::InterleaveLower(d4, r2, r3);
          const auto t2 = hn::InterleaveUpper(d4, r0, r1), t3 = hn::InterleaveUpper(d4, r2, r3);
          float* y = o + e * BN + jj;
          hn::StoreU(hn::ConcatLowerLower(d4, t1, t0), d4, y);
          hn::StoreU(hn::ConcatUpperUpper(d4, t1, t0), d4, y + BN);
          hn::StoreU(hn::ConcatLowerLower(d4, t3, t2), d4, y + 2 * BN);
          hn::StoreU(hn::ConcatUpperUpper(d4, t3, t2), d4, y + 3 * BN);
        }
        for (; e < n; ++e)
          for (int64_t u = 0; u < 4; ++u) o[e * BN + jj + u] = src[(jj + u) * n + e];
      }
    }
#endif
    for (; jj < nk; ++jj)
      for (int64_t e = 0; e < n; ++e) o[e * BN + jj] = src[jj * n + e];
    for (int64_t e = 0; e < n; ++e)  // (a loop, not a memset call per row: a few keys each)
      for (int64_t j = nk; j < BN; ++j) o[e * BN + j] = T(0);
  }
  // x [rows, n] -> rows of np >= n elements, zero-padded; returns x itself when n == np.
  const T* PadRows(const T* x, int64_t rows, int64_t n, int64_t np, std::vector<T>& out) const {
    if (n == np) return x;
    out.assign(size_t(rows * np), T(0));
    parallel_for(0, rows, 1024, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) std::copy(x + r * n, x + r * n + n, out.data() + r * np);
    });
    return out.data();
  }

  // The key blocks [kb0, kb1) the band of query rows [i0, i0 + nq) touches.
  void KeyBlocks(int64_t bh, int64_t i0, int64_t nq, int64_t& kb0, int64_t& kb1) const {
    int64_t lo, hi, lo2, hi2;
    p.band(bh, i0, lo, hi);
    p.band(bh, i0 + nq - 1, lo2, hi2);
    if (hi2 < lo || p.S == 0) {
      kb0 = kb1 = 0;
      return;
    }
    kb0 = lo / BN;
    kb1 = hi2 / BN + 1;
  }
  // The query blocks [qb0, qb1) whose rows may see keys [j0, j0 + nk).
  void QueryBlocks(int64_t j0, int64_t nk, int64_t& qb0, int64_t& qb1) const {
    int64_t lo, hi, lo2, hi2;
    p.rows_of_key(j0, lo, hi);
    p.rows_of_key(j0 + nk - 1, lo2, hi2);
    if (hi2 < lo || p.T == 0) {
      qb0 = qb1 = 0;
      return;
    }
    qb0 = lo / BM;
    qb1 = hi2 / BM + 1;
  }

  // Whether no mask touches rows [i0, i0 + nq) x key block kb of block bh: the band holds the whole
  // block, no key runs past S (unless padding_ok: for a caller that never reads the padding keys'
  // columns) and there is no element-wise mask.
  bool Unmasked(int64_t bh, int64_t i0, int64_t nq, int64_t kb, bool padding_ok = false) const {
    const int64_t j0 = kb * BN, nk = padding_ok ? std::min(BN, p.S - j0) : BN;
    int64_t lo_first, hi_first, lo_last, hi_last;
    p.band(bh, i0, lo_first, hi_first);
    p.band(bh, i0 + nq - 1, lo_last, hi_last);
    return lo_last <= j0 && hi_first >= j0 + nk - 1 && !p.has_elementwise_mask();
  }

  // Scores of rows [i0, i0 + nq) x keys [j0, j0 + BN) of block bh into s [nq][BN]: scale * q k^T
  // (+ additive mask), -inf where hidden (including the padding keys past S). kt: the packed K^T
  // blocks [nKB][E][BN] of bh's kv head.
  // With wid (the forward), only the columns a row panel can see are computed: wid[r] receives the
  // width of row r's panel (its last row's last visible key, rounded up to whole vectors, the same
  // for every row of the panel), and columns from wid[r] on are left as they were. On a block the
  // causal diagonal cuts this is about 0.6 of the tile. With mx (one vector per row), a block no
  // mask touches also gets its row maxima from the product's stores; returns whether it did.
  bool Scores(int64_t bh, int64_t i0, int64_t nq, int64_t kb, const T* q, const T* kt, T* s, int64_t* wid = nullptr,
              T* mx = nullptr) const {
    const int64_t j0 = kb * BN, nk = std::min(BN, p.S - j0);
    const T* qb = q + (bh * p.T + i0) * p.E;
    const T* kb_t = kt + kb * p.E * BN;
    const bool elementwise = p.has_elementwise_mask();
    if (Unmasked(bh, i0, nq, kb)) {
      if (wid) std::fill(wid, wid + nq, BN);
      if (mx) {
        std::fill(mx, mx + nq * L, -std::numeric_limits<T>::infinity());
        Panels<Epi::kSetScaleMax>(d, nq, BN, p.E, qb, p.E, 1, kb_t, BN, s, BN, {&sc, mx});
        return true;
      }
      Panels<Epi::kSetScale>(d, nq, BN, p.E, qb, p.E, 1, kb_t, BN, s, BN, {&sc});
      return false;
    }
    // Each row's visible keys end before column end(r) (nondecreasing in r).
    auto end = [&](int64_t r) {
      int64_t lo, hi;
      p.band(bh, i0 + r, lo, hi);
      return std::clamp<int64_t>(std::min(hi, j0 + nk - 1) + 1 - j0, 0, BN);
    };
    if (wid) {
      if (elementwise)
        std::fill(wid, wid + nq, RoundUp<T>(nk, L));
      else
        ForPanels(nq, [&](int64_t r, auto mr) {
          std::fill(wid + r, wid + r + mr, RoundUp<T>(end(r + mr - 1), L));
        });
    }
    Panels<Epi::kSetScale>(d, nq, BN, p.E, qb, p.E, 1, kb_t, BN, s, BN, {&sc}, wid);
    const T ninf = -std::numeric_limits<T>::infinity();
    if (!elementwise) {  // band and key lengths only: each row's hidden keys are two ranges
      for (int64_t r = 0; r < nq; ++r) {
        T* sr = s + r * BN;
        const int64_t w = wid ? wid[r] : BN;
        int64_t lo, hi;
        p.band(bh, i0 + r, lo, hi);
        const int64_t a = std::clamp<int64_t>(lo - j0, 0, w), b = std::clamp<int64_t>(end(r), a, w);
        std::fill(sr, sr + a, ninf);
        std::fill(sr + b, sr + w, ninf);
      }
      return false;
    }
    const T* am = static_cast<const T*>(p.add_mask);
    for (int64_t r = 0; r < nq; ++r) {
      const int64_t i = i0 + r;
      T* sr = s + r * BN;
      int64_t lo, hi;
      p.band(bh, i, lo, hi);
      hi = std::min(hi, j0 + nk - 1);
      for (int64_t jj = 0, w = wid ? wid[r] : BN; jj < w; ++jj) {
        const int64_t j = j0 + jj;
        if (j < lo || j > hi) {
          sr[jj] = ninf;
          continue;
        }
        if (p.key_keep && !p.key_kept(bh, j)) {
          sr[jj] = ninf;
        } else if (p.bool_mask || am) {
          const int64_t o = p.mask_at(bh, i, j);
          if (p.bool_mask && !p.bool_mask[o])
            sr[jj] = ninf;
          else if (am)
            sr[jj] += am[o];
        }
      }
    }
    return false;
  }

  // s row [0, w) -> exp(s - c) in place (0 where s = -inf); returns the sum, still spread over the
  // lanes of a vector. c >= every s (a max or a log-sum-exp), so the arguments are <= 0.
  hn::Vec<hn::ScalableTag<T>> ExpSum(T* s, T c, int64_t w) const {
    const auto vc = hn::Set(d, c);
    auto acc = hn::Zero(d);
    for (int64_t x = 0; x < w; x += L) {
      const auto e = ExpNeg(d, hn::Sub(hn::LoadU(d, s + x), vc));
      hn::StoreU(e, d, s + x);
      acc = hn::Add(acc, e);
    }
    return acc;
  }
  T ExpRow(T* s, T c, int64_t w) const { return hn::GetLane(hn::SumOfLanes(d, ExpSum(s, c, w))); }
  // corr[r] = exp(m[r] - mn[r]) for r < n, rounded up to whole vectors (m, mn and corr hold BM
  // entries, a multiple of every vector width), in SIMD over rows: the online softmax's rescale
  // factors of a tile. Rows with mn = -inf (nothing visible yet) get 1; their factor is never used.
  void Corrections(const T* m, const T* mn, int64_t n, T* corr) const {
    const auto ninf = hn::Set(d, -std::numeric_limits<T>::infinity());
    for (int64_t x = 0; x < n; x += L) {
      const auto vn = hn::LoadU(d, mn + x);
      const auto arg = hn::IfThenZeroElse(hn::Eq(vn, ninf), hn::Sub(hn::LoadU(d, m + x), vn));
      hn::StoreU(ExpNeg(d, arg), d, corr + x);
    }
  }
  // dst[0, n) = f * src[0, n) (dst may be src).
  void ScaleTo(T* dst, const T* src, int64_t n, T f) const {
    const auto vf = hn::Set(d, f);
    int64_t x = 0;
    for (; x + L <= n; x += L) hn::StoreU(hn::Mul(hn::LoadU(d, src + x), vf), d, dst + x);
    for (; x < n; ++x) dst[x] = src[x] * f;
  }
  T Dot(const T* a, const T* b, int64_t n) const {
    auto acc = hn::Zero(d);
    int64_t x = 0;
    for (; x + L <= n; x += L) acc = hn::MulAdd(hn::LoadU(d, a + x), hn::LoadU(d, b + x), acc);
    T sum = hn::GetLane(hn::SumOfLanes(d, acc));
    for (; x < n; ++x) sum += a[x] * b[x];
    return sum;
  }
  // The max of s row [0, w) (-inf when w = 0).
  T MaxRow(const T* s, int64_t w) const {
    auto m = hn::Set(d, -std::numeric_limits<T>::infinity());
    for (int64_t x = 0; x < w; x += L) m = hn::Max(m, hn::LoadU(d, s + x));
    return hn::GetLane(hn::MaxOfLanes(d, m));
  }
  // Dropout multipliers of row (bh, i), keys [j0, j0 + n): one Philox block per four weights.
  void DropRow(int64_t bh, int64_t i, int64_t j0, int64_t n, T* m) const {
    if (p.drop_threshold >= (uint64_t(1) << 32)) {
      std::fill(m, m + n, T(0));
      return;
    }
    const uint64_t e0 = (uint64_t(bh) * uint64_t(p.T) + uint64_t(i)) * uint64_t(p.S) + uint64_t(j0);
    const T keep = T(p.drop_scale);
    uint64_t blk = ~uint64_t(0);
    std::array<uint32_t, 4> r{};
    for (int64_t jj = 0; jj < n; ++jj) {
      const uint64_t e = e0 + uint64_t(jj);
      if (e / 4 != blk) {
        blk = e / 4;
        r = Philox::block(p.drop_key, p.drop_ctr0 + blk);
      }
      m[jj] = uint64_t(r[size_t(e % 4)]) >= p.drop_threshold ? keep : T(0);
    }
  }
  // Multiplies row x [0, min(w, keys left)) by the dropout multipliers (padding keys past S stay
  // as they are: 0).
  void ApplyDrop(int64_t bh, int64_t i, int64_t j0, T* x, T* m, int64_t w) const {
    const int64_t nk = std::min({w, BN, p.S - j0});
    DropRow(bh, i, j0, nk, m);
    for (int64_t jj = 0; jj < nk; ++jj) x[jj] *= m[jj];
  }
  // Probabilities of the score tile from the saved lse: p = exp(s - lse), 0 on dead rows.
  // (Over columns [0, wid[r]) of each row with wid, as Scores left them.)
  void Probs(int64_t bh, int64_t i0, int64_t nq, const T* lse, T* s, const int64_t* wid = nullptr) const {
    const T ninf = -std::numeric_limits<T>::infinity();
    for (int64_t r = 0; r < nq; ++r) {
      const T l = lse[bh * p.T + i0 + r];
      const int64_t w = wid ? wid[r] : BN;
      if (l == ninf)
        std::fill(s + r * BN, s + r * BN + w, T(0));
      else
        ExpRow(s + r * BN, l, w);
    }
  }
};

// Runs worker(next) once on each thread; next() hands out the task numbers 0, 1, 2, ... (then
// numbers >= the task count) to whichever thread asks first. On a machine shared with other
// processes a static split waits for its slowest thread; here a slowed thread just takes fewer
// tasks. Every task writes outputs no other task writes, with the same arithmetic wherever it
// runs, so results do not depend on the thread count or on which thread ran a task.
template <class W>
void Dynamic(int64_t ntasks, const W& worker) {
  if (ntasks <= 0) return;
  std::atomic<int64_t> counter{0};
  const int64_t nt = std::min<int64_t>(ntasks, get_num_threads());
  parallel_for(0, nt, 1, [&](int64_t, int64_t) {
    worker([&counter] { return counter.fetch_add(1, std::memory_order_relaxed); });
  });
}

// Task t of the forward / dq passes: query block qb of head bh. Head by head, so that the threads
// share one head's K and V in the cache at a time (at N = 8192 all heads' packed K and V would not
// fit in L3), and within a head the last query blocks first (under a causal mask they see the most
// keys, so the long tasks start first and the short ones fill in).
HWY_INLINE void QueryTask(int64_t t, int64_t nQB, int64_t& bh, int64_t& qb) {
  bh = t / nQB;
  qb = nQB - 1 - t % nQB;
}

template <class T>
void ForwardT(const FlashDims& p, const T* q, const T* k, const T* v, double scale, T* out, T* lse, T* weights) {
  Ctx<T> c(p, scale);
  const int64_t BN = c.BN;
  const auto d = c.d;
  const T ninf = -std::numeric_limits<T>::infinity();
  std::unique_ptr<T[]> kt;
  std::vector<T> vpad;
  c.PackTransposed(k, c.BHk, p.S, p.E, kt);
  const T* vp = c.PadRows(v, c.BHk * p.S, p.Ev, c.EvP, vpad);
  const int64_t EvP = c.EvP;
  const int64_t ntasks = p.BH * c.nQB;
  Dynamic(ntasks, [&](auto next) {
    std::vector<T> s(size_t(BM * BN)), acc(size_t(BM * EvP)), dm(static_cast<size_t>(BN));
    // Per row: the running max m and sum l (one vector of partial sums, added up at the end).
    std::vector<T> m(static_cast<size_t>(BM)), l(size_t(BM * c.L));
    std::vector<T> mnew(static_cast<size_t>(BM)), corr(static_cast<size_t>(BM)), mx(size_t(BM * c.L));
    std::vector<int64_t> wid(static_cast<size_t>(BM)), klim(static_cast<size_t>(BM));
    for (int64_t t; (t = next()) < ntasks;) {
      int64_t bh, qb;
      QueryTask(t, c.nQB, bh, qb);
      const int64_t i0 = qb * BM, nq = std::min(BM, p.T - i0);
      std::fill(m.begin(), m.begin() + nq, ninf);
      std::fill(l.begin(), l.begin() + nq * c.L, T(0));
      int64_t kb0, kb1;
      c.KeyBlocks(bh, i0, nq, kb0, kb1);
      for (int64_t kb = kb0; kb < kb1; ++kb) {
        const int64_t j0 = kb * BN, nk = std::min(BN, p.S - j0);
        const bool have_max =
            c.Scores(bh, i0, nq, kb, q, kt.get() + (bh / p.group) * c.nKB * p.E * BN, s.data(), wid.data(), mx.data());
        for (int64_t r = 0; r < nq; ++r) {
          const T row_max = have_max ? hn::GetLane(hn::MaxOfLanes(d, hn::LoadU(d, mx.data() + r * c.L)))
                                     : c.MaxRow(s.data() + r * BN, wid[size_t(r)]);
          mnew[size_t(r)] = std::max(m[size_t(r)], row_max);
          klim[size_t(r)] = std::min(wid[size_t(r)], nk);
        }
        c.Corrections(m.data(), mnew.data(), nq, corr.data());
        for (int64_t r = 0; r < nq; ++r) {
          T* sr = s.data() + r * BN;
          const T mn = mnew[size_t(r)], cr = corr[size_t(r)];
          const int64_t w = wid[size_t(r)];
          if (mn == ninf) {  // nothing visible yet: contributes nothing
            std::fill(sr, sr + w, T(0));
            continue;
          }
          T* lr = l.data() + r * c.L;
          hn::StoreU(hn::MulAdd(hn::LoadU(d, lr), hn::Set(d, cr), c.ExpSum(sr, mn, w)), d, lr);
          if (cr != T(1) && m[size_t(r)] != ninf) {  // (acc holds nothing yet while m = -inf)
            const auto vc = hn::Set(d, cr);
            T* ar = acc.data() + r * EvP;
            for (int64_t x = 0; x < EvP; x += c.L) hn::StoreU(hn::Mul(hn::LoadU(d, ar + x), vc), d, ar + x);
          }
          m[size_t(r)] = mn;
          if (p.has_dropout()) c.ApplyDrop(bh, i0 + r, j0, sr, dm.data(), w);
        }
        // Each row panel sums only the keys its widest row sees (the rest of its tile is unset);
        // the first block sets acc instead of adding to it.
        SetOrAdd(kb == kb0, d, nq, EvP, nk, s.data(), BN, int64_t(1), vp + ((bh / p.group) * p.S + j0) * EvP, EvP,
                 acc.data(), EvP, EpiArgs<T>{}, nullptr, klim.data());
      }
      for (int64_t r = 0; r < nq; ++r) {
        const int64_t row = bh * p.T + i0 + r;
        T* o = out + row * p.Ev;
        if (m[size_t(r)] == ninf) {  // nothing visible: zero output, lse = -inf marks the row
          std::fill(o, o + p.Ev, T(0));
          lse[row] = ninf;
          continue;
        }
        const T lsum = hn::GetLane(hn::SumOfLanes(d, hn::LoadU(d, l.data() + r * c.L)));
        c.ScaleTo(o, acc.data() + r * EvP, p.Ev, T(1) / lsum);
        lse[row] = m[size_t(r)] + std::log(lsum);
      }
      if (weights) {  // second pass: the dense weights from the final lse
        for (int64_t kb = kb0; kb < kb1; ++kb) {
          const int64_t j0 = kb * BN, nk = std::min(BN, p.S - j0);
          c.Scores(bh, i0, nq, kb, q, kt.get() + (bh / p.group) * c.nKB * p.E * BN, s.data());
          c.Probs(bh, i0, nq, lse, s.data());
          for (int64_t r = 0; r < nq; ++r) {
            T* sr = s.data() + r * BN;
            if (p.has_dropout()) c.ApplyDrop(bh, i0 + r, j0, sr, dm.data(), BN);
            std::copy(sr, sr + nk, weights + (bh * p.T + i0 + r) * p.S + j0);
          }
        }
      }
    }
  });
}

template <class T>
void BackwardT(const FlashDims& p, const T* q, const T* k, const T* v, const T* out, const T* dout, const T* lse,
               double scale, T* dq, T* dk, T* dv) {
  Ctx<T> c(p, scale);
  const int64_t BN = c.BN;
  const auto d = c.d;
  const int64_t EP = c.EP, EvP = c.EvP, rows = p.BH * p.T;
  std::vector<T> kpad, qpad, dopad;
  const T* kp = c.PadRows(k, c.BHk * p.S, p.E, EP, kpad);
  const T* qp = c.PadRows(q, rows, p.E, EP, qpad);
  const T* dop = c.PadRows(dout, rows, p.Ev, EvP, dopad);
  // D_i = dout_i . out_i of rows [r0, r1) into D[0, r1 - r0).
  auto dots = [&](int64_t r0, int64_t r1, T* D) {
    for (int64_t r = r0; r < r1; ++r) D[r - r0] = c.Dot(dout + r * p.Ev, out + r * p.Ev, p.Ev);
  };
  // One thread's tile buffers: P m and dS of one (query block, key block) tile, the dropout
  // multipliers of a row, and where the tile's rows see only part of the key block (the causal
  // diagonal, a window edge, the key length): wid[r], the row panel's columns computed (as in the
  // forward; P and dS are zero from there on), klim[r] = min(wid[r], keys) for dq's sums, and
  // kbeg[jj], the first row that sees key jj, where dk's and dv's sums start.
  struct Work {
    std::vector<T> s = std::vector<T>(size_t(BM * kFlashBlockN)), ds = s, dm = std::vector<T>(size_t(kFlashBlockN));
    bool partial = false;
    int64_t wid[BM], klim[BM], kbeg[kFlashBlockN];
  };
  // The tile pair (P m, dS) of rows [i0, i0 + nq) x key block kb into w.s and w.ds. kt, vt: the
  // packed K^T, V^T blocks of bh's kv head; Dh: D of bh's rows.
  auto tiles = [&](int64_t bh, int64_t i0, int64_t nq, int64_t kb, Work& w, const T* kt, const T* vt, const T* Dh) {
    const int64_t j0 = kb * BN, nk = std::min(BN, p.S - j0);
    const T* dob = dout + (bh * p.T + i0) * p.Ev;
    T* s = w.s.data();
    T* ds = w.ds.data();
    w.partial = false;
    if (!p.has_dropout() && c.Unmasked(bh, i0, nq, kb, true)) {
      // P and dS straight from the two products' stores: P = exp(scale q k^T - lse) (lse' = +inf
      // on a dead row gives 0), dS = P o (dout v^T - D). The columns of padding keys past S hold
      // junk here (no mask hides them), but no product reads them: dv and dk have rows for the
      // block's keys only, dq sums over them only.
      T lrow[BM];
      for (int64_t r = 0; r < nq; ++r) {
        const T l = lse[bh * p.T + i0 + r];
        lrow[size_t(r)] = l == -std::numeric_limits<T>::infinity() ? std::numeric_limits<T>::infinity() : l;
      }
      Panels<Epi::kProbs>(d, nq, BN, p.E, q + (bh * p.T + i0) * p.E, p.E, 1, kt + kb * p.E * BN, BN, s, BN,
                          {&c.sc, nullptr, lrow});
      Panels<Epi::kDS>(d, nq, BN, p.Ev, dob, p.Ev, 1, vt + kb * p.Ev * BN, BN, ds, BN, {nullptr, nullptr, Dh + i0, s});
      return;
    }
    c.Scores(bh, i0, nq, kb, q, kt, s, w.wid);
    c.Probs(bh, i0, nq, lse, s, w.wid);
    Panels<Epi::kSet>(d, nq, BN, p.Ev, dob, p.Ev, 1, vt + kb * p.Ev * BN, BN, ds, BN, {}, w.wid);
    w.partial = w.wid[0] < BN;
    for (int64_t r = 0; r < nq; ++r) {
      T* sr = s + r * BN;
      T* dr = ds + r * BN;
      const int64_t wr = w.wid[r];
      const auto vD = hn::Set(d, Dh[i0 + r]);
      if (p.has_dropout()) c.ApplyDrop(bh, i0 + r, j0, dr, w.dm.data(), wr);  // dP m
      // dS = p (dP m - D); then s = p m
      for (int64_t x = 0; x < wr; x += c.L)
        hn::StoreU(hn::Mul(hn::LoadU(d, sr + x), hn::Sub(hn::LoadU(d, dr + x), vD)), d, dr + x);
      if (p.has_dropout())
        for (int64_t jj = 0, n = std::min(wr, nk); jj < n; ++jj) sr[jj] *= w.dm[size_t(jj)];
      if (w.partial) {
        std::fill(sr + wr, sr + BN, T(0));
        std::fill(dr + wr, dr + BN, T(0));
      }
      w.klim[r] = std::min(wr, nk);
    }
    if (w.partial)  // wid never decreases with r
      for (int64_t jj = 0, r = 0; jj < nk; ++jj) {
        while (r < nq && w.wid[r] <= jj) ++r;
        w.kbeg[jj] = r;
      }
  };
  // The tile's products: dv += (P m)^T dout, dk += dS^T q (unscaled) and dq += dS k (unscaled),
  // over the terms that can be nonzero; set: = instead of += (the first tile of a sum, which then
  // needs no zero-filled buffer; the same arithmetic). row0: the tile's first row of q / dout;
  // krow: its keys' first row of K.
  auto add_dv = [&](const Work& w, int64_t nq, int64_t nk, int64_t row0, T* av, bool set) {
    SetOrAdd(set, d, nk, EvP, nq, w.s.data(), int64_t(1), BN, dop + row0 * EvP, EvP, av, EvP, EpiArgs<T>{},
             nullptr, nullptr, w.partial ? w.kbeg : nullptr);
  };
  auto add_dk = [&](const Work& w, int64_t nq, int64_t nk, int64_t row0, T* ak, bool set) {
    SetOrAdd(set, d, nk, EP, nq, w.ds.data(), int64_t(1), BN, qp + row0 * EP, EP, ak, EP, EpiArgs<T>{}, nullptr,
             nullptr, w.partial ? w.kbeg : nullptr);
  };
  auto add_dq = [&](const Work& w, int64_t nq, int64_t nk, int64_t krow, T* acc, bool set) {
    SetOrAdd(set, d, nq, EP, nk, w.ds.data(), BN, int64_t(1), kp + krow * EP, EP, acc, EP, EpiArgs<T>{}, nullptr,
             w.partial ? w.klim : nullptr);
  };
  // Which (key block kb, query head bh, query block qb) tiles take part: the rows of qb may see
  // keys of kb (a tile outside this set has P = dS = 0 and would add only zeros).
  auto visits = [&](int64_t bh, int64_t qb, int64_t kb) {
    int64_t kb0, kb1;  // the band of these rows may still miss this block (key lengths)
    c.KeyBlocks(bh, qb * BM, std::min(BM, p.T - qb * BM), kb0, kb1);
    return kb >= kb0 && kb < kb1;
  };
  // dk and dv of a key block accumulate in dk and dv themselves when their rows are whole vectors,
  // else in padded scratch rows (ak, av).
  const bool e_in_place = EP == p.E, v_in_place = EvP == p.Ev;
  auto dk_sum = [&](int64_t kvh, int64_t j0, std::vector<T>& ak) {
    return e_in_place ? dk + (kvh * p.S + j0) * p.E : ak.data();
  };
  auto dv_sum = [&](int64_t kvh, int64_t j0, std::vector<T>& av) {
    return v_in_place ? dv + (kvh * p.S + j0) * p.Ev : av.data();
  };
  // The final dk = scale * sum and dv of keys [j0, j0 + nk) of kv head kvh (zero when no tile
  // added to them: any = false).
  auto write_dkdv = [&](int64_t kvh, int64_t j0, int64_t nk, const T* ak, const T* av, bool any) {
    for (int64_t jj = 0; jj < nk; ++jj) {
      const int64_t row = kvh * p.S + j0 + jj;
      if (!any) {
        std::fill(dk + row * p.E, dk + row * p.E + p.E, T(0));
        std::fill(dv + row * p.Ev, dv + row * p.Ev + p.Ev, T(0));
        continue;
      }
      c.ScaleTo(dk + row * p.E, ak + jj * EP, p.E, c.sc);
      if (!v_in_place) std::copy(av + jj * EvP, av + jj * EvP + p.Ev, dv + row * p.Ev);
    }
  };
  // Two schedules with the same arithmetic: every dq, dk and dv element receives the same tile
  // products in the same order (dq over key blocks ascending, dk and dv over the group's query
  // heads, then query blocks, ascending), so they give bitwise identical results.
  //  - one pass per kv head (FlashAttention-2): key blocks outer, the query blocks of every head
  //    of the group inner; each tile's P and dS are computed once and feed dv, dk and dq.
  //  - two passes: dq per (head, query block), then dk and dv per (kv head, key block); each tile
  //    is computed twice, but there are many more tasks than kv heads.
  // The first does 5 tile products per tile, the second 7; it is chosen unless it would leave
  // threads idle for longer than the second pass's extra work.
  const int64_t nt = std::max<int64_t>(get_num_threads(), 1);
  const bool per_head = double((c.BHk + nt - 1) / nt) <= 1.4 * double(c.BHk) / double(nt);
  if (per_head) {
    // dq is accumulated over key blocks in dq itself when its rows are whole vectors (then scaled
    // in place), else in a padded scratch copy.
    Dynamic(c.BHk, [&](auto next) {
      Work w;
      std::vector<T> ak(size_t(BN * EP)), av(size_t(BN * EvP)), scratch(e_in_place ? 0 : size_t(p.group * p.T * EP));
      // This head's K^T, V^T blocks (zero past S) and the D of its group's rows.
      std::vector<T> kt(size_t(c.nKB * p.E * BN)), vt(size_t(c.nKB * p.Ev * BN));
      std::vector<T> D(static_cast<size_t>(p.group * p.T));
      std::vector<uint8_t> started(size_t(p.group * c.nQB));
      for (int64_t kvh; (kvh = next()) < c.BHk;) {
        const int64_t bh0 = kvh * p.group;
        for (int64_t kb = 0; kb < c.nKB; ++kb) {
          c.PackBlock(k + kvh * p.S * p.E, p.S, p.E, kb, kt.data() + kb * p.E * BN);
          c.PackBlock(v + kvh * p.S * p.Ev, p.S, p.Ev, kb, vt.data() + kb * p.Ev * BN);
        }
        dots(bh0 * p.T, (bh0 + p.group) * p.T, D.data());
        T* acc = e_in_place ? dq + bh0 * p.T * p.E : scratch.data();  // [group * T][EP]
        std::fill(started.begin(), started.end(), 0);  // which query blocks' dq sums have begun
        for (int64_t kb = 0; kb < c.nKB; ++kb) {
          const int64_t j0 = kb * BN, nk = std::min(BN, p.S - j0);
          T* aks = dk_sum(kvh, j0, ak);
          T* avs = dv_sum(kvh, j0, av);
          bool any = false;
          int64_t qb0, qb1;
          c.QueryBlocks(j0, nk, qb0, qb1);
          for (int64_t bh = bh0; bh < bh0 + p.group; ++bh)
            for (int64_t qb = qb0; qb < qb1; ++qb) {
              if (!visits(bh, qb, kb)) continue;
              const int64_t i0 = qb * BM, nq = std::min(BM, p.T - i0), row0 = bh * p.T + i0;
              tiles(bh, i0, nq, kb, w, kt.data(), vt.data(), D.data() + (bh - bh0) * p.T);
              add_dv(w, nq, nk, row0, avs, !any);
              add_dk(w, nq, nk, row0, aks, !any);
              any = true;
              uint8_t& st = started[size_t((bh - bh0) * c.nQB + qb)];
              add_dq(w, nq, nk, kvh * p.S + j0, acc + (row0 - bh0 * p.T) * EP, !st);
              st = 1;
            }
          write_dkdv(kvh, j0, nk, aks, avs, any);
        }
        for (int64_t r = 0; r < p.group * p.T; ++r) {
          T* o = dq + (bh0 * p.T + r) * p.E;
          if (!started[size_t(r / p.T * c.nQB + r % p.T / BM)])
            std::fill(o, o + p.E, T(0));
          else
            c.ScaleTo(o, acc + r * EP, p.E, c.sc);
        }
      }
    });
    return;
  }
  std::unique_ptr<T[]> kt, vt;
  std::vector<T> D(static_cast<size_t>(rows));
  c.PackTransposed(k, c.BHk, p.S, p.E, kt);
  c.PackTransposed(v, c.BHk, p.S, p.Ev, vt);
  parallel_for(0, rows, 1024, [&](int64_t r0, int64_t r1) { dots(r0, r1, D.data() + r0); });
  auto head_tiles = [&](int64_t bh, int64_t i0, int64_t nq, int64_t kb, Work& w) {
    const int64_t kvh = bh / p.group;
    tiles(bh, i0, nq, kb, w, kt.get() + kvh * c.nKB * p.E * BN, vt.get() + kvh * c.nKB * p.Ev * BN,
          D.data() + bh * p.T);
  };
  // dq per (head, query block).
  const int64_t nq_tasks = p.BH * c.nQB;
  Dynamic(nq_tasks, [&](auto next) {
    Work w;
    std::vector<T> acc(size_t(BM * EP));
    for (int64_t t; (t = next()) < nq_tasks;) {
      int64_t bh, qb;
      QueryTask(t, c.nQB, bh, qb);
      const int64_t i0 = qb * BM, nq = std::min(BM, p.T - i0);
      bool any = false;
      int64_t kb0, kb1;
      c.KeyBlocks(bh, i0, nq, kb0, kb1);
      for (int64_t kb = kb0; kb < kb1; ++kb) {
        const int64_t j0 = kb * BN, nk = std::min(BN, p.S - j0);
        int64_t qb0, qb1;  // the same tiles as the per-head schedule
        c.QueryBlocks(j0, nk, qb0, qb1);
        if (qb < qb0 || qb >= qb1) continue;
        head_tiles(bh, i0, nq, kb, w);
        add_dq(w, nq, nk, (bh / p.group) * p.S + j0, acc.data(), !any);
        any = true;
      }
      for (int64_t r = 0; r < nq; ++r) {
        T* o = dq + (bh * p.T + i0 + r) * p.E;
        if (any)
          c.ScaleTo(o, acc.data() + r * EP, p.E, c.sc);
        else
          std::fill(o, o + p.E, T(0));
      }
    }
  });
  // dk, dv per (kv head, key block), over every query head of the group; the first key blocks
  // first (under a causal mask they are seen by the most query blocks).
  const int64_t nk_tasks = c.BHk * c.nKB;
  Dynamic(nk_tasks, [&](auto next) {
    Work w;
    std::vector<T> ak(size_t(BN * EP)), av(size_t(BN * EvP));
    for (int64_t t; (t = next()) < nk_tasks;) {
      const int64_t kvh = t % c.BHk, kb = t / c.BHk;
      const int64_t j0 = kb * BN, nk = std::min(BN, p.S - j0);
      T* aks = dk_sum(kvh, j0, ak);
      T* avs = dv_sum(kvh, j0, av);
      bool any = false;
      int64_t qb0, qb1;
      c.QueryBlocks(j0, nk, qb0, qb1);
      for (int64_t bh = kvh * p.group; bh < (kvh + 1) * p.group; ++bh)
        for (int64_t qb = qb0; qb < qb1; ++qb) {
          if (!visits(bh, qb, kb)) continue;
          const int64_t i0 = qb * BM, nq = std::min(BM, p.T - i0);
          head_tiles(bh, i0, nq, kb, w);
          add_dv(w, nq, nk, bh * p.T + i0, avs, !any);
          add_dk(w, nq, nk, bh * p.T + i0, aks, !any);
          any = true;
        }
      write_dkdv(kvh, j0, nk, aks, avs, any);
    }
  });
}

void ForwardF32(const FlashDims& p, const float* q, const float* k, const float* v, double scale, float* out,
                float* lse, float* weights) {
  ForwardT(p, q, k, v, scale, out, lse, weights);
}
void ForwardF64(const FlashDims& p, const double* q, const double* k, const double* v, double scale, double* out,
                double* lse, double* weights) {
  ForwardT(p, q, k, v, scale, out, lse, weights);
}
void BackwardF32(const FlashDims& p, const float* q, const float* k, const float* v, const float* out,
                 const float* dout, const float* lse, double scale, float* dq, float* dk, float* dv) {
  BackwardT(p, q, k, v, out, dout, lse, scale, dq, dk, dv);
}
void BackwardF64(const FlashDims& p, const double* q, const double* k, const double* v, const double* out,
                 const double* dout, const double* lse, double scale, double* dq, double* dk, double* dv) {
  BackwardT(p, q, k, v, out, dout, lse, scale, dq, dk, dv);
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attn::kernels {
HWY_EXPORT(ForwardF32);
HWY_EXPORT(ForwardF64);
HWY_EXPORT(BackwardF32);
HWY_EXPORT(BackwardF64);
namespace fast {
void flash_attention_forward(const FlashDims& p, const float* q, const float* k, const float* v, double scale,
                             float* out, float* lse, float* weights) {
  HWY_DYNAMIC_DISPATCH(ForwardF32)(p, q, k, v, scale, out, lse, weights);
}
void flash_attention_forward(const FlashDims& p, const double* q, const double* k, const double* v, double scale,
                             double* out, double* lse, double* weights) {
  HWY_DYNAMIC_DISPATCH(ForwardF64)(p, q, k, v, scale, out, lse, weights);
}
void flash_attention_backward(const FlashDims& p, const float* q, const float* k, const float* v, const float* out,
                              const float* dout, const float* lse, double scale, float* dq, float* dk, float* dv) {
  HWY_DYNAMIC_DISPATCH(BackwardF32)(p, q, k, v, out, dout, lse, scale, dq, dk, dv);
}
void flash_attention_backward(const FlashDims& p, const double* q, const double* k, const double* v,
                              const double* out, const double* dout, const double* lse, double scale, double* dq,
                              double* dk, double* dv) {
  HWY_DYNAMIC_DISPATCH(BackwardF64)(p, q, k, v, out, dout, lse, scale, dq, dk, dv);
}
}  // namespace fast
}  // namespace attn::kernels
#endif
