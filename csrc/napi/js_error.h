// Turns a native Status into a JS Error carrying the stable `code` (ERR_GPTNEO_…).
#pragma once
#include <napi.h>

#include <string>

#include "core/status.h"

namespace gptneo::napi {

Napi::Error make_error(Napi::Env env, const Status& status);
Napi::Error make_error(Napi::Env env, ErrorCode code, const std::string& message);

// Throws (as a pending JS exception) and returns an undefined value for the caller to return.
Napi::Value throw_status(Napi::Env env, const Status& status);
Napi::Value throw_invalid(Napi::Env env, const std::string& message);

}  // namespace gptneo::napi
