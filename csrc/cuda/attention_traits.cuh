// Tile parameters of the paged attention kernels (attention.cu).
#pragma once

namespace gncuda {

// DMAX: largest head_dim the instantiation serves (lanes own DMAX/32 output dims each).
// QPW: queries per warp; a block has `warps` warps and serves warps*QPW consecutive queries
// of one sequence and one head, streaming the sequence's keys in tiles of kKeyTile.
struct AttentionConfig {
  int dmax;
  int queries_per_warp;
  int warps;
};

constexpr int kKeyTile = 32;           // keys per shared-memory tile (one per lane)
constexpr int kMinKeysPerSplit = 128;  // flash-decoding: never split finer than this
constexpr int kMaxSplits = 64;

// Prefill-like steps (several queries per sequence): 4 warps x 4 queries share each K/V tile.
constexpr AttentionConfig kPrefillConfig128 = {128, 4, 4};
constexpr AttentionConfig kPrefillConfig64 = {64, 4, 4};
// Decode-like steps (about one query per sequence): one warp per (query, head, split).
constexpr AttentionConfig kDecodeConfig128 = {128, 1, 1};
constexpr AttentionConfig kDecodeConfig64 = {64, 1, 1};

inline int attention_smem_bytes(const AttentionConfig& c) {
  const int bq = c.warps * c.queries_per_warp;
  return (bq * c.dmax + c.dmax * (kKeyTile + 1) + kKeyTile * c.dmax) * 4;
}

}  // namespace gncuda
