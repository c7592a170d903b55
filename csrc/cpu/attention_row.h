// Paged attention for a few queries of one (sequence, head), written once over a small
// vector-ops policy so the portable, AVX2 and AVX-512 units share the algorithm and differ only
// in the inner loops.
//
// Keys are visited in chunks of kAttnChunk (each chunk's K/V rows are reused from L1 by every
// query of the block): scores s_j = scale * q·k_j for the chunk, then an
// online-softmax update (running max m, running sum l; the accumulator is rescaled by
// exp(m_old - m_new) only when the max grows), then acc += exp(s_j - m) * v_j.
// Ops must provide: dots(q, rows, n, d, scale, s) (s_i = scale * q·rows_i), accumulate(acc, p,
// rows, n, d) (acc += sum_i p_i rows_i), scale(y, alpha, d), max_of(s, n) (n >= 1),
// exp_shift_sum(s, n, m) (s_i = exp(s_i - m), returns the sum).
#pragma once
#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu/kernels.h"

namespace gptneo::cpu {

constexpr int kAttnChunk = 32;

// Fills kp/vp with the cache rows of keys j0 .. j0+n-1 (walking the block table without a
// division per key).
inline void attn_chunk_rows(const AttnRowArgs& a, int j0, int n, const float** kp, const float** vp) {
  int block = j0 / a.block_size, off = j0 % a.block_size;
  for (int i = 0; i < n; ++i) {
    const size_t slot = static_cast<size_t>(a.block_table[block]) * a.block_size + off;
    kp[i] = a.k_cache + slot * a.row_stride;
    vp[i] = a.v_cache + slot * a.row_stride;
    if (++off == a.block_size) {
      off = 0;
      ++block;
    }
  }
}

// Online-softmax state of one query.
struct AttnQueryState {
  float m = -std::numeric_limits<float>::infinity();
  float l = 0.0f;
};

// Attends `count` queries of one (sequence, head) -- typically consecutive tokens -- together:
// each chunk of keys/values is fetched once (into L1) and used by every query whose range
// [j_lo, j_hi] meets it. All rows share caches, block table, head_dim and scale.
template <class Ops>
void attend_rows(const AttnRowArgs* rows, int count) {
  const AttnRowArgs& a = rows[0];
  const int d = a.head_dim;
  float s[kAttnChunk];
  const float* kp[kAttnChunk] = {};
  const float* vp[kAttnChunk] = {};
  AttnQueryState st[kAttnMaxQueries];
  int lo = rows[0].j_lo, hi = rows[0].j_hi;
  for (int r = 0; r < count; ++r) {
    std::fill(rows[r].out, rows[r].out + d, 0.0f);
    lo = std::min(lo, rows[r].j_lo);
    hi = std::max(hi, rows[r].j_hi);
  }
  for (int j0 = lo; j0 <= hi; j0 += kAttnChunk) {
    const int n = std::min(kAttnChunk, hi - j0 + 1);
    attn_chunk_rows(a, j0, n, kp, vp);
    for (int r = 0; r < count; ++r) {
      // This query's keys inside the chunk: a contiguous sub-range [b, e).
      const int b = std::max(rows[r].j_lo, j0) - j0, e = std::min(rows[r].j_hi, j0 + n - 1) - j0 + 1;
      if (b >= e) continue;
      float* acc = rows[r].out;
      Ops::dots(rows[r].q, kp + b, e - b, d, a.scale, s);
      const float cmax = Ops::max_of(s, e - b);
      if (cmax > st[r].m) {
        if (st[r].l > 0.0f) {
          const float c = std::exp(st[r].m - cmax);
          st[r].l *= c;
          Ops::scale(acc, c, d);
        }
        st[r].m = cmax;
      }
      st[r].l += Ops::exp_shift_sum(s, e - b, st[r].m);
      Ops::accumulate(acc, s, vp + b, e - b, d);
    }
  }
  for (int r = 0; r < count; ++r) Ops::scale(rows[r].out, 1.0f / st[r].l, d);
}

}  // namespace gptneo::cpu
