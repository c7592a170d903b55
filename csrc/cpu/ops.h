// CPU kernels used by the model's forward pass. Every kernel here has a scalar oracle in
// cpu/ref/ref.h and a test comparing the two. Shapes are row-major; `ld*` are row strides
// in elements. All activations are float32; weights may be stored as f32, f16 or bf16.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/dtype.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "cpu/simd.h"

namespace gptneo::cpu {

// ---------------------------------------------------------------------------------------
// GEMM with a packed weight: y[M,N] = epilogue(x[M,K] · W[N,K]ᵀ + bias[N]).
// W is a torch.nn.Linear weight ([out_features, in_features], row-major), repacked once at
// load into the layout the microkernels stream (see gemm_pack.cpp). Storage dtype is kept
// (f32/f16/bf16 stay at their width) or quantized to int8 with per-output-channel scales;
// accumulation is always float32.
// ---------------------------------------------------------------------------------------
struct PackedWeight {
  int n = 0;           // output features
  int k = 0;           // input features
  DType dtype = DType::kF32;
  std::shared_ptr<void> data;   // opaque packed panels (layout private to gemm_*.cpp)
  std::shared_ptr<float> scales;  // kI8 only: [panels * 16] per-output-channel scales
  size_t bytes = 0;               // panels + scales
};

// src: [n, k] elements of src_dtype (f32/f16/bf16). Converts to store_dtype (f32/f16/bf16, or
// kI8: symmetric per-channel quantization, see gemm_layout.h) while packing; panels are packed
// in parallel on `pool` when given. kI8 rejects non-finite weights with kInvalidArgument.
Status pack_weight(const void* src, DType src_dtype, int n, int k, DType store_dtype,
                   PackedWeight* out, ThreadPool* pool = nullptr);

enum class Epilogue {
  kStore,      // y = x·Wᵀ + b
  kGeluNew,    // y = gelu_new(x·Wᵀ + b)
  kAccumulate, // y += x·Wᵀ + b   (residual add)
};

// x: [m, k] (ldx >= k); bias: [n] or nullptr; y: [m, n] (ldy >= n). x and y must not alias.
// Products accumulate in f32. x stays f32 except where gemm_rounds_x_to_bf16() (bf16 or int8
// weights on AMX tiles, 16+ rows): then x is rounded to bf16 (nearest even) as it enters the tiles.
void gemm(const float* x, int m, int ldx, const PackedWeight& w, const float* bias, float* y,
          int ldy, Epilogue epilogue, ThreadPool& pool, SimdLevel level);
bool gemm_rounds_x_to_bf16(int m, const PackedWeight& w, SimdLevel level);

// ---------------------------------------------------------------------------------------
// Layer norm over the last dim (biased variance): y = (x-mean)/sqrt(var+eps)*gamma + beta.
// x: [rows, dim] (ldx), y: [rows, dim] (ldy); may alias when ldx == ldy.
// ---------------------------------------------------------------------------------------
void layernorm(const float* x, int rows, int dim, int ldx, const float* gamma, const float* beta,
               float eps, float* y, int ldy, ThreadPool& pool, SimdLevel level);

// gelu_new (tanh approximation), in place over n elements.
void gelu_new_inplace(float* x, size_t n, SimdLevel level);

// out[t, :] = wte[ids[t], :] + wpe[positions[t], :]. wte: [vocab, dim], wpe: [max_pos, dim]
// of their stored dtypes. Ids/positions must already be validated.
void embed(const int32_t* ids, const int32_t* positions, int tokens, const void* wte, DType wte_dtype,
           const void* wpe, DType wpe_dtype, int dim, float* out, ThreadPool& pool);

// ---------------------------------------------------------------------------------------
// Paged KV cache. One layer's K (and V) cache is [num_blocks, block_size, heads, head_dim]
// float32. A sequence's token at absolute position p lives in block
// block_table[p / block_size], row p % block_size.
// ---------------------------------------------------------------------------------------
struct PagedBatch {
  int num_seqs = 0;
  const int32_t* seq_starts = nullptr;   // [num_seqs + 1] row offsets of each sequence's new tokens
  const int32_t* positions = nullptr;    // [tokens] absolute position of each new token
  const int32_t* block_tables = nullptr; // [num_seqs, max_blocks]
  int max_blocks = 0;
  int block_size = 0;
};

// Writes k[t,:], v[t,:] ([tokens, heads*head_dim], ld = ldkv) into the cache slots of their positions.
void kv_write(const float* k, const float* v, int ldkv, const PagedBatch& batch, int heads,
              int head_dim, float* k_cache, float* v_cache, ThreadPool& pool);

// Causal attention of each new token over its sequence's cached keys 0..position (inclusive),
// restricted to position-window < j when window > 0 (GPT-Neo local layers). Scores are
// scale * q·k in float32 with an online softmax. Keys/values of the new tokens must already be
// in the cache (kv_write first).
// q: [tokens, heads*head_dim] (ldq); out: [tokens, heads*head_dim] (ldo).
void attention_paged(const float* q, int ldq, const float* k_cache, const float* v_cache,
                     const PagedBatch& batch, int heads, int head_dim, int window, float scale,
                     float* out, int ldo, ThreadPool& pool, SimdLevel level);

}  // namespace gptneo::cpu
