#include "napi/sampling_wrap.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "cpu/mass_select.h"
#include "cpu/sampling.h"
#include "napi/js_error.h"

namespace gptneo::napi {
namespace {

template <typename T, napi_typedarray_type kType>
bool typed(const Napi::CallbackInfo& info, size_t at, const char* name, const char* type_name, T** data, size_t* length) {
  Napi::Value v = info.Length() > at ? info[at] : info.Env().Undefined();
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kType) {
    throw_invalid(info.Env(), std::string("Expected ") + type_name + " for " + name);
    return false;
  }
  auto arr = v.As<Napi::TypedArrayOf<T>>();
  *data = arr.Data();
  *length = arr.ElementLength();
  return true;
}

bool integer_in(const Napi::CallbackInfo& info, size_t at, const char* name, double lo, double hi, int* out) {
  Napi::Value v = info.Length() > at ? info[at] : info.Env().Undefined();
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!(d >= lo && d <= hi && std::floor(d) == d)) {
    throw_invalid(info.Env(), std::string("Expected an integer in [") + std::to_string(static_cast<long long>(lo)) +
                                  ", " + std::to_string(static_cast<long long>(hi)) + "] for " + name);
    return false;
  }
  *out = static_cast<int>(d);
  return true;
}

constexpr double kMaxRow = 1 << 30;

double number_at(const Napi::CallbackInfo& info, size_t at) {
  return info.Length() > at && info[at].IsNumber() ? info[at].As<Napi::Number>().DoubleValue() : NAN;
}

// Every candidate id in [0, n).
bool ids_within(const Napi::CallbackInfo& info, const int32_t* ids, int count, size_t n) {
  for (int i = 0; i < count; ++i)
    if (ids[i] < 0 || static_cast<size_t>(ids[i]) >= n) {
      throw_invalid(info.Env(), "ids holds a token id outside the row");
      return false;
    }
  return true;
}

// Candidates: an Int32Array at `at` and their count at `at + 1`, every one of them a token id in
// [0, n). False (with a pending JS error) otherwise.
bool read_candidates(const Napi::CallbackInfo& info, size_t at, size_t n, int32_t** ids, int* count) {
  size_t ids_len = 0;
  return typed<int32_t, napi_int32_array>(info, at, "ids", "Int32Array", ids, &ids_len) &&
         integer_in(info, at + 1, "count", 0, std::min(static_cast<double>(ids_len), kMaxRow), count) &&
         ids_within(info, *ids, *count, n);
}

}  // namespace

Napi::Value sampling_argmax(const Napi::CallbackInfo& info) {
  float* row = nullptr;
  size_t n = 0;
  if (!typed<float, napi_float32_array>(info, 0, "row", "Float32Array", &row, &n)) return info.Env().Undefined();
  if (n > kMaxRow) return throw_invalid(info.Env(), "row is too long");
  return Napi::Number::New(info.Env(), cpu::row_argmax(row, static_cast<int>(n)));
}

Napi::Value sampling_copy_row(const Napi::CallbackInfo& info) {
  float* src = nullptr;
  float* dst = nullptr;
  size_t n = 0, dst_len = 0;
  if (!typed<float, napi_float32_array>(info, 0, "src", "Float32Array", &src, &n)) return info.Env().Undefined();
  if (!typed<float, napi_float32_array>(info, 1, "dst", "Float32Array", &dst, &dst_len)) return info.Env().Undefined();
  if (n > kMaxRow) return throw_invalid(info.Env(), "row is too long");
  if (dst_len < n) return throw_invalid(info.Env(), "dst is shorter than src");
  cpu::copy_nan_as_neg_inf(src, static_cast<int>(n), dst);
  return info.Env().Undefined();
}

Napi::Value sampling_topk(const Napi::CallbackInfo& info) {
  float* row = nullptr;
  int32_t* ids = nullptr;
  size_t n = 0, ids_len = 0;
  int k = 0;
  if (!typed<float, napi_float32_array>(info, 0, "row", "Float32Array", &row, &n)) return info.Env().Undefined();
  if (n == 0 || n > kMaxRow) return throw_invalid(info.Env(), "row must hold between 1 and 2^30 logits");
  if (!integer_in(info, 1, "k", 1, static_cast<double>(n), &k)) return info.Env().Undefined();
  if (!typed<int32_t, napi_int32_array>(info, 2, "ids", "Int32Array", &ids, &ids_len)) return info.Env().Undefined();
  if (ids_len < n) return throw_invalid(info.Env(), "ids must have room for one entry per logit");
  return Napi::Number::New(info.Env(), cpu::topk_candidates(row, static_cast<int>(n), k, ids));
}

Napi::Value sampling_weigh(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float* row = nullptr;
  int32_t* ids = nullptr;
  double* weights = nullptr;
  double* total = nullptr;
  size_t n = 0, weights_len = 0, total_len = 0;
  int count = 0;
  if (!typed<float, napi_float32_array>(info, 0, "row", "Float32Array", &row, &n)) return env.Undefined();
  if (n > kMaxRow) return throw_invalid(env, "row is too long");
  if (!read_candidates(info, 1, n, &ids, &count)) return env.Undefined();
  const double temperature = number_at(info, 3);
  if (!(temperature > 0) || !std::isfinite(temperature))
    return throw_invalid(env, "Expected a finite positive number for temperature");
  if (!typed<double, napi_float64_array>(info, 4, "weights", "Float64Array", &weights, &weights_len)) return env.Undefined();
  if (!typed<double, napi_float64_array>(info, 5, "total", "Float64Array", &total, &total_len)) return env.Undefined();
  if (weights_len < n) return throw_invalid(env, "weights must have one entry per logit");
  if (total_len < 1) return throw_invalid(env, "total must have room for one number");
  const cpu::Weighed w = cpu::weigh_candidates(row, ids, count, temperature, weights);
  if (!w.usable) return Napi::Number::New(env, -1);
  total[0] = w.total;
  return Napi::Number::New(env, w.kept);
}

Napi::Value sampling_logit_floor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float* row = nullptr;
  int32_t* ids = nullptr;
  size_t n = 0;
  int count = 0;
  if (!typed<float, napi_float32_array>(info, 0, "row", "Float32Array", &row, &n)) return env.Undefined();
  if (n > kMaxRow) return throw_invalid(env, "row is too long");
  if (!read_candidates(info, 1, n, &ids, &count)) return env.Undefined();
  const double temperature = number_at(info, 3), floor = number_at(info, 4);
  if (!(temperature > 0) || !std::isfinite(temperature))
    return throw_invalid(env, "Expected a finite positive number for temperature");
  if (std::isnan(floor)) return throw_invalid(env, "Expected a number for floor");
  return Napi::Number::New(env, cpu::keep_above_logit_floor(row, ids, count, temperature, floor));
}

Napi::Value sampling_weight_floor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double* weights = nullptr;
  int32_t* ids = nullptr;
  size_t n = 0;
  int count = 0;
  if (!typed<double, napi_float64_array>(info, 0, "weights", "Float64Array", &weights, &n)) return env.Undefined();
  if (n > kMaxRow) return throw_invalid(env, "weights is too long");
  if (!read_candidates(info, 1, n, &ids, &count)) return env.Undefined();
  const double floor = number_at(info, 3);
  if (std::isnan(floor)) return throw_invalid(env, "Expected a number for floor");
  return Napi::Number::New(env, cpu::keep_above_weight_floor(weights, ids, count, floor));
}

Napi::Value sampling_nucleus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t* ids = nullptr;
  double* weights = nullptr;
  double* keys = nullptr;
  size_t n = 0, keys_len = 0;
  int count = 0;
  if (!typed<double, napi_float64_array>(info, 2, "weights", "Float64Array", &weights, &n)) return env.Undefined();
  if (!typed<double, napi_float64_array>(info, 3, "keys", "Float64Array", &keys, &keys_len)) return env.Undefined();
  if (n > kMaxRow) return throw_invalid(env, "weights is too long");
  if (keys_len < n) return throw_invalid(env, "keys must have one entry per token");
  if (!read_candidates(info, 0, n, &ids, &count)) return env.Undefined();
  const double total = number_at(info, 4), top_p = number_at(info, 5);
  if (!(total > 0) || !std::isfinite(total)) return throw_invalid(env, "Expected a finite positive number for total");
  if (!(top_p >= 0 && top_p <= 1)) return throw_invalid(env, "Expected a number in [0, 1] for topP");
  return Napi::Number::New(env, cpu::keep_nucleus(ids, count, weights, keys, total, top_p));
}

}  // namespace gptneo::napi
