// attn::cpu_capability(): the SIMD build the fast kernels run with, the best one the CPU has
// unless ATTN_CPU_CAPABILITY caps it (the suite runs once more under each cap: see
// tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "attn/kernels/config.h"
#include "hwy/targets.h"
#include "kernels/unary.h"

namespace attn {
namespace {

// The capabilities best first, and the best one this CPU has by its own cpuid (the features
// Highway's AVX3, AVX2 and SSE4 targets require that GCC's __builtin_cpu_supports can name;
// x86-64 only).
const std::vector<std::string> kLevels = {"avx512", "avx2", "sse4", "scalar"};
size_t rank(const std::string& c) {
  for (size_t i = 0; i < kLevels.size(); ++i)
    if (kLevels[i] == c) return i;
  return kLevels.size();
}
std::string cpu_best() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw"))
    return "avx512";
  const bool sse4 = __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("ssse3") &&
                    __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul");
  if (sse4 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi") &&
      __builtin_cpu_supports("bmi2"))
    return "avx2";
  if (sse4) return "sse4";
#endif
  return "scalar";
}

TEST(CpuCapability, IsTheCpusBestUnlessTheEnvironmentCapsIt) {
  const std::string got = cpu_capability(), best = cpu_best();
  const char* env = std::getenv("ATTN_CPU_CAPABILITY");
  const std::string cap = env ? env : "";
#if defined(__x86_64__)
  ASSERT_LT(rank(got), kLevels.size()) << got;
  // The lower of the two; an unknown or empty cap is ignored.
  const std::string want = rank(cap) < kLevels.size() && rank(cap) > rank(best) ? cap : best;
  EXPECT_EQ(got, want) << "ATTN_CPU_CAPABILITY=" << cap << ", CPU best " << best;
#else
  EXPECT_FALSE(got.empty());
#endif
}

TEST(CpuCapability, AskingDoesNotLiftTheCap) {
  // Asking Highway for the CPU's targets re-aims its dispatch at all of them on the way; the
  // kernels called afterwards must still run the capped build. float gelu at x = -9.1 rounds
  // differently with and without FMA, so the result tells the builds apart.
  const float x[4] = {-9.10105f, -9.10105f, -9.10105f, -9.10105f};
  float before[4], after[4];
  hwy::GetChosenTarget().DeInit();  // the next kernel call picks its build afresh, as a first call does
  kernels::fast::unary(kernels::UnaryOp::Gelu, 4, x, 1, {}, before);
  for (int i = 0; i < 3; ++i) (void)cpu_capability();
  kernels::fast::unary(kernels::UnaryOp::Gelu, 4, x, 1, {}, after);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(before[i], after[i]) << cpu_capability();
}

}  // namespace
}  // namespace attn
