#include "napi/model_workers.h"

#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>

#include "core/host_memory.h"
#include "cpu/sampling_run.h"
#include "napi/js_error.h"

namespace gptneo::napi {

void ModelWorker::queue(Napi::Env env) {
  InferenceThread* thread = holder_->thread.get();
  thread->submit(env, this);
}

void ModelWorker::execute() {
  try {
    std::lock_guard<std::mutex> lock(holder_->mu);
    if (holder_->disposed || !holder_->model) {
      status_ = Status(ErrorCode::kDisposed, "the model was disposed");
      return;
    }
    status_ = run(*holder_->model);
  } catch (const std::bad_alloc&) {
    status_ = OutOfMemory("out of memory");
  } catch (const std::exception& e) {
    status_ = Internal(std::string("unexpected native exception: ") + e.what());
  }
}

void ModelWorker::settle(Napi::Env env) {
  Napi::HandleScope scope(env);
  {
    // A dispose() that arrived while we ran left the freeing to us.
    std::lock_guard<std::mutex> lock(holder_->mu);
    if (holder_->disposed) holder_->release();
  }
  holder_->busy.store(false);
  if (!status_.ok()) {
    deferred_.Reject(make_error(env, status_).Value());
    return;
  }
  deferred_.Resolve(result(env));
}

Status StepWorker::run(GptNeoModel& model) {
  return sampling_ ? sample(model) : model.step(input_, &output_);
}

bool sampling_prefilter_on(const Backend& backend) {
  const char* env = std::getenv("GPTNEO_SAMPLING_PREFILTER");
  if (env != nullptr && std::strcmp(env, "0") == 0) return false;
  if (env != nullptr && std::strcmp(env, "1") == 0) return true;
  return backend.kind() == BackendKind::kCuda;
}

bool sampling_draw_on() {
  const char* env = std::getenv("GPTNEO_SAMPLING_DRAW");
  return env != nullptr && std::strcmp(env, "1") == 0;
}

Status StepWorker::sample(GptNeoModel& model) {
  const int vocab = model.config().vocab_size;
  const int rows = sampling_->rows();
  ThreadPool* pool = model.backend().host_pool();
  if (pool == nullptr) {
    if (!holder_->sampling_pool) holder_->sampling_pool = std::make_unique<ThreadPool>(hardware_threads());
    pool = holder_->sampling_pool.get();
  }
  if (sampling_prefilter_on(model.backend())) return sample_on_backend(model, *pool);
  if (input_.steps > 1) {
    // A run-ahead: each step's rows sampled here, with that step's uniforms and the penalty state
    // the earlier steps' tokens left.
    if (sampling_->steps != input_.steps) return Internal("a sampled run-ahead got uniforms for another step count");
    cpu::SamplingRun run(*sampling_, input_.steps);
    const TokenChooser choose = [&](int step, const float* logits, int32_t* ids) {
      run.sample_step(step, logits, vocab, *pool, &holder_->sampling_scratch, ids);
      return Status::Ok();
    };
    return model.step_chosen(input_, choose, &output_);
  }
  StepOutput& logits = holder_->sampled_logits;
  GN_RETURN_IF_ERROR(model.step(input_, &logits));
  if (logits.rows != rows || logits.cols != vocab || logits.count != static_cast<size_t>(rows) * vocab)
    return Internal("a sampling step returned logits of an unexpected shape");
  output_.ids.resize(static_cast<size_t>(rows));
  cpu::sample_rows(logits.values.get(), vocab, *sampling_, *pool, &holder_->sampling_scratch, output_.ids.data());
  return Status::Ok();
}

Status StepWorker::sample_on_backend(GptNeoModel& model, ThreadPool& pool) {
  if (!holder_->device_sampler) holder_->device_sampler = std::make_unique<DeviceRowSampler>();
  DeviceRowSampler& sampler = *holder_->device_sampler;
  sampler.set_draw(sampling_draw_on());
  const int rows = sampling_->rows();
  input_.output = OutputKind::kBackendLogits;
  if (input_.steps > 1) {
    if (sampling_->steps != input_.steps) return Internal("a sampled run-ahead got uniforms for another step count");
    cpu::SamplingRun run(*sampling_, input_.steps);
    const TokenChooser choose = [&](int step, const float*, int32_t* ids) {
      GN_RETURN_IF_ERROR(sampler.sample(model, rows, [&](int r) { return run.spec(step, r); }, pool, ids));
      run.record_step(ids);
      return Status::Ok();
    };
    return model.step_chosen(input_, choose, &output_);
  }
  StepOutput& logits = holder_->sampled_logits;
  GN_RETURN_IF_ERROR(model.step(input_, &logits));
  if (logits.rows != rows || logits.cols != model.config().vocab_size)
    return Internal("a sampling step left logits of an unexpected shape");
  output_.ids.resize(static_cast<size_t>(rows));
  return sampler.sample(model, rows, [&](int r) { return sampling_->row(r); }, pool, output_.ids.data());
}

Napi::Value StepWorker::result(Napi::Env env) {
  if (input_.output == OutputKind::kNone) return env.Null();
  if (sampling_ || input_.output == OutputKind::kArgmax) {
    Napi::Int32Array ids = Napi::Int32Array::New(env, output_.ids.size());
    if (!output_.ids.empty()) std::memcpy(ids.Data(), output_.ids.data(), output_.ids.size() * sizeof(int32_t));
    return ids;
  }
  const size_t count = output_.count;
  if (count > 0) {
    // Hand the native block to JavaScript as it is; its finaliser frees it. Runtimes that
    // refuse external buffers (e.g. Electron's V8 sandbox) get a copy instead.
    float* data = output_.values.get();
    napi_value buffer = nullptr;
    napi_status st = napi_create_external_arraybuffer(
        env, data, count * sizeof(float), [](napi_env, void* p, void*) { host_free(p); },
        nullptr, &buffer);
    if (st == napi_ok) {
      output_.values.release();
      return Napi::Float32Array::New(env, count, Napi::ArrayBuffer(env, buffer), 0);
    }
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
  }
  Napi::Float32Array values = Napi::Float32Array::New(env, count);
  if (count > 0) std::memcpy(values.Data(), output_.values.get(), count * sizeof(float));
  return values;
}

}  // namespace gptneo::napi
