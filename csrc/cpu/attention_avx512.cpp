// AVX-512 vector ops for attend_row (attention_row.h): 16-wide with masked tails.
// GCC 12 warns spuriously inside its own AVX-512 intrinsics (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "cpu/attention_block.h"
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
  // Four keys at a time: four independent FMA chains, then one transposing reduction that
  // yields the four sums together (instead of four full horizontal reductions).
  static void dots(const float* q, const float* const* rows, int n, int d, float scale, float* s) {
    int i = 0;
    for (; i + 4 <= n; i += 4) {
      const float *r0 = rows[i], *r1 = rows[i + 1], *r2 = rows[i + 2], *r3 = rows[i + 3];
      __m512 a = _mm512_setzero_ps(), b = a, c = a, e = a;
      for (int k = 0; k < d; k += 16) {
        const __mmask16 m = d - k >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(d - k);
        const __m512 qv = _mm512_maskz_loadu_ps(m, q + k);
        a = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, r0 + k), a);
        b = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, r1 + k), b);
        c = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, r2 + k), c);
        e = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, r3 + k), e);
      }
      // [a lo256 + a hi256 | b ...], then 128-bit blocks [a | b | c | e], then within blocks.
      const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xee));
      const __m512 ce = _mm512_add_ps(_mm512_shuffle_f32x4(c, e, 0x44), _mm512_shuffle_f32x4(c, e, 0xee));
      __m512 z = _mm512_add_ps(_mm512_shuffle_f32x4(ab, ce, 0x88), _mm512_shuffle_f32x4(ab, ce, 0xdd));
      z = _mm512_add_ps(z, _mm512_permute_ps(z, 0x4e));
      z = _mm512_add_ps(z, _mm512_permute_ps(z, 0xb1));
      const __m512 picked = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), z);
      _mm_storeu_ps(s + i, _mm_mul_ps(_mm512_castps512_ps128(picked), _mm_set1_ps(scale)));
    }
    for (; i < n; ++i) s[i] = scale * dot(q, rows[i], d);
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
  static float max_of(const float* s, int n) {
    __m512 v = _mm512_set1_ps(s[0]);
    for (int i = 0; i < n; i += 16) {
      const __mmask16 k = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
      v = _mm512_mask_max_ps(v, k, v, _mm512_maskz_loadu_ps(k, s + i));
    }
    return _mm512_reduce_max_ps(v);
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

// head_dim == 16 * NV known at compile time: q and the V accumulators live in registers.
template <int NV>
struct FixedOps : Avx512Ops {
  static void dots(const float* q, const float* const* rows, int n, int, float scale, float* s) {
    __m512 qv[NV];
    for (int v = 0; v < NV; ++v) qv[v] = _mm512_loadu_ps(q + 16 * v);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
      __m512 acc[4];
#pragma GCC unroll 4
      for (int r = 0; r < 4; ++r) {
        const float* row = rows[i + r];
        acc[r] = _mm512_mul_ps(qv[0], _mm512_loadu_ps(row));
#pragma GCC unroll 8
        for (int v = 1; v < NV; ++v) acc[r] = _mm512_fmadd_ps(qv[v], _mm512_loadu_ps(row + 16 * v), acc[r]);
      }
      const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(acc[0], acc[1], 0x44), _mm512_shuffle_f32x4(acc[0], acc[1], 0xee));
      const __m512 ce = _mm512_add_ps(_mm512_shuffle_f32x4(acc[2], acc[3], 0x44), _mm512_shuffle_f32x4(acc[2], acc[3], 0xee));
      __m512 z = _mm512_add_ps(_mm512_shuffle_f32x4(ab, ce, 0x88), _mm512_shuffle_f32x4(ab, ce, 0xdd));
      z = _mm512_add_ps(z, _mm512_permute_ps(z, 0x4e));
      z = _mm512_add_ps(z, _mm512_permute_ps(z, 0xb1));
      const __m512 picked = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), z);
      _mm_storeu_ps(s + i, _mm_mul_ps(_mm512_castps512_ps128(picked), _mm_set1_ps(scale)));
    }
    for (; i < n; ++i) {
      __m512 acc = _mm512_mul_ps(qv[0], _mm512_loadu_ps(rows[i]));
      for (int v = 1; v < NV; ++v) acc = _mm512_fmadd_ps(qv[v], _mm512_loadu_ps(rows[i] + 16 * v), acc);
      s[i] = scale * _mm512_reduce_add_ps(acc);
    }
  }
  static void accumulate(float* out, const float* p, const float* const* rows, int n, int) {
    // Two accumulator sets (even / odd keys) so short NV still has enough independent chains.
    __m512 a0[NV], a1[NV];
    for (int v = 0; v < NV; ++v) {
      a0[v] = _mm512_loadu_ps(out + 16 * v);
      a1[v] = _mm512_setzero_ps();
    }
    int i = 0;
    for (; i + 2 <= n; i += 2) {
      const __m512 p0 = _mm512_set1_ps(p[i]), p1 = _mm512_set1_ps(p[i + 1]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        a0[v] = _mm512_fmadd_ps(p0, _mm512_loadu_ps(rows[i] + 16 * v), a0[v]);
        a1[v] = _mm512_fmadd_ps(p1, _mm512_loadu_ps(rows[i + 1] + 16 * v), a1[v]);
      }
    }
    if (i < n) {
      const __m512 p0 = _mm512_set1_ps(p[i]);
      for (int v = 0; v < NV; ++v) a0[v] = _mm512_fmadd_ps(p0, _mm512_loadu_ps(rows[i] + 16 * v), a0[v]);
    }
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(out + 16 * v, _mm512_add_ps(a0[v], a1[v]));
  }
};

// Vector policy of the query-transposed block kernel (attention_block.h): 16 queries per register.
struct Avx512BlockOps {
  using vec = __m512;
  using ivec = __m512i;
  using mask = __mmask16;
  static constexpr int kLanes = 16;
  static constexpr int kPvDims = 16;
  static vec load(const float* p) { return _mm512_load_ps(p); }
  static void store(float* p, vec v) { _mm512_store_ps(p, v); }
  static vec zero() { return _mm512_setzero_ps(); }
  static vec set1(float x) { return _mm512_set1_ps(x); }
  static vec bcast(const float* p) { return _mm512_set1_ps(*p); }
  static vec fmadd(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
  static vec mul(vec a, vec b) { return _mm512_mul_ps(a, b); }
  static vec sub(vec a, vec b) { return _mm512_sub_ps(a, b); }
  static vec add(vec a, vec b) { return _mm512_add_ps(a, b); }
  static vec max(vec a, vec b) { return _mm512_max_ps(a, b); }
  static vec div(vec a, vec b) { return _mm512_div_ps(a, b); }
  static vec exp(vec x) { return exp_ps(x); }
  static ivec iload(const int32_t* p) { return _mm512_load_si512(p); }
  static ivec iset1(int32_t x) { return _mm512_set1_epi32(x); }
  static mask in_range(ivec lo, ivec hi, ivec key) {
    return _mm512_cmple_epi32_mask(lo, key) & _mm512_cmple_epi32_mask(key, hi);
  }
  static vec keep(mask m, vec v, vec other) { return _mm512_mask_mov_ps(other, m, v); }
  static vec zero_unless(mask m, vec v) { return _mm512_maskz_mov_ps(m, v); }
  static mask rescale_mask(vec m_new, vec m, vec neg_inf) {  // grew, and had earlier keys
    return _mm512_cmp_ps_mask(m_new, m, _CMP_GT_OQ) & _mm512_cmp_ps_mask(m, neg_inf, _CMP_GT_OQ);
  }
  static bool any(mask m) { return m != 0; }
  static vec blend_one(mask m, vec v) { return _mm512_mask_blend_ps(m, _mm512_set1_ps(1.0f), v); }
};

constexpr int kMinBlockQueries = 4;

}  // namespace

void attention_rows(const AttnRowArgs* rows, int count) {
  // Several queries (prefill): the query-transposed block kernel.
  if (count >= kMinBlockQueries) {
    switch (rows[0].head_dim) {
      case 64: attend_block<Avx512BlockOps, 64>(rows, count); return;
      case 128: attend_block<Avx512BlockOps, 128>(rows, count); return;
      default: break;
    }
  }
  switch (rows[0].head_dim) {
    case 16: attend_rows<FixedOps<1>>(rows, count); return;
    case 32: attend_rows<FixedOps<2>>(rows, count); return;
    case 64: attend_rows<FixedOps<4>>(rows, count); return;
    case 128: attend_rows<FixedOps<8>>(rows, count); return;
    default: attend_rows<Avx512Ops>(rows, count); return;
  }
}

}  // namespace gptneo::cpu::avx512
