// The sampler's O(vocabulary) passes (cpu/sampling.h) for lib/sampling: synchronous functions on
// typed arrays the caller owns (no copies), every argument checked first (a typed
// ERR_GPTNEO_INVALID_ARGUMENT, never a read or write out of bounds).
//   samplingArgmax(row: Float32Array) -> index | -1
//   samplingCopyRow(src: Float32Array, dst: Float32Array) -> undefined (dst = src, NaN -> -Infinity)
//   samplingTopK(row: Float32Array, k, ids: Int32Array) -> count of ids written
//   samplingWeigh(row: Float32Array, ids: Int32Array, count, temperature, weights: Float64Array,
//                 total: Float64Array) -> kept count (total[0] = their weight), or -1 when no
//                 candidate is usable
//   samplingLogitFloor(row: Float32Array, ids: Int32Array, count, temperature, floor) -> kept count
//   samplingWeightFloor(weights: Float64Array, ids: Int32Array, count, floor) -> kept count
//   samplingNucleus(ids: Int32Array, count, weights: Float64Array, keys: Float64Array, total, topP)
//                 -> kept count (the kept ids first, in the reference's order)
#pragma once
#include <napi.h>

namespace gptneo::napi {

Napi::Value sampling_argmax(const Napi::CallbackInfo& info);
Napi::Value sampling_copy_row(const Napi::CallbackInfo& info);
Napi::Value sampling_topk(const Napi::CallbackInfo& info);
Napi::Value sampling_weigh(const Napi::CallbackInfo& info);
Napi::Value sampling_logit_floor(const Napi::CallbackInfo& info);
Napi::Value sampling_weight_floor(const Napi::CallbackInfo& info);
Napi::Value sampling_nucleus(const Napi::CallbackInfo& info);

}  // namespace gptneo::napi
