// The jobs behind NativeModel.load() and .step(): execute() runs on the model's thread
// (napi/inference_thread.h) and makes no N-API calls; settle() resolves or rejects the Promise on
// the JS thread.
#pragma once
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "cpu/batch_sampler.h"
#include "napi/inference_thread.h"
#include "napi/model_wrap.h"

namespace gptneo::napi {

class ModelWorker : public ThreadJob {
 public:
  ModelWorker(Napi::Env env, std::shared_ptr<ModelHolder> holder)
      : holder_(std::move(holder)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  // JS thread: hands the job to the model's thread (which deletes it once settled).
  void queue(Napi::Env env);

  void execute() final;
  void settle(Napi::Env env) final;

 protected:
  virtual Status run(GptNeoModel& model) = 0;
  virtual Napi::Value result(Napi::Env env) = 0;

  std::shared_ptr<ModelHolder> holder_;
  Napi::Promise::Deferred deferred_;
  Status status_;
};

class LoadWorker final : public ModelWorker {
 public:
  LoadWorker(Napi::Env env, std::shared_ptr<ModelHolder> holder, std::string path,
             std::vector<TensorEntry> tensors, LoadOptions options)
      : ModelWorker(env, std::move(holder)), path_(std::move(path)), tensors_(std::move(tensors)), options_(options) {}

 protected:
  Status run(GptNeoModel& model) override { return model.load(path_, tensors_, options_); }
  Napi::Value result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::string path_;
  std::vector<TensorEntry> tensors_;
  LoadOptions options_;
};

// Whether sampled steps read the logits where the backend left them (model/device_sampling.h: rows
// whose token depends only on the top of their logits cross to the host as candidates). On by
// default on the CUDA backend (verified on an H200; 125M top-k decode +15% at 1 stream, +61% at 32);
// off on the CPU backend, where it gains nothing (the logits are in host memory already).
// GPTNEO_SAMPLING_PREFILTER=0 / =1 turn it off / on for any backend (read at every step; =1 on the CPU
// serves the tests of the path).
bool sampling_prefilter_on(const Backend& backend);

// Whether the prefilter also draws the rows whose token depends on the whole row (temperature
// sampling without top-k/top-p/typical-p) on the backend (model/device_sampling.h, cpu/device_draw.h):
// GPTNEO_SAMPLING_DRAW=1 (read at every step). Off by default until the kernel has run on a GPU.
bool sampling_draw_on();

class StepWorker final : public ModelWorker {
 public:
  // With `sampling`, the step's logits stay in native memory and each row is sampled there.
  StepWorker(Napi::Env env, std::shared_ptr<ModelHolder> holder, StepInput input,
             std::unique_ptr<cpu::SamplingBatch> sampling = nullptr)
      : ModelWorker(env, std::move(holder)), input_(std::move(input)), sampling_(std::move(sampling)) {}

 protected:
  Status run(GptNeoModel& model) override;
  Napi::Value result(Napi::Env env) override;

 private:
  Status sample(GptNeoModel& model);
  // sample() with the logits left on the backend (sampling_prefilter_on).
  Status sample_on_backend(GptNeoModel& model, ThreadPool& pool);

  StepInput input_;
  StepOutput output_;
  std::unique_ptr<cpu::SamplingBatch> sampling_;
};

}  // namespace gptneo::napi
