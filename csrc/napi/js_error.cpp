#include "napi/js_error.h"

namespace gptneo::napi {

Napi::Error make_error(Napi::Env env, ErrorCode code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, error_code_name(code)));
  return err;
}

Napi::Error make_error(Napi::Env env, const Status& status) {
  return make_error(env, status.code(), status.message());
}

Napi::Value throw_status(Napi::Env env, const Status& status) {
  make_error(env, status).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value throw_invalid(Napi::Env env, const std::string& message) {
  return throw_status(env, InvalidArgument(message));
}

}  // namespace gptneo::napi
