// Thread count and kernel-mode switch (see attn/kernels/config.h).
#include "attn/kernels/config.h"

#include <cblas.h>
#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace attn {
namespace {
bool reference_from_env() {
  const char* v = std::getenv("ATTN_KERNELS");
  return v != nullptr && (std::strcmp(v, "ref") == 0 || std::strcmp(v, "reference") == 0);
}
std::atomic<bool> g_reference{reference_from_env()};
std::atomic<int> g_threads{0};  // 0: not set yet, use OpenMP's default
}  // namespace

void set_num_threads(int n) {
  if (n < 1) n = 1;
  g_threads = n;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

int get_num_threads() {
  int n = g_threads.load();
  return n > 0 ? n : omp_get_max_threads();
}

bool use_reference_kernels() { return g_reference.load(std::memory_order_relaxed); }
void set_use_reference_kernels(bool on) { g_reference = on; }

}  // namespace attn
