// im2col / col2im: the layout change that turns a 2-D convolution into a GEMM.
//
// For one image x [C, H, W] and a kernel kh x kw with stride (sh, sw), zero padding (ph, pw) and
// dilation (dh, dw), the output grid is Ho x Wo with
//     Ho = (H + 2 ph - dh (kh - 1) - 1) / sh + 1     (likewise Wo)
// and cols [C * kh * kw, Ho * Wo] holds, in row r = (c * kh + i) * kw + j and column p = oh * Wo + ow,
//     cols[r, p] = x[c, oh * sh - ph + i * dh, ow * sw - pw + j * dw]   (0 outside the image).
// col2im is its adjoint: every cols entry is added back into the x position it was read from
// (positions in the padding are dropped), which is the gradient of im2col.
//
// Only a reference version: the loops are pure copies, memory bound, and the GEMM that follows
// dominates the cost. Threads: im2col splits over rows of cols, col2im over channels (all rows
// that write channel c belong to c's task and are added in a fixed order), so results do not
// depend on the thread count.
#pragma once
#include <cstdint>

#include "kernels/parallel.h"

namespace attn::kernels {

struct Im2colGeom {
  int64_t C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo;
};

namespace ref {

template <class T>
void im2col(const T* x, const Im2colGeom& g, T* cols) {
  const int64_t rows = g.C * g.kh * g.kw, L = g.Ho * g.Wo;
  parallel_for(0, rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t j = r % g.kw, i = (r / g.kw) % g.kh, c = r / (g.kw * g.kh);
      const T* xc = x + c * g.H * g.W;
      T* out = cols + r * L;
      for (int64_t oh = 0; oh < g.Ho; ++oh) {
        const int64_t h = oh * g.sh - g.ph + i * g.dh;
        T* o = out + oh * g.Wo;
        if (h < 0 || h >= g.H) {
          for (int64_t ow = 0; ow < g.Wo; ++ow) o[ow] = T(0);
          continue;
        }
        const T* xr = xc + h * g.W;
        for (int64_t ow = 0; ow < g.Wo; ++ow) {
          const int64_t w = ow * g.sw - g.pw + j * g.dw;
          o[ow] = (w >= 0 && w < g.W) ? xr[w] : T(0);
        }
      }
    }
  });
}

// x [C, H, W] is overwritten with the sum of the cols entries that map to each position.
template <class T>
void col2im(const T* cols, const Im2colGeom& g, T* x) {
  const int64_t L = g.Ho * g.Wo;
  parallel_for(0, g.C, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      T* xc = x + c * g.H * g.W;
      for (int64_t q = 0; q < g.H * g.W; ++q) xc[q] = T(0);
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          const T* in = cols + ((c * g.kh + i) * g.kw + j) * L;
          for (int64_t oh = 0; oh < g.Ho; ++oh) {
            const int64_t h = oh * g.sh - g.ph + i * g.dh;
            if (h < 0 || h >= g.H) continue;
            T* xr = xc + h * g.W;
            const T* ir = in + oh * g.Wo;
            for (int64_t ow = 0; ow < g.Wo; ++ow) {
              const int64_t w = ow * g.sw - g.pw + j * g.dw;
              if (w >= 0 && w < g.W) xr[w] += ir[ow];
            }
          }
        }
    }
  });
}

}  // namespace ref
}  // namespace attn::kernels
