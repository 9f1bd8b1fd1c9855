// layer_norm over the last dim with weight and bias, forward and forward + backward (dx, dweight,
// dbias), attn's fast kernel against its reference kernel (compare.py adds PyTorch). Shapes
// [tokens, d_model]: [64*128, 128], [4096, 512], [1024, 4096].
// Names: "layer_norm/<fast|ref>/<rows>x<cols>" and "layer_norm_fb/..." (forward + backward through
// autograd with a given upstream gradient; all .grad fields are cleared each iteration, like
// PyTorch's x.grad = None).
#include "attn/core/autograd.h"
#include "attn/ops/normalization.h"
#include "bench_util.h"

namespace attn::bench {
namespace {

void layer_norm_cases(int64_t rows, int64_t cols) {
  const std::vector<int64_t> dims{rows, cols};
  const double bytes = 2.0 * double(rows * cols) * sizeof(float);  // read x, write y
  for (const char* impl : {"fast", "ref"}) {
    add("layer_norm", impl, dims, [=](benchmark::State& state) {
      const Tensor x = input({rows, cols}, 1), w = input({cols}, 3), b = input({cols}, 4);
      for (auto _ : state) {
        Tensor y = layer_norm(x, {cols}, w, b);
        benchmark::DoNotOptimize(y.raw_data());
      }
      set_bytes(state, bytes);
    });
    add("layer_norm_fb", impl, dims, [=](benchmark::State& state) {
      Tensor x = input({rows, cols}, 1), w = input({cols}, 3), b = input({cols}, 4);
      x.requires_grad_();
      w.requires_grad_();
      b.requires_grad_();
      const Tensor dy = input({rows, cols}, 2);
      for (auto _ : state) {
        Tensor y = layer_norm(x, {cols}, w, b);
        y.backward(dy);
        benchmark::DoNotOptimize(x.grad().raw_data());
        x.set_grad(Tensor());
        w.set_grad(Tensor());
        b.set_grad(Tensor());
      }
      set_bytes(state, 2.5 * bytes);  // forward x -> y, backward reads x and dy, writes dx
    });
  }
}

void register_all() {
  layer_norm_cases(64 * 128, 128);
  layer_norm_cases(4096, 512);
  layer_norm_cases(1024, 4096);
}

}  // namespace
}  // namespace attn::bench

ATTN_BENCH_MAIN(attn::bench::register_all)
