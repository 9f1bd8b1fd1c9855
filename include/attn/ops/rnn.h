// Fused recurrent-cell steps (the elementwise half of torch.nn.GRUCell / LSTMCell): every gate
// nonlinearity and the state update of one step in a single kernel, forward and backward, after
// the two matrix products have produced the gate pre-activations. nn::GRU / nn::LSTM run one
// GEMM for the input projections of all steps, then per step one GEMM h W_hh^T and one of these.
//
//   gru_cell_fused(gi [B, 3H], gh [B, 3H], h [B, H]) -> h' [B, H]
//     gi = x W_ih^T + b_ih, gh = h W_hh^T + b_hh, gate blocks r, z, n (PyTorch's order):
//     r = σ(gi_r + gh_r), z = σ(gi_z + gh_z), n = tanh(gi_n + r ⊙ gh_n), h' = (1 - z) ⊙ n + z ⊙ h
//   lstm_cell_fused(gates [B, 4H], c [B, H]) -> hc [B, 2H] = [h' | c'] along dim 1
//     gates = x W_ih^T + b_ih + h W_hh^T + b_hh, blocks i, f, g, o (PyTorch's order):
//     c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g), h' = σ(o) ⊙ tanh(c')
//     One output keeps the autograd node single: take h' = hc.narrow(1, 0, H), c' = hc.narrow(1, H, H).
//
// Differentiable in every input (float32 / float64, all the same dtype). The backward is fused
// too: the forward saves the gate activations (4H or 5H values per row), so the backward is one
// elementwise pass with no transcendental functions.
//
//   unbind_steps(x [T, ...]) -> T tensors x[t] [...], as torch.unbind(x, 0), for feeding a
//     sequence to a loop one step at a time. The difference is the backward: the step gradients
//     are written into one [T, ...] buffer that is handed to x once, whereas T select()s would
//     each produce (and the engine would sum) a full [T, ...] gradient, O(T^2) memory traffic.
#pragma once
#include <vector>

#include "attn/core/tensor.h"

namespace attn {

Tensor gru_cell_fused(const Tensor& gi, const Tensor& gh, const Tensor& h);
Tensor lstm_cell_fused(const Tensor& gates, const Tensor& c);
std::vector<Tensor> unbind_steps(const Tensor& x);

}  // namespace attn
