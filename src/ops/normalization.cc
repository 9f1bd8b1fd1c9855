// layer_norm: forward through kernels/layer_norm.h, fused backward beside it.
#include "attn/ops/normalization.h"

#include "kernels/layer_norm.h"
#include "ops/op_util.h"

namespace attn {

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  const int64_t k = int64_t(normalized_shape.size()), nd = x.dim();
  ATTN_CHECK(k >= 1, "layer_norm: normalized_shape must have at least one dim (input ", shape_str(x.shape()), ")");
  bool match = k <= nd;
  for (int64_t i = 0; match && i < k; ++i) match = x.shape()[nd - k + i] == normalized_shape[i];
  ATTN_CHECK(match, "layer_norm: input of shape ", shape_str(x.shape()), " does not end with normalized_shape ",
             shape_str(normalized_shape));
  ATTN_CHECK(x.is_floating_point(), "layer_norm: expected a float32 or float64 input, got ", x.describe());
  for (const Tensor* p : {&weight, &bias}) {
    if (!p->defined()) continue;
    const char* what = p == &weight ? "weight" : "bias";
    ATTN_CHECK(p->shape() == normalized_shape, "layer_norm: ", what, " of shape ", shape_str(p->shape()),
               " does not match normalized_shape ", shape_str(normalized_shape), " (input ", shape_str(x.shape()), ")");
    ATTN_CHECK(p->dtype() == x.dtype(), "layer_norm: ", what, " is ", p->describe(), " but the input is ",
               x.describe());
  }
  const int64_t n = shape_numel(normalized_shape), rows = n ? x.numel() / n : 0;
  const Tensor xc = x.contiguous();
  const Tensor wc = weight.defined() ? weight.contiguous() : Tensor();
  const Tensor bc = bias.defined() ? bias.contiguous() : Tensor();
  Tensor y = empty(x.shape(), x.dtype()), mean = empty({rows}, x.dtype()), rstd = empty({rows}, x.dtype());
  const bool ref = use_reference_kernels();
  ATTN_DISPATCH_FLOATING(x.dtype(), "layer_norm", [&] {
    const scalar_t* pw = wc.defined() ? wc.data_ptr<scalar_t>() : nullptr;
    const scalar_t* pb = bc.defined() ? bc.data_ptr<scalar_t>() : nullptr;
    const scalar_t* px = xc.data_ptr<scalar_t>();
    scalar_t *py = y.data_ptr<scalar_t>(), *pm = mean.data_ptr<scalar_t>(), *pr = rstd.data_ptr<scalar_t>();
    if (ref) kernels::ref::layer_norm_forward(px, pw, pb, rows, n, eps, py, pm, pr);
    else kernels::fast::layer_norm_forward(px, pw, pb, rows, n, eps, py, pm, pr);
  });
  // forward was y = (x - mean) * rstd * w + b per row, therefore the backward needs x, mean, rstd
  // and w (see kernels/layer_norm.h for the formulas); one fused kernel gives all three gradients.
  const bool nx = x.requires_grad(), nw = weight.defined() && weight.requires_grad(),
             nb = bias.defined() && bias.requires_grad();
  autograd::record("layer_norm", y, {x, weight, bias},
                   [=, xd = xc.detach(), wd = wc.defined() ? wc.detach() : Tensor(), mean = mean.detach(),
                    rstd = rstd.detach()](const Tensor& g) -> std::vector<Tensor> {
                     const Tensor gc = g.contiguous();
                     Tensor dx = nx ? empty(xd.shape(), xd.dtype()) : Tensor();
                     Tensor dw = nw ? empty(wd.shape(), xd.dtype()) : Tensor();
                     Tensor db = nb ? empty(normalized_shape, xd.dtype()) : Tensor();
                     const bool use_ref = use_reference_kernels();
                     ATTN_DISPATCH_FLOATING(xd.dtype(), "layer_norm backward", [&] {
                       auto ptr = [](const Tensor& t) { return t.defined() ? t.data_ptr<scalar_t>() : nullptr; };
                       const scalar_t *pg = ptr(gc), *px = ptr(xd), *pm = ptr(mean), *pr = ptr(rstd), *pw = ptr(wd);
                       scalar_t *pdx = ptr(dx), *pdw = ptr(dw), *pdb = ptr(db);
                       if (use_ref) kernels::ref::layer_norm_backward(pg, px, pm, pr, pw, rows, n, pdx, pdw, pdb);
                       else kernels::fast::layer_norm_backward(pg, px, pm, pr, pw, rows, n, pdx, pdw, pdb);
                     });
                     return {dx, dw, db};
                   });
  return y;
}

}  // namespace attn
