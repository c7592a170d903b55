// gelu_new_inplace: dispatch to the ISA units; the portable loop uses gelu_new_scalar, the
// same function as the portable GEMM epilogue.
#include "cpu/gelu_scalar.h"
#include "cpu/kernels.h"
#include "cpu/ops.h"

namespace gptneo::cpu {

namespace portable {
void gelu_new(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] = gelu_new_scalar(x[i]);
}
}  // namespace portable

void gelu_new_inplace(float* x, size_t n, SimdLevel level) {
  switch (level) {
    case SimdLevel::kAmx:
    case SimdLevel::kAvx512Bf16:
    case SimdLevel::kAvx512: avx512::gelu_new(x, n); return;
    case SimdLevel::kAvx2: avx2::gelu_new(x, n); return;
    case SimdLevel::kPortable: break;
  }
  portable::gelu_new(x, n);
}

}  // namespace gptneo::cpu
