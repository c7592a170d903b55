// Index math of the Hopper wgmma prefill attention (attention_wgmma.cu): block and tile shapes, the
// shared-memory layouts its loads write (Q, K and V tiles), the matrix descriptors wgmma reads them
// through, and the accumulator → register-operand mapping of the probabilities. Plain C++ (no CUDA
// types), so that csrc/tests/cpu/attention_wgmma_layout.cpp checks every index on any machine against
// the layouts the PTX ISA documents; the kernel uses the same functions.
//
// Per key tile and warpgroup (64 query rows):
//   S[64 x kKeys]  = Q[64 x D] · Kᵀ   wgmma m64n128k16, A = Q (shared, K-major), B = K tile (shared,
//                                     K-major: a key's head dims are contiguous), D/16 k16 steps;
//   O[64 x D]     += P[64 x kKeys] · V wgmma m64nDk16, A = P (registers: S rounded to 16 bits),
//                                     B = V tile (shared, MN-major: along a key row the head dims,
//                                     i.e. N, are contiguous; the "transpose B" form), kKeys/16 steps.
// Q, K and V tiles share one layout: the head dims in column blocks of 64 (one 128-byte row of
// 16-bit values), each block [rows][64] with the 128-byte swizzle (wgmma_layout.h b_offset), blocks
// one after another. K-major descriptors step through it as the GEMM's do; the MN-major descriptor
// of V reads 8-key groups 1024 bytes apart (stride byte offset) and 64-dim column blocks
// rows * 128 bytes apart (leading byte offset).
#pragma once
#include <stdint.h>

#include "cuda/wgmma_layout.h"

namespace gncuda {
namespace wgattn {

constexpr int kWarpgroups = 2;               // consumer warpgroups, 64 query rows each
constexpr int kThreads = 128 * kWarpgroups;  // every thread also loads (cp.async, no producer warps)
constexpr int kQueries = 64 * kWarpgroups;   // query rows per block
constexpr int kKeys = 128;                   // keys per tile (the N of S = Q·Kᵀ)
constexpr int kColBlock = 64;                // head dims per 128-byte swizzled row
constexpr int kRowBytes = 128;

// Byte offset of element (row, d) in a [rows][D] tile of this layout (rows a multiple of 8).
GN_WGMMA_HD uint32_t tile_offset(int rows, int row, int d) {
  return (uint32_t)((d / kColBlock) * rows * kRowBytes) + wgmma::b_offset(row, d % kColBlock);
}

// Shared memory of a block for head dim D (64 or 128): the Q tile, two K and two V tiles (double
// buffered), the cache slots of two key tiles, per-warp query position ranges; each tile a whole
// number of 1024-byte swizzle atoms after the atom-aligned base.
template <int D>
struct Smem {
  static_assert(D == 64 || D == 128, "head dims of the wgmma attention");
  static constexpr int kQBytes = kQueries * D * 2;
  static constexpr int kKvBytes = kKeys * D * 2;
  static constexpr int kQ = 0;
  static constexpr int kK = kQ + kQBytes;          // [2][kKvBytes]
  static constexpr int kV = kK + 2 * kKvBytes;     // [2][kKvBytes]
  static constexpr int kSlots = kV + 2 * kKvBytes; // long long [2][kKeys]
  static constexpr int kRanges = kSlots + 2 * kKeys * 8;  // int [warps][2]
  static constexpr int kEnd = kRanges + kThreads / 32 * 2 * 4;
  static constexpr int kBytes = kEnd + wgmma::kSwizzleAtomBytes;  // + slack to align the base
  static_assert(kQBytes % wgmma::kSwizzleAtomBytes == 0 && kKvBytes % wgmma::kSwizzleAtomBytes == 0, "whole atoms");
  static_assert(kBytes <= 227 * 1024, "fits an sm_90 block's shared memory");
  static constexpr int kChunks = kKeys * D / 8;  // 16-byte cp.async chunks of one K (or V) tile
  static_assert(kChunks % kThreads == 0, "whole chunks per thread");
};

// 16-byte chunk c (0 .. rows*D/8 - 1) of a [rows][D] tile: its row and first head dim (8 of them).
template <int D>
GN_WGMMA_HD int chunk_row(int c) { return c / (D / 8); }
template <int D>
GN_WGMMA_HD int chunk_d(int c) { return (c % (D / 8)) * 8; }

// A of S = Q·Kᵀ for warpgroup g, k16 step j (head dims 16j .. 16j+15): its 64 rows of the Q tile.
GN_WGMMA_HD uint64_t q_desc(uint32_t q_base, int g, int j) {
  const uint32_t at = q_base + (uint32_t)((j / 4) * kQueries * kRowBytes + g * 64 * kRowBytes) +
                      (uint32_t)((j % 4) * wgmma::kK16StepBytes);
  return wgmma::make_desc(at, 16, wgmma::kSwizzleAtomBytes, wgmma::kDescSwizzle128);
}
// B of S = Q·Kᵀ (n = key, k = head dim), k16 step j: the K tile, K-major as the GEMM's W tile.
GN_WGMMA_HD uint64_t k_desc(uint32_t k_base, int j) {
  const uint32_t at = k_base + (uint32_t)((j / 4) * kKeys * kRowBytes + (j % 4) * wgmma::kK16StepBytes);
  return wgmma::make_desc(at, 16, wgmma::kSwizzleAtomBytes, wgmma::kDescSwizzle128);
}
// B of O += P·V (k = key, n = head dim), k16 step kc (keys 16kc .. 16kc+15): the V tile read
// MN-major. Leading byte offset: from one 64-dim column block to the next; stride byte offset:
// from one 8-key group to the next. The step's start is 2048 bytes per step, atom aligned.
GN_WGMMA_HD uint64_t v_desc(uint32_t v_base, int kc) {
  const uint32_t at = v_base + (uint32_t)(kc * 16 * kRowBytes);
  return wgmma::make_desc(at, (uint32_t)(kKeys * kRowBytes), wgmma::kSwizzleAtomBytes, wgmma::kDescSwizzle128);
}

// --- register fragments (lane = thread % 32, warp = warp within the warpgroup) --------------------
// A of m64nNk16 from registers, 16-bit types: register q (0..3) of a lane holds two consecutive k
// of row a_row(warp, lane, q): k = a_k(lane, q) and a_k + 1 (the low half first).
GN_WGMMA_HD int a_row(int warp, int lane, int q) { return 16 * warp + (lane >> 2) + 8 * (q & 1); }
GN_WGMMA_HD int a_k(int lane, int q) { return 2 * (lane & 3) + 8 * (q >> 1); }
// P's A register q for k16 step kc packs S accumulators p_acc(kc, q) and p_acc(kc, q) + 1: the D
// fragment of S (wgmma_layout.h d_row / d_col) holds, for keys 16kc .. 16kc+15, exactly the
// elements that A register q wants, in the same order.
GN_WGMMA_HD int p_acc(int kc, int q) { return 8 * kc + 2 * q; }

// --- the schedule over key tiles (tile t: keys kb + t kKeys ..) -------------------------------------
// Tile t's K and V live in buffer t % 2 of their kind, its cache slots in slot buffer t % 2. Iteration
// t (after its first barrier) stages K(staged_k(t)) and V(staged_v(t, pipelined)) — past the last tile:
// nothing — then waits for the group of iteration t - 1 (the prologue's for t = 0), which holds K(t) and
// the V its products read:
//  - plain: K(t+1), V(t+1); S(t) and P(t)·V(t) issued and waited for within iteration t. The prologue
//    stages K(0), V(0).
//  - pipelined: K(t+1), V(t); S(t) then P(t-1)·V(t-1) issued in iteration t, the softmax of tile t
//    between the wait for S(t) and the wait for P(t-1)·V(t-1); P(T-1)·V(T-1) after the last iteration
//    (V(T-1) staged in it). The prologue stages K(0).
// Every wgmma a buffer feeds is waited for before the end of the iteration that issues it, and a buffer
// is restaged only after the next first barrier. tests/cpu/attention_wgmma_layout.cpp plays it through.
GN_WGMMA_HD constexpr int tile_buffer(int t) { return t & 1; }
GN_WGMMA_HD constexpr int staged_k(int t) { return t + 1; }
GN_WGMMA_HD constexpr int staged_v(int t, bool pipelined) { return pipelined ? t : t + 1; }

// --- masking ---------------------------------------------------------------------------------------
// Whether every key of [kt, kt + kKeys) is visible to the query at position pos (causal, and inside
// the local window when window > 0): such a tile needs no mask for that row.
GN_WGMMA_HD bool tile_fully_visible(int kt, int pos, int window) {
  return pos >= 0 && kt + kKeys - 1 <= pos && (window == 0 || kt > pos - window);
}

}  // namespace wgattn
}  // namespace gncuda
