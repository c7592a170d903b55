// Registers the addon's surface; the work lives in one file per class/function group.
#include <napi.h>

#include "napi/devices.h"
#include "napi/limits_wrap.h"
#include "napi/model_wrap.h"
#include "napi/sampling_wrap.h"
#include "napi/step_sampling.h"

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeModel", gptneo::napi::NativeModel::define(env));
  exports.Set("devices", Napi::Function::New(env, gptneo::napi::devices, "devices"));
  exports.Set("buildInfo", Napi::Function::New(env, gptneo::napi::build_info, "buildInfo"));
  exports.Set("measureMachineLimits",
              Napi::Function::New(env, gptneo::napi::measure_machine_limits, "measureMachineLimits"));
  exports.Set("samplingArgmax", Napi::Function::New(env, gptneo::napi::sampling_argmax, "samplingArgmax"));
  exports.Set("samplingCopyRow", Napi::Function::New(env, gptneo::napi::sampling_copy_row, "samplingCopyRow"));
  exports.Set("samplingTopK", Napi::Function::New(env, gptneo::napi::sampling_topk, "samplingTopK"));
  exports.Set("samplingWeigh", Napi::Function::New(env, gptneo::napi::sampling_weigh, "samplingWeigh"));
  exports.Set("samplingLogitFloor", Napi::Function::New(env, gptneo::napi::sampling_logit_floor, "samplingLogitFloor"));
  exports.Set("samplingNucleus", Napi::Function::New(env, gptneo::napi::sampling_nucleus, "samplingNucleus"));
  exports.Set("samplingWeightFloor", Napi::Function::New(env, gptneo::napi::sampling_weight_floor, "samplingWeightFloor"));
  exports.Set("samplingSampleRows", Napi::Function::New(env, gptneo::napi::sampling_sample_rows, "samplingSampleRows"));
  return exports;
}

}  // namespace

NODE_API_MODULE(gptneo, init)
