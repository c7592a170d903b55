// AVX-512 layernorm row (see layernorm.cpp for the method), masked tails.
// GCC 12 warns spuriously inside its own AVX-512 intrinsics (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cmath>

#include "cpu/kernels.h"

namespace gptneo::cpu::avx512 {

namespace {
inline __mmask16 mask_for(int left) {
  return left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1);
}
}  // namespace

void layernorm_row(const float* x, int dim, const float* gamma, const float* beta, float eps, float* y) {
  __m512 s = _mm512_setzero_ps();
  for (int i = 0; i < dim; i += 16) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(mask_for(dim - i), x + i));
  const float mean = _mm512_reduce_add_ps(s) / static_cast<float>(dim);
  const __m512 mv = _mm512_set1_ps(mean);
  __m512 q = _mm512_setzero_ps();
  for (int i = 0; i < dim; i += 16) {
    __mmask16 m = mask_for(dim - i);
    __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + i), mv);
    q = _mm512_fmadd_ps(d, d, q);
  }
  const float rstd = 1.0f / std::sqrt(_mm512_reduce_add_ps(q) / static_cast<float>(dim) + eps);
  const __m512 rv = _mm512_set1_ps(rstd);
  for (int i = 0; i < dim; i += 16) {
    __mmask16 m = mask_for(dim - i);
    __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mv), rv);
    _mm512_mask_storeu_ps(y + i, m,
                          _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(m, gamma + i), _mm512_maskz_loadu_ps(m, beta + i)));
  }
}

}  // namespace gptneo::cpu::avx512
