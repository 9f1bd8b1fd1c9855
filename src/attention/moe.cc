// Mixture of experts with top-k routing (include/attn/attention/moe.h).
#include "attn/attention/moe.h"

#include <vector>

#include "attn/core/error.h"
#include "attn/nn/activation.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/index.h"
#include "attn/ops/reduce.h"
#include "attn/ops/shape.h"
#include "attn/ops/softmax.h"
#include "attn/ops/sort.h"

namespace attn::nn {

MixtureOfExperts::MixtureOfExperts(int64_t d, int64_t e, int64_t k, int64_t ff, const MixtureOfExpertsOptions& o)
    : d_model(d), num_experts(e), top_k(k), d_ff(ff), options(o) {
  ATTN_CHECK(d >= 1 && e >= 1 && ff >= 1, "MixtureOfExperts: d_model, num_experts and d_ff must be >= 1, got ", d,
             ", ", e, ", ", ff);
  ATTN_CHECK(k >= 1 && k <= e, "MixtureOfExperts: top_k must be in [1, num_experts = ", e, "], got ", k);
  ATTN_CHECK(o.activation == "relu" || o.activation == "gelu",
             "MixtureOfExperts: activation must be \"relu\" or \"gelu\", got \"", o.activation, "\"");
  gate = register_module("gate", std::make_shared<Linear>(d, e, false, o.dtype));
  experts = register_module("experts", std::make_shared<ModuleList>());
  for (int64_t i = 0; i < e; ++i) {
    auto ffn = std::make_shared<Sequential>();
    ffn->push_back(std::make_shared<Linear>(d, ff, true, o.dtype));
    if (o.activation == "relu")
      ffn->push_back(std::make_shared<ReLU>());
    else
      ffn->push_back(std::make_shared<GELU>());
    ffn->push_back(std::make_shared<Linear>(ff, d, true, o.dtype));
    experts->push_back(ffn);
  }
}

MoEOutput MixtureOfExperts::forward(const Tensor& x) {
  ATTN_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == d_model, "MixtureOfExperts: expected x [..., ", d_model,
             "], got ", x.defined() ? shape_str(x.shape()) : std::string("an undefined tensor"));
  Tensor xt = x.reshape({-1, d_model});
  const int64_t T = xt.size(0), E = num_experts, K = top_k;

  probs_ = softmax(gate->forward(xt), -1);  // [T, E]
  ValuesIndices best = topk(probs_, K, -1);
  indices_ = best.indices.contiguous();
  weights_ = options.renormalise_topk ? best.values / sum(best.values, {-1}, true) : best.values;

  // Group the (token, slot) assignments by expert; the routing is integer bookkeeping, not
  // differentiable, so it is done on the index data directly.
  std::vector<std::vector<int64_t>> tokens(E), slots(E);
  const int64_t* idx = indices_.data_ptr<int64_t>();
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < K; ++j) {
      tokens[idx[t * K + j]].push_back(t);
      slots[idx[t * K + j]].push_back(t * K + j);
    }

  Tensor w_flat = weights_.reshape({-1});
  std::vector<Tensor> outs;
  std::vector<int64_t> dest;
  std::vector<int64_t> counts(E);
  for (int64_t e = 0; e < E; ++e) {
    counts[e] = int64_t(tokens[e].size());
    if (tokens[e].empty()) continue;
    Tensor xe = index_select(xt, 0, tensor<int64_t>(tokens[e]));
    Tensor ge = index_select(w_flat, 0, tensor<int64_t>(slots[e])).unsqueeze(-1);
    outs.push_back(experts->at<Sequential>(e)->forward(xe) * ge);
    dest.insert(dest.end(), tokens[e].begin(), tokens[e].end());
  }
  counts_ = tensor<int64_t>(counts);

  Tensor out = zeros({T, d_model}, x.dtype());
  if (!outs.empty()) {
    const auto n = int64_t(dest.size());
    Tensor index = tensor<int64_t>(dest, {n, 1}).expand({n, d_model}).contiguous();
    out = scatter_add(out, 0, index, cat(outs, 0));
  }

  MoEOutput r;
  r.output = out.reshape(x.shape());
  if (T == 0) {
    r.aux_loss = zeros({}, x.dtype());  // no tokens: nothing to balance (the mean would be 0/0)
  } else {
    std::vector<double> f(E);
    for (int64_t e = 0; e < E; ++e) f[e] = double(counts[e]) / double(T * K);
    Tensor P = mean(probs_, {0});
    r.aux_loss = sum(P * tensor<double>(f).to(x.dtype())) * double(E);
  }
  return r;
}

std::string MixtureOfExperts::extra_repr() const {
  return "d_model=" + std::to_string(d_model) + ", num_experts=" + std::to_string(num_experts) +
         ", top_k=" + std::to_string(top_k) + ", d_ff=" + std::to_string(d_ff) +
         ", renormalise_topk=" + (options.renormalise_topk ? "True" : "False") + ", activation=" + options.activation;
}

}  // namespace attn::nn
