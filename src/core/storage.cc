// Caching CPU allocator behind attn::Storage (see storage.h for why it caches).
#include "attn/core/storage.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>

#include "attn/core/error.h"

namespace attn {
namespace {

constexpr size_t kAlign = 64;
constexpr size_t kCacheMin = 64 << 10;         // smaller blocks go straight to malloc (it caches them)
constexpr size_t kCacheLimit = size_t(8) << 30;  // never keep more than this much idle

// Rounds big requests up to one of four sizes per power of two, so that a freed block fits many
// later requests of similar size while wasting at most 25%.
size_t round_size(size_t n) {
  if (n == 0) return kAlign;  // empty tensors still own a (tiny) block, so it is freed like any other
  if (n < kCacheMin) return (n + kAlign - 1) / kAlign * kAlign;
  size_t p = size_t(1) << (63 - __builtin_clzll(n));
  size_t step = p / 4;
  return (n + step - 1) / step * step;
}

struct Cache {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;
  AllocatorStats stats;
};
Cache& cache() {
  static Cache* c = new Cache();  // leaked on purpose: storages may die during static destruction
  return *c;
}

void* os_alloc(size_t n) {
  void* p = std::aligned_alloc(kAlign, n == 0 ? kAlign : n);
  if (!p) throw std::bad_alloc();
  return p;
}

void* cached_alloc(size_t n, size_t* cap) {
  *cap = round_size(n);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    c.stats.allocated_bytes += *cap;
    if (c.stats.allocated_bytes > c.stats.peak_allocated_bytes) c.stats.peak_allocated_bytes = c.stats.allocated_bytes;
    if (*cap >= kCacheMin) {
      auto it = c.free_blocks.find(*cap);
      if (it != c.free_blocks.end()) {
        void* p = it->second;
        c.free_blocks.erase(it);
        c.stats.cached_bytes -= *cap;
        return p;
      }
    }
    c.stats.os_allocations++;
  }
  return os_alloc(*cap);
}

void cached_free(void* p, size_t cap) {
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    c.stats.allocated_bytes -= cap;
    if (cap >= kCacheMin && c.stats.cached_bytes + cap <= kCacheLimit) {
      c.free_blocks.emplace(cap, p);
      c.stats.cached_bytes += cap;
      return;
    }
  }
  std::free(p);
}

}  // namespace

Storage::Storage(size_t nbytes) : nbytes_(nbytes) { data_ = cached_alloc(nbytes, &capacity_); }

Storage::Storage(void* data, size_t nbytes, std::function<void(void*)> deleter)
    : data_(data), nbytes_(nbytes), deleter_(std::move(deleter)) {}

Storage::~Storage() {
  if (deleter_) {
    deleter_(data_);
  } else if (capacity_ > 0) {
    cached_free(data_, capacity_);
  }
}

AllocatorStats allocator_stats() {
  std::lock_guard<std::mutex> lock(cache().mu);
  return cache().stats;
}

void reset_peak_allocated() {
  std::lock_guard<std::mutex> lock(cache().mu);
  cache().stats.peak_allocated_bytes = cache().stats.allocated_bytes;
}

void empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (auto& [size, p] : c.free_blocks) std::free(p);
  c.free_blocks.clear();
  c.stats.cached_bytes = 0;
}

}  // namespace attn
