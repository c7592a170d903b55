// The flash-decoding merge of one (token, head): the splits' partial outputs (unnormalised o, running
// max m, sum l) combined as o = sum_s o_s * exp(m_s - M) / sum_s l_s * exp(m_s - M). Run by
// combine_kernel (attention.cu, one block per (token, head)) or, in append mode, by the decode
// kernel's block that finishes a (token, head) last (attention_decode.cuh). Loads bypass L1 (__ldcg):
// in the second case the partials come from other blocks of the same launch.
//   p.part_o: [splits, tokens, heads, head_dim], p.part_ml: [splits, tokens, heads, 2], p.out: [tokens, ldo]
#pragma once
#include <math.h>

#include "cuda/attention_traits.cuh"

namespace gncuda {

__device__ __forceinline__ void combine_splits(const AttentionParams& p, int t, int h) {
  const size_t per_split = (size_t)p.b.tokens * p.heads;
  const size_t row0 = (size_t)t * p.heads + h;
  float mx = -INFINITY;
  for (int sp = 0; sp < p.splits; ++sp) mx = fmaxf(mx, __ldcg(p.part_ml + (sp * per_split + row0) * 2));
  float total = 0.f;
  for (int sp = 0; sp < p.splits; ++sp) {
    const float ms = __ldcg(p.part_ml + (sp * per_split + row0) * 2);
    if (ms != -INFINITY) total += __ldcg(p.part_ml + (sp * per_split + row0) * 2 + 1) * expf(ms - mx);
  }
  const float inv = 1.f / total;
  for (int d = threadIdx.x; d < p.head_dim; d += blockDim.x) {
    float o = 0.f;
    for (int sp = 0; sp < p.splits; ++sp) {
      const float ms = __ldcg(p.part_ml + (sp * per_split + row0) * 2);
      if (ms != -INFINITY) o += __ldcg(p.part_o + (sp * per_split + row0) * p.head_dim + d) * expf(ms - mx);
    }
    p.out[(size_t)t * p.ldo + (size_t)h * p.head_dim + d] = o * inv;
  }
}

}  // namespace gncuda
