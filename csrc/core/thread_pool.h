// ThreadPool: a persistent set of worker threads owned by one model (no globals).
// run(n, fn) calls fn(task, worker) for task in [0, n) across the workers and the calling
// thread, and returns when every task is done. Workers spin briefly before sleeping so the
// many short parallel regions of a decode step do not pay a futex wake-up each.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gptneo {

class ThreadPool {
 public:
  using Task = std::function<void(int task, int worker)>;

  // threads: total parallelism including the caller (>= 1). Creates threads-1 workers.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Not reentrant: one run() at a time per pool (the model serialises its steps).
  void run(int num_tasks, const Task& fn);

  // Splits [0, n) into about size()*chunks_per_thread contiguous ranges of at least `grain`.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn);

 private:
  void worker_loop(int worker);
  void drain(int worker);

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> next_task_{0};
  std::atomic<int> pending_workers_{0};
  int num_tasks_ = 0;
  const Task* fn_ = nullptr;
  bool stop_ = false;
};

// Number of hardware threads this process may use (affinity-aware on Linux).
int hardware_threads();

}  // namespace gptneo
