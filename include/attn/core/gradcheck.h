// gradcheck: compares autograd's gradients with central finite differences (torch.autograd.gradcheck).
// The scalar checked is the random projection L(x) = sum(dy * f(x)) with a fixed random dy, so
// one pass checks the whole Jacobian-vector product. Inputs must be float64 for the differences
// to be meaningful; those with requires_grad are checked element by element.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "attn/core/tensor.h"

namespace attn {

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0;   // worst |analytic - numeric|
  double max_rel_error = 0;
  std::string worst;          // "input 0, flat index 3: analytic 0.5 vs numeric 0.49"
  std::string message() const { return ok ? "gradcheck passed" : "gradcheck failed: " + worst; }
};

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  uint64_t seed = 1234;
};

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& opt = {});

}  // namespace attn
