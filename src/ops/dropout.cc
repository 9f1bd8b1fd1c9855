// dropout: forward and backward through kernels/dropout.h. When a gradient is needed, the forward
// also stores the keep mask as packed bits (ceil(n / 8) bytes, held by the backward closure until
// backward runs): dropout is linear in x, so its backward is the same masked scaling applied to
// the upstream gradient, and reading bits is much cheaper than regenerating them with Philox.
#include "attn/ops/dropout.h"

#include <algorithm>
#include <memory>
#include <vector>

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

// Elements per parallel chunk: a multiple of 8, so each mask byte belongs to exactly one thread.
constexpr int64_t kGrainBytes = (1 << 14) / 8;

// The forward when a gradient is needed: out as dropout_apply gives it, plus the keep bits.
Tensor dropout_forward(const Tensor& x, std::vector<uint8_t>& mask, uint64_t threshold, double scale, uint64_t key,
                       uint64_t ctr0) {
  Tensor xc = x.contiguous();
  Tensor out = empty(x.shape(), x.dtype());
  const int64_t n = xc.numel();
  mask.assign(size_t((n + 7) / 8), 0);
  const bool ref = use_reference_kernels();
  ATTN_DISPATCH_FLOATING(x.dtype(), "dropout", [&] {
    const scalar_t* px = xc.data_ptr<scalar_t>();
    scalar_t* po = out.data_ptr<scalar_t>();
    uint8_t* pm = mask.data();
    const scalar_t s = scalar_t(scale);
    kernels::parallel_for(0, int64_t(mask.size()), kGrainBytes, [&](int64_t b0, int64_t b1) {
      const int64_t i0 = b0 * 8, i1 = std::min(n, b1 * 8);
      if (ref)
        kernels::ref::dropout_forward(i0, i1, px, po, pm, threshold, s, key, ctr0);
      else
        kernels::fast::dropout_forward(i0, i1, px, po, pm, threshold, s, key, ctr0);
    });
  });
  return out;
}

// dx = keep ? dy * scale : 0 from the stored bits.
Tensor dropout_backward(const Tensor& dy, const std::vector<uint8_t>& mask, double scale) {
  Tensor gc = dy.contiguous();
  Tensor dx = empty(dy.shape(), dy.dtype());
  const int64_t n = gc.numel();
  const bool ref = use_reference_kernels();
  ATTN_DISPATCH_FLOATING(dy.dtype(), "dropout backward", [&] {
    const scalar_t* pg = gc.data_ptr<scalar_t>();
    scalar_t* pd = dx.data_ptr<scalar_t>();
    const uint8_t* pm = mask.data();
    const scalar_t s = scalar_t(scale);
    kernels::parallel_for(0, int64_t(mask.size()), kGrainBytes * 2, [&](int64_t b0, int64_t b1) {
      const int64_t i0 = b0 * 8, i1 = std::min(n, b1 * 8);
      if (ref)
        kernels::ref::dropout_backward(i0, i1, pg, pd, pm, s);
      else
        kernels::fast::dropout_backward(i0, i1, pg, pd, pm, s);
    });
  });
  return dx;
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
  // Without a gradient to compute (evaluation under no_grad, inputs that need none) no mask is kept.
  if (!autograd::needs_grad({&x})) return dropout_apply(x, threshold, scale, key, ctr0);
  auto mask = std::make_shared<std::vector<uint8_t>>();
  Tensor out = dropout_forward(x, *mask, threshold, scale, key, ctr0);
  // forward was out = x * keep / (1 - p), therefore dx = dy * keep / (1 - p), with keep read from
  // the stored bits (the same values the same (key, counter) would regenerate).
  autograd::record("dropout", out, {x}, [mask, scale](const Tensor& dy) -> std::vector<Tensor> {
    return {dropout_backward(dy, *mask, scale)};
  });
  return out;
}

}  // namespace attn
