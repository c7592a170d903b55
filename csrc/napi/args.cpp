#include "napi/args.h"

#include <cmath>
#include <cstring>

namespace gptneo::napi {

bool read_number(const Napi::Object& obj, const char* key, double* out, std::string* error) {
  Napi::Value v = obj.Get(key);
  if (!v.IsNumber()) {
    *error = std::string("expected a number for ") + key;
    return false;
  }
  *out = v.As<Napi::Number>().DoubleValue();
  return true;
}

bool read_int(const Napi::Object& obj, const char* key, int* out, std::string* error) {
  double d = 0;
  if (!read_number(obj, key, &d, error)) return false;
  if (!std::isfinite(d) || d != std::floor(d) || d < -2147483648.0 || d > 2147483647.0) {
    *error = std::string("expected a 32-bit integer for ") + key;
    return false;
  }
  *out = static_cast<int>(d);
  return true;
}

bool read_string(const Napi::Object& obj, const char* key, std::string* out, std::string* error) {
  Napi::Value v = obj.Get(key);
  if (!v.IsString()) {
    *error = std::string("expected a string for ") + key;
    return false;
  }
  *out = v.As<Napi::String>().Utf8Value();
  return true;
}

namespace {

// Copies obj[key], which must be a typed array of type `kind` (elements T), into *out; `what` names
// that type in the error ("an Int32Array").
template <typename T, napi_typedarray_type kind>
bool read_typed_array(const Napi::Object& obj, const char* key, const char* what, std::vector<T>* out,
                      std::string* error) {
  Napi::Value v = obj.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kind) {
    *error = std::string("expected ") + what + " for " + key;
    return false;
  }
  Napi::TypedArrayOf<T> a = v.As<Napi::TypedArrayOf<T>>();
  out->resize(a.ElementLength());
  if (!out->empty()) std::memcpy(out->data(), a.Data(), out->size() * sizeof(T));
  return true;
}

}  // namespace

bool read_int32_array(const Napi::Object& obj, const char* key, std::vector<int32_t>* out,
                      std::string* error) {
  return read_typed_array<int32_t, napi_int32_array>(obj, key, "an Int32Array", out, error);
}

bool read_float64_array(const Napi::Object& obj, const char* key, std::vector<double>* out,
                        std::string* error) {
  return read_typed_array<double, napi_float64_array>(obj, key, "a Float64Array", out, error);
}

}  // namespace gptneo::napi
