// AVX2 layernorm row (see layernorm.cpp for the method).
#include <immintrin.h>

#include <cmath>

#include "cpu/kernels.h"
#include "cpu/vec_math_avx2.h"

namespace gptneo::cpu::avx2 {

void layernorm_row(const float* x, int dim, const float* gamma, const float* beta, float eps, float* y) {
  __m256 s = _mm256_setzero_ps();
  int i = 0;
  for (; i + 8 <= dim; i += 8) s = _mm256_add_ps(s, _mm256_loadu_ps(x + i));
  float sum = hsum(s);
  for (; i < dim; ++i) sum += x[i];
  const float mean = sum / static_cast<float>(dim);
  const __m256 mv = _mm256_set1_ps(mean);
  __m256 q = _mm256_setzero_ps();
  for (i = 0; i + 8 <= dim; i += 8) {
    __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), mv);
    q = _mm256_fmadd_ps(d, d, q);
  }
  float ss = hsum(q);
  for (; i < dim; ++i) ss += (x[i] - mean) * (x[i] - mean);
  const float rstd = 1.0f / std::sqrt(ss / static_cast<float>(dim) + eps);
  const __m256 rv = _mm256_set1_ps(rstd);
  for (i = 0; i + 8 <= dim; i += 8) {
    __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv), rv);
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(d, _mm256_loadu_ps(gamma + i), _mm256_loadu_ps(beta + i)));
  }
  for (; i < dim; ++i) y[i] = (x[i] - mean) * rstd * gamma[i] + beta[i];
}

}  // namespace gptneo::cpu::avx2
