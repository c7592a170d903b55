// Attention for a block of queries of one (sequence, head), "query-transposed": the queries are
// laid across the lanes of a register, so scores, the online softmax and the output accumulate
// with plain vertical FMAs and no horizontal reductions.
//   qt[d]  = (q_0[d], ..., q_L-1[d])               Q transposed once per pass of L queries
//   s_j    = scale * sum_d qt[d] * k_j[d]          L scores of key j in one register
//   m, l   = running max / sum per lane; p_j = exp(s_j - m), 0 outside a query's [j_lo, j_hi]
//   ot[d] += sum_j p_j * v_j[d]                     O transposed, kept in L1
//   out_q[d] = ot[d][q] / l[q]
// Same arithmetic as attend_rows (attention_row.h), in another order. Written once over a vector
// policy V (attention_avx2.cpp, attention_avx512.cpp), which provides: kLanes, kPvDims (output
// dims accumulated in registers per pass), vec / ivec / mask types, load/store/zero/set1/bcast,
// fmadd/mul/sub/add/max, exp, iload/iset1, in_range(lo, hi, key) -> mask, keep(mask, v, other),
// zero_unless(mask, v), rescale_mask(m_new, m, neg_inf) -> mask of lanes that must rescale,
// any(mask), blend_one(mask, v) (v where mask, else 1).
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>

#include "cpu/attention_row.h"

namespace gptneo::cpu {

constexpr int kBlockKeys = 8;  // keys scored together (8 accumulators)
static_assert(kAttnChunk % kBlockKeys == 0, "whole key groups per chunk");

// Up to V::kLanes queries (count >= 1), head_dim D.
template <class V, int D>
void attend_block_pass(const AttnRowArgs* rows, int count) {
  using vec = typename V::vec;
  constexpr int L = V::kLanes;
  static_assert(D % V::kPvDims == 0, "whole output passes");
  const AttnRowArgs& a = rows[0];
  alignas(64) float qt[D][L];
  alignas(64) float ot[D][L] = {};
  alignas(64) float p[kAttnChunk][L];  // scores, then probabilities, of the chunk's keys
  alignas(64) int32_t lo_a[L], hi_a[L];
  int lo = a.j_lo, hi = a.j_hi;
  for (int q = 0; q < L; ++q) {
    const bool used = q < count;
    for (int d = 0; d < D; ++d) qt[d][q] = used ? rows[q].q[d] : 0.0f;
    lo_a[q] = used ? rows[q].j_lo : std::numeric_limits<int32_t>::max();
    hi_a[q] = used ? rows[q].j_hi : std::numeric_limits<int32_t>::min();
    if (used) {
      lo = std::min(lo, rows[q].j_lo);
      hi = std::max(hi, rows[q].j_hi);
    }
  }
  const typename V::ivec lo_v = V::iload(lo_a), hi_v = V::iload(hi_a);
  const vec neg_inf = V::set1(-std::numeric_limits<float>::infinity());
  const vec scale = V::set1(a.scale);
  vec m = neg_inf, l = V::zero();
  const float* kp[kAttnChunk];
  const float* vp[kAttnChunk];
  typename V::mask valid[kAttnChunk];

  for (int j0 = lo; j0 <= hi; j0 += kAttnChunk) {
    const int n = std::min(kAttnChunk, hi - j0 + 1);
    attn_chunk_rows(a, j0, n, kp, vp);
    for (int j = n; j < kAttnChunk; ++j) kp[j] = vp[j] = kp[0];  // padding keys: valid memory, masked out
    // Scores, kBlockKeys keys at a time.
    vec cmax = neg_inf;
    for (int j = 0; j < n; j += kBlockKeys) {
      vec acc[kBlockKeys];
      for (int u = 0; u < kBlockKeys; ++u) acc[u] = V::zero();
      for (int d = 0; d < D; ++d) {
        const vec qd = V::load(qt[d]);
#pragma GCC unroll 8
        for (int u = 0; u < kBlockKeys; ++u) acc[u] = V::fmadd(qd, V::bcast(kp[j + u] + d), acc[u]);
      }
      for (int u = 0; u < kBlockKeys && j + u < n; ++u) {
        valid[j + u] = V::in_range(lo_v, hi_v, V::iset1(j0 + j + u));
        const vec s = V::keep(valid[j + u], V::mul(acc[u], scale), neg_inf);
        V::store(p[j + u], s);
        cmax = V::max(cmax, s);
      }
    }
    // Online softmax: lanes whose max grew rescale their sum and output.
    const vec m_new = V::max(m, cmax);
    const typename V::mask rescale = V::rescale_mask(m_new, m, neg_inf);
    if (V::any(rescale)) {
      const vec c = V::blend_one(rescale, V::exp(V::sub(m, m_new)));
      l = V::mul(l, c);
      for (int d = 0; d < D; ++d) V::store(ot[d], V::mul(V::load(ot[d]), c));
    }
    m = m_new;
    for (int j = 0; j < n; ++j) {
      const vec e = V::zero_unless(valid[j], V::exp(V::sub(V::load(p[j]), m)));
      V::store(p[j], e);
      l = V::add(l, e);
    }
    // ot[d] += sum_j p_j * v_j[d], kPvDims output dims per pass.
    for (int d0 = 0; d0 < D; d0 += V::kPvDims) {
      vec acc[V::kPvDims];
      for (int e = 0; e < V::kPvDims; ++e) acc[e] = V::load(ot[d0 + e]);
      for (int j = 0; j < n; ++j) {
        const vec pj = V::load(p[j]);
        const float* v = vp[j] + d0;
#pragma GCC unroll 16
        for (int e = 0; e < V::kPvDims; ++e) acc[e] = V::fmadd(pj, V::bcast(v + e), acc[e]);
      }
      for (int e = 0; e < V::kPvDims; ++e) V::store(ot[d0 + e], acc[e]);
    }
  }
  alignas(64) float inv[L];
  V::store(inv, V::div(V::set1(1.0f), l));
  for (int q = 0; q < count; ++q) {
    float* out = rows[q].out;
    for (int d = 0; d < D; ++d) out[d] = ot[d][q] * inv[q];
  }
}

// Any number of queries, V::kLanes per pass.
template <class V, int D>
void attend_block(const AttnRowArgs* rows, int count) {
  for (int r = 0; r < count; r += V::kLanes) attend_block_pass<V, D>(rows + r, std::min(V::kLanes, count - r));
}

}  // namespace gptneo::cpu
