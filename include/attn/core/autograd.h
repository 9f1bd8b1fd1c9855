// Define-by-run reverse-mode autograd (the tape PyTorch popularised). Every differentiable op
// that sees an input with requires_grad records one Node: edges to the nodes (or leaf tensors)
// of its inputs and a backward closure mapping d(output) to d(inputs). Tensor::backward() runs
// the nodes in reverse topological order, accumulating into leaf .grad, then frees each closure
// (and the tensors it saved) unless retain_graph is set; a second backward through a freed node
// throws. Backward closures run with grad mode off: attn computes first derivatives only.
//
// Rule for op authors: save inputs/outputs in closures as `x.detach()`. A closure that held its
// own output with history would form a reference cycle (output -> node -> closure -> output).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attn/core/tensor.h"

namespace attn {

bool is_grad_enabled();
void set_grad_enabled(bool on);

// Disables recording inside a scope (torch.no_grad()).
class NoGradGuard {
 public:
  NoGradGuard() : prev_(is_grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// Enables recording inside a scope (torch.enable_grad()).
class EnableGradGuard {
 public:
  EnableGradGuard() : prev_(is_grad_enabled()) { set_grad_enabled(true); }
  ~EnableGradGuard() { set_grad_enabled(prev_); }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool prev_;
};

namespace autograd {

// Maps the gradient of the op's output to one gradient per recorded input (an undefined Tensor
// where an input needs none). Returned gradients must have the input's shape and dtype.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Edge {
  std::shared_ptr<Node> node;        // the input's grad_fn, or
  std::shared_ptr<TensorImpl> leaf;  // the input itself when it is a leaf that requires grad
  bool defined() const { return node || leaf; }
};

struct Node {
  std::string name;
  std::vector<Edge> inputs;
  BackwardFn backward;  // null once released
  std::weak_ptr<TensorImpl> retained_output;  // set by Tensor::retain_grad()
  Shape output_shape;
  DType output_dtype = kFloat32;
};

// True when grad mode is on and any of the tensors requires grad: only then record.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Attaches a node to `output` whose inputs are `inputs` (in the order `fn` returns gradients).
// No-op when needs_grad(inputs) is false, so ops may call it unconditionally.
void record(const char* name, Tensor& output, const std::vector<Tensor>& inputs, BackwardFn fn);

// Runs backward from `roots` seeded with `grads` (the engine behind Tensor::backward).
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph);

// Gradients of `outputs` with respect to `inputs` without touching .grad (torch.autograd.grad).
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool retain_graph = false);

// Sums `grad` over broadcast dimensions so it has `shape` (the backward of broadcasting).
Tensor sum_to(const Tensor& grad, const Shape& shape);

}  // namespace autograd
}  // namespace attn
