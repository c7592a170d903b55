#include "napi/model_workers.h"

#include <cstring>
#include <exception>
#include <new>

#include "napi/js_error.h"

namespace gptneo::napi {

void ModelWorker::Execute() {
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

void ModelWorker::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  {
    // A dispose() that arrived while we ran left the freeing to us.
    std::lock_guard<std::mutex> lock(holder_->mu);
    if (holder_->disposed) holder_->model.reset();
  }
  holder_->busy.store(false);
  if (!status_.ok()) {
    deferred_.Reject(make_error(env, status_).Value());
    return;
  }
  deferred_.Resolve(result(env));
}

Napi::Value StepWorker::result(Napi::Env env) {
  if (input_.output == OutputKind::kNone) return env.Null();
  if (input_.output == OutputKind::kArgmax) {
    Napi::Int32Array ids = Napi::Int32Array::New(env, output_.ids.size());
    if (!output_.ids.empty()) std::memcpy(ids.Data(), output_.ids.data(), output_.ids.size() * sizeof(int32_t));
    return ids;
  }
  Napi::Float32Array values = Napi::Float32Array::New(env, output_.values.size());
  if (!output_.values.empty())
    std::memcpy(values.Data(), output_.values.data(), output_.values.size() * sizeof(float));
  return values;
}

}  // namespace gptneo::napi
