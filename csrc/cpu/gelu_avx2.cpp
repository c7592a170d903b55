// gelu_new over a buffer with the AVX2 vector formula (vec_math_avx2.h); the tail goes
// through a padded copy so every element sees the same function as the GEMM epilogue.
#include <immintrin.h>

#include "cpu/kernels.h"
#include "cpu/vec_math_avx2.h"

namespace gptneo::cpu::avx2 {

void gelu_new(float* x, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, gelu_new_ps(_mm256_loadu_ps(x + i)));
  if (i < n) {
    alignas(32) float t[8] = {};
    for (size_t u = 0; i + u < n; ++u) t[u] = x[i + u];
    _mm256_store_ps(t, gelu_new_ps(_mm256_load_ps(t)));
    for (size_t u = 0; i + u < n; ++u) x[i + u] = t[u];
  }
}

}  // namespace gptneo::cpu::avx2
