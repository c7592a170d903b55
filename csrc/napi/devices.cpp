#include "napi/devices.h"

#include <string>

#include "core/thread_pool.h"
#include "cpu/simd.h"
#ifdef GPTNEO_WITH_CUDA
#include "model/cuda_backend.h"
#endif

namespace gptneo::napi {

Napi::Value devices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  Napi::Object cpu = Napi::Object::New(env);
  cpu.Set("simd", cpu::simd_name(cpu::select_simd()));
  cpu.Set("simdDetected", cpu::simd_name(cpu::detect_simd()));
  cpu.Set("threads", hardware_threads());
  out.Set("cpu", cpu);

  Napi::Object cuda = Napi::Object::New(env);
  Napi::Array list = Napi::Array::New(env);
#ifdef GPTNEO_WITH_CUDA
  cuda.Set("built", true);
  std::string why;
  const int count = cuda_device_count(&why);
  for (int i = 0; i < count; ++i) {
    CudaDeviceInfo info;
    Napi::Object d = Napi::Object::New(env);
    Status s = cuda_device_info(i, &info);
    d.Set("index", i);
    if (!s.ok()) {
      d.Set("name", "unknown");
      d.Set("memory", 0);
      d.Set("capability", "unknown");
      d.Set("usable", false);
      d.Set("reason", s.message());
    } else {
      d.Set("name", info.name);
      d.Set("memory", static_cast<double>(info.total_memory));
      d.Set("capability", std::to_string(info.major) + "." + std::to_string(info.minor));
      d.Set("usable", info.usable);
      if (!info.usable) d.Set("reason", info.why_unusable);
    }
    list.Set(static_cast<uint32_t>(i), d);
  }
  if (count == 0) cuda.Set("reason", why.empty() ? std::string("no CUDA device found") : why);
#else
  cuda.Set("built", false);
  cuda.Set("reason", "this build of gpt-neo-node was compiled without CUDA");
#endif
  cuda.Set("devices", list);
  out.Set("cuda", cuda);
  return out;
}

Napi::Value build_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
#ifdef GPTNEO_WITH_CUDA
  o.Set("cuda", true);
#else
  o.Set("cuda", false);
#endif
  o.Set("napiVersion", NAPI_VERSION);
  return o;
}

}  // namespace gptneo::napi
