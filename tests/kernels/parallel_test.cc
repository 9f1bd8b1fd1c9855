// parallel_for on attn's worker threads: every index runs exactly once whatever the sizes, grains
// and thread counts; nested loops run inline; loops started from several user threads at once
// (only one gets the workers, the others run inline) and long runs of tiny back-to-back loops (a
// worker waking late for a loop that is already over) stay exact; parallel_for_blas likewise.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "attn/kernels/config.h"
#include "kernels/parallel.h"

namespace attn {
namespace {

struct Threads {
  explicit Threads(int n) : prev(get_num_threads()) { set_num_threads(n); }
  ~Threads() { set_num_threads(prev); }
  int prev;
};

// Runs loop(begin, end, grain, fn) and checks that every index of [begin, end) was visited once,
// never outside the range, in chunks of at least grain / 2 items (but the last: a range of 1.5
// grains still goes to two threads).
template <class Loop>
void expect_each_index_once(const Loop& loop, int64_t begin, int64_t end, int64_t grain) {
  const int64_t n = end - begin;
  std::vector<std::atomic<int>> hits(size_t(std::max<int64_t>(n, 0)));
  std::atomic<int64_t> short_chunks{0}, outside{0};
  loop(begin, end, grain, [&](int64_t b, int64_t e) {
    if (b < begin || e > end || b >= e) {
      outside.fetch_add(1);
      return;
    }
    if (e - b < grain / 2 && e != end) short_chunks.fetch_add(1);
    for (int64_t i = b; i < e; ++i) hits[size_t(i - begin)].fetch_add(1);
  });
  EXPECT_EQ(outside.load(), 0) << "range [" << begin << ", " << end << ") grain " << grain;
  EXPECT_EQ(short_chunks.load(), 0) << "range [" << begin << ", " << end << ") grain " << grain;
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(hits[size_t(i)].load(), 1) << "index " << begin + i << " of [" << begin << ", " << end << ") grain " << grain;
}

const auto pool_loop = [](int64_t b, int64_t e, int64_t g, const auto& fn) { kernels::parallel_for(b, e, g, fn); };
const auto blas_loop = [](int64_t b, int64_t e, int64_t g, const auto& fn) { kernels::parallel_for_blas(b, e, g, fn); };

TEST(ParallelFor, EveryIndexOnceForAnySizeGrainAndThreadCount) {
  std::mt19937 rng(7);
  for (int threads : {1, 2, 3, 5}) {
    Threads t(threads);
    for (int64_t n : {0, 1, 2, 3, 7, 8, 9, 63, 64, 65, 1000, 4097}) {
      for (int64_t grain : {0, 1, 2, 5, 64, 10000}) {
        const int64_t begin = int64_t(rng() % 50) - 25;
        expect_each_index_once(pool_loop, begin, begin + n, grain);
        expect_each_index_once(blas_loop, begin, begin + n, grain);
      }
    }
  }
}

TEST(ParallelFor, NestedLoopsRunInline) {
  Threads t(2);
  std::vector<std::atomic<int>> hits(64 * 64);
  std::atomic<int> nested_on_other_threads{0};
  kernels::parallel_for(0, 64, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const auto outer = std::this_thread::get_id();
      kernels::parallel_for(0, 64, 1, [&](int64_t j0, int64_t j1) {
        if (std::this_thread::get_id() != outer) nested_on_other_threads.fetch_add(1);
        for (int64_t j = j0; j < j1; ++j) hits[size_t(i * 64 + j)].fetch_add(1);
      });
    }
  });
  EXPECT_EQ(nested_on_other_threads.load(), 0);
  for (size_t k = 0; k < hits.size(); ++k) ASSERT_EQ(hits[k].load(), 1) << "pair " << k;
}

TEST(ParallelFor, LoopsFromSeveralUserThreadsAtOnce) {
  Threads t(2);
  constexpr int kUsers = 4, kLoops = 300;
  std::vector<std::vector<int64_t>> sums(kUsers, std::vector<int64_t>(kLoops, 0));
  std::vector<std::thread> users;
  for (int u = 0; u < kUsers; ++u)
    users.emplace_back([&, u] {
      for (int l = 0; l < kLoops; ++l) {
        const int64_t n = 1 + (u * 131 + l * 17) % 3000;
        std::vector<int64_t> out(size_t(n), 0);
        kernels::parallel_for(0, n, 16, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) out[size_t(i)] = i * (u + 1);
        });
        int64_t s = 0;
        for (int64_t v : out) s += v;
        sums[size_t(u)][size_t(l)] = s;
      }
    });
  for (auto& th : users) th.join();
  for (int u = 0; u < kUsers; ++u)
    for (int l = 0; l < kLoops; ++l) {
      const int64_t n = 1 + (u * 131 + l * 17) % 3000;
      ASSERT_EQ(sums[size_t(u)][size_t(l)], (u + 1) * n * (n - 1) / 2) << "user " << u << " loop " << l;
    }
}

TEST(ParallelFor, ManyTinyLoopsBackToBack) {
  // A worker often wakes for a loop that the caller has already finished alone; it must neither
  // run a chunk twice nor run a chunk of the next loop with the previous loop's function.
  Threads t(2);
  std::vector<int64_t> out(8);
  int64_t total = 0;
  for (int l = 0; l < 20000; ++l) {
    kernels::parallel_for(0, 8, 1, [&, l](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) out[size_t(i)] += l + i;
    });
  }
  for (int64_t v : out) total += v;
  // sum over l < 20000 and i < 8 of (l + i)
  EXPECT_EQ(total, 8 * (int64_t(20000) * 19999 / 2) + 20000 * 28);
}

}  // namespace
}  // namespace attn
