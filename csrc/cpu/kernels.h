// Internal interface between the portable drivers (gemm.cpp, attention.cpp, gelu.cpp, ...)
// and the per-ISA translation units (compiled with -mavx2 / -mavx512*). Only the drivers call
// these, and only after select_simd()/the caller chose a level the CPU supports.
#pragma once
#include <cstddef>
#include <cstdint>

namespace gptneo::cpu {

// ---- GEMM microkernel --------------------------------------------------------------------
enum GemmTileFlags : int {
  kTileLoadY = 1,  // add the current y (a previous K block, or the residual for kAccumulate)
  kTileBias = 2,   // add bias (last K block only)
  kTileGelu = 4,   // apply gelu_new (last K block only, after bias)
};

// One register tile: rows x (panels * 16) outputs over a K range [k0, k0 + k).
struct GemmTileArgs {
  const float* x;       // &x[m0 * ldx + k0]
  size_t ldx;           // row stride of x
  int rows;             // 1..mr
  const void* w;        // first panel's data at k0 (element offset k0 * 16 in its dtype)
  size_t panel_stride;  // elements between panels
  int panels;           // 1..np
  int k;                // K range length (may be odd only for the last block)
  float* y;             // &y[m0 * ldy + n0]
  size_t ldy;
  int cols;             // valid output columns, 1..panels * 16
  const float* bias;    // &bias[n0] when flags has kTileBias
  const float* scale;   // int8 tiles: &scales[n0], multiplies the block's sums before the epilogue
  int flags;
};
using GemmTileFn = void (*)(const GemmTileArgs&);

struct GemmKernelSet {
  int mr = 1;                  // max rows per tile
  int np = 1;                  // max panels per tile
  GemmTileFn f32 = nullptr;
  GemmTileFn f16 = nullptr;
  GemmTileFn bf16 = nullptr;   // weights widened to f32 in registers
  GemmTileFn i8 = nullptr;     // int8 weights widened to f32 in registers, scaled per column at the end
  // Optional: widens `panels` bf16 panels (pair layout, starting at k0, `k` rows, k0 even) into
  // f32 k-major panels at dst (dst_stride floats apart), so large-M GEMMs run the f32 kernel on
  // a block converted once instead of widening it again for every row tile.
  void (*widen_bf16)(const uint16_t* src, size_t src_stride, int panels, int k, float* dst,
                     size_t dst_stride) = nullptr;
  // Required: widens `panels` int8 panels (k rows from src) into f32 k-major panels at dst,
  // each column multiplied by its scale (scale: [panels * 16], from the first panel's column 0).
  void (*widen_i8)(const int8_t* src, size_t src_stride, int panels, int k, const float* scale, float* dst,
                   size_t dst_stride) = nullptr;
};

// ---- attention ---------------------------------------------------------------------------
// One (token, head) job: attend q over keys [j_lo, j_hi] read through a block table.
struct AttnRowArgs {
  const float* q;             // [head_dim]
  const float* k_cache;       // base of the layer's K cache, already offset to this head
  const float* v_cache;       // same for V
  const int32_t* block_table; // this sequence's table
  int block_size;
  size_t row_stride;          // floats between consecutive cache rows (heads * head_dim)
  int j_lo, j_hi;             // inclusive key range
  int head_dim;
  float scale;
  float* out;                 // [head_dim]
};
// Up to kAttnMaxQueries rows of one (sequence, head), attended together (see attention_row.h).
constexpr int kAttnMaxQueries = 16;
using AttnRowsFn = void (*)(const AttnRowArgs* rows, int count);

// ---- per-ISA entry points ------------------------------------------------------------------
namespace portable {
GemmKernelSet gemm_kernels();
void gelu_new(float* x, size_t n);
void attention_rows(const AttnRowArgs* rows, int count);
void layernorm_row(const float* x, int dim, const float* gamma, const float* beta, float eps, float* y);
}  // namespace portable

namespace avx2 {
GemmKernelSet gemm_kernels();
void gelu_new(float* x, size_t n);
void attention_rows(const AttnRowArgs* rows, int count);
void layernorm_row(const float* x, int dim, const float* gamma, const float* beta, float eps, float* y);
}  // namespace avx2

namespace avx512 {
GemmKernelSet gemm_kernels();
void gelu_new(float* x, size_t n);
void attention_rows(const AttnRowArgs* rows, int count);
void layernorm_row(const float* x, int dim, const float* gamma, const float* beta, float eps, float* y);
}  // namespace avx512

}  // namespace gptneo::cpu
