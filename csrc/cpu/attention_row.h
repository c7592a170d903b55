// One (token, head) of paged attention, written once over a small vector-ops policy so the
// portable, AVX2 and AVX-512 units share the algorithm and differ only in the inner loops.
//
// Keys are visited in chunks of kAttnChunk: scores s_j = scale * q·k_j for the chunk, then an
// online-softmax update (running max m, running sum l; the accumulator is rescaled by
// exp(m_old - m_new) only when the max grows), then acc += exp(s_j - m) * v_j.
// Ops must provide: dots(q, rows, n, d, scale, s) (s_i = scale * q·rows_i), accumulate(acc, p,
// rows, n, d) (acc += sum_i p_i rows_i), scale(y, alpha, d), exp_shift_sum(s, n, m)
// (s_i = exp(s_i - m), returns the sum).
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

template <class Ops>
void attend_row(const AttnRowArgs& a) {
  const int d = a.head_dim;
  float s[kAttnChunk];
  const float* kp[kAttnChunk];
  const float* vp[kAttnChunk];
  float m = -std::numeric_limits<float>::infinity();
  float l = 0.0f;
  float* acc = a.out;
  std::fill(acc, acc + d, 0.0f);
  for (int j0 = a.j_lo; j0 <= a.j_hi; j0 += kAttnChunk) {
    const int n = std::min(kAttnChunk, a.j_hi - j0 + 1);
    attn_chunk_rows(a, j0, n, kp, vp);
    Ops::dots(a.q, kp, n, d, a.scale, s);
    float cmax = s[0];
    for (int i = 1; i < n; ++i) cmax = std::max(cmax, s[i]);
    if (cmax > m) {
      if (l > 0.0f) {
        const float c = std::exp(m - cmax);
        l *= c;
        Ops::scale(acc, c, d);
      }
      m = cmax;
    }
    l += Ops::exp_shift_sum(s, n, m);
    Ops::accumulate(acc, s, vp, n, d);
  }
  Ops::scale(acc, 1.0f / l, d);
}

}  // namespace gptneo::cpu
