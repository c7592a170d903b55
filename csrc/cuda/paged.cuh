// Paged KV cache addressing shared by kv_write and attention (device side).
#pragma once
#include "cuda/common.cuh"

namespace gncuda {

// Index of the sequence that owns packed row t: the largest s with seq_starts[s] <= t.
__device__ __forceinline__ int seq_of_row(const int32_t* seq_starts, int num_seqs, int t) {
  int lo = 0, hi = num_seqs - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) >> 1;
    if (seq_starts[mid] <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

// seq_of_row for decode-like steps: when every sequence has one new token, row t is sequence t,
// which two independent loads confirm (one round trip instead of log2(num_seqs) dependent ones).
__device__ __forceinline__ int seq_of_row_decode(const int32_t* seq_starts, int num_seqs, int t) {
  if (t < num_seqs) {
    const int lo = seq_starts[t], hi = seq_starts[t + 1];
    if (lo <= t && t < hi) return t;
  }
  return seq_of_row(seq_starts, num_seqs, t);
}

// Query tile `tile` of a step whose sequences' rows are cut into tiles of tile_rows rows (sequence
// by sequence, in order): its sequence *s, the sequence's row range [*seq_begin, *seq_end) and the
// tile's first row *t0. False when `tile` is past the last one (grids are an upper bound).
__device__ __forceinline__ bool find_query_tile(const int32_t* seq_starts, int num_seqs, int tile_rows, int tile,
                                                int* s, int* seq_begin, int* seq_end, int* t0) {
  for (int q = 0; q < num_seqs; ++q) {
    const int b = seq_starts[q], e = seq_starts[q + 1];
    const int nt = (e - b + tile_rows - 1) / tile_rows;
    if (tile < nt) {
      *s = q;
      *seq_begin = b;
      *seq_end = e;
      *t0 = b + tile * tile_rows;
      return true;
    }
    tile -= nt;
  }
  return false;
}

// This block's (head, query tile) for a grid of (tiles, heads) blocks, heaviest tiles first. The
// hardware starts blocks in the order of their linear index (x fastest); under a causal mask a
// sequence's later query tiles see more keys, so handing out tile indices from the last down (all
// heads of a tile together) lets the longest blocks start in the first wave and the short ones fill
// in behind them, instead of the longest blocks starting last (longest-processing-time first).
// A bijection of the grid: every (head, tile) pair is served by exactly one block.
__device__ __forceinline__ void heavy_first_tile(int* head, int* tile) {
  const int linear = blockIdx.y * gridDim.x + blockIdx.x;
  *head = linear % gridDim.y;
  *tile = gridDim.x - 1 - linear / gridDim.y;
}

// Cache slot (block * block_size + row) of absolute position pos of sequence s; -1 when the
// position is past the sequence's block table.
__device__ __forceinline__ long long cache_slot(const int32_t* block_tables, int max_blocks, int block_size,
                                                int s, int pos) {
  int b = pos / block_size;
  if (pos < 0 || b >= max_blocks) return -1;
  return (long long)block_tables[(size_t)s * max_blocks + b] * block_size + (pos - b * block_size);
}

}  // namespace gncuda
