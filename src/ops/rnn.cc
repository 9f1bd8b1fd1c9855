// gru_cell_fused, lstm_cell_fused: checks, dispatch to kernels/rnn.h (fast or reference), and the
// fused backward beside each forward. Rows are split between threads (each row is independent, so
// results do not depend on the thread count).
#include "attn/ops/rnn.h"

#include "kernels/parallel.h"
#include "kernels/rnn.h"
#include "ops/op_util.h"

namespace attn {
namespace {

// Rows per thread chunk: enough elements that a thread's start-up is amortised.
int64_t row_grain(int64_t width) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(width, 1)); }

void check_float(const char* op, const Tensor& t, const char* name, DType dt) {
  ATTN_CHECK(t.defined(), op, ": ", name, " is undefined");
  ATTN_CHECK(is_floating_point(t.dtype()), op, ": ", name, " must be float32 or float64, got ", t.describe());
  ATTN_CHECK(t.dtype() == dt, op, ": all inputs must have one dtype, got ", name, " ", t.describe(), " and ", dt);
}

}  // namespace

Tensor gru_cell_fused(const Tensor& gi_in, const Tensor& gh_in, const Tensor& h_in) {
  const DType dt = gi_in.dtype();
  check_float("gru_cell_fused", gi_in, "gi", dt);
  check_float("gru_cell_fused", gh_in, "gh", dt);
  check_float("gru_cell_fused", h_in, "h", dt);
  ATTN_CHECK(h_in.dim() == 2 && gi_in.dim() == 2 && gh_in.dim() == 2 && gi_in.shape() == gh_in.shape() &&
                 gi_in.size(0) == h_in.size(0) && gi_in.size(1) == 3 * h_in.size(1),
             "gru_cell_fused: expected gi [B, 3H], gh [B, 3H], h [B, H], got gi ", shape_str(gi_in.shape()), ", gh ",
             shape_str(gh_in.shape()), ", h ", shape_str(h_in.shape()));
  const Tensor gi = gi_in.contiguous(), gh = gh_in.contiguous(), h = h_in.contiguous();
  const int64_t B = h.size(0), H = h.size(1);
  Tensor out = empty({B, H}, dt);
  Tensor ws = empty({B, 4 * H}, dt);  // r, z, n, gh_n per row, for the backward
  const bool ref = use_reference_kernels();
  ATTN_DISPATCH_FLOATING(dt, "gru_cell_fused", [&] {
    const scalar_t *pgi = gi.data_ptr<scalar_t>(), *pgh = gh.data_ptr<scalar_t>(), *ph = h.data_ptr<scalar_t>();
    scalar_t *po = out.data_ptr<scalar_t>(), *pw = ws.data_ptr<scalar_t>();
    kernels::parallel_for(0, B, row_grain(7 * H), [&](int64_t b0, int64_t b1) {
      const int64_t n = b1 - b0;
      if (ref)
        kernels::ref::gru_forward(n, H, pgi + b0 * 3 * H, pgh + b0 * 3 * H, ph + b0 * H, po + b0 * H, pw + b0 * 4 * H);
      else
        kernels::fast::gru_forward(n, H, pgi + b0 * 3 * H, pgh + b0 * 3 * H, ph + b0 * H, po + b0 * H, pw + b0 * 4 * H);
    });
  });
  autograd::record("gru_cell_fused", out, {gi_in, gh_in, h_in},
                   [h = h.detach(), ws, B, H, dt](const Tensor& g_in) -> std::vector<Tensor> {
                     const Tensor g = g_in.to(dt).contiguous();
                     Tensor dgi = empty({B, 3 * H}, dt), dgh = empty({B, 3 * H}, dt), dh = empty({B, H}, dt);
                     const bool ref = use_reference_kernels();
                     ATTN_DISPATCH_FLOATING(dt, "gru_cell_fused_backward", [&] {
                       const scalar_t *pg = g.data_ptr<scalar_t>(), *ph = h.data_ptr<scalar_t>(),
                                      *pw = ws.data_ptr<scalar_t>();
                       scalar_t *pdi = dgi.data_ptr<scalar_t>(), *pdh = dgh.data_ptr<scalar_t>(),
                                *pd = dh.data_ptr<scalar_t>();
                       kernels::parallel_for(0, B, row_grain(13 * H), [&](int64_t b0, int64_t b1) {
                         const int64_t n = b1 - b0;
                         if (ref)
                           kernels::ref::gru_backward(n, H, pg + b0 * H, ph + b0 * H, pw + b0 * 4 * H,
                                                      pdi + b0 * 3 * H, pdh + b0 * 3 * H, pd + b0 * H);
                         else
                           kernels::fast::gru_backward(n, H, pg + b0 * H, ph + b0 * H, pw + b0 * 4 * H,
                                                       pdi + b0 * 3 * H, pdh + b0 * 3 * H, pd + b0 * H);
                       });
                     });
                     return {dgi, dgh, dh};
                   });
  return out;
}

Tensor lstm_cell_fused(const Tensor& gates_in, const Tensor& c_in) {
  const DType dt = gates_in.dtype();
  check_float("lstm_cell_fused", gates_in, "gates", dt);
  check_float("lstm_cell_fused", c_in, "c", dt);
  ATTN_CHECK(gates_in.dim() == 2 && c_in.dim() == 2 && gates_in.size(0) == c_in.size(0) &&
                 gates_in.size(1) == 4 * c_in.size(1),
             "lstm_cell_fused: expected gates [B, 4H] and c [B, H], got gates ", shape_str(gates_in.shape()), ", c ",
             shape_str(c_in.shape()));
  const Tensor gates = gates_in.contiguous(), c = c_in.contiguous();
  const int64_t B = c.size(0), H = c.size(1);
  Tensor out = empty({B, 2 * H}, dt);
  Tensor ws = empty({B, 5 * H}, dt);  // i, f, g, o, tanh(c') per row, for the backward
  const bool ref = use_reference_kernels();
  ATTN_DISPATCH_FLOATING(dt, "lstm_cell_fused", [&] {
    const scalar_t *pa = gates.data_ptr<scalar_t>(), *pc = c.data_ptr<scalar_t>();
    scalar_t *po = out.data_ptr<scalar_t>(), *pw = ws.data_ptr<scalar_t>();
    kernels::parallel_for(0, B, row_grain(12 * H), [&](int64_t b0, int64_t b1) {
      const int64_t n = b1 - b0;
      if (ref)
        kernels::ref::lstm_forward(n, H, pa + b0 * 4 * H, pc + b0 * H, po + b0 * 2 * H, pw + b0 * 5 * H);
      else
        kernels::fast::lstm_forward(n, H, pa + b0 * 4 * H, pc + b0 * H, po + b0 * 2 * H, pw + b0 * 5 * H);
    });
  });
  autograd::record("lstm_cell_fused", out, {gates_in, c_in},
                   [c = c.detach(), ws, B, H, dt](const Tensor& g_in) -> std::vector<Tensor> {
                     const Tensor g = g_in.to(dt).contiguous();
                     Tensor dgates = empty({B, 4 * H}, dt), dc = empty({B, H}, dt);
                     const bool ref = use_reference_kernels();
                     ATTN_DISPATCH_FLOATING(dt, "lstm_cell_fused_backward", [&] {
                       const scalar_t *pg = g.data_ptr<scalar_t>(), *pc = c.data_ptr<scalar_t>(),
                                      *pw = ws.data_ptr<scalar_t>();
                       scalar_t *pd = dgates.data_ptr<scalar_t>(), *pdc = dc.data_ptr<scalar_t>();
                       kernels::parallel_for(0, B, row_grain(13 * H), [&](int64_t b0, int64_t b1) {
                         const int64_t n = b1 - b0;
                         if (ref)
                           kernels::ref::lstm_backward(n, H, pg + b0 * 2 * H, pc + b0 * H, pw + b0 * 5 * H,
                                                       pd + b0 * 4 * H, pdc + b0 * H);
                         else
                           kernels::fast::lstm_backward(n, H, pg + b0 * 2 * H, pc + b0 * H, pw + b0 * 5 * H,
                                                        pd + b0 * 4 * H, pdc + b0 * H);
                       });
                     });
                     return {dgates, dc};
                   });
  return out;
}

std::vector<Tensor> unbind_steps(const Tensor& x) {
  ATTN_CHECK(x.defined() && x.dim() >= 1, "unbind_steps: expected a tensor with at least one dim, got ",
             x.defined() ? x.describe() : std::string("undefined"));
  const int64_t T = x.size(0);
  std::vector<Tensor> out;
  out.reserve(size_t(T));
  if (!autograd::needs_grad({&x})) {
    for (int64_t t = 0; t < T; ++t) out.push_back(x.select(0, t));
    return out;
  }
  // Two levels of nodes: each step's node writes its gradient into slice t of the shared buffer
  // and returns nothing; the gather node (input x) runs after all of them (the engine runs a node
  // once every consumer has run) and hands x the whole buffer. Steps no gradient reached stay 0.
  struct Gathered {
    Tensor grad;  // [T, ...], allocated by the first step gradient of each backward pass
  };
  auto acc = std::make_shared<Gathered>();
  const Tensor base = x.detach();
  Tensor src = base.view(base.shape());
  autograd::record("unbind_steps", src, {x}, [acc, shape = x.shape(), dt = x.dtype()](const Tensor&) -> std::vector<Tensor> {
    // Handing the buffer over (not a copy) and forgetting it lets a retained graph's next
    // backward start from a fresh one.
    Tensor g = acc->grad.defined() ? std::move(acc->grad) : zeros(shape, dt);
    acc->grad = Tensor();
    return {g};
  });
  for (int64_t t = 0; t < T; ++t) {
    Tensor step = base.select(0, t);
    autograd::record("unbind_steps_step", step, {src}, [acc, t, shape = x.shape(), dt = x.dtype()](const Tensor& g) -> std::vector<Tensor> {
      if (!acc->grad.defined()) acc->grad = zeros(shape, dt);
      acc->grad.select(0, t).copy_(g);
      return {Tensor()};
    });
    out.push_back(step);
  }
  return out;
}

}  // namespace attn
