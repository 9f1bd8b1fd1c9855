// Activation modules: each forward is one call into ops/unary or ops/softmax.
#include "attn/nn/activation.h"

#include "attn/ops/softmax.h"
#include "attn/ops/unary.h"

namespace attn::nn {

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

GELU::GELU(std::string approx) : approximate(std::move(approx)) {
  ATTN_CHECK(approximate == "none" || approximate == "tanh", "GELU: approximate must be \"none\" or \"tanh\", got \"",
             approximate, "\"");
}
Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate); }

Tensor Tanh::forward(const Tensor& x) { return tanh(x); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }
Tensor SiLU::forward(const Tensor& x) { return silu(x); }
Tensor Softmax::forward(const Tensor& x) { return softmax(x, dim); }
Tensor LogSoftmax::forward(const Tensor& x) { return log_softmax(x, dim); }

}  // namespace attn::nn
