// Thread count, kernel-mode switch and SIMD capability (see attn/kernels/config.h).
#include "attn/kernels/config.h"

#include <cblas.h>
#include <omp.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "hwy/targets.h"

namespace attn {
namespace {
bool reference_from_env() {
  const char* v = std::getenv("ATTN_KERNELS");
  return v != nullptr && (std::strcmp(v, "ref") == 0 || std::strcmp(v, "reference") == 0);
}
std::atomic<bool> g_reference{reference_from_env()};
std::atomic<int> g_threads{0};  // 0: not set yet, use OpenMP's default

// The capabilities by name, best first, and the Highway target each stands for. (This file is
// built with the kernels' target list, so HWY_TARGETS here is the set compiled into them.)
struct Capability {
  const char* name;
  int64_t target;
};
constexpr Capability kCapabilities[] = {
    {"avx512", HWY_AVX3}, {"avx2", HWY_AVX2}, {"sse4", HWY_SSE4}, {"scalar", HWY_STATIC_TARGET}};

// ATTN_CPU_CAPABILITY caps the targets before the first kernel call picks one (a static
// initialiser of the library every kernel links). Highway numbers targets best first, so the
// targets above the named one are the bits below its bit. An unknown value is reported and
// ignored, as ATEN_CPU_CAPABILITY is by PyTorch.
const bool g_capability_from_env = [] {
  const char* v = std::getenv("ATTN_CPU_CAPABILITY");
  if (v == nullptr || *v == '\0') return false;
  for (const Capability& c : kCapabilities)
    if (std::strcmp(v, c.name) == 0) {
      hwy::DisableTargets(c.target - 1);
      return true;
    }
  std::fprintf(stderr, "attn: ignoring ATTN_CPU_CAPABILITY=%s (expected avx512, avx2, sse4 or scalar)\n", v);
  return false;
}();
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

std::string cpu_capability() {
  // SupportedTargets() points Highway's dispatch at every target the CPU has, cap or not, on its
  // way; Update() puts it back on the capped set, as a first kernel call would.
  const int64_t supported = hwy::SupportedTargets();
  hwy::GetChosenTarget().Update(supported);
  const int64_t targets = supported & HWY_TARGETS;  // never empty: the static target
  const int64_t best = targets & -targets;
  for (const Capability& c : kCapabilities)
    if (best == c.target) return c.name;
  return hwy::TargetName(best);
}

bool use_reference_kernels() { return g_reference.load(std::memory_order_relaxed); }
void set_use_reference_kernels(bool on) { g_reference = on; }

}  // namespace attn
