// gelu_new over a buffer with the AVX-512 vector formula (vec_math_avx512.h), masked tail.
// GCC 12 warns spuriously inside its own AVX-512 intrinsics (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "cpu/kernels.h"
#include "cpu/vec_math_avx512.h"

namespace gptneo::cpu::avx512 {

void gelu_new(float* x, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, gelu_new_ps(_mm512_loadu_ps(x + i)));
  if (i < n) {
    __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(x + i, m, gelu_new_ps(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

}  // namespace gptneo::cpu::avx512
