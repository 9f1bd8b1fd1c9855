// The worker threads behind parallel_for (see kernels/parallel.h).
//
// One job at a time. Its chunks are claimed through one atomic word, `ticket_` = (chunk count <<
// 32) | next chunk: a thread claims chunk `next` by a compare-and-swap to next + 1, so every chunk
// runs exactly once, on whichever thread got there first. The caller publishes the job's callback
// before the ticket (release) and reads no reply but `done_`, the count of finished chunks; a
// worker reads the callback only after a successful claim, while the job cannot end (its chunk is
// still unfinished), so it never sees a stale or a future job's callback. A claim from a stale
// ticket value can only succeed if the word equals the current one exactly, and then it is a valid
// claim of the current job.
//
// Workers wait on `wake_` (a generation count): a short spin, then a futex sleep (std::atomic
// wait / notify). The pool is created on first use and never destroyed (its threads are
// detached), so no exit path waits on a sleeping worker. After fork() the child has no workers;
// the caller then claims and runs every chunk itself, as it does whenever no worker shows up.
#include "kernels/parallel.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

namespace attn::kernels::detail {
namespace {

thread_local bool t_in_region = false;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// How long an idle worker spins before it sleeps, and how long a caller that has run out of
// chunks spins before it sleeps while a worker finishes one: long enough to bridge the gap
// between two loops of one op, short enough to cost other processes nothing worth measuring.
constexpr std::chrono::microseconds kWorkerSpin{20}, kCallerSpin{200};

// Spins until ready() or `limit` passes; returns ready().
template <class Ready>
bool spin_until(const Ready& ready, std::chrono::microseconds limit) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 1;; ++i) {
    if (ready()) return true;
    cpu_relax();
    if (i % 64 == 0 && std::chrono::steady_clock::now() - t0 > limit) return ready();
  }
}

class Pool {
 public:
  using Call = void (*)(const void*, int64_t);

  static Pool& get() {
    static Pool* pool = new Pool;  // never destroyed: see the file comment
    return *pool;
  }

  // Runs the job and returns true, or returns false at once when another thread's job holds
  // the pool (the caller then runs its chunks inline).
  bool run(int64_t nchunks, int threads, Call call, const void* ctx) {
    if (busy_.exchange(true, std::memory_order_acquire)) return false;
    add_workers(threads - 1);
    call_ = call;
    ctx_ = ctx;
    helpers_.store(threads - 1, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    ticket_.store(uint64_t(nchunks) << 32, std::memory_order_release);
    // seq_cst with the worker's sleepers_ increment and wake_ load: either it sees the new
    // generation and does not sleep, or this sees it going to sleep and wakes it.
    wake_.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) wake_.notify_all();

    t_in_region = true;
    work();
    const uint32_t n = uint32_t(nchunks);
    auto all_done = [&] { return done_.load(std::memory_order_acquire) == n; };
    if (!spin_until(all_done, kCallerSpin))
      for (uint32_t d; (d = done_.load(std::memory_order_acquire)) != n;) done_.wait(d, std::memory_order_acquire);
    t_in_region = false;
    busy_.store(false, std::memory_order_release);
    return true;
  }

 private:
  // Claims and runs chunks of the current job until none is left.
  void work() {
    uint64_t t = ticket_.load(std::memory_order_acquire);
    for (;;) {
      const uint32_t count = uint32_t(t >> 32), next = uint32_t(t);
      if (next >= count) return;
      if (!ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      call_(ctx_, int64_t(next));
      // seq_cst: notify_one() skips the wake when it sees no waiter registered.
      if (done_.fetch_add(1, std::memory_order_seq_cst) + 1 == count) done_.notify_one();
      t = ticket_.load(std::memory_order_acquire);
    }
  }

  // Only the thread holding busy_ calls this.
  void add_workers(int n) {
    for (; started_ < n; ++started_) std::thread([this, id = started_] { worker(id); }).detach();
  }

  void worker(int id) {
    t_in_region = true;
    uint32_t seen = wake_.load(std::memory_order_acquire);
    for (;;) {
      auto woken = [&] { return wake_.load(std::memory_order_seq_cst) != seen; };
      if (!spin_until(woken, kWorkerSpin)) {
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        while (!woken()) wake_.wait(seen, std::memory_order_seq_cst);
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
      }
      seen = wake_.load(std::memory_order_acquire);
      if (id < helpers_.load(std::memory_order_relaxed)) work();
    }
  }

  std::atomic<bool> busy_{false};
  std::atomic<uint64_t> ticket_{0};
  std::atomic<uint32_t> done_{0}, wake_{0};
  std::atomic<int> sleepers_{0}, helpers_{0};
  Call call_ = nullptr;
  const void* ctx_ = nullptr;
  int started_ = 0;  // workers started
};

}  // namespace

bool in_parallel_region() { return t_in_region; }

void run_chunks(int64_t nchunks, int threads, void (*call)(const void*, int64_t), const void* ctx) {
  if (nchunks <= 0) return;
  if (threads <= 1 || nchunks >= (int64_t(1) << 32) || t_in_region || !Pool::get().run(nchunks, threads, call, ctx)) {
    for (int64_t c = 0; c < nchunks; ++c) call(ctx, c);
  }
}

}  // namespace attn::kernels::detail
