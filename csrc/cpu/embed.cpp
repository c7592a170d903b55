// embed: out[t] = wte[ids[t]] + wpe[positions[t]], rows in parallel, from stored dtypes.
#include "cpu/ops.h"

namespace gptneo::cpu {

namespace {

// Reads `dim` elements of row `row` of a [rows, dim] table of dtype t as float.
inline void add_row(const void* table, DType t, size_t row, int dim, float* out) {
  const size_t base = row * static_cast<size_t>(dim);
  switch (t) {
    case DType::kF32: {
      const float* p = static_cast<const float*>(table) + base;
      for (int i = 0; i < dim; ++i) out[i] += p[i];
      return;
    }
    case DType::kBF16: {
      const uint16_t* p = static_cast<const uint16_t*>(table) + base;
      for (int i = 0; i < dim; ++i) out[i] += bf16_to_f32(p[i]);
      return;
    }
    case DType::kF16: {
      const uint16_t* p = static_cast<const uint16_t*>(table) + base;
      for (int i = 0; i < dim; ++i) out[i] += f16_to_f32(p[i]);
      return;
    }
    case DType::kI8: return;  // never an embedding table dtype (load keeps tables unquantized)
  }
}

}  // namespace

void embed(const int32_t* ids, const int32_t* positions, int tokens, const void* wte, DType wte_dtype,
           const void* wpe, DType wpe_dtype, int dim, float* out, ThreadPool& pool) {
  if (tokens <= 0 || dim <= 0) return;
  pool.parallel_for(tokens, 8, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      float* o = out + t * dim;
      for (int i = 0; i < dim; ++i) o[i] = 0.0f;
      add_row(wte, wte_dtype, static_cast<size_t>(ids[t]), dim, o);
      add_row(wpe, wpe_dtype, static_cast<size_t>(positions[t]), dim, o);
    }
  });
}

}  // namespace gptneo::cpu
