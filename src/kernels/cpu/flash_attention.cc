// Highway SIMD flash attention (see kernels/flash_attention.h for the contract). Compiled once per
// SIMD target by foreach_target.h; HWY_DYNAMIC_DISPATCH picks the best target at the first call.
//
// Work is split into tiles of kFlashBlockM query rows x kFlashBlockN keys. Every product of two
// tiles (Q K^T, P V, dO V^T, dS K, P^T dO, dS^T Q) is one small GEMM, MM() below: a register tile
// of 6 rows x 2 vectors of columns, fed by broadcasting one element of A and FMA-ing it into a row
// of B. A is read one scalar at a time, so any strides work (a transposed tile costs nothing); B's
// rows must be whole vectors, so K and V are packed once per call into block-transposed
// [E][kFlashBlockN] tiles (zero-padded past S), and operands whose row length is not a multiple of
// the vector width are copied with zero-padded rows. The softmax bookkeeping (scale, masks, max,
// exp, sums) runs on the score tile row by row in SIMD.
//
// Causal and sliding-window masks are band masks: key blocks entirely outside a query block's band
// are never visited, and masks are evaluated only in blocks the band cuts (or when an element-wise
// mask or a partial block needs them).
//
// Threads: forward and dq run one task per (head, query block), dk / dv one per (kv head, key
// block); the tasks are visited in an interleaved order so that causal work splits evenly.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/flash_attention.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"
#include "kernels/flash_attention.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr int64_t BM = kFlashBlockM, BN = kFlashBlockN;

// C[MR x NV*L] += A[MR x K] B[K x NV*L]: A(r, k) = a[r * ars + k * acs], B rows ldb apart. The
// MR x NV accumulators stay in registers (6 x 2 = 12 of AVX2's 16: enough independent FMA chains
// to cover the FMA latency on two ports).
template <int MR, int NV, class D, class T = hn::TFromD<D>>
HWY_INLINE void Tile(D d, int64_t K, const T* HWY_RESTRICT a, int64_t ars, int64_t acs, const T* HWY_RESTRICT b,
                     int64_t ldb, T* HWY_RESTRICT c, int64_t ldc) {
  using V = decltype(hn::Zero(d));
  const int64_t L = int64_t(hn::Lanes(d));
  V acc[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = hn::LoadU(d, c + r * ldc + v * L);
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
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) hn::StoreU(acc[r][v], d, c + r * ldc + v * L);
}

// Rows [r, r + MR) of C[M x N] += A B, N a multiple of the vector width.
template <int MR, class D, class T = hn::TFromD<D>>
HWY_INLINE void RowPanel(D d, int64_t N, int64_t K, const T* a, int64_t ars, int64_t acs, const T* b, int64_t ldb, T* c,
                         int64_t ldc) {
  const int64_t L = int64_t(hn::Lanes(d));
  int64_t n = 0;
  for (; n + 2 * L <= N; n += 2 * L) Tile<MR, 2>(d, K, a, ars, acs, b + n, ldb, c + n, ldc);
  for (; n < N; n += L) Tile<MR, 1>(d, K, a, ars, acs, b + n, ldb, c + n, ldc);
}

// C[M x N] += A[M x K] B[K x N], N a multiple of the vector width.
template <class D, class T = hn::TFromD<D>>
HWY_NOINLINE void MM(D d, int64_t M, int64_t N, int64_t K, const T* a, int64_t ars, int64_t acs, const T* b,
                     int64_t ldb, T* c, int64_t ldc) {
  int64_t r = 0;
  for (; r + 6 <= M; r += 6) RowPanel<6>(d, N, K, a + r * ars, ars, acs, b, ldb, c + r * ldc, ldc);
  for (; r + 4 <= M; r += 4) RowPanel<4>(d, N, K, a + r * ars, ars, acs, b, ldb, c + r * ldc, ldc);
  for (; r < M; ++r) RowPanel<1>(d, N, K, a + r * ars, ars, acs, b, ldb, c + r * ldc, ldc);
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
  int64_t L, EP, EvP, nQB, nKB, BHk;
  T sc;

  Ctx(const FlashDims& dims, double scale) : p(dims) {
    L = int64_t(hn::Lanes(d));
    EP = RoundUp<T>(std::max<int64_t>(p.E, 1), L);
    EvP = RoundUp<T>(std::max<int64_t>(p.Ev, 1), L);
    nQB = (p.T + BM - 1) / BM;
    nKB = (p.S + BN - 1) / BN;
    BHk = p.group > 0 ? p.BH / p.group : 0;
    sc = T(scale);
  }

  // x [R, n] row-major -> [nblk][n][BN] block-transposed, zero past R (kept blocks: R rows).
  void PackTransposed(const T* x, int64_t heads, int64_t R, int64_t n, std::vector<T>& out) const {
    const int64_t nb = (R + BN - 1) / BN;
    out.assign(size_t(heads * nb * n * BN), T(0));
    parallel_for(0, heads * nb, 4, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t h = t / nb, b = t % nb, j0 = b * BN, nk = std::min(BN, R - j0);
        T* o = out.data() + t * n * BN;
        const T* src = x + (h * R + j0) * n;
        for (int64_t jj = 0; jj < nk; ++jj)
          for (int64_t e = 0; e < n; ++e) o[e * BN + jj] = src[jj * n + e];
      }
    });
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

  // Scores of rows [i0, i0 + nq) x keys [j0, j0 + BN) of block bh into s [nq][BN]: scale * q k^T
  // (+ additive mask), -inf where hidden (including the padding keys past S).
  void Scores(int64_t bh, int64_t i0, int64_t nq, int64_t kb, const T* q, const T* kt, T* s) const {
    const int64_t j0 = kb * BN, nk = std::min(BN, p.S - j0);
    std::fill(s, s + nq * BN, T(0));
    MM(d, nq, BN, p.E, q + (bh * p.T + i0) * p.E, p.E, 1, kt + ((bh / p.group) * nKB + kb) * p.E * BN, BN, s, BN);
    const auto vs = hn::Set(d, sc);
    for (int64_t x = 0; x < nq * BN; x += L) hn::StoreU(hn::Mul(hn::LoadU(d, s + x), vs), d, s + x);
    // Masks: only where the band cuts the block, an element-wise mask exists, or keys run out.
    int64_t lo_first, hi_first, lo_last, hi_last;
    p.band(bh, i0, lo_first, hi_first);
    p.band(bh, i0 + nq - 1, lo_last, hi_last);
    const bool inside = lo_last <= j0 && hi_first >= j0 + BN - 1;
    if (inside && !p.has_elementwise_mask()) return;
    const T ninf = -std::numeric_limits<T>::infinity();
    const T* am = static_cast<const T*>(p.add_mask);
    for (int64_t r = 0; r < nq; ++r) {
      const int64_t i = i0 + r;
      T* sr = s + r * BN;
      int64_t lo, hi;
      p.band(bh, i, lo, hi);
      hi = std::min(hi, j0 + nk - 1);
      for (int64_t jj = 0; jj < BN; ++jj) {
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
  }

  // s row -> exp(s - c) in place (0 where s = -inf); returns the sum.
  T ExpRow(T* s, T c) const {
    const auto vc = hn::Set(d, c);
    auto acc = hn::Zero(d);
    for (int64_t x = 0; x < BN; x += L) {
      const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, s + x), vc));
      hn::StoreU(e, d, s + x);
      acc = hn::Add(acc, e);
    }
    return hn::GetLane(hn::SumOfLanes(d, acc));
  }
  T MaxRow(const T* s) const {
    auto m = hn::LoadU(d, s);
    for (int64_t x = L; x < BN; x += L) m = hn::Max(m, hn::LoadU(d, s + x));
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
  // Multiplies row x [BN] by the dropout multipliers (padding keys past S stay as they are: 0).
  void ApplyDrop(int64_t bh, int64_t i, int64_t j0, T* x, T* m) const {
    const int64_t nk = std::min(BN, p.S - j0);
    DropRow(bh, i, j0, nk, m);
    for (int64_t jj = 0; jj < nk; ++jj) x[jj] *= m[jj];
  }
  // Probabilities of the score tile from the saved lse: p = exp(s - lse), 0 on dead rows.
  void Probs(int64_t bh, int64_t i0, int64_t nq, const T* lse, T* s) const {
    const T ninf = -std::numeric_limits<T>::infinity();
    for (int64_t r = 0; r < nq; ++r) {
      const T l = lse[bh * p.T + i0 + r];
      if (l == ninf)
        std::fill(s + r * BN, s + r * BN + BN, T(0));
      else
        ExpRow(s + r * BN, l);
    }
  }
};

// Task t of n over `heads` x `nb` blocks, in an order where a contiguous half of the tasks holds
// about half the causal work: blocks are taken first, last, second, second-to-last, ...
HWY_INLINE void Interleaved(int64_t t, int64_t nb, int64_t& h, int64_t& b) {
  h = t / nb;
  const int64_t x = t % nb;
  b = (x % 2 == 0) ? x / 2 : nb - 1 - x / 2;
}

template <class T>
void ForwardT(const FlashDims& p, const T* q, const T* k, const T* v, double scale, T* out, T* lse, T* weights) {
  Ctx<T> c(p, scale);
  const auto d = c.d;
  const T ninf = -std::numeric_limits<T>::infinity();
  std::vector<T> kt, vpad;
  c.PackTransposed(k, c.BHk, p.S, p.E, kt);
  const T* vp = c.PadRows(v, c.BHk * p.S, p.Ev, c.EvP, vpad);
  const int64_t EvP = c.EvP;
  parallel_for(0, p.BH * c.nQB, 1, [&](int64_t t0, int64_t t1) {
    std::vector<T> s(size_t(BM * BN)), acc(size_t(BM * EvP)), dm(static_cast<size_t>(BN));
    std::vector<T> m(static_cast<size_t>(BM)), l(static_cast<size_t>(BM));
    for (int64_t t = t0; t < t1; ++t) {
      int64_t bh, qb;
      Interleaved(t, c.nQB, bh, qb);
      const int64_t i0 = qb * BM, nq = std::min(BM, p.T - i0);
      std::fill(acc.begin(), acc.end(), T(0));
      std::fill(m.begin(), m.end(), ninf);
      std::fill(l.begin(), l.end(), T(0));
      int64_t kb0, kb1;
      c.KeyBlocks(bh, i0, nq, kb0, kb1);
      for (int64_t kb = kb0; kb < kb1; ++kb) {
        const int64_t j0 = kb * BN, nk = std::min(BN, p.S - j0);
        c.Scores(bh, i0, nq, kb, q, kt.data(), s.data());
        for (int64_t r = 0; r < nq; ++r) {
          T* sr = s.data() + r * BN;
          const T mn = std::max(m[size_t(r)], c.MaxRow(sr));
          if (mn == ninf) {  // nothing visible yet: contributes nothing
            std::fill(sr, sr + BN, T(0));
            continue;
          }
          const T corr = std::exp(m[size_t(r)] - mn);
          l[size_t(r)] = l[size_t(r)] * corr + c.ExpRow(sr, mn);
          m[size_t(r)] = mn;
          if (corr != T(1)) {
            const auto vc = hn::Set(d, corr);
            T* ar = acc.data() + r * EvP;
            for (int64_t x = 0; x < EvP; x += c.L) hn::StoreU(hn::Mul(hn::LoadU(d, ar + x), vc), d, ar + x);
          }
          if (p.has_dropout()) c.ApplyDrop(bh, i0 + r, j0, sr, dm.data());
        }
        MM(d, nq, EvP, nk, s.data(), BN, 1, vp + ((bh / p.group) * p.S + j0) * EvP, EvP, acc.data(), EvP);
      }
      for (int64_t r = 0; r < nq; ++r) {
        const int64_t row = bh * p.T + i0 + r;
        T* o = out + row * p.Ev;
        if (m[size_t(r)] == ninf) {  // nothing visible: zero output, lse = -inf marks the row
          std::fill(o, o + p.Ev, T(0));
          lse[row] = ninf;
          continue;
        }
        const T inv = T(1) / l[size_t(r)];
        for (int64_t e = 0; e < p.Ev; ++e) o[e] = acc[size_t(r * EvP + e)] * inv;
        lse[row] = m[size_t(r)] + std::log(l[size_t(r)]);
      }
      if (weights) {  // second pass: the dense weights from the final lse
        for (int64_t kb = kb0; kb < kb1; ++kb) {
          const int64_t j0 = kb * BN, nk = std::min(BN, p.S - j0);
          c.Scores(bh, i0, nq, kb, q, kt.data(), s.data());
          c.Probs(bh, i0, nq, lse, s.data());
          for (int64_t r = 0; r < nq; ++r) {
            T* sr = s.data() + r * BN;
            if (p.has_dropout()) c.ApplyDrop(bh, i0 + r, j0, sr, dm.data());
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
  const auto d = c.d;
  const int64_t EP = c.EP, EvP = c.EvP, rows = p.BH * p.T;
  std::vector<T> kt, vt, kpad, qpad, dopad, D(static_cast<size_t>(rows));
  c.PackTransposed(k, c.BHk, p.S, p.E, kt);
  c.PackTransposed(v, c.BHk, p.S, p.Ev, vt);
  const T* kp = c.PadRows(k, c.BHk * p.S, p.E, EP, kpad);
  const T* qp = c.PadRows(q, rows, p.E, EP, qpad);
  const T* dop = c.PadRows(dout, rows, p.Ev, EvP, dopad);
  parallel_for(0, rows, 1024, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      T acc = 0;
      for (int64_t e = 0; e < p.Ev; ++e) acc += dout[r * p.Ev + e] * out[r * p.Ev + e];
      D[size_t(r)] = acc;
    }
  });
  // The tile pair (P m, dS) of rows [i0, i0 + nq) x key block kb: s receives p * m, ds receives dS.
  auto tiles = [&](int64_t bh, int64_t i0, int64_t nq, int64_t kb, T* s, T* ds, T* dm) {
    const int64_t j0 = kb * BN;
    c.Scores(bh, i0, nq, kb, q, kt.data(), s);
    c.Probs(bh, i0, nq, lse, s);
    std::fill(ds, ds + nq * BN, T(0));
    MM(d, nq, BN, p.Ev, dout + (bh * p.T + i0) * p.Ev, p.Ev, 1, vt.data() + ((bh / p.group) * c.nKB + kb) * p.Ev * BN,
       BN, ds, BN);
    for (int64_t r = 0; r < nq; ++r) {
      T* sr = s + r * BN;
      T* dr = ds + r * BN;
      const auto vD = hn::Set(d, D[size_t(bh * p.T + i0 + r)]);
      if (p.has_dropout()) {
        c.ApplyDrop(bh, i0 + r, j0, dr, dm);  // dP m
        // dS = p (dP m - D); then s = p m
        for (int64_t x = 0; x < BN; x += c.L)
          hn::StoreU(hn::Mul(hn::LoadU(d, sr + x), hn::Sub(hn::LoadU(d, dr + x), vD)), d, dr + x);
        const int64_t nk = std::min(BN, p.S - j0);
        for (int64_t jj = 0; jj < nk; ++jj) sr[jj] *= dm[jj];
      } else {
        for (int64_t x = 0; x < BN; x += c.L)
          hn::StoreU(hn::Mul(hn::LoadU(d, sr + x), hn::Sub(hn::LoadU(d, dr + x), vD)), d, dr + x);
      }
    }
  };
  // dq per (head, query block).
  parallel_for(0, p.BH * c.nQB, 1, [&](int64_t t0, int64_t t1) {
    std::vector<T> s(size_t(BM * BN)), ds(size_t(BM * BN)), dm(static_cast<size_t>(BN)), acc(size_t(BM * EP));
    for (int64_t t = t0; t < t1; ++t) {
      int64_t bh, qb;
      Interleaved(t, c.nQB, bh, qb);
      const int64_t i0 = qb * BM, nq = std::min(BM, p.T - i0);
      std::fill(acc.begin(), acc.end(), T(0));
      int64_t kb0, kb1;
      c.KeyBlocks(bh, i0, nq, kb0, kb1);
      for (int64_t kb = kb0; kb < kb1; ++kb) {
        const int64_t j0 = kb * BN, nk = std::min(BN, p.S - j0);
        tiles(bh, i0, nq, kb, s.data(), ds.data(), dm.data());
        MM(d, nq, EP, nk, ds.data(), BN, 1, kp + ((bh / p.group) * p.S + j0) * EP, EP, acc.data(), EP);
      }
      for (int64_t r = 0; r < nq; ++r) {
        T* o = dq + (bh * p.T + i0 + r) * p.E;
        for (int64_t e = 0; e < p.E; ++e) o[e] = c.sc * acc[size_t(r * EP + e)];
      }
    }
  });
  // dk, dv per (kv head, key block), over every query head of the group.
  parallel_for(0, c.BHk * c.nKB, 1, [&](int64_t t0, int64_t t1) {
    std::vector<T> s(size_t(BM * BN)), ds(size_t(BM * BN)), dm(static_cast<size_t>(BN)), ak(size_t(BN * EP)), av(size_t(BN * EvP));
    for (int64_t t = t0; t < t1; ++t) {
      int64_t kvh, kb;
      Interleaved(t, c.nKB, kvh, kb);
      const int64_t j0 = kb * BN, nk = std::min(BN, p.S - j0);
      std::fill(ak.begin(), ak.end(), T(0));
      std::fill(av.begin(), av.end(), T(0));
      int64_t qb0, qb1;
      c.QueryBlocks(j0, nk, qb0, qb1);
      for (int64_t bh = kvh * p.group; bh < (kvh + 1) * p.group; ++bh)
        for (int64_t qb = qb0; qb < qb1; ++qb) {
          const int64_t i0 = qb * BM, nq = std::min(BM, p.T - i0);
          int64_t kb0, kb1;  // the band of these rows may still miss this block (key lengths)
          c.KeyBlocks(bh, i0, nq, kb0, kb1);
          if (kb < kb0 || kb >= kb1) continue;
          tiles(bh, i0, nq, kb, s.data(), ds.data(), dm.data());
          const int64_t row0 = bh * p.T + i0;
          MM(d, nk, EvP, nq, s.data(), 1, BN, dop + row0 * EvP, EvP, av.data(), EvP);
          MM(d, nk, EP, nq, ds.data(), 1, BN, qp + row0 * EP, EP, ak.data(), EP);
        }
      for (int64_t jj = 0; jj < nk; ++jj) {
        const int64_t row = kvh * p.S + j0 + jj;
        for (int64_t e = 0; e < p.E; ++e) dk[row * p.E + e] = c.sc * ak[size_t(jj * EP + e)];
        for (int64_t e = 0; e < p.Ev; ++e) dv[row * p.Ev + e] = av[size_t(jj * EvP + e)];
      }
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
