// bf16 and int8-weight GEMM on Intel AMX tiles (see gemm_amx.cpp). Only call when
// amx_bf16_usable() is true and w.dtype is kBF16 or kI8 with w.k a multiple of kAmxK; gemm()
// routes suitable calls here.
#pragma once
#include "cpu/ops.h"

namespace gptneo::cpu::amx {

constexpr int kAmxK = 32;  // K per tile step: one 64-byte row of bf16 pairs

// y[m, n] (ldy) = epilogue(x[m, k] (ldx) · Wᵀ + bias), x rounded to bf16 (nearest even) first;
// products accumulate in f32 (int8 weights: W = q * scale, the scale applied to each sum).
// tile_flags: GemmTileFlags (kTileLoadY, kTileBias, kTileGelu).
void gemm(const float* x, int m, int ldx, const PackedWeight& w, const float* bias, float* y, int ldy,
               int tile_flags, ThreadPool& pool);

// Runs iters x 4 independent TDPBF16PS (16x16x32 bf16 each) on the calling thread: the tile unit's
// peak, for the machine limits (16 * 16 * 32 * 2 FLOP per instruction).
void dp_chains(long iters);
constexpr double kFlopsPerTileDp = 16.0 * 16.0 * 32.0 * 2.0;

}  // namespace gptneo::cpu::amx
