// `attn tour`: a short tour of the core: tensors, broadcasting, autograd and a gradient check.
#include <cstdio>

#include "apps/attn/commands.h"
#include "attn/attn.h"

namespace attn::cli {

void register_tour(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("tour", "a short tour of attn's tensors and autograd");
  actions()[sub] = [] {
    std::printf("attn %s\n\n", version());
    manual_seed(0);
    Tensor x = arange(0, 6, 1, kFloat32).view({2, 3}).detach().requires_grad_();
    Tensor w = tensor({0.5f, -1.f, 2.f}).requires_grad_();
    std::printf("x = %s\nw = %s\n", x.to_string().c_str(), w.to_string().c_str());
    Tensor y = (x * w + 1.0) * x;  // broadcasting [2,3] * [3]
    std::printf("y = (x * w + 1) * x = %s\n", y.to_string().c_str());
    y.backward(ones_like(y));
    std::printf("dy/dx (summed) = %s\n", x.grad().to_string().c_str());
    std::printf("dy/dw (summed) = %s\n", w.grad().to_string().c_str());
    auto r = gradcheck([](const std::vector<Tensor>& in) { return (in[0] * in[1] + 1.0) * in[0]; },
                       {x.detach().to(kFloat64).requires_grad_(), w.detach().to(kFloat64).requires_grad_()});
    std::printf("gradcheck against central differences: %s (max abs error %.2e)\n", r.ok ? "ok" : "FAILED", r.max_abs_error);
  };
}

}  // namespace attn::cli
