// Which matrix element each lane's register holds in the warp-level tensor-core operations the
// kernels use, as plain functions that compile for the host too, so host tests can check the index
// math of a kernel (csrc/tests/attention_tc_emulation.h) without a GPU.
//
// mma.sync.aligned.m16n8k16.row.col (bf16/f16 in, fp32 accumulate), PTX ISA "Matrix fragments for
// mma.m16n8k16 with floating point type"; lane = 4 * g + t (g = lane / 4 in 0..7, t = lane % 4):
//   A (16 x 16, row-major, 4 registers of 2 halves): reg i, half h -> row g + 8 * (i & 1),
//     col 2t + h + 8 * (i >> 1)
//   B (16 x 8, "col": k pairs contiguous, 2 registers): reg i, half h -> k 2t + h + 8i, n g
//   C/D (16 x 8, 4 floats): element r -> row g + 8 * (r >> 1), col 2t + (r & 1)
// gemm_tc.cu builds its fragments by exactly these rules and passed on an H200.
//
// ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16, PTX ISA "Warp-level matrix load instruction":
// lanes 8j..8j+7 give the addresses of rows 0..7 of matrix j (16 contiguous bytes each); with
// .trans, register j of lane (g, t) holds elements (row 2t, col g) and (row 2t + 1, col g) of matrix
// j, low half first (the transpose of the plain load's (row g, cols 2t, 2t + 1)).
#pragma once

#include "cuda/host_device.h"

namespace gncuda::frag {

struct RowCol {
  int row, col;
};

GN_HD int group_of(int lane) { return lane >> 2; }
GN_HD int thread_in_group(int lane) { return lane & 3; }

// A operand element held by (lane, reg, half).
GN_HD RowCol a_elem(int lane, int reg, int half) {
  return {group_of(lane) + 8 * (reg & 1), 2 * thread_in_group(lane) + half + 8 * (reg >> 1)};
}
// B operand element (row = k, col = n) held by (lane, reg, half).
GN_HD RowCol b_elem(int lane, int reg, int half) {
  return {2 * thread_in_group(lane) + half + 8 * reg, group_of(lane)};
}
// Accumulator element r of lane.
GN_HD RowCol c_elem(int lane, int r) { return {group_of(lane) + 8 * (r >> 1), 2 * thread_in_group(lane) + (r & 1)}; }

// ldmatrix .x4 over a 16 x 16 block stored row-major (rows = k, cols = n): matrix j covers rows
// 8 * (j & 1) .. +7 and cols 8 * (j >> 1) .. +7, so that with .trans registers {0, 1} are the B
// fragment of the n-tile at cols 0..7 and {2, 3} that of cols 8..15. The row address lane gives:
GN_HD RowCol ldmatrix_x4_row_addr(int lane) { return {(lane & 7) + 8 * ((lane >> 3) & 1), 8 * (lane >> 4)}; }
// The block element that register j (half h) of lane holds after ldmatrix .x4 .trans from those
// addresses.
GN_HD RowCol ldmatrix_x4_trans_elem(int lane, int j, int half) {
  return {8 * (j & 1) + 2 * thread_in_group(lane) + half, 8 * (j >> 1) + group_of(lane)};
}

}  // namespace gncuda::frag
