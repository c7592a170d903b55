#include "core/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define GN_CPU_RELAX() _mm_pause()
#else
#define GN_CPU_RELAX() ((void)0)
#endif

namespace gptneo {

int hardware_threads() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

ThreadPool::ThreadPool(int threads) {
  int n = std::max(1, threads) - 1;
  workers_.reserve(n);
  for (int i = 0; i < n; ++i) workers_.emplace_back([this, i] { worker_loop(i + 1); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_task(int task, int worker) {
  try {
    (*fn_)(task, worker);
  } catch (...) {
    std::lock_guard<std::mutex> lock(error_mu_);
    if (!error_) error_ = std::current_exception();
  }
  done_.fetch_add(1, std::memory_order_acq_rel);
}

void ThreadPool::drain(int worker) {
  uint64_t c = claim_.load(std::memory_order_acquire);
  for (;;) {
    const uint32_t num = static_cast<uint32_t>(c >> 32), next = static_cast<uint32_t>(c);
    if (next >= num) return;
    // A successful exchange claims task `next` of the run whose word this is; that run cannot
    // end (nor fn_ change) before the claimed task is done.
    if (claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel, std::memory_order_acquire))
      run_task(static_cast<int>(next), worker);
  }
}

void ThreadPool::worker_loop(int worker) {
  uint64_t seen = 0;
  for (;;) {
    // Spin for a short while: decode steps issue many small parallel regions back to back.
    auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
    uint64_t gen = generation_.load(std::memory_order_acquire);
    while (gen == seen && std::chrono::steady_clock::now() < spin_until) {
      for (int i = 0; i < 64; ++i) GN_CPU_RELAX();
      gen = generation_.load(std::memory_order_acquire);
    }
    if (gen == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      gen = generation_.load(std::memory_order_acquire);
    }
    seen = gen;
    if (stop_.load(std::memory_order_acquire)) return;
    drain(worker);
  }
}

void ThreadPool::run(int num_tasks, const Task& fn) {
  if (num_tasks <= 0) return;
  if (workers_.empty() || num_tasks == 1) {
    std::exception_ptr first;
    for (int t = 0; t < num_tasks; ++t) {
      try {
        fn(t, 0);
      } catch (...) {
        if (!first) first = std::current_exception();
      }
    }
    if (first) std::rethrow_exception(first);
    return;
  }
  fn_ = &fn;
  error_ = nullptr;
  done_.store(0, std::memory_order_relaxed);
  claim_.store(static_cast<uint64_t>(num_tasks) << 32, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(mu_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  drain(0);
  // Only tasks other threads are running remain; yield the core if one of them was preempted.
  for (int spins = 0; done_.load(std::memory_order_acquire) != num_tasks; ++spins) {
    if (spins < 4096) GN_CPU_RELAX();
    else std::this_thread::yield();
  }
  fn_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t max_chunks = (n + grain - 1) / grain;
  int64_t chunks = std::min<int64_t>(max_chunks, static_cast<int64_t>(size()) * 4);
  int64_t per = (n + chunks - 1) / chunks;
  int num = static_cast<int>((n + per - 1) / per);
  run(num, [&](int t, int) {
    int64_t b = t * per;
    int64_t e = std::min(n, b + per);
    fn(b, e);
  });
}

}  // namespace gptneo
