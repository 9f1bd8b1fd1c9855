// dropout: forward and backward through kernels/dropout.h. The backward closure keeps only the
// Philox key and counter (and p), never the mask: dropout is linear in x, so its backward is the
// same masked scaling applied to the upstream gradient.
#include "attn/ops/dropout.h"

#include "attn/core/autograd.h"
#include "kernels/dropout.h"
#include "kernels/parallel.h"
#include "ops/op_util.h"

namespace attn {
namespace {

// The masked scaling of a contiguous tensor, split over threads by element ranges (each
// element's counter is fixed, so the split does not change the result).
Tensor dropout_apply(const Tensor& x, uint64_t threshold, double scale, uint64_t key, uint64_t ctr0) {
  Tensor xc = x.contiguous();
  Tensor out = empty(x.shape(), x.dtype());
  const bool ref = use_reference_kernels();
  ATTN_DISPATCH_FLOATING(x.dtype(), "dropout", [&] {
    const scalar_t* px = xc.data_ptr<scalar_t>();
    scalar_t* po = out.data_ptr<scalar_t>();
    const scalar_t s = scalar_t(scale);
    kernels::parallel_for(0, xc.numel(), 1 << 14, [&](int64_t i0, int64_t i1) {
      if (ref)
        kernels::ref::dropout_apply(i0, i1, px, po, threshold, s, key, ctr0);
      else
        kernels::fast::dropout_apply(i0, i1, px, po, threshold, s, key, ctr0);
    });
  });
  return out;
}

}  // namespace

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  ATTN_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability has to be between 0 and 1, but got ", p);
  if (!training || p == 0.0) return x;
  ATTN_CHECK(x.is_floating_point(), "dropout: expected a floating-point tensor, got ", x.describe());
  if (p == 1.0) {
    // Every element is dropped: the output and the gradient are zero, whatever x holds.
    Tensor out = zeros(x.shape(), x.dtype());
    autograd::record("dropout", out, {x}, [](const Tensor& g) -> std::vector<Tensor> { return {zeros_like(g)}; });
    return out;
  }
  Generator& g = gen ? *gen : default_generator();
  const uint64_t key = g.seed();
  const uint64_t ctr0 = g.reserve((uint64_t(x.numel()) + 3) / 4);
  const uint64_t threshold = kernels::dropout_threshold(p);
  const double scale = 1.0 / (1.0 - p);
  Tensor out = dropout_apply(x, threshold, scale, key, ctr0);
  // forward was out = x * keep / (1 - p), therefore dx = dy * keep / (1 - p): the same kernel on dy
  // with the same (key, counter), which regenerates the mask.
  autograd::record("dropout", out, {x}, [=](const Tensor& dy) -> std::vector<Tensor> {
    return {dropout_apply(dy, threshold, scale, key, ctr0)};
  });
  return out;
}

}  // namespace attn
