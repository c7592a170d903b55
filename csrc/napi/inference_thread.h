// The model's own thread: its load() and step() jobs run there in order, off the JS thread and
// outside libuv's shared pool (four threads that fs, dns, zlib and crypto also use: a long prefill
// there would stall them, and they would delay steps). Finished jobs come back to the JS thread
// through a thread-safe function, referenced only while a job is pending so that an idle model
// does not keep the event loop alive.
//
// Lifetime: created on the JS thread and owned by the model's holder, which jobs share, so the
// thread outlives every job. shutdown() — from the destructor, or from the environment's cleanup
// hook (registered after the thread-safe function, so it runs before that is torn down when a
// worker_thread ends) — lets the job in flight finish, joins the thread and releases the
// thread-safe function.
#pragma once
#include <napi.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace gptneo::napi {

// A job for the model's thread: execute() runs there and makes no N-API calls; settle() runs
// afterwards on the JS thread (resolves or rejects the job's Promise). The thread deletes a job
// after settling it, or unsettled when the environment goes first.
class ThreadJob {
 public:
  virtual ~ThreadJob() = default;
  virtual void execute() = 0;
  virtual void settle(Napi::Env env) = 0;
};

class InferenceThread {
 public:
  explicit InferenceThread(Napi::Env env);
  ~InferenceThread();
  InferenceThread(const InferenceThread&) = delete;
  InferenceThread& operator=(const InferenceThread&) = delete;

  // JS thread: queues a job; the thread owns it from here on.
  void submit(Napi::Env env, ThreadJob* job);
  // JS thread: runs what is queued, stops, joins, releases the thread-safe function. Idempotent.
  void shutdown();

 private:
  static void deliver(Napi::Env env, Napi::Function, InferenceThread* self, ThreadJob* job);
  static void on_env_cleanup(void* self);
  void loop();

  using Delivery = Napi::TypedThreadSafeFunction<InferenceThread, ThreadJob, &InferenceThread::deliver>;
  Delivery delivery_;
  napi_env env_ = nullptr;
  bool shut_down_ = false;  // JS thread only
  int pending_ = 0;         // JS thread only: submitted and not yet settled

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<ThreadJob*> queue_;  // guarded by mu_
  bool stopping_ = false;         // guarded by mu_
  std::thread thread_;
};

}  // namespace gptneo::napi
