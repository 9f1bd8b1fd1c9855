// Process-wide kernel settings: the thread count shared by attn's parallel loops and OpenBLAS,
// the switch that routes every op to its scalar reference kernel (ATTN_KERNELS=ref), and the SIMD
// instruction set the fast kernels run with.
#pragma once

#include <string>

namespace attn {

// Sets the threads used by attn kernels (attn's worker threads, see src/kernels/parallel.h) and
// by the OpenMP team that runs single-threaded OpenBLAS calls side by side.
void set_num_threads(int n);
int get_num_threads();

// True when every op must use its reference kernel. Initialised from the environment variable
// ATTN_KERNELS ("ref" or "fast", default fast); tests flip it to compare the two.
bool use_reference_kernels();
void set_use_reference_kernels(bool on);

// The SIMD instruction set attn's fast kernels run with: "avx512", "avx2", "sse4" or "scalar"
// (no SIMD). On x86-64 each fast kernel is compiled for all four (Highway's AVX3, AVX2, SSE4 and
// scalar targets) and picks the best one the CPU supports at its first call; elsewhere this is
// Highway's name of the build in use. The environment variable ATTN_CPU_CAPABILITY, read when the
// program starts, caps it at a lower level (as ATEN_CPU_CAPABILITY does for PyTorch), e.g. to
// compare them or to test the narrower builds on a wider CPU; a level above the CPU's gives the
// CPU's best, an unknown value is reported on stderr and ignored. OpenBLAS picks its own kernels.
std::string cpu_capability();

// RAII switch for tests: forces reference (or fast) kernels inside a scope.
class KernelModeGuard {
 public:
  explicit KernelModeGuard(bool reference) : prev_(use_reference_kernels()) { set_use_reference_kernels(reference); }
  ~KernelModeGuard() { set_use_reference_kernels(prev_); }
  KernelModeGuard(const KernelModeGuard&) = delete;
  KernelModeGuard& operator=(const KernelModeGuard&) = delete;

 private:
  bool prev_;
};

}  // namespace attn
