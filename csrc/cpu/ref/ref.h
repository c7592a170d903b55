// Scalar oracles for the CPU kernels in cpu/ops.h: plain loops over unpacked inputs, sums in
// double, no threads, no SIMD. Tests compare every optimised kernel against these.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "cpu/ops.h"

namespace gptneo::cpu::ref {

// y[m, n] = epilogue(x[m, k] · w[n, k]ᵀ + bias) on the plain (unpacked) float weight.
void gemm(const float* x, int m, int ldx, const float* w, int n, int k, const float* bias, float* y, int ldy,
          Epilogue epilogue);

// Symmetric per-output-channel int8 quantization of a plain [n, k] weight, as gemm_layout.h
// specifies: scales[j] = max|w[j, :]| / 127 (1 for a zero row), q = round-half-away(w / scale)
// clamped to [-127, 127]. q: [n, k] row-major.
void quantize_i8(const float* w, int n, int k, int8_t* q, float* scales);

// gemm on int8 weights: y = epilogue(scales[j] * (x · q[j, :]) + bias[j]), sums in double.
void gemm_i8(const float* x, int m, int ldx, const int8_t* q, const float* scales, int n, int k, const float* bias,
             float* y, int ldy, Epilogue epilogue);

// gelu_new in double: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x³), evaluated as the
// identical x / (1 + exp(-2u)) (no cancellation for negative x), rounded to float.
float gelu_new(float x);

void layernorm(const float* x, int rows, int dim, int ldx, const float* gamma, const float* beta, float eps,
               float* y, int ldy);

void embed(const int32_t* ids, const int32_t* positions, int tokens, const void* wte, DType wte_dtype,
           const void* wpe, DType wpe_dtype, int dim, float* out);

// Scalar kv_write: the same slot arithmetic written out per element.
void kv_write(const float* k, const float* v, int ldkv, const PagedBatch& batch, int heads, int head_dim,
              float* k_cache, float* v_cache);

// Dense causal attention of one sequence. k, v: [context, heads*head_dim] (ldkv) indexed by
// absolute position; q: [tokens, heads*head_dim] (ldq) at absolute positions q_pos[t]. Token t
// attends keys max(0, q_pos[t]-window+1) (window > 0) or 0 ... q_pos[t]. Softmax in double.
void attention(const float* q, int ldq, const int32_t* q_pos, int tokens, const float* k, const float* v, int ldkv,
               int heads, int head_dim, int window, float scale, float* out, int ldo);

// The sampling prefilter (cpu/candidates.h select_candidates_row), by a full sort: the keys
// (cuda/candidate_key.h) sorted descending, t = the need-th, then every column with key >= t.
int select_candidates_row(const float* row, int cols, int need, int capacity, int32_t* ids, float* vals);

}  // namespace gptneo::cpu::ref
