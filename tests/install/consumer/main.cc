// Uses the installed headers and libraries: a tiny autograd computation.
#include <attn/attn.h>

#include <cstdio>

int main() {
  attn::Tensor x = attn::tensor({1.f, 2.f, 3.f}).requires_grad_();
  attn::Tensor y = attn::sum(x * x);
  y.backward();
  const auto g = attn::to_double_vector(x.grad());
  std::printf("attn %s: d(sum x^2)/dx = %g %g %g\n", attn::version(), g[0], g[1], g[2]);
  return (g[0] == 2 && g[1] == 4 && g[2] == 6) ? 0 : 1;
}
