// measureMachineLimits({ threads, readBytes }) → Promise<{ fmaGflops, readGbs, threads, simd }>:
// the benchmark harness's bounds, measured off the JS thread on a pool of its own.
#pragma once
#include <napi.h>

namespace gptneo::napi {

Napi::Value measure_machine_limits(const Napi::CallbackInfo& info);

}  // namespace gptneo::napi
