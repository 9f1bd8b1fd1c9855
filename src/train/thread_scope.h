// Internal to the train layer: sets the kernel thread count for the length of a training run.
#pragma once

#include "attn/kernels/config.h"

namespace attn::train::internal {

// Sets the kernel thread count to n (n <= 0: leaves it alone) and restores it on scope exit.
struct ThreadScope {
  int prev = 0;
  explicit ThreadScope(int n) {
    if (n > 0) {
      prev = get_num_threads();
      set_num_threads(n);
    }
  }
  ~ThreadScope() {
    if (prev > 0) set_num_threads(prev);
  }
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;
};

}  // namespace attn::train::internal
