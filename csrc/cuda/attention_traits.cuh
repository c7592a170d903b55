// Tile parameters of the paged attention kernels (attention.cu).
#pragma once

namespace gncuda {

// DMAX: largest head_dim the instantiation serves (lanes own DMAX/32 output dims each).
// QPW: queries per warp; a block has `warps` warps and serves warps*QPW consecutive queries
// of one sequence and one head, streaming the sequence's keys in tiles of kKeyTile.
// The key range of a (query tile, head) is split across blocks (flash-decoding) while the grid
// has fewer than blocks_per_sm * SMs blocks, never into pieces under min_keys_per_split keys.
struct AttentionConfig {
  int dmax;
  int queries_per_warp;
  int warps;
  int blocks_per_sm;
  int min_keys_per_split;
};

constexpr int kKeyTile = 32;  // keys per shared-memory tile (one per lane)
constexpr int kMaxSplits = 64;

// Prefill-like steps (several queries per sequence): 2 warps x 8 queries share each K/V tile;
// each K element read from shared memory serves 8 queries.
constexpr AttentionConfig kPrefillConfig128 = {128, 8, 2, 4, 128};
constexpr AttentionConfig kPrefillConfig64 = {64, 8, 2, 4, 128};
// Decode-like steps (about one query per sequence): one warp per (query, head, split); many
// small blocks keep enough 16-byte loads in flight to stream the cache.
constexpr AttentionConfig kDecodeConfig128 = {128, 1, 1, 8, 64};
constexpr AttentionConfig kDecodeConfig64 = {64, 1, 1, 8, 64};

inline int attention_smem_bytes(const AttentionConfig& c) {
  const int bq = c.warps * c.queries_per_warp;
  return (bq * c.dmax + c.dmax * (kKeyTile + 1) + kKeyTile * c.dmax) * 4;
}

}  // namespace gncuda
