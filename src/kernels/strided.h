// Strided iteration: the loop nest behind every elementwise op, copy and type conversion.
// Given a shape and N operands' strides (in elements, 0 for broadcast dims), it merges dims that
// are contiguous for every operand, then calls
//     inner(offsets, n, inner_strides)
// once per innermost row, where offsets[k] is operand k's element offset of the row start.
// Rows (or, when there are fewer rows than threads, blocks of a row) are distributed over threads;
// each element is written by one thread with the same code, so results do not
// depend on the thread count.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "kernels/parallel.h"

namespace attn::kernels {

template <size_t N>
struct StridedLayout {
  std::vector<int64_t> shape;                    // after merging, innermost last
  std::array<std::vector<int64_t>, N> strides;   // per operand
};

// Merges adjacent dims (d, d+1) when for every operand stride[d] == stride[d+1] * shape[d+1],
// and drops size-1 dims. The result has at least one dim.
template <size_t N>
StridedLayout<N> coalesce(const std::vector<int64_t>& shape, const std::array<const int64_t*, N>& strides) {
  StridedLayout<N> out;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !out.shape.empty();
    if (merge)
      for (size_t k = 0; k < N; ++k)
        if (out.strides[k].back() != strides[k][d] * shape[d]) merge = false;
    if (merge) {
      out.shape.back() *= shape[d];
      for (size_t k = 0; k < N; ++k) out.strides[k].back() = strides[k][d];
    } else {
      out.shape.push_back(shape[d]);
      for (size_t k = 0; k < N; ++k) out.strides[k].push_back(strides[k][d]);
    }
  }
  if (out.shape.empty()) {
    out.shape.push_back(1);
    for (size_t k = 0; k < N; ++k) out.strides[k].push_back(1);
  }
  return out;
}

template <size_t N, class Inner>
void strided_for_each(const std::vector<int64_t>& shape, const std::array<const int64_t*, N>& strides,
                      const Inner& inner, int64_t grain_elems = 32768) {
  for (int64_t s : shape)
    if (s == 0) return;
  const StridedLayout<N> L = coalesce<N>(shape, strides);
  const int64_t nd = int64_t(L.shape.size());
  const int64_t n_inner = L.shape[nd - 1];
  int64_t rows = 1;
  for (int64_t d = 0; d + 1 < nd; ++d) rows *= L.shape[d];
  std::array<int64_t, N> inner_strides;
  for (size_t k = 0; k < N; ++k) inner_strides[k] = L.strides[k][nd - 1];
  // Offsets of row r's start, by decomposing r over the outer dims.
  auto row_offsets = [&](int64_t r) {
    std::array<int64_t, N> off{};
    for (int64_t d = nd - 2; d >= 0; --d) {
      const int64_t i = r % L.shape[d];
      r /= L.shape[d];
      for (size_t k = 0; k < N; ++k) off[k] += i * L.strides[k][d];
    }
    return off;
  };

  // Few long rows (a contiguous tensor is one row): split each row into blocks so every thread
  // gets work. inner() is elementwise, so the split never changes a result.
  const int64_t nt = get_num_threads();
  if (rows < nt && n_inner >= 2 * grain_elems) {
    const int64_t block = std::max<int64_t>(grain_elems, ((n_inner + nt - 1) / nt + 63) / 64 * 64);
    const int64_t per_row = (n_inner + block - 1) / block;
    parallel_for(0, rows * per_row, 1, [&](int64_t u0, int64_t u1) {
      for (int64_t u = u0; u < u1; ++u) {
        const int64_t r = u / per_row, b0 = (u % per_row) * block, len = std::min(block, n_inner - b0);
        std::array<int64_t, N> off = row_offsets(r);
        for (size_t k = 0; k < N; ++k) off[k] += b0 * inner_strides[k];
        inner(off, len, inner_strides);
      }
    });
    return;
  }

  const int64_t grain_rows = std::max<int64_t>(1, grain_elems / std::max<int64_t>(n_inner, 1));
  parallel_for(0, rows, grain_rows, [&](int64_t r0, int64_t r1) {
    // Decompose r0 once, then step the index like an odometer.
    std::vector<int64_t> idx(nd > 1 ? nd - 1 : 1, 0);
    int64_t rem = r0;
    for (int64_t d = nd - 2; d >= 0; --d) {
      idx[d] = rem % L.shape[d];
      rem /= L.shape[d];
    }
    std::array<int64_t, N> off = row_offsets(r0);
    for (int64_t r = r0; r < r1; ++r) {
      inner(off, n_inner, inner_strides);
      for (int64_t d = nd - 2; d >= 0; --d) {
        ++idx[d];
        for (size_t k = 0; k < N; ++k) off[k] += L.strides[k][d];
        if (idx[d] < L.shape[d]) break;
        for (size_t k = 0; k < N; ++k) off[k] -= L.strides[k][d] * L.shape[d];
        idx[d] = 0;
      }
    }
  });
}

}  // namespace attn::kernels
