#include <algorithm>
#include <cmath>

#include "cpu/ref/ref.h"

namespace gptneo::cpu::ref {

namespace {

// Writes one output: acc (x·w + bias, in double) through the epilogue.
void apply_epilogue(double acc, Epilogue epilogue, float* out) {
  switch (epilogue) {
    case Epilogue::kStore: *out = static_cast<float>(acc); break;
    case Epilogue::kGeluNew: *out = gelu_new(static_cast<float>(acc)); break;
    case Epilogue::kAccumulate: *out = static_cast<float>(acc + *out); break;
  }
}

}  // namespace

void gemm(const float* x, int m, int ldx, const float* w, int n, int k, const float* bias, float* y, int ldy,
          Epilogue epilogue) {
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double acc = 0.0;
      for (int kk = 0; kk < k; ++kk)
        acc += static_cast<double>(x[static_cast<size_t>(i) * ldx + kk]) * w[static_cast<size_t>(j) * k + kk];
      if (bias != nullptr) acc += bias[j];
      apply_epilogue(acc, epilogue, y + static_cast<size_t>(i) * ldy + j);
    }
  }
}

void quantize_i8(const float* w, int n, int k, int8_t* q, float* scales) {
  for (int j = 0; j < n; ++j) {
    const float* row = w + static_cast<size_t>(j) * k;
    float amax = 0.f;
    for (int kk = 0; kk < k; ++kk) amax = std::max(amax, std::fabs(row[kk]));
    scales[j] = amax == 0.f ? 1.f : amax / 127.f;
    for (int kk = 0; kk < k; ++kk) {
      const float r = row[kk] / scales[j];
      // round half away from zero: |r| + 0.5 is exact in double, so floor rounds correctly
      const double mag = std::min(std::floor(std::fabs(static_cast<double>(r)) + 0.5), 127.0);
      const double v = r < 0 ? -mag : mag;
      q[static_cast<size_t>(j) * k + kk] = static_cast<int8_t>(v);
    }
  }
}

void gemm_i8(const float* x, int m, int ldx, const int8_t* q, const float* scales, int n, int k, const float* bias,
             float* y, int ldy, Epilogue epilogue) {
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double acc = 0.0;
      for (int kk = 0; kk < k; ++kk)
        acc += static_cast<double>(x[static_cast<size_t>(i) * ldx + kk]) * q[static_cast<size_t>(j) * k + kk];
      acc *= scales[j];
      if (bias != nullptr) acc += bias[j];
      apply_epilogue(acc, epilogue, y + static_cast<size_t>(i) * ldy + j);
    }
  }
}

}  // namespace gptneo::cpu::ref
