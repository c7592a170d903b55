// AVX-512 vector ops for attend_row (attention_row.h): 16-wide with masked tails.
// GCC 12 warns spuriously inside its own AVX-512 intrinsics (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "cpu/attention_row.h"
#include "cpu/vec_math_avx512.h"

namespace gptneo::cpu::avx512 {

namespace {

inline __mmask16 tail_mask(int n) { return static_cast<__mmask16>((1u << n) - 1); }

struct Avx512Ops {
  static float dot(const float* a, const float* b, int n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
      s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
      s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
      __mmask16 m = tail_mask(n - i);
      s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
  }
  static void dots(const float* q, const float* const* rows, int n, int d, float scale, float* s) {
    for (int i = 0; i < n; ++i) s[i] = scale * dot(q, rows[i], d);
  }
  // acc += sum_i p_i rows_i, 16 columns at a time with the accumulator held in registers.
  static void accumulate(float* acc, const float* p, const float* const* rows, int n, int d) {
    for (int e = 0; e < d; e += 16) {
      const __mmask16 m = d - e >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(d - e);
      __m512 a0 = _mm512_maskz_loadu_ps(m, acc + e), a1 = _mm512_setzero_ps();
      int i = 0;
      for (; i + 2 <= n; i += 2) {
        a0 = _mm512_fmadd_ps(_mm512_set1_ps(p[i]), _mm512_maskz_loadu_ps(m, rows[i] + e), a0);
        a1 = _mm512_fmadd_ps(_mm512_set1_ps(p[i + 1]), _mm512_maskz_loadu_ps(m, rows[i + 1] + e), a1);
      }
      if (i < n) a0 = _mm512_fmadd_ps(_mm512_set1_ps(p[i]), _mm512_maskz_loadu_ps(m, rows[i] + e), a0);
      _mm512_mask_storeu_ps(acc + e, m, _mm512_add_ps(a0, a1));
    }
  }
  static void scale(float* y, float alpha, int n) {
    __m512 av = _mm512_set1_ps(alpha);
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_mul_ps(av, _mm512_loadu_ps(y + i)));
    if (i < n) {
      __mmask16 m = tail_mask(n - i);
      _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(av, _mm512_maskz_loadu_ps(m, y + i)));
    }
  }
  static float exp_shift_sum(float* s, int n, float m) {
    __m512 mv = _mm512_set1_ps(m), sum = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
      __mmask16 k = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
      __m512 e = exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + i), mv));
      _mm512_mask_storeu_ps(s + i, k, e);
      sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(k, e));
    }
    return _mm512_reduce_add_ps(sum);
  }
};

}  // namespace

void attention_row(const AttnRowArgs& a) { attend_row<Avx512Ops>(a); }

}  // namespace gptneo::cpu::avx512
