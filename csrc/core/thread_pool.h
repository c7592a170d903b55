// ThreadPool: a persistent set of worker threads owned by one model (no globals).
// run(n, fn) calls fn(task, worker) for task in [0, n) across the workers and the calling
// thread, and returns when every task is done; the first exception a task throws is rethrown
// there (the other tasks still run). Workers spin briefly before sleeping so the many short
// parallel regions of a decode step do not pay a futex wake-up each. Tasks are claimed from
// one atomic word holding (tasks in this run, next task), so run() returns as soon as the tasks
// are done: it never waits for a worker that has not woken up yet (on a busy machine that
// worker may be descheduled for milliseconds), and such a late worker can only ever claim a
// task of the run that is current when it wakes.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
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
  // Claims and runs tasks of the current run until none is left.
  void drain(int worker);
  void run_task(int task, int worker);

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};   // bumped by every run() (and the destructor) to wake workers
  std::atomic<uint64_t> claim_{0};        // (num_tasks << 32) | next unclaimed task of the current run
  std::atomic<int> done_{0};              // tasks of the current run finished
  const Task* fn_ = nullptr;              // valid while the current run has unfinished tasks
  std::mutex error_mu_;
  std::exception_ptr error_;              // first exception of the current run
  std::atomic<bool> stop_{false};
};

// Number of hardware threads this process may use (affinity-aware on Linux).
int hardware_threads();

}  // namespace gptneo
