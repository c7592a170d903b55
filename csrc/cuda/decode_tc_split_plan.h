// How the clustered decode tensor-core GEMM (gemm_decode_tc.cu, GN_GEMM_DECODE_TC_CLUSTER) divides
// y[m, n] = x[m, k] · W[n, k]ᵀ among blocks, and how a cluster adds its blocks' partial sums, as plain
// functions that compile for the host too (tests/cpu/decode_tc_split_plan.cpp replays the kernel's
// work split and reduction on the CPU against a plain GEMM).
//
// Why: the unsplit kernel gives each block 16-128 weight rows over all of k and stages all of x (m x k)
// in every block, so narrow layers (n = 2048: 16-32 blocks of 64-128 rows) either leave most SMs idle
// or, split into 16-row blocks to fill the GPU, read x from L2 once per 16 rows, more bytes than W
// itself; its time grew linearly with m (H200 run 4: 1.3B c_proj 55 us at m = 16, 198 us at m = 64,
// against 7.9 us for its 33.5 MB of weights at the copy rate). Here a block takes `rows` weight rows
// (128, 64 or 32: 8 warps, `ks` of them on each 16-row tile) over one k segment of `kseg` elements, and
// the `splits` blocks that share rows form a thread-block cluster: each stages only its segment of x,
// and they add their partials through distributed shared memory, in a fixed order (deterministic).
//
// Grid: (col_blocks, splits), cluster (1, splits, 1); block (c, s) takes rows [c * rows, +rows) and k
// [s * kseg, min(k, (s + 1) * kseg)). Warp w of a block takes tile w / ks (16 rows) and, of each x chunk's
// 32-element k-blocks, those numbered w % ks, w % ks + ks, ... (as the unsplit kernel).
#pragma once

#include "cuda/host_device.h"

namespace gncuda {

struct DecodeTcSplitPlan {
  int ks;          // warps per 16-row tile: 1, 2 or 4
  int rows;        // weight rows per block: 16 * warps / ks
  int col_blocks;  // ceil(n / rows)
  int kseg;        // k per split: a multiple of 32 (the last split may have less)
  int splits;      // ceil(k / kseg), 1..max_splits: the cluster size
};

// target_blocks: blocks the GPU should run at once (blocks per SM x SMs); max_splits: the largest
// cluster (8 is the portable limit); min_kseg: no split gets less k than this (a multiple of 32) unless
// k itself is smaller. The fewest warps per tile (most rows per block, least x re-read) whose grid
// reaches 3/4 of the target; 4 warps per tile when none does.
GN_HD DecodeTcSplitPlan plan_decode_tc_split(int n, int k, int warps, int target_blocks, int max_splits,
                                             int min_kseg) {
  DecodeTcSplitPlan p{};
  for (int ks = 1; ks <= 4; ks *= 2) {
    p.ks = ks;
    p.rows = 16 * (warps / ks);
    p.col_blocks = (n + p.rows - 1) / p.rows;
    int want = p.col_blocks >= target_blocks ? 1 : (target_blocks + p.col_blocks - 1) / p.col_blocks;
    const int by_k = k / min_kseg > 1 ? k / min_kseg : 1;
    if (want > by_k) want = by_k;
    if (want > max_splits) want = max_splits;
    const int per = (k + want - 1) / want;
    p.kseg = (per + 31) / 32 * 32;
    p.splits = (k + p.kseg - 1) / p.kseg;
    if (4LL * p.col_blocks * p.splits >= 3LL * target_blocks) break;
  }
  return p;
}

// The x chunk both decode tensor-core kernels stage at once: the longest (a multiple of 64 elements)
// whose nt * 8 rows, each padded by 32 elements, fit in smem_elems 16-bit elements.
GN_HD int decode_tc_chunk(int nt, int smem_elems) { return (smem_elems / (nt * 8) - 32) & ~63; }

// The k range of split s: [split_k_begin, split_k_end).
GN_HD int split_k_begin(const DecodeTcSplitPlan& p, int s) { return s * p.kseg; }
GN_HD int split_k_end(int k, const DecodeTcSplitPlan& p, int s) {
  return (s + 1) * p.kseg < k ? (s + 1) * p.kseg : k;
}

// A warp's partial sums in its block's shared memory: part[warp][j][c][lane] (floats), where
// acc[j][c] of lane (g, t) is the product sum of W row (tile row g, +8 for c >= 2) and x row
// 8j + 2t + (c & 1) (the mma m16n8k16 accumulator layout, roles swapped: W is A, x is B).
GN_HD int decode_tc_part_index(int warp, int j, int c, int lane, int nt) { return ((warp * nt + j) * 4 + c) * 32 + lane; }

// The outputs of a block's rows: e in [0, tiles * nt * 128), e = ((tile * nt + j) * 4 + c) * 32 + lane.
// Cluster rank r sums the range [decode_tc_reduce_begin(r), decode_tc_reduce_begin(r + 1)).
GN_HD int decode_tc_reduce_begin(int outputs, int splits, int rank) {
  return (int)((long long)outputs * rank / splits);
}
struct DecodeTcOutput {
  int tile, j, c, lane;  // whose accumulator (tile of the block, x tile j, register c, lane)
  int m, row;            // y's row (x row) and the weight row within the block (y's column - first row)
};
GN_HD DecodeTcOutput decode_tc_output(int e, int nt) {
  DecodeTcOutput o{};
  o.lane = e & 31;
  o.c = (e >> 5) & 3;
  o.j = (e >> 7) % nt;
  o.tile = (e >> 7) / nt;
  o.m = 8 * o.j + 2 * (o.lane & 3) + (o.c & 1);
  o.row = o.tile * 16 + (o.lane >> 2) + (o.c >= 2 ? 8 : 0);
  return o;
}

}  // namespace gncuda
