// devices(): what this process can run on — the CPU's SIMD path and thread count, and CUDA
// devices (or the reason there are none usable).
#pragma once
#include <napi.h>

namespace gptneo::napi {

Napi::Value devices(const Napi::CallbackInfo& info);
Napi::Value build_info(const Napi::CallbackInfo& info);

}  // namespace gptneo::napi
