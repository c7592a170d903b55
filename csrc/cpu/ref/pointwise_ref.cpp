// Oracles for gelu_new, layernorm, embed and kv_write.
#include <cmath>

#include "cpu/ref/ref.h"

namespace gptneo::cpu::ref {

// 0.5 x (1 + tanh(u)) == x / (1 + exp(-2u)) exactly; the second form keeps its relative
// accuracy for negative x, where 1 + tanh(u) cancels to 0 even in double.
float gelu_new(float xf) {
  const double x = xf;
  const double u = std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x);
  return static_cast<float>(x / (1.0 + std::exp(-2.0 * u)));
}

void layernorm(const float* x, int rows, int dim, int ldx, const float* gamma, const float* beta, float eps,
               float* y, int ldy) {
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<size_t>(r) * ldx;
    double mean = 0.0;
    for (int i = 0; i < dim; ++i) mean += xr[i];
    mean /= dim;
    double var = 0.0;
    for (int i = 0; i < dim; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    var /= dim;
    const double rstd = 1.0 / std::sqrt(var + eps);
    float* yr = y + static_cast<size_t>(r) * ldy;
    for (int i = 0; i < dim; ++i) yr[i] = static_cast<float>((xr[i] - mean) * rstd * gamma[i] + beta[i]);
  }
}

void embed(const int32_t* ids, const int32_t* positions, int tokens, const void* wte, DType wte_dtype,
           const void* wpe, DType wpe_dtype, int dim, float* out) {
  for (int t = 0; t < tokens; ++t)
    for (int i = 0; i < dim; ++i)
      out[static_cast<size_t>(t) * dim + i] =
          load_as_f32(wte, wte_dtype, static_cast<size_t>(ids[t]) * dim + i) +
          load_as_f32(wpe, wpe_dtype, static_cast<size_t>(positions[t]) * dim + i);
}

void kv_write(const float* k, const float* v, int ldkv, const PagedBatch& batch, int heads, int head_dim,
              float* k_cache, float* v_cache) {
  const int width = heads * head_dim;
  for (int s = 0; s < batch.num_seqs; ++s) {
    for (int t = batch.seq_starts[s]; t < batch.seq_starts[s + 1]; ++t) {
      const int pos = batch.positions[t];
      const int block = batch.block_tables[s * batch.max_blocks + pos / batch.block_size];
      const size_t slot = static_cast<size_t>(block) * batch.block_size + pos % batch.block_size;
      for (int i = 0; i < width; ++i) {
        k_cache[slot * width + i] = k[static_cast<size_t>(t) * ldkv + i];
        v_cache[slot * width + i] = v[static_cast<size_t>(t) * ldkv + i];
      }
    }
  }
}

}  // namespace gptneo::cpu::ref
