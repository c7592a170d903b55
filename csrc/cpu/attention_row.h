// One (token, head) of paged attention, written once over a small vector-ops policy so the
// portable, AVX2 and AVX-512 units share the algorithm and differ only in the inner loops.
//
// Keys are visited in chunks of kAttnChunk: scores s_j = scale * q·k_j for the chunk, then an
// online-softmax update (running max m, running sum l; the accumulator is rescaled by
// exp(m_old - m_new) only when the max grows), then acc += exp(s_j - m) * v_j.
// Ops must provide: dot(a, b, n), axpy(alpha, x, y, n) (y += alpha x), scale(y, alpha, n),
// exp_shift_sum(s, n, m) (s_i = exp(s_i - m), returns the sum).
#pragma once
#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu/kernels.h"

namespace gptneo::cpu {

constexpr int kAttnChunk = 32;

inline const float* attn_cache_row(const float* cache, const AttnRowArgs& a, int j) {
  size_t slot = static_cast<size_t>(a.block_table[j / a.block_size]) * a.block_size + j % a.block_size;
  return cache + slot * a.row_stride;
}

template <class Ops>
void attend_row(const AttnRowArgs& a) {
  const int d = a.head_dim;
  float s[kAttnChunk];
  float m = -std::numeric_limits<float>::infinity();
  float l = 0.0f;
  float* acc = a.out;
  std::fill(acc, acc + d, 0.0f);
  for (int j0 = a.j_lo; j0 <= a.j_hi; j0 += kAttnChunk) {
    const int n = std::min(kAttnChunk, a.j_hi - j0 + 1);
    float cmax = -std::numeric_limits<float>::infinity();
    for (int i = 0; i < n; ++i) {
      s[i] = a.scale * Ops::dot(a.q, attn_cache_row(a.k_cache, a, j0 + i), d);
      cmax = std::max(cmax, s[i]);
    }
    if (cmax > m) {
      if (l > 0.0f) {
        const float c = std::exp(m - cmax);
        l *= c;
        Ops::scale(acc, c, d);
      }
      m = cmax;
    }
    l += Ops::exp_shift_sum(s, n, m);
    for (int i = 0; i < n; ++i) Ops::axpy(s[i], attn_cache_row(a.v_cache, a, j0 + i), acc, d);
  }
  Ops::scale(acc, 1.0f / l, d);
}

}  // namespace gptneo::cpu
