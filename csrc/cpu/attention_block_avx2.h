// AVX2 version of the query-transposed attention block (see attention_block_avx512.h for the
// scheme): 8 queries per register, so a job of up to 16 queries runs as blocks of 8. Without
// mask registers, lane masks are all-ones vectors from integer compares. Include only from
// -mavx2 -mfma units; attention_avx2.cpp dispatches here for head_dim = 8 * NV.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <limits>

#include "cpu/attention_row.h"
#include "cpu/vec_math_avx2.h"

namespace gptneo::cpu::avx2 {

constexpr int kBlockKeys = 8;  // keys scored together (8 accumulators)
static_assert(kAttnChunk % kBlockKeys == 0, "whole key groups per chunk");

// Up to 8 queries (count 1..8).
template <int NV>
void attend_block8(const AttnRowArgs* rows, int count) {
  constexpr int D = 8 * NV;
  const AttnRowArgs& a = rows[0];
  alignas(32) float qt[D][8];
  alignas(32) float ot[D][8] = {};
  alignas(32) float p[kAttnChunk][8];
  alignas(32) int32_t lo_a[8], hi_a[8];
  int lo = a.j_lo, hi = a.j_hi;
  for (int q = 0; q < 8; ++q) {
    const bool used = q < count;
    for (int d = 0; d < D; ++d) qt[d][q] = used ? rows[q].q[d] : 0.0f;
    lo_a[q] = used ? rows[q].j_lo : std::numeric_limits<int32_t>::max();
    hi_a[q] = used ? rows[q].j_hi : std::numeric_limits<int32_t>::min();
    if (used) {
      lo = std::min(lo, rows[q].j_lo);
      hi = std::max(hi, rows[q].j_hi);
    }
  }
  const __m256i lo_v = _mm256_load_si256(reinterpret_cast<const __m256i*>(lo_a));
  const __m256i hi_v = _mm256_load_si256(reinterpret_cast<const __m256i*>(hi_a));
  const __m256 neg_inf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  const __m256 scale = _mm256_set1_ps(a.scale);
  __m256 m = neg_inf, l = _mm256_setzero_ps();
  const float* kp[kAttnChunk];
  const float* vp[kAttnChunk];
  __m256 valid[kAttnChunk];

  for (int j0 = lo; j0 <= hi; j0 += kAttnChunk) {
    const int n = std::min(kAttnChunk, hi - j0 + 1);
    attn_chunk_rows(a, j0, n, kp, vp);
    for (int j = n; j < kAttnChunk; ++j) kp[j] = vp[j] = kp[0];  // padding keys: valid memory, masked out
    __m256 cmax = neg_inf;
    for (int j = 0; j < n; j += kBlockKeys) {
      __m256 acc[kBlockKeys];
      for (int u = 0; u < kBlockKeys; ++u) acc[u] = _mm256_setzero_ps();
      for (int d = 0; d < D; ++d) {
        const __m256 qd = _mm256_load_ps(qt[d]);
#pragma GCC unroll 8
        for (int u = 0; u < kBlockKeys; ++u) acc[u] = _mm256_fmadd_ps(qd, _mm256_broadcast_ss(kp[j + u] + d), acc[u]);
      }
      for (int u = 0; u < kBlockKeys && j + u < n; ++u) {
        const __m256i key = _mm256_set1_epi32(j0 + j + u);
        const __m256i out = _mm256_or_si256(_mm256_cmpgt_epi32(lo_v, key), _mm256_cmpgt_epi32(key, hi_v));
        const __m256 ok = _mm256_castsi256_ps(_mm256_xor_si256(out, _mm256_set1_epi32(-1)));
        valid[j + u] = ok;
        const __m256 s = _mm256_blendv_ps(neg_inf, _mm256_mul_ps(acc[u], scale), ok);
        _mm256_store_ps(p[j + u], s);
        cmax = _mm256_max_ps(cmax, s);
      }
    }
    const __m256 m_new = _mm256_max_ps(m, cmax);
    const __m256 rescale = _mm256_and_ps(_mm256_cmp_ps(m_new, m, _CMP_GT_OQ), _mm256_cmp_ps(m, neg_inf, _CMP_GT_OQ));
    if (_mm256_movemask_ps(rescale) != 0) {
      const __m256 c = _mm256_blendv_ps(_mm256_set1_ps(1.0f), exp_ps(_mm256_sub_ps(m, m_new)), rescale);
      l = _mm256_mul_ps(l, c);
      for (int d = 0; d < D; ++d) _mm256_store_ps(ot[d], _mm256_mul_ps(_mm256_load_ps(ot[d]), c));
    }
    m = m_new;
    for (int j = 0; j < n; ++j) {
      const __m256 e = _mm256_and_ps(valid[j], exp_ps(_mm256_sub_ps(_mm256_load_ps(p[j]), m)));
      _mm256_store_ps(p[j], e);
      l = _mm256_add_ps(l, e);
    }
    for (int d0 = 0; d0 < D; d0 += 8) {
      __m256 acc[8];
      for (int e = 0; e < 8; ++e) acc[e] = _mm256_load_ps(ot[d0 + e]);
      for (int j = 0; j < n; ++j) {
        const __m256 pj = _mm256_load_ps(p[j]);
        const float* v = vp[j] + d0;
#pragma GCC unroll 8
        for (int e = 0; e < 8; ++e) acc[e] = _mm256_fmadd_ps(pj, _mm256_broadcast_ss(v + e), acc[e]);
      }
      for (int e = 0; e < 8; ++e) _mm256_store_ps(ot[d0 + e], acc[e]);
    }
  }
  alignas(32) float inv[8];
  _mm256_store_ps(inv, _mm256_div_ps(_mm256_set1_ps(1.0f), l));
  for (int q = 0; q < count; ++q) {
    float* out = rows[q].out;
    for (int d = 0; d < D; ++d) out[d] = ot[d][q] * inv[q];
  }
}

template <int NV>
void attend_block(const AttnRowArgs* rows, int count) {
  for (int r = 0; r < count; r += 8) attend_block8<NV>(rows + r, std::min(8, count - r));
}

}  // namespace gptneo::cpu::avx2
