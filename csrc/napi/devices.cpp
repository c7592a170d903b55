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
  std::vector<CudaDeviceInfo> found;
  std::string why;
  cuda_list_devices(&found, &why);
  for (size_t i = 0; i < found.size(); ++i) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("index", found[i].index);
    d.Set("name", found[i].name);
    d.Set("memory", static_cast<double>(found[i].total_memory));
    d.Set("capability", std::to_string(found[i].major) + "." + std::to_string(found[i].minor));
    d.Set("usable", found[i].usable);
    if (!found[i].usable) d.Set("reason", found[i].reason);
    list.Set(static_cast<uint32_t>(i), d);
  }
  if (!why.empty()) cuda.Set("reason", why);
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
