// NativeModel: the JS class over GptNeoModel. Construction is cheap and synchronous; load()
// and step() run on the model's own thread (napi/inference_thread.h) and return Promises. One step at a time per model (the
// TypeScript engine serialises them; a concurrent call is rejected with ERR_GPTNEO_BUSY).
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/row_sampler.h"
#include "model/device_sampling.h"
#include "model/gpt_neo.h"
#include "napi/inference_thread.h"

namespace gptneo::napi {

// Shared by the wrapper and any worker in flight, so dispose() during a step is safe.
struct ModelHolder {
  std::mutex mu;
  std::unique_ptr<GptNeoModel> model;
  std::atomic<bool> busy{false};
  std::atomic<bool> disposed{false};
  // Sampling steps (output 'sample'), used by one worker at a time: the host logits block, kept
  // across steps; a pool for backends without a host pool (CUDA); one scratch per pool thread.
  StepOutput sampled_logits;
  std::unique_ptr<ThreadPool> sampling_pool;
  std::vector<cpu::RowSamplerScratch> sampling_scratch;
  // Sampling from logits left on the backend (model/device_sampling.h), created on first use.
  std::unique_ptr<DeviceRowSampler> device_sampler;
  // Where load() and step() run. Declared last, so it is joined before anything above goes; the
  // holder (and so the thread) is destroyed on the JS thread: by the wrapper or by the last job's
  // settle().
  std::unique_ptr<InferenceThread> thread;

  // Frees the model and the sampling buffers (call with `mu` held, no worker running).
  void release() {
    model.reset();
    sampled_logits = StepOutput();
    sampling_pool.reset();
    sampling_scratch.clear();
    sampling_scratch.shrink_to_fit();
    device_sampler.reset();
  }
};

class NativeModel : public Napi::ObjectWrap<NativeModel> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit NativeModel(const Napi::CallbackInfo& info);
  ~NativeModel() override;

 private:
  Napi::Value load(const Napi::CallbackInfo& info);
  Napi::Value step(const Napi::CallbackInfo& info);
  Napi::Value info(const Napi::CallbackInfo& info);
  Napi::Value dispose(const Napi::CallbackInfo& info);

  // Returns false (with a pending JS exception) when disposed or busy; else marks busy.
  bool acquire(Napi::Env env);

  std::shared_ptr<ModelHolder> holder_;
  std::string backend_name_;
  int vocab_size_ = 0;
  std::vector<uint8_t> sampling_marks_;  // read_sampling_batch's scratch (JS thread only)
};

}  // namespace gptneo::napi
