// The `sampling` argument of NativeModel.step({ output: 'sample' }) and of samplingSampleRows():
// per-row options, pre-drawn uniforms and penalty state as packed typed arrays (the layout
// lib/sampling/native-rows.ts builds), read into a cpu::SamplingBatch and checked.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cpu/batch_sampler.h"

namespace gptneo::napi {

// Reads `value` (an object of typed arrays) for `rows` rows and a `vocab`-token vocabulary, with
// `steps` uniforms per row in `u` ([steps, rows]; steps > 1 for a run-ahead). False with *error set
// when a field is missing, of the wrong type or length, or out of range.
bool read_sampling_batch(const Napi::Value& value, int rows, int vocab, std::vector<uint8_t>* marks,
                         cpu::SamplingBatch* out, std::string* error, int steps = 1);

// samplingSampleRows(logits: Float32Array [R·V], vocabSize, sampling) → Int32Array [R] of token
// ids (-1: no usable logit in that row). Synchronous, on the calling thread (tests, tools).
Napi::Value sampling_sample_rows(const Napi::CallbackInfo& info);

}  // namespace gptneo::napi
