// Internal to the library (core and the ops above it): a backward closure's direct line to a
// leaf's .grad. Not part of the public autograd API (include/attn/core/autograd.h).
#pragma once
#include <cstddef>
#include <initializer_list>

#include "attn/core/autograd.h"

namespace attn::autograd {

// For backward closures: the .grad of recorded input `input` of the node whose closure is running,
// when the closure may add its gradient for that input straight into it (a GEMM with beta = 1,
// an index_add) instead of returning a new tensor that the engine then adds. That is the case
// when backward() (not grad()) is running, the input is a leaf that requires grad, and its .grad
// is already a contiguous buffer of the leaf's dtype at offset 0, which the engine would
// otherwise update in place itself, and none of `reads` (the tensors the closure reads while it
// writes the sink) shares the .grad's storage. Otherwise (including outside a backward closure)
// an undefined Tensor: compute and return the gradient as usual. A closure that adds into the
// sink returns an undefined Tensor for that input. Why: a weight used at every step of a recurrence
// (the output layer or the embedding of a batch-1 decoder) otherwise costs a dense temporary per
// step, written, read back and freed, which is most of the memory traffic of such a step.
Tensor leaf_grad_sink(size_t input, std::initializer_list<const Tensor*> reads);

}  // namespace attn::autograd
