// parallel_for: the one way attn kernels use threads. It splits [begin, end) into contiguous
// chunks of about `grain` items or more (up to kChunksPerThread per thread; no more threads than
// ceil(n / grain)) and runs fn(chunk_begin, chunk_end) on each, on the calling thread and attn's
// worker threads (get_num_threads() in all).
// Parallelise over independent outputs (rows, heads, query blocks), never over a reduction, so
// results do not depend on the thread count or on which thread ran a chunk. fn must not throw.
//
// Why attn's own workers and not an OpenMP parallel region: a region ends with a barrier that
// every thread of the team must reach, so it lasts at least as long as waking a sleeping worker
// (with OMP_WAIT_POLICY=PASSIVE, the only sane policy on a shared machine: 60-100 us measured on
// the 2-CPU VMs attn is benchmarked on, longer than many of the ~1000 small regions of a
// Transformer training step). Here chunks are handed out one at a time to whichever thread asks
// first, and the caller waits only for chunks a worker actually took: a region that is over
// before a worker wakes costs no more than running it inline, and a worker that wakes late (or is
// slowed by other processes) simply takes fewer chunks. Workers spin for a few microseconds after
// their last chunk, then sleep.
//
// parallel_for_blas is the OpenMP form, for chunks that call OpenBLAS: its OpenMP build skips its
// process-wide thread-count bookkeeping (goto_set_num_threads) only when called inside an OpenMP
// region, so concurrent calls from other threads would race on it (see kernels/gemm.h).
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "attn/kernels/config.h"

namespace attn::kernels {

namespace detail {
inline constexpr int64_t kChunksPerThread = 4;

// Runs call(ctx, c) for every c in [0, nchunks) on the calling thread and up to threads - 1
// workers; returns when all have run. Runs them all inline when called from a chunk (nesting) or
// while another thread's parallel_for holds the workers.
void run_chunks(int64_t nchunks, int threads, void (*call)(const void* ctx, int64_t chunk), const void* ctx);

// True on a worker thread, and on any thread while it runs chunks: nested loops run inline.
bool in_parallel_region();
}  // namespace detail

template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& fn) {
  const int64_t n = end - begin;
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t most = (n + grain - 1) / grain;
  const int64_t nt = std::min<int64_t>(get_num_threads(), most);
  if (nt <= 1 || detail::in_parallel_region() || omp_in_parallel()) {
    fn(begin, end);
    return;
  }
  const int64_t want = std::min(most, detail::kChunksPerThread * nt);
  const int64_t chunk = (n + want - 1) / want;
  struct Job {
    const F* fn;
    int64_t begin, end, chunk;
  } job{&fn, begin, end, chunk};
  detail::run_chunks((n + chunk - 1) / chunk, int(nt), [](const void* p, int64_t c) {
    const Job& j = *static_cast<const Job*>(p);
    const int64_t b = j.begin + c * j.chunk;
    (*j.fn)(b, std::min(j.end, b + j.chunk));
  }, &job);
}

// The OpenMP form: at most get_num_threads() equal chunks, one per thread of an OpenMP team.
template <class F>
void parallel_for_blas(int64_t begin, int64_t end, int64_t grain, const F& fn) {
  const int64_t n = end - begin;
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t nt = std::min<int64_t>(get_num_threads(), (n + grain - 1) / grain);
  if (nt <= 1 || detail::in_parallel_region() || omp_in_parallel()) {
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
