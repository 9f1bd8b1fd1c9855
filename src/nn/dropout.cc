// Dropout module.
#include "attn/nn/dropout.h"

#include "attn/ops/dropout.h"

namespace attn::nn {

Dropout::Dropout(double p_) : p(p_) {
  ATTN_CHECK(p >= 0.0 && p <= 1.0, "Dropout: probability has to be between 0 and 1, but got ", p);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training(), generator); }

std::string Dropout::extra_repr() const { return detail::str_cat("p=", p, ", inplace=False"); }

}  // namespace attn::nn
