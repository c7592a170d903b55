// AVX-512 attention for a block of 4..16 queries of one (sequence, head): the queries are laid
// across the 16 lanes of a register ("query-transposed"), so scores, the online softmax and the
// output accumulate with plain vertical FMAs and no horizontal reductions.
//   qt[d]  = (q_0[d], ..., q_15[d])                 Q transposed once per block
//   s_j    = scale * sum_d qt[d] * k_j[d]          16 scores of key j in one register
//   m, l   = running max / sum per lane; p_j = exp(s_j - m), 0 outside a query's [j_lo, j_hi]
//   ot[d] += sum_j p_j * v_j[d]                     O transposed, kept in L1
//   out_q[d] = ot[d][q] / l[q]
// Same arithmetic as attend_rows (attention_row.h), in another order. Include only from
// -mavx512* units; attention_avx512.cpp dispatches here for head_dim = 16 * NV.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <limits>

#include "cpu/attention_row.h"
#include "cpu/vec_math_avx512.h"

namespace gptneo::cpu::avx512 {

constexpr int kBlockKeys = 8;  // keys scored together (8 accumulators)
static_assert(kAttnMaxQueries <= 16, "one query per lane");
static_assert(kAttnChunk % kBlockKeys == 0, "whole key groups per chunk");

template <int NV>
void attend_block(const AttnRowArgs* rows, int count) {
  constexpr int D = 16 * NV;
  const AttnRowArgs& a = rows[0];
  alignas(64) float qt[D][16];          // Q transposed: qt[d][q]
  alignas(64) float ot[D][16] = {};     // O transposed: ot[d][q]
  alignas(64) float p[kAttnChunk][16];  // scores, then probabilities, of the chunk's keys
  alignas(64) int32_t lo_a[16], hi_a[16];
  int lo = a.j_lo, hi = a.j_hi;
  for (int q = 0; q < 16; ++q) {
    const bool used = q < count;
    for (int d = 0; d < D; ++d) qt[d][q] = used ? rows[q].q[d] : 0.0f;
    lo_a[q] = used ? rows[q].j_lo : std::numeric_limits<int32_t>::max();
    hi_a[q] = used ? rows[q].j_hi : std::numeric_limits<int32_t>::min();
    if (used) {
      lo = std::min(lo, rows[q].j_lo);
      hi = std::max(hi, rows[q].j_hi);
    }
  }
  const __m512i lo_v = _mm512_load_si512(lo_a), hi_v = _mm512_load_si512(hi_a);
  const __m512 neg_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  const __m512 scale = _mm512_set1_ps(a.scale);
  __m512 m = neg_inf, l = _mm512_setzero_ps();
  const float* kp[kAttnChunk];
  const float* vp[kAttnChunk];
  __mmask16 valid[kAttnChunk];

  for (int j0 = lo; j0 <= hi; j0 += kAttnChunk) {
    const int n = std::min(kAttnChunk, hi - j0 + 1);
    attn_chunk_rows(a, j0, n, kp, vp);
    for (int j = n; j < kAttnChunk; ++j) kp[j] = vp[j] = kp[0];  // padding keys: valid memory, masked out
    // Scores, 8 keys at a time.
    __m512 cmax = neg_inf;
    for (int j = 0; j < n; j += kBlockKeys) {
      __m512 acc[kBlockKeys];
      for (int u = 0; u < kBlockKeys; ++u) acc[u] = _mm512_setzero_ps();
      for (int d = 0; d < D; ++d) {
        const __m512 qd = _mm512_load_ps(qt[d]);
#pragma GCC unroll 8
        for (int u = 0; u < kBlockKeys; ++u) acc[u] = _mm512_fmadd_ps(qd, _mm512_set1_ps(kp[j + u][d]), acc[u]);
      }
      for (int u = 0; u < kBlockKeys && j + u < n; ++u) {
        const __m512i key = _mm512_set1_epi32(j0 + j + u);
        const __mmask16 ok = _mm512_cmple_epi32_mask(lo_v, key) & _mm512_cmple_epi32_mask(key, hi_v);
        valid[j + u] = ok;
        const __m512 s = _mm512_mask_mov_ps(neg_inf, ok, _mm512_mul_ps(acc[u], scale));
        _mm512_store_ps(p[j + u], s);
        cmax = _mm512_max_ps(cmax, s);
      }
    }
    // Online softmax: lanes whose max grew rescale their sum and output.
    const __m512 m_new = _mm512_max_ps(m, cmax);
    const __mmask16 grew = _mm512_cmp_ps_mask(m_new, m, _CMP_GT_OQ);
    const __mmask16 seen = _mm512_cmp_ps_mask(m, neg_inf, _CMP_GT_OQ);  // lanes with earlier keys
    if (grew & seen) {
      const __m512 c = _mm512_mask_blend_ps(grew & seen, _mm512_set1_ps(1.0f), exp_ps(_mm512_sub_ps(m, m_new)));
      l = _mm512_mul_ps(l, c);
      for (int d = 0; d < D; ++d) _mm512_store_ps(ot[d], _mm512_mul_ps(_mm512_load_ps(ot[d]), c));
    }
    m = m_new;
    for (int j = 0; j < n; ++j) {
      const __m512 e = _mm512_maskz_mov_ps(valid[j], exp_ps(_mm512_sub_ps(_mm512_load_ps(p[j]), m)));
      _mm512_store_ps(p[j], e);
      l = _mm512_add_ps(l, e);
    }
    // ot[d] += sum_j p_j * v_j[d], 16 output dims per pass.
    for (int d0 = 0; d0 < D; d0 += 16) {
      __m512 acc[16];
      for (int e = 0; e < 16; ++e) acc[e] = _mm512_load_ps(ot[d0 + e]);
      for (int j = 0; j < n; ++j) {
        const __m512 pj = _mm512_load_ps(p[j]);
        const float* v = vp[j] + d0;
#pragma GCC unroll 16
        for (int e = 0; e < 16; ++e) acc[e] = _mm512_fmadd_ps(pj, _mm512_set1_ps(v[e]), acc[e]);
      }
      for (int e = 0; e < 16; ++e) _mm512_store_ps(ot[d0 + e], acc[e]);
    }
  }
  alignas(64) float inv[16];
  _mm512_store_ps(inv, _mm512_div_ps(_mm512_set1_ps(1.0f), l));
  for (int q = 0; q < count; ++q) {
    float* out = rows[q].out;
    for (int d = 0; d < D; ++d) out[d] = ot[d][q] * inv[q];
  }
}

}  // namespace gptneo::cpu::avx512
