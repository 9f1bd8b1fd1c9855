// Storage: one contiguous, 64-byte aligned buffer that tensors (and their views) share.
// Buffers come from a caching allocator: blocks of 64 KiB and more are kept on free lists and
// reused instead of being returned to the OS, because page faults are expensive on virtual
// machines (a fresh 16 MiB buffer costs thousands of faults per op). Storage can also wrap
// memory owned by someone else (a numpy array) with a deleter.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace attn {

class Storage {
 public:
  explicit Storage(size_t nbytes);  // uninitialised, from the caching allocator
  Storage(void* data, size_t nbytes, std::function<void(void*)> deleter);  // external memory
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  size_t capacity_ = 0;  // allocator block size; 0 for external memory
  std::function<void(void*)> deleter_;
};

// Caching allocator statistics and control (like torch.cuda.memory_* for the CPU).
struct AllocatorStats {
  size_t allocated_bytes = 0;  // live, handed out
  size_t cached_bytes = 0;     // free, kept for reuse
  size_t peak_allocated_bytes = 0;
  uint64_t os_allocations = 0;  // calls that went to the OS
};
AllocatorStats allocator_stats();
void reset_peak_allocated();
void empty_cache();  // returns every cached block to the OS

}  // namespace attn
