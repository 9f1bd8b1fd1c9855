// softmax along the last dim, forward and forward + backward, attn's fast kernel against its
// reference kernel (compare.py adds PyTorch). Shapes are attention-like [rows, cols]:
// [64*128, 128] (64 heads of 128x128 scores), [4096, 512], [1024, 4096] (long rows).
// Names: "softmax/<fast|ref>/<rows>x<cols>" and "softmax_fb/..." (forward + backward through
// autograd with a given upstream gradient; the input's .grad is cleared each iteration, like
// PyTorch's x.grad = None).
#include "attn/core/autograd.h"
#include "attn/ops/softmax.h"
#include "bench_util.h"

namespace attn::bench {
namespace {

void softmax_cases(int64_t rows, int64_t cols) {
  const std::vector<int64_t> dims{rows, cols};
  const double bytes = 2.0 * double(rows * cols) * sizeof(float);  // read x, write y
  for (const char* impl : {"fast", "ref"}) {
    add("softmax", impl, dims, [=](benchmark::State& state) {
      const Tensor x = input({rows, cols}, 1);
      for (auto _ : state) {
        Tensor y = softmax(x, -1);
        benchmark::DoNotOptimize(y.raw_data());
      }
      set_bytes(state, bytes);
    });
    add("softmax_fb", impl, dims, [=](benchmark::State& state) {
      Tensor x = input({rows, cols}, 1);
      x.requires_grad_();
      const Tensor dy = input({rows, cols}, 2);
      for (auto _ : state) {
        Tensor y = softmax(x, -1);
        y.backward(dy);
        benchmark::DoNotOptimize(x.grad().raw_data());
        x.set_grad(Tensor());
      }
      set_bytes(state, 2.5 * bytes);  // forward 2 passes + backward 3 (y, dy read; dx written)
    });
  }
}

void register_all() {
  softmax_cases(64 * 128, 128);
  softmax_cases(4096, 512);
  softmax_cases(1024, 4096);
}

}  // namespace
}  // namespace attn::bench

ATTN_BENCH_MAIN(attn::bench::register_all)
