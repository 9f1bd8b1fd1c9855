// Process-wide kernel settings: the thread count shared by attn's parallel loops and OpenBLAS,
// and the switch that routes every op to its scalar reference kernel (ATTN_KERNELS=ref).
#pragma once

namespace attn {

// Sets the threads used by attn kernels (attn's worker threads, see src/kernels/parallel.h) and
// by the OpenMP team that runs single-threaded OpenBLAS calls side by side.
void set_num_threads(int n);
int get_num_threads();

// True when every op must use its reference kernel. Initialised from the environment variable
// ATTN_KERNELS ("ref" or "fast", default fast); tests flip it to compare the two.
bool use_reference_kernels();
void set_use_reference_kernels(bool on);

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
