#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/ref/ref.h"

namespace gptneo::cpu::ref {

void attention(const float* q, int ldq, const int32_t* q_pos, int tokens, const float* k, const float* v, int ldkv,
               int heads, int head_dim, int window, float scale, float* out, int ldo) {
  std::vector<double> scores;
  for (int t = 0; t < tokens; ++t) {
    const int pos = q_pos[t];
    const int lo = window > 0 ? std::max(0, pos - window + 1) : 0;
    for (int h = 0; h < heads; ++h) {
      const float* qh = q + static_cast<size_t>(t) * ldq + h * head_dim;
      scores.assign(pos - lo + 1, 0.0);
      double mx = -INFINITY;
      for (int j = lo; j <= pos; ++j) {
        const float* kj = k + static_cast<size_t>(j) * ldkv + h * head_dim;
        double s = 0.0;
        for (int d = 0; d < head_dim; ++d) s += static_cast<double>(qh[d]) * kj[d];
        scores[j - lo] = scale * s;
        mx = std::max(mx, scores[j - lo]);
      }
      double sum = 0.0;
      for (double& s : scores) sum += (s = std::exp(s - mx));
      for (int d = 0; d < head_dim; ++d) {
        double acc = 0.0;
        for (int j = lo; j <= pos; ++j) acc += scores[j - lo] * v[static_cast<size_t>(j) * ldkv + h * head_dim + d];
        out[static_cast<size_t>(t) * ldo + h * head_dim + d] = static_cast<float>(acc / sum);
      }
    }
  }
}

}  // namespace gptneo::cpu::ref
