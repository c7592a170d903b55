#include <cmath>

#include "cpu/ref/ref.h"

namespace gptneo::cpu::ref {

void gemm(const float* x, int m, int ldx, const float* w, int n, int k, const float* bias, float* y, int ldy,
          Epilogue epilogue) {
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double acc = 0.0;
      for (int kk = 0; kk < k; ++kk)
        acc += static_cast<double>(x[static_cast<size_t>(i) * ldx + kk]) * w[static_cast<size_t>(j) * k + kk];
      if (bias != nullptr) acc += bias[j];
      float* out = y + static_cast<size_t>(i) * ldy + j;
      switch (epilogue) {
        case Epilogue::kStore: *out = static_cast<float>(acc); break;
        case Epilogue::kGeluNew: *out = gelu_new(static_cast<float>(acc)); break;
        case Epilogue::kAccumulate: *out = static_cast<float>(acc + *out); break;
      }
    }
  }
}

}  // namespace gptneo::cpu::ref
