// Reading JS arguments into C++ values. Each reader returns false (with *error set) instead
// of throwing, so callers can produce one typed error.
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#pragma once

namespace gptneo::napi {

bool read_int(const Napi::Object& obj, const char* key, int* out, std::string* error);
bool read_number(const Napi::Object& obj, const char* key, double* out, std::string* error);
bool read_string(const Napi::Object& obj, const char* key, std::string* out, std::string* error);
// Accepts an Int32Array (copied).
bool read_int32_array(const Napi::Object& obj, const char* key, std::vector<int32_t>* out,
                      std::string* error);
// Accepts a Float64Array (copied).
bool read_float64_array(const Napi::Object& obj, const char* key, std::vector<double>* out,
                        std::string* error);

}  // namespace gptneo::napi
