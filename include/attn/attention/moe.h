// Sparse mixture of experts (MoE) feed-forward layer with top-k routing and the Switch
// Transformer load-balancing loss. docs/attention/moe.md.
//
// x [..., d_model] is flattened to T tokens. With E experts and a gate W_g [E, d_model] (no bias,
// as the Switch / Mixtral routers):
//   p(x) = softmax(W_g x)                        router probabilities [T, E]
//   K(x) = the top_k experts by p(x)             (ties: lower expert index first)
//   g_e(x) = p_e(x) / sum_{j in K(x)} p_j(x)     renormalise_topk = true (Mixtral: softmax over the
//                                                 top-k logits, which is the same thing)
//          = p_e(x)                              renormalise_topk = false (Switch / GShard style)
//   y(x) = sum_{e in K(x)} g_e(x) FFN_e(x),      FFN_e = Linear(d, d_ff) -> ReLU | GELU -> Linear(d_ff, d)
// Load-balancing auxiliary loss (Fedus, Zoph, Shazeer 2021, eq. 4, without the alpha factor):
//   aux = E * sum_i f_i P_i,  f_i = (number of (token, slot) assignments to expert i) / (T * top_k),
//                             P_i = mean over tokens of p_i(x).
// f is a fraction (sum_i f_i = 1, aux = 1 under perfect balance for any top_k); HF Transformers'
// Mixtral loss counts per slot without dividing by top_k, i.e. top_k times this value. f is not
// differentiable; the gradient reaches the gate through P, as in the paper.
//
// Routing gathers each expert's tokens (index_select), runs the expert once on them, and
// scatter-adds the weighted outputs back: the work is T * top_k expert rows, not T * E.
// State_dict keys: gate.weight, experts.<e>.0.{weight,bias}, experts.<e>.2.{weight,bias}.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "attn/core/tensor.h"
#include "attn/nn/container.h"
#include "attn/nn/linear.h"
#include "attn/nn/module.h"

namespace attn::nn {

struct MoEOutput {
  Tensor output;    // x's shape
  Tensor aux_loss;  // 0-d, the load-balancing loss (multiply by your coefficient, e.g. 1e-2)
};

struct MixtureOfExpertsOptions {
  bool renormalise_topk = true;     // Mixtral-style; false: Switch-style raw probabilities
  std::string activation = "relu";  // "relu" or "gelu" (exact)
  DType dtype = kFloat32;
};

class MixtureOfExperts : public Module {
 public:
  MixtureOfExperts(int64_t d_model, int64_t num_experts, int64_t top_k, int64_t d_ff,
                   const MixtureOfExpertsOptions& options = {});
  MoEOutput forward(const Tensor& x);
  MoEOutput operator()(const Tensor& x) { return forward(x); }
  std::string extra_repr() const override;

  // From the last forward, over the flattened tokens:
  const Tensor& last_router_probs() const { return probs_; }     // [T, E]
  const Tensor& last_expert_indices() const { return indices_; }  // int64 [T, top_k], best first
  const Tensor& last_weights() const { return weights_; }         // [T, top_k], the g_e above
  const Tensor& last_tokens_per_expert() const { return counts_; }  // int64 [E], assignments

  int64_t d_model, num_experts, top_k, d_ff;
  MixtureOfExpertsOptions options;
  std::shared_ptr<Linear> gate;
  std::shared_ptr<ModuleList> experts;  // experts[e] = Sequential(Linear, ReLU | GELU, Linear)

 private:
  Tensor probs_, indices_, weights_, counts_;
};

}  // namespace attn::nn
