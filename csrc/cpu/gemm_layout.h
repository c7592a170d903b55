// Packed weight layout shared by pack_weight and the GEMM microkernels.
//
// W[n, k] (n < N output features, k < K inputs) is cut into panels of kPanelCols = 16 output
// columns; the last panel is zero-padded. K is padded to an even Kp (zero weights). Panel p
// starts at element p * Kp * 16 and holds, for its 16 columns c = n - 16p:
//   f32, f16 : element k * 16 + c                       ("k-major": one 16-wide row per k)
//   bf16     : element (k / 2) * 32 + c * 2 + (k % 2)    ("k-pair": columns hold (k, k+1) pairs)
//   int8     : element k * 16 + c, one signed byte each  ("k-major", 16 bytes per k)
// so a microkernel streams one panel contiguously, 16 columns per k (per k pair for bf16).
// In the bf16 pair layout the two bf16 of a 32-bit lane are split into f32 with a shift and a
// mask (no cross-lane shuffles); it is also the operand layout of AVX512_BF16's vdpbf16ps.
// int8 panels hold q = round(W / scale_n) in [-127, 127] (symmetric, per output channel n,
// scale_n = max_k |W[n, k]| / 127, or 1 for an all-zero row); W[n, k] ~= q * scale_n. The
// scales are a separate float array of panels * 16 entries (padding columns: 1, weights 0).
// f32/f16/bf16 panels start on 64-byte boundaries (Kp * 16 * elem_size is a multiple of 64);
// int8 panels on 32-byte boundaries (64 when Kp is a multiple of 4, as in every GPT-Neo).
#pragma once
#include <cstddef>

namespace gptneo::cpu {

constexpr int kPanelCols = 16;

inline int padded_k(int k) { return (k + 1) & ~1; }
inline int panel_count(int n) { return (n + kPanelCols - 1) / kPanelCols; }
// Elements between the starts of consecutive panels.
inline size_t panel_stride(int k) { return static_cast<size_t>(padded_k(k)) * kPanelCols; }

}  // namespace gptneo::cpu
