#include "napi/step_sampling.h"

#include <cmath>
#include <cstring>

#include "core/thread_pool.h"
#include "napi/args.h"
#include "napi/js_error.h"

namespace gptneo::napi {

namespace {

// A Float64Array field with exactly `rows` entries.
bool per_row(const Napi::Object& o, const char* key, int rows, std::vector<double>* out, std::string* error) {
  if (!read_float64_array(o, key, out, error)) return false;
  if (out->size() != static_cast<size_t>(rows)) {
    *error = std::string("expected one entry per output row in ") + key;
    return false;
  }
  return true;
}

}  // namespace

bool read_sampling_batch(const Napi::Value& value, int rows, int vocab, std::vector<uint8_t>* marks,
                         cpu::SamplingBatch* out, std::string* error, int steps) {
  if (!value.IsObject()) {
    *error = "expected an object for sampling";
    return false;
  }
  const Napi::Object o = value.As<Napi::Object>();
  std::vector<double> temperature, top_p, min_p, typical_p, repetition, presence, frequency;
  std::vector<int32_t> top_k;
  if (!per_row(o, "temperature", rows, &temperature, error) || !per_row(o, "topP", rows, &top_p, error) ||
      !per_row(o, "minP", rows, &min_p, error) || !per_row(o, "typicalP", rows, &typical_p, error) ||
      !per_row(o, "repetitionPenalty", rows, &repetition, error) ||
      !per_row(o, "presencePenalty", rows, &presence, error) ||
      !per_row(o, "frequencyPenalty", rows, &frequency, error) || !read_int32_array(o, "topK", &top_k, error) ||
      !read_float64_array(o, "u", &out->u, error))
    return false;
  if (steps < 1 || out->u.size() != static_cast<size_t>(rows) * static_cast<size_t>(steps)) {
    *error = steps == 1 ? "expected one entry per output row in u" : "expected one entry per output row and step in u";
    return false;
  }
  out->steps = steps;
  if (top_k.size() != static_cast<size_t>(rows)) {
    *error = "expected one entry per output row in topK";
    return false;
  }
  if (!read_int32_array(o, "biasStarts", &out->bias_starts, error) ||
      !read_int32_array(o, "biasIds", &out->bias_ids, error) ||
      !read_float64_array(o, "biasValues", &out->bias_values, error) ||
      !read_int32_array(o, "seenStarts", &out->seen_starts, error) ||
      !read_int32_array(o, "seenIds", &out->seen_ids, error) ||
      !read_int32_array(o, "countStarts", &out->count_starts, error) ||
      !read_int32_array(o, "countIds", &out->count_ids, error) || !read_int32_array(o, "counts", &out->counts, error))
    return false;
  out->params.resize(static_cast<size_t>(rows));
  for (int r = 0; r < rows; ++r) {
    cpu::SamplingParams& p = out->params[r];
    p.temperature = temperature[r];
    p.top_k = top_k[r];
    p.top_p = top_p[r];
    p.min_p = min_p[r];
    p.typical_p = typical_p[r];
    p.repetition_penalty = repetition[r];
    p.presence_penalty = presence[r];
    p.frequency_penalty = frequency[r];
  }
  std::string problem = out->check(vocab, marks);
  if (!problem.empty()) {
    *error = "invalid sampling: " + problem;
    return false;
  }
  return true;
}

Napi::Value sampling_sample_rows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    return throw_invalid(env, "Expected Float32Array for logits");
  Napi::Float32Array logits = info[0].As<Napi::Float32Array>();
  const double v = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : NAN;
  if (!(v >= 1 && v <= (1 << 30) && std::floor(v) == v))
    return throw_invalid(env, "Expected an integer in [1, 1073741824] for vocabSize");
  const int vocab = static_cast<int>(v);
  if (logits.ElementLength() % static_cast<size_t>(vocab) != 0)
    return throw_invalid(env, "logits must hold whole rows of vocabSize values");
  const size_t rows = logits.ElementLength() / static_cast<size_t>(vocab);
  if (rows > (1 << 20)) return throw_invalid(env, "too many rows");
  cpu::SamplingBatch batch;
  std::vector<uint8_t> marks;
  std::string error;
  if (!read_sampling_batch(info[2], static_cast<int>(rows), vocab, &marks, &batch, &error))
    return throw_invalid(env, error);
  Napi::Int32Array out = Napi::Int32Array::New(env, rows);
  ThreadPool pool(1);  // no workers: the calling thread runs every row
  std::vector<cpu::RowSamplerScratch> scratch;
  cpu::sample_rows(logits.Data(), vocab, batch, pool, &scratch, out.Data());
  return out;
}

}  // namespace gptneo::napi
