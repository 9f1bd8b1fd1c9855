// parallel_for: the one way attn kernels use threads. It splits [begin, end) into at most
// get_num_threads() contiguous chunks of at least `grain` items and runs fn(chunk_begin, chunk_end)
// on each. Parallelise over independent outputs (rows, heads, query blocks), never over a
// reduction, so results do not depend on the thread count. fn must not throw.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "attn/kernels/config.h"

namespace attn::kernels {

template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& fn) {
  const int64_t n = end - begin;
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int64_t nt = std::min<int64_t>(get_num_threads(), (n + grain - 1) / grain);
  if (nt <= 1 || omp_in_parallel()) {
    fn(begin, end);
    return;
  }
  const int64_t chunk = (n + nt - 1) / nt;
#pragma omp parallel for num_threads(static_cast<int>(nt)) schedule(static, 1)
  for (int64_t t = 0; t < nt; ++t) {
    const int64_t b = begin + t * chunk, e = std::min(end, b + chunk);
    if (b < e) fn(b, e);
  }
}

}  // namespace attn::kernels
