// The autograd engine: recording nodes, running backward in reverse topological order.
#include "attn/core/autograd.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "core/grad_sink.h"
#include "kernels/reduce_sum.h"

namespace attn {
namespace {
thread_local bool g_grad_enabled = true;
}

bool is_grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool on) { g_grad_enabled = on; }

namespace autograd {

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record(const char* name, Tensor& output, const std::vector<Tensor>& inputs, BackwardFn fn) {
  if (!needs_grad(inputs)) return;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    Edge e;
    if (t.defined() && t.requires_grad()) {
      if (t.grad_fn()) e.node = t.grad_fn();
      else e.leaf = t.impl_ptr();
    }
    node->inputs.push_back(std::move(e));
  }
  node->backward = std::move(fn);
  node->output_shape = output.shape();
  node->output_dtype = output.dtype();
  output.impl().grad_fn = std::move(node);
  output.impl().requires_grad = true;
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  const int64_t nd = grad.dim(), sd = int64_t(shape.size());
  ATTN_CHECK(sd <= nd, "sum_to: cannot reduce gradient of shape ", shape_str(grad.shape()), " to ", shape_str(shape));
  Shape kept_shape, kept_strides, red_shape, red_strides;
  for (int64_t d = 0; d < nd; ++d) {
    const int64_t td = d - (nd - sd);
    const bool reduce = td < 0 || (shape[td] == 1 && grad.shape()[d] != 1);
    if (td >= 0 && !reduce)
      ATTN_CHECK(shape[td] == grad.shape()[d], "sum_to: cannot reduce gradient of shape ", shape_str(grad.shape()), " to ",
                 shape_str(shape));
    (reduce ? red_shape : kept_shape).push_back(grad.shape()[d]);
    (reduce ? red_strides : kept_strides).push_back(grad.strides()[d]);
  }
  Tensor out = empty(shape, grad.dtype());
  ATTN_DISPATCH_FLOATING(grad.dtype(), "sum_to", [&] {
    kernels::sum_reduce<scalar_t>(grad.data_ptr<scalar_t>(), kept_shape, kept_strides, red_shape, red_strides,
                                  out.data_ptr<scalar_t>());
  });
  return out;
}

namespace {

// The node whose backward closure is running on this thread, when leaf gradients may be added
// in place (backward(), not grad()); see leaf_grad_sink.
thread_local const Node* g_sink_node = nullptr;

// True when a leaf's .grad is its own buffer, which gradients are added into in place: .grad is
// only ever adopted when exclusively owned, or else copied (accumulate_leaf).
bool addable_in_place(const Tensor& slot, DType dtype) {
  return slot.is_contiguous() && slot.storage_offset() == 0 && slot.dtype() == dtype;
}

// True when nothing else can observe t's buffer: we may then update it in place or adopt it.
bool exclusively_owned(const Tensor& t) {
  // impl().storage, not storage(): the latter returns a copy of the shared_ptr (count + 1).
  return t.impl_ptr().use_count() == 1 && t.impl().storage.use_count() == 1 && t.storage_offset() == 0 &&
         t.is_contiguous();
}

// out = a + b elementwise; one loop the compiler vectorises (gradient accumulation is memory-bound).
template <class T>
void add_to(T* out, const T* a, const T* __restrict b, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void accumulate(Tensor& slot, Tensor g) {
  if (!slot.defined()) {
    slot = std::move(g);
    return;
  }
  Tensor b = g.contiguous();
  // In place when the slot's buffer is ours alone; otherwise out of place, because the slot may
  // alias a tensor a closure saved or that the user holds.
  Tensor sum = exclusively_owned(slot) ? slot : empty(slot.shape(), slot.dtype());
  Tensor a = slot.contiguous();
  ATTN_DISPATCH_FLOATING(slot.dtype(), "grad accumulation", [&] {
    const scalar_t* pa = a.data_ptr<scalar_t>();
    const scalar_t* pb = b.data_ptr<scalar_t>();
    scalar_t* po = sum.data_ptr<scalar_t>();
    kernels::parallel_for(0, sum.numel(), 1 << 15, [&](int64_t i0, int64_t i1) {
      add_to(po + i0, pa + i0, pb + i0, i1 - i0);
    });
  });
  slot = sum;
}

void accumulate_leaf(TensorImpl& leaf, Tensor g) {
  ATTN_CHECK(g.shape() == leaf.shape, "autograd: gradient of shape ", shape_str(g.shape()),
             " for a leaf of shape ", shape_str(leaf.shape));
  if (!leaf.grad) {
    // The optimizer updates .grad in place, so it must be a contiguous buffer of its own: adopt
    // the incoming gradient when nothing else holds it, copy it otherwise.
    if (exclusively_owned(g)) {
      leaf.grad = g.impl_ptr();
    } else {
      Tensor c = empty(g.shape(), g.dtype());
      c.copy_(g);
      leaf.grad = c.impl_ptr();
    }
    return;
  }
  Tensor slot(leaf.grad);
  if (addable_in_place(slot, g.dtype())) {
    // Add into .grad in place, as PyTorch does; references to .grad see the sum either way.
    const Tensor b = g.contiguous();
    ATTN_DISPATCH_FLOATING(slot.dtype(), "grad accumulation", [&] {
      scalar_t* po = slot.data_ptr<scalar_t>();
      const scalar_t* pb = b.data_ptr<scalar_t>();
      kernels::parallel_for(0, slot.numel(), 1 << 15,
                            [&](int64_t i0, int64_t i1) { add_to(po + i0, po + i0, pb + i0, i1 - i0); });
    });
    return;
  }
  Tensor sum = slot;
  accumulate(sum, std::move(g));
  if (!sum.is_same(slot)) slot.copy_(sum);  // keep the same .grad tensor: references stay valid
}

}  // namespace

Tensor leaf_grad_sink(size_t input, std::initializer_list<const Tensor*> reads) {
  if (!g_sink_node || input >= g_sink_node->inputs.size()) return Tensor();
  const std::shared_ptr<TensorImpl>& leaf = g_sink_node->inputs[input].leaf;
  if (!leaf || !leaf->grad) return Tensor();
  Tensor slot(leaf->grad);
  if (!addable_in_place(slot, leaf->dtype) || slot.shape() != leaf->shape) return Tensor();
  for (const Tensor* t : reads)
    if (t->defined() && t->impl().storage == slot.impl().storage) return Tensor();
  return slot;
}

// Shared by run_backward and grad(): if `capture` is set, gradients reaching the captured nodes or
// leaves are stored there instead of being accumulated into .grad.
static void execute(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph,
                    std::unordered_map<const void*, Tensor>* capture) {
  NoGradGuard no_grad;
  std::unordered_map<Node*, Tensor> pending;
  std::unordered_map<Node*, int> deps;
  std::vector<Node*> stack;
  std::unordered_set<Node*> seen;

  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    ATTN_CHECK(grads[i].dtype() == r.dtype(), "backward(): gradient dtype ", grads[i].dtype(), " does not match ", r.dtype());
    if (Node* n = r.grad_fn().get()) {
      accumulate(pending[n], grads[i]);
      if (seen.insert(n).second) stack.push_back(n);
    } else if (capture) {
      auto it = capture->find(r.impl_ptr().get());
      if (it != capture->end()) accumulate(it->second, grads[i]);
    } else {
      accumulate_leaf(r.impl(), grads[i]);
    }
  }
  // Count, for every reachable node, how many edges point at it.
  std::vector<Node*> order_scan = stack;
  while (!order_scan.empty()) {
    Node* n = order_scan.back();
    order_scan.pop_back();
    for (const Edge& e : n->inputs) {
      if (!e.node) continue;
      deps[e.node.get()]++;
      if (seen.insert(e.node.get()).second) order_scan.push_back(e.node.get());
    }
  }
  std::vector<Node*> ready;
  for (Node* n : stack)
    if (deps[n] == 0) ready.push_back(n);

  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    Tensor g = std::move(pending[n]);
    pending.erase(n);
    ATTN_CHECK(n->backward != nullptr, "Trying to backward through the graph a second time (node '", n->name,
               "' was freed by an earlier backward). Pass retain_graph=true to the first backward if you need to "
               "backward twice.");
    if (capture) {
      auto it = capture->find(n);
      if (it != capture->end()) accumulate(it->second, g);
    }
    if (auto out = n->retained_output.lock()) {
      Tensor slot = out->grad ? Tensor(out->grad) : Tensor();
      accumulate(slot, g);
      out->grad = slot.impl_ptr();
    }
    std::vector<Tensor> in_grads;
    {
      // Leaf gradients may go straight into .grad only when they would be accumulated there.
      struct SinkScope {
        const Node* prev = g_sink_node;
        explicit SinkScope(const Node* n) { g_sink_node = n; }
        ~SinkScope() { g_sink_node = prev; }
      } scope(capture ? nullptr : n);
      in_grads = n->backward(g);
    }
    ATTN_CHECK(in_grads.size() == n->inputs.size(), "autograd: node '", n->name, "' returned ", in_grads.size(),
               " gradients for ", n->inputs.size(), " inputs");
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      const Edge& e = n->inputs[i];
      if (!e.defined()) continue;
      if (e.node) {
        Node* m = e.node.get();
        if (in_grads[i].defined()) accumulate(pending[m], std::move(in_grads[i]));
        if (--deps[m] == 0) {
          // A node none of whose consumers produced a gradient still runs (with zeros) so that
          // its own graph is released consistently.
          if (!pending[m].defined()) pending[m] = zeros(m->output_shape, m->output_dtype);
          ready.push_back(m);
        }
      } else if (in_grads[i].defined()) {
        if (capture) {
          auto it = capture->find(e.leaf.get());
          if (it != capture->end()) accumulate(it->second, in_grads[i]);
        } else {
          accumulate_leaf(*e.leaf, std::move(in_grads[i]));
        }
      }
    }
    if (!retain_graph) n->backward = nullptr;
  }
}

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph) {
  ATTN_CHECK(roots.size() == grads.size(), "backward: ", roots.size(), " outputs but ", grads.size(), " gradients");
  execute(roots, grads, retain_graph, nullptr);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph) {
  std::vector<Tensor> gs = grad_outputs;
  if (gs.empty())
    for (const Tensor& o : outputs) {
      ATTN_CHECK(o.numel() == 1, "grad(): grad_outputs can be implicit only for scalar outputs, got ", o.describe());
      gs.push_back(ones(o.shape(), o.dtype()));
    }
  ATTN_CHECK(gs.size() == outputs.size(), "grad(): ", outputs.size(), " outputs but ", gs.size(), " grad_outputs");
  for (const Tensor& o : outputs) ATTN_CHECK(o.requires_grad(), "grad(): output ", o.describe(), " does not require grad");
  std::unordered_map<const void*, Tensor> capture;
  for (const Tensor& in : inputs) {
    ATTN_CHECK(in.requires_grad(), "grad(): input ", in.describe(), " does not require grad");
    capture[in.grad_fn() ? static_cast<const void*>(in.grad_fn().get()) : in.impl_ptr().get()] = Tensor();
  }
  execute(outputs, gs, retain_graph, &capture);
  std::vector<Tensor> result;
  for (const Tensor& in : inputs) {
    Tensor g = capture[in.grad_fn() ? static_cast<const void*>(in.grad_fn().get()) : in.impl_ptr().get()];
    result.push_back(g.defined() ? g : zeros(in.shape(), in.dtype()));
  }
  return result;
}

}  // namespace autograd
}  // namespace attn
