// layernorm: rows in parallel; two passes per row (mean, then centred variance) in float with
// several partial sums. The vector rows live in layernorm_avx2.cpp / layernorm_avx512.cpp.
#include <cmath>

#include "cpu/kernels.h"
#include "cpu/ops.h"

namespace gptneo::cpu {

namespace portable {
void layernorm_row(const float* x, int dim, const float* gamma, const float* beta, float eps, float* y) {
  constexpr int kLanes = 8;
  float s[kLanes] = {};
  int i = 0;
  for (; i + kLanes <= dim; i += kLanes)
    for (int u = 0; u < kLanes; ++u) s[u] += x[i + u];
  for (; i < dim; ++i) s[0] += x[i];
  float sum = 0.0f;
  for (int u = 0; u < kLanes; ++u) sum += s[u];
  const float mean = sum / static_cast<float>(dim);
  float q[kLanes] = {};
  i = 0;
  for (; i + kLanes <= dim; i += kLanes)
    for (int u = 0; u < kLanes; ++u) {
      float d = x[i + u] - mean;
      q[u] += d * d;
    }
  for (; i < dim; ++i) q[0] += (x[i] - mean) * (x[i] - mean);
  float ss = 0.0f;
  for (int u = 0; u < kLanes; ++u) ss += q[u];
  const float rstd = 1.0f / std::sqrt(ss / static_cast<float>(dim) + eps);
  for (i = 0; i < dim; ++i) y[i] = (x[i] - mean) * rstd * gamma[i] + beta[i];
}
}  // namespace portable

void layernorm(const float* x, int rows, int dim, int ldx, const float* gamma, const float* beta, float eps,
               float* y, int ldy, ThreadPool& pool, SimdLevel level) {
  if (rows <= 0 || dim <= 0) return;
  auto row = portable::layernorm_row;
  if (level == SimdLevel::kAvx2) row = avx2::layernorm_row;
  if (level >= SimdLevel::kAvx512) row = avx512::layernorm_row;
  pool.parallel_for(rows, 4, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) row(x + r * ldx, dim, gamma, beta, eps, y + r * ldy);
  });
}

}  // namespace gptneo::cpu
