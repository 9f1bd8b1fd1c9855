// Convolutions as unfold (im2col) + batched matmul; see include/attn/ops/conv.h.
#include "attn/ops/conv.h"

#include "attn/ops/elementwise.h"
#include "attn/ops/linalg.h"
#include "kernels/im2col.h"
#include "ops/op_util.h"

namespace attn {
namespace {

int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) { return (in + 2 * p - d * (k - 1) - 1) / s + 1; }

void check_params(const char* op, IntPair stride, IntPair padding, IntPair dilation) {
  for (int a = 0; a < 2; ++a) {
    ATTN_CHECK(stride[a] > 0, op, ": stride must be positive, got (", stride[0], ", ", stride[1], ")");
    ATTN_CHECK(padding[a] >= 0, op, ": padding must be non-negative, got (", padding[0], ", ", padding[1], ")");
    ATTN_CHECK(dilation[a] > 0, op, ": dilation must be positive, got (", dilation[0], ", ", dilation[1], ")");
  }
}

// Geometry of x [B, C, H, W] under the kernel; checks that the (dilated) kernel fits the padded input.
kernels::Im2colGeom geometry(const char* op, const Tensor& x, IntPair k, IntPair dilation, IntPair padding,
                             IntPair stride) {
  kernels::Im2colGeom g{x.size(1), x.size(2), x.size(3), k[0], k[1], stride[0], stride[1],
                        padding[0], padding[1], dilation[0], dilation[1], 0, 0};
  for (int a = 0; a < 2; ++a) {
    const int64_t in = x.size(2 + a) + 2 * padding[a], ext = dilation[a] * (k[a] - 1) + 1;
    ATTN_CHECK(ext <= in, op, ": kernel size (", k[0], ", ", k[1], ") with dilation (", dilation[0], ", ", dilation[1],
               ") is larger than the padded input (", x.size(2) + 2 * padding[0], ", ", x.size(3) + 2 * padding[1],
               ") of input ", x.describe());
  }
  g.Ho = out_size(g.H, g.kh, g.sh, g.ph, g.dh);
  g.Wo = out_size(g.W, g.kw, g.sw, g.pw, g.dw);
  return g;
}

}  // namespace

Tensor unfold(const Tensor& x_in, IntPair k, IntPair dilation, IntPair padding, IntPair stride) {
  ATTN_CHECK(x_in.dim() == 4, "unfold: expected input [B, C, H, W], got ", x_in.describe());
  ATTN_CHECK(x_in.is_floating_point(), "unfold: expected a floating point input, got ", x_in.describe());
  ATTN_CHECK(k[0] > 0 && k[1] > 0, "unfold: kernel size must be positive, got (", k[0], ", ", k[1], ")");
  check_params("unfold", stride, padding, dilation);
  const kernels::Im2colGeom g = geometry("unfold", x_in, k, dilation, padding, stride);
  const int64_t B = x_in.size(0), rows = g.C * g.kh * g.kw, L = g.Ho * g.Wo;
  const Tensor x = x_in.contiguous();
  Tensor cols = empty({B, rows, L}, x.dtype());
  const int64_t in_plane = g.C * g.H * g.W, out_plane = rows * L;
  if (cols.numel() > 0) {
    ATTN_DISPATCH_FLOATING(x.dtype(), "unfold", [&] {
      const scalar_t* px = x.data_ptr<scalar_t>();
      scalar_t* pc = cols.data_ptr<scalar_t>();
      for (int64_t b = 0; b < B; ++b) kernels::ref::im2col(px + b * in_plane, g, pc + b * out_plane);
    });
  }
  const Shape x_shape = x_in.shape();
  const DType dt = x_in.dtype();
  autograd::record("unfold", cols, {x_in}, [=](const Tensor& gout) -> std::vector<Tensor> {
    // forward copied x entries into cols, therefore dx sums the cols gradient back (col2im).
    Tensor gc = gout.to(dt).contiguous();
    Tensor dx = empty(x_shape, dt);
    if (dx.numel() == 0) return {dx};
    if (gc.numel() == 0) return {dx.zero_()};
    ATTN_DISPATCH_FLOATING(dt, "unfold_backward", [&] {
      const scalar_t* pc = gc.data_ptr<scalar_t>();
      scalar_t* px = dx.data_ptr<scalar_t>();
      for (int64_t b = 0; b < B; ++b) kernels::ref::col2im(pc + b * out_plane, g, px + b * in_plane);
    });
    return {dx};
  });
  return cols;
}

Tensor conv2d(const Tensor& x_in, const Tensor& weight, const Tensor& bias, IntPair stride, IntPair padding,
              IntPair dilation, int64_t groups) {
  ATTN_CHECK(x_in.dim() == 3 || x_in.dim() == 4, "conv2d: expected input [B, C, H, W] or [C, H, W], got ",
             x_in.describe());
  ATTN_CHECK(weight.dim() == 4, "conv2d: expected weight [O, C / groups, kh, kw], got ", weight.describe());
  if (x_in.dim() == 3) return conv2d(x_in.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0);
  ATTN_CHECK(x_in.is_floating_point() && x_in.dtype() == weight.dtype(),
             "conv2d: input and weight must share a floating point dtype, got input ", x_in.describe(), " and weight ",
             weight.describe());
  ATTN_CHECK(groups > 0, "conv2d: groups must be positive, got ", groups);
  const int64_t B = x_in.size(0), C = x_in.size(1), O = weight.size(0), Cg = weight.size(1);
  ATTN_CHECK(C % groups == 0 && O % groups == 0, "conv2d: groups ", groups,
             " must divide both input channels and output channels; input ", x_in.describe(), ", weight ",
             weight.describe());
  ATTN_CHECK(Cg * groups == C, "conv2d: input ", x_in.describe(), " has ", C, " channels but weight ",
             weight.describe(), " with groups ", groups, " expects ", Cg * groups);
  if (bias.defined())
    ATTN_CHECK(bias.dim() == 1 && bias.size(0) == O && bias.dtype() == weight.dtype(), "conv2d: expected bias [", O,
               "] of ", weight.dtype(), " for weight ", weight.describe(), ", got ", bias.describe());
  const int64_t kh = weight.size(2), kw = weight.size(3);
  ATTN_CHECK(kh > 0 && kw > 0, "conv2d: weight ", weight.describe(), " has an empty kernel");
  check_params("conv2d", stride, padding, dilation);
  const kernels::Im2colGeom g = geometry("conv2d", x_in, {kh, kw}, dilation, padding, stride);
  const int64_t L = g.Ho * g.Wo, K = Cg * kh * kw;
  // cols rows are ordered (c, i, j), so group gi's rows are the contiguous block [gi K, (gi + 1) K).
  Tensor cols = unfold(x_in, {kh, kw}, dilation, padding, stride).view({B, groups, K, L});
  Tensor w = weight.reshape({groups, O / groups, K});
  Tensor y = matmul(w, cols).view({B, O, g.Ho, g.Wo});
  if (bias.defined()) y = y + bias.view({1, O, 1, 1});
  return y;
}

Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding,
              int64_t dilation, int64_t groups) {
  ATTN_CHECK(x.dim() == 2 || x.dim() == 3, "conv1d: expected input [B, C, L] or [C, L], got ", x.describe());
  ATTN_CHECK(weight.dim() == 3, "conv1d: expected weight [O, C / groups, k], got ", weight.describe());
  ATTN_CHECK(padding >= 0, "conv1d: padding must be non-negative, got ", padding);
  if (x.dim() == 2) return conv1d(x.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0);
  ATTN_CHECK(x.size(1) == weight.size(1) * groups, "conv1d: input ", x.describe(), " has ", x.size(1),
             " channels but weight ", weight.describe(), " with groups ", groups, " expects ", weight.size(1) * groups);
  const int64_t ext = dilation * (weight.size(2) - 1) + 1;
  ATTN_CHECK(ext <= x.size(2) + 2 * padding, "conv1d: kernel size ", weight.size(2), " with dilation ", dilation,
             " is larger than the padded input length ", x.size(2) + 2 * padding, " of input ", x.describe());
  return conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, {1, stride}, {0, padding}, {1, dilation}, groups)
      .squeeze(2);
}

}  // namespace attn
