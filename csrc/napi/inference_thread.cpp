#include "napi/inference_thread.h"

namespace gptneo::napi {

InferenceThread::InferenceThread(Napi::Env env) : env_(env) {
  // One thread count, held by our thread until shutdown(); unlimited queue (one job at a time
  // per model anyway). Unreferenced while idle.
  delivery_ = Delivery::New(env, "gpt-neo-node model", 0, 1, this);
  delivery_.Unref(env);
  napi_add_env_cleanup_hook(env, &InferenceThread::on_env_cleanup, this);
  thread_ = std::thread([this] { loop(); });
}

InferenceThread::~InferenceThread() {
  if (!shut_down_) napi_remove_env_cleanup_hook(env_, &InferenceThread::on_env_cleanup, this);
  shutdown();
}

void InferenceThread::on_env_cleanup(void* self) { static_cast<InferenceThread*>(self)->shutdown(); }

void InferenceThread::submit(Napi::Env env, ThreadJob* job) {
  if (pending_++ == 0) delivery_.Ref(env);
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(job);
  }
  wake_.notify_one();
}

void InferenceThread::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
  delivery_.Release();
}

void InferenceThread::loop() {
  for (;;) {
    ThreadJob* job = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      job = queue_.front();
      queue_.pop_front();
    }
    job->execute();
    // Fails only once the thread-safe function is closing, which the cleanup hook prevents by
    // joining this thread first; the job would then be leaked rather than freed off the JS thread.
    (void)delivery_.NonBlockingCall(job);
  }
}

void InferenceThread::deliver(Napi::Env env, Napi::Function, InferenceThread* self, ThreadJob* job) {
  if (env == nullptr) {  // the environment is going: nothing to settle
    delete job;
    return;
  }
  // Unreference first: deleting the job may drop the last owner of this thread.
  if (--self->pending_ == 0) self->delivery_.Unref(env);
  job->settle(env);
  delete job;
}

}  // namespace gptneo::napi
