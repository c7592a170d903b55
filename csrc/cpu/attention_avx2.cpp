// AVX2 vector ops for attend_row (attention_row.h): 8-wide dot/axpy with scalar tails.
// GCC 12 reports the chunk row arrays of attend_rows as maybe-uninitialized here (false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "cpu/attention_block.h"
#include "cpu/attention_row.h"
#include "cpu/vec_math_avx2.h"

namespace gptneo::cpu::avx2 {

namespace {

struct Avx2Ops {
  static float dot(const float* a, const float* b, int n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
      s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
      s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
  }
  static void dots(const float* q, const float* const* rows, int n, int d, float scale, float* s) {
    for (int i = 0; i < n; ++i) s[i] = scale * dot(q, rows[i], d);
  }
  // acc += sum_i p_i rows_i, 8 columns at a time with the accumulator held in registers.
  static void accumulate(float* acc, const float* p, const float* const* rows, int n, int d) {
    int e = 0;
    for (; e + 8 <= d; e += 8) {
      __m256 a0 = _mm256_loadu_ps(acc + e), a1 = _mm256_setzero_ps();
      int i = 0;
      for (; i + 2 <= n; i += 2) {
        a0 = _mm256_fmadd_ps(_mm256_set1_ps(p[i]), _mm256_loadu_ps(rows[i] + e), a0);
        a1 = _mm256_fmadd_ps(_mm256_set1_ps(p[i + 1]), _mm256_loadu_ps(rows[i + 1] + e), a1);
      }
      if (i < n) a0 = _mm256_fmadd_ps(_mm256_set1_ps(p[i]), _mm256_loadu_ps(rows[i] + e), a0);
      _mm256_storeu_ps(acc + e, _mm256_add_ps(a0, a1));
    }
    for (; e < d; ++e)
      for (int i = 0; i < n; ++i) acc[e] += p[i] * rows[i][e];
  }
  static void scale(float* y, float alpha, int n) {
    __m256 av = _mm256_set1_ps(alpha);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(av, _mm256_loadu_ps(y + i)));
    for (; i < n; ++i) y[i] *= alpha;
  }
  static float max_of(const float* s, int n) {
    int i = 0;
    float m = s[0];
    if (n >= 8) {
      __m256 v = _mm256_loadu_ps(s);
      for (i = 8; i + 8 <= n; i += 8) v = _mm256_max_ps(v, _mm256_loadu_ps(s + i));
      alignas(32) float t[8];
      _mm256_store_ps(t, v);
      for (float x : t) m = std::max(m, x);
    }
    for (; i < n; ++i) m = std::max(m, s[i]);
    return m;
  }
  static float exp_shift_sum(float* s, int n, float m) {
    __m256 mv = _mm256_set1_ps(m), sum = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
      __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(s + i), mv));
      _mm256_storeu_ps(s + i, e);
      sum = _mm256_add_ps(sum, e);
    }
    float total = hsum(sum);
    if (i < n) {  // tail through a padded copy so every element uses the same exp
      alignas(32) float t[8];
      for (int u = 0; u < 8; ++u) t[u] = i + u < n ? s[i + u] - m : -1000.0f;
      __m256 e = exp_ps(_mm256_load_ps(t));
      _mm256_store_ps(t, e);
      for (int u = 0; i + u < n; ++u) {
        s[i + u] = t[u];
        total += t[u];
      }
    }
    return total;
  }
};

}  // namespace

namespace {

// Vector policy of the query-transposed block kernel (attention_block.h): 8 queries per register;
// lane masks are all-ones vectors from compares.
struct Avx2BlockOps {
  using vec = __m256;
  using ivec = __m256i;
  using mask = __m256;
  static constexpr int kLanes = 8;
  static constexpr int kPvDims = 8;
  static vec load(const float* p) { return _mm256_load_ps(p); }
  static void store(float* p, vec v) { _mm256_store_ps(p, v); }
  static vec zero() { return _mm256_setzero_ps(); }
  static vec set1(float x) { return _mm256_set1_ps(x); }
  static vec bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static vec fmadd(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
  static vec mul(vec a, vec b) { return _mm256_mul_ps(a, b); }
  static vec sub(vec a, vec b) { return _mm256_sub_ps(a, b); }
  static vec add(vec a, vec b) { return _mm256_add_ps(a, b); }
  static vec max(vec a, vec b) { return _mm256_max_ps(a, b); }
  static vec div(vec a, vec b) { return _mm256_div_ps(a, b); }
  static vec exp(vec x) { return exp_ps(x); }
  static ivec iload(const int32_t* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }
  static ivec iset1(int32_t x) { return _mm256_set1_epi32(x); }
  static mask in_range(ivec lo, ivec hi, ivec key) {
    const __m256i outside = _mm256_or_si256(_mm256_cmpgt_epi32(lo, key), _mm256_cmpgt_epi32(key, hi));
    return _mm256_castsi256_ps(_mm256_xor_si256(outside, _mm256_set1_epi32(-1)));
  }
  static vec keep(mask m, vec v, vec other) { return _mm256_blendv_ps(other, v, m); }
  static vec zero_unless(mask m, vec v) { return _mm256_and_ps(m, v); }
  static mask rescale_mask(vec m_new, vec m, vec neg_inf) {  // grew, and had earlier keys
    return _mm256_and_ps(_mm256_cmp_ps(m_new, m, _CMP_GT_OQ), _mm256_cmp_ps(m, neg_inf, _CMP_GT_OQ));
  }
  static bool any(mask m) { return _mm256_movemask_ps(m) != 0; }
  static vec blend_one(mask m, vec v) { return _mm256_blendv_ps(_mm256_set1_ps(1.0f), v, m); }
};

}  // namespace

void attention_rows(const AttnRowArgs* rows, int count) {
  // Several queries (prefill): the query-transposed block kernel.
  constexpr int kMinBlockQueries = 4;
  if (count >= kMinBlockQueries) {
    switch (rows[0].head_dim) {
      case 64: attend_block<Avx2BlockOps, 64>(rows, count); return;
      case 128: attend_block<Avx2BlockOps, 128>(rows, count); return;
      default: break;
    }
  }
  attend_rows<Avx2Ops>(rows, count);
}

}  // namespace gptneo::cpu::avx2
