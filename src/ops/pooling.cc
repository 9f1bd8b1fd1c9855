// Pooling over separable windows; see include/attn/ops/pooling.h. Every pooling here reads, for
// output (i, j), the rectangle of rows rows[i] x columns cols[j], where an axis window is the
// positions start + t * step, t in [0, count) (already clipped to the input), so one forward and
// one backward loop serve adaptive, strided, padded and dilated windows alike.
#include "attn/ops/pooling.h"

#include <cmath>
#include <limits>

#include "kernels/parallel.h"
#include "ops/op_util.h"

namespace attn {
namespace {

struct Win {
  int64_t start, count, step;
  double divisor;  // this axis's factor of the average's divisor
};

std::vector<Win> adaptive_windows(int64_t in, int64_t out) {
  std::vector<Win> w(out);
  for (int64_t i = 0; i < out; ++i) {
    const int64_t s = (i * in) / out, e = ((i + 1) * in + out - 1) / out;  // floor, ceil
    w[i] = {s, e - s, 1, double(e - s)};
  }
  return w;
}

// Windows [i s - p + t d, t < k) clipped to [0, in); the divisor counts the window clipped to the
// padded input [-p, in + p) when include_pad (PyTorch's avg_pool2d), the valid cells otherwise.
std::vector<Win> strided_windows(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, int64_t d,
                                 bool include_pad) {
  std::vector<Win> w(out);
  for (int64_t i = 0; i < out; ++i) {
    const int64_t base = i * s - p;
    int64_t lo = 0, hi = k;
    while (lo < k && base + lo * d < 0) ++lo;
    while (hi > lo && base + (hi - 1) * d >= in) --hi;
    const double div = include_pad ? double(std::min(base + k, in + p) - base) : double(hi - lo);
    w[i] = {base + lo * d, hi - lo, d, div};
  }
  return w;
}

enum class Mode { kAvg, kMax };

struct PoolResult {
  Tensor out, indices;
};

// x [..., H, W] (3-D or 4-D, checked by the caller) -> out [..., Ho, Wo], and indices for kMax.
PoolResult pool(const char* op, const Tensor& x_in, Mode mode, const std::vector<Win>& rows,
                const std::vector<Win>& cols) {
  ATTN_CHECK(x_in.dim() == 3 || x_in.dim() == 4, op, ": expected input [B, C, H, W] or [C, H, W], got ",
             x_in.describe());
  ATTN_CHECK(x_in.is_floating_point(), op, ": expected a floating point input, got ", x_in.describe());
  const Tensor x = x_in.contiguous();
  const int64_t H = x.size(-2), W = x.size(-1), Ho = int64_t(rows.size()), Wo = int64_t(cols.size());
  int64_t n_planes = 1;
  for (int64_t d = 0; d < x.dim() - 2; ++d) n_planes *= x.size(d);
  Shape out_shape = x.shape();
  out_shape[out_shape.size() - 2] = Ho;
  out_shape[out_shape.size() - 1] = Wo;
  PoolResult r{empty(out_shape, x.dtype()), Tensor()};
  if (mode == Mode::kMax) r.indices = empty(out_shape, kInt64);
  for (const auto& w : rows) ATTN_CHECK(w.count > 0 || n_planes == 0, op, ": empty pooling window for input ", x.describe());
  for (const auto& w : cols) ATTN_CHECK(w.count > 0 || n_planes == 0, op, ": empty pooling window for input ", x.describe());
  ATTN_DISPATCH_FLOATING(x.dtype(), op, [&] {
    const scalar_t* px = x.data_ptr<scalar_t>();
    scalar_t* po = r.out.data_ptr<scalar_t>();
    int64_t* pi = mode == Mode::kMax ? r.indices.data_ptr<int64_t>() : nullptr;
    kernels::parallel_for(0, n_planes, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const scalar_t* xp = px + p * H * W;
        for (int64_t i = 0; i < Ho; ++i)
          for (int64_t j = 0; j < Wo; ++j) {
            const Win& a = rows[i];
            const Win& b = cols[j];
            const int64_t o = (p * Ho + i) * Wo + j;
            if (mode == Mode::kAvg) {
              double acc = 0;  // sum in double: windows can be a whole plane (global pooling)
              for (int64_t t = 0; t < a.count; ++t)
                for (int64_t u = 0; u < b.count; ++u) acc += double(xp[(a.start + t * a.step) * W + b.start + u * b.step]);
              po[o] = scalar_t(acc / (a.divisor * b.divisor));
            } else {
              scalar_t best = -std::numeric_limits<scalar_t>::infinity();
              int64_t arg = a.start * W + b.start;
              for (int64_t t = 0; t < a.count; ++t)
                for (int64_t u = 0; u < b.count; ++u) {
                  const int64_t q = (a.start + t * a.step) * W + b.start + u * b.step;
                  const scalar_t v = xp[q];
                  if (v > best || std::isnan(v)) {
                    best = v;
                    arg = q;
                    if (std::isnan(v)) goto done;
                  }
                }
            done:
              po[o] = best;
              pi[o] = arg;
            }
          }
      }
    });
  });
  const Shape x_shape = x.shape();
  const DType dt = x.dtype();
  const Tensor idx = r.indices;
  autograd::record(op, r.out, {x_in}, [=](const Tensor& g_in) -> std::vector<Tensor> {
    // forward took an average (max) of each window, therefore each input cell receives g / divisor
    // from every window holding it (g from the windows whose maximum it was).
    const Tensor g = g_in.to(dt).contiguous();
    Tensor dx = zeros(x_shape, dt);
    if (dx.numel() == 0 || g.numel() == 0) return {dx};
    ATTN_DISPATCH_FLOATING(dt, "pool_backward", [&] {
      const scalar_t* pg = g.data_ptr<scalar_t>();
      scalar_t* pd = dx.data_ptr<scalar_t>();
      const int64_t* pi = mode == Mode::kMax ? idx.data_ptr<int64_t>() : nullptr;
      kernels::parallel_for(0, n_planes, 1, [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
          scalar_t* dp = pd + p * H * W;
          for (int64_t i = 0; i < Ho; ++i)
            for (int64_t j = 0; j < Wo; ++j) {
              const int64_t o = (p * Ho + i) * Wo + j;
              if (mode == Mode::kMax) {
                dp[pi[o]] += pg[o];
                continue;
              }
              const Win& a = rows[i];
              const Win& b = cols[j];
              const scalar_t v = scalar_t(double(pg[o]) / (a.divisor * b.divisor));
              for (int64_t t = 0; t < a.count; ++t)
                for (int64_t u = 0; u < b.count; ++u) dp[(a.start + t * a.step) * W + b.start + u * b.step] += v;
            }
        }
      });
    });
    return {dx};
  });
  return r;
}

void check_output_size(const char* op, const Tensor& x, IntPair out) {
  ATTN_CHECK(x.dim() == 3 || x.dim() == 4, op, ": expected input [B, C, H, W] or [C, H, W], got ", x.describe());
  ATTN_CHECK(out[0] > 0 && out[1] > 0, op, ": output size must be positive, got (", out[0], ", ", out[1], ")");
  ATTN_CHECK(x.size(-2) > 0 && x.size(-1) > 0, op, ": input ", x.describe(), " has an empty spatial dim");
}

struct Strided {
  std::vector<Win> rows, cols;
};

Strided strided(const char* op, const Tensor& x, IntPair k, IntPair& s, IntPair p, IntPair d, bool include_pad) {
  ATTN_CHECK(x.dim() == 3 || x.dim() == 4, op, ": expected input [B, C, H, W] or [C, H, W], got ", x.describe());
  if (s[0] == 0 && s[1] == 0) s = k;
  Strided r;
  for (int a = 0; a < 2; ++a) {
    ATTN_CHECK(k[a] > 0 && s[a] > 0 && d[a] > 0 && p[a] >= 0, op, ": kernel (", k[0], ", ", k[1], "), stride (", s[0],
               ", ", s[1], ") and dilation (", d[0], ", ", d[1], ") must be positive and padding (", p[0], ", ", p[1],
               ") non-negative");
    ATTN_CHECK(2 * p[a] <= k[a], op, ": padding (", p[0], ", ", p[1], ") must be at most half the kernel size (", k[0],
               ", ", k[1], ")");
    const int64_t in = x.size(x.dim() - 2 + a), ext = d[a] * (k[a] - 1) + 1;
    ATTN_CHECK(ext <= in + 2 * p[a], op, ": kernel (", k[0], ", ", k[1], ") is larger than the padded input of ",
               x.describe(), " with padding (", p[0], ", ", p[1], ")");
    const int64_t out = (in + 2 * p[a] - ext) / s[a] + 1;
    (a == 0 ? r.rows : r.cols) = strided_windows(in, out, k[a], s[a], p[a], d[a], include_pad);
  }
  return r;
}

}  // namespace

Tensor adaptive_avg_pool2d(const Tensor& x, IntPair out) {
  check_output_size("adaptive_avg_pool2d", x, out);
  return pool("adaptive_avg_pool2d", x, Mode::kAvg, adaptive_windows(x.size(-2), out[0]),
              adaptive_windows(x.size(-1), out[1]))
      .out;
}

ValuesIndices adaptive_max_pool2d_with_indices(const Tensor& x, IntPair out) {
  check_output_size("adaptive_max_pool2d", x, out);
  PoolResult r = pool("adaptive_max_pool2d", x, Mode::kMax, adaptive_windows(x.size(-2), out[0]),
                      adaptive_windows(x.size(-1), out[1]));
  return {r.out, r.indices};
}

Tensor adaptive_max_pool2d(const Tensor& x, IntPair out) { return adaptive_max_pool2d_with_indices(x, out).values; }

Tensor adaptive_avg_pool1d(const Tensor& x, int64_t out) {
  ATTN_CHECK(x.dim() == 2 || x.dim() == 3, "adaptive_avg_pool1d: expected input [B, C, L] or [C, L], got ",
             x.describe());
  return adaptive_avg_pool2d(x.unsqueeze(-2), {1, out}).squeeze(-2);
}

Tensor avg_pool2d(const Tensor& x, IntPair k, IntPair s, IntPair p, bool count_include_pad) {
  Strided w = strided("avg_pool2d", x, k, s, p, {1, 1}, count_include_pad);
  return pool("avg_pool2d", x, Mode::kAvg, w.rows, w.cols).out;
}

ValuesIndices max_pool2d_with_indices(const Tensor& x, IntPair k, IntPair s, IntPair p, IntPair d) {
  Strided w = strided("max_pool2d", x, k, s, p, d, false);
  PoolResult r = pool("max_pool2d", x, Mode::kMax, w.rows, w.cols);
  return {r.out, r.indices};
}

Tensor max_pool2d(const Tensor& x, IntPair k, IntPair s, IntPair p, IntPair d) {
  return max_pool2d_with_indices(x, k, s, p, d).values;
}

}  // namespace attn
