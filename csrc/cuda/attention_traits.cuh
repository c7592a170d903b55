// Tile parameters of the paged attention kernels (attention.cu).
#pragma once
#include "cuda/common.cuh"
#include "cuda/decode_split.h"

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

// The decode kernel's constants and split planner: cuda/decode_split.h.

struct AttentionParams {
  const float* q;
  int ldq;
  const void* k_cache;  // [blocks * block_size, heads * head_dim] of cache_dtype
  const void* v_cache;
  int cache_dtype;      // GN_DTYPE_*
  gn_cuda_batch b;
  int heads;
  int head_dim;
  int window;
  float scale;
  float* out;
  int ldo;
  int splits;
  int split_chunk;  // keys per split, a multiple of kKeyTile (tiled: from key 0; decode: from the
                    // first key of the query's window)
  float* part_o;    // [splits, tokens, heads, head_dim]
  float* part_ml;   // [splits, tokens, heads, 2] running max and sum
  bool vec4;        // K/V rows may be read 4 elements at a time (load4)
  int unroll = kDecodeUnroll;  // decode kernel: keys per group in flight (kDecodeUnroll or kDecodeUnrollWide)
  // Append mode (gn_cuda_attention_append; decode kernel only): every sequence has one row in the
  // step, and its new K/V rows (fp32 [tokens, ld_new], heads * head_dim wide) are not yet in the
  // cache: the block whose key range holds the row's position attends over them from registers,
  // rounded as the cache would round them, and writes them to the cache (k_dst, v_dst: the same
  // buffers as k_cache, v_cache), which no block of the launch reads at that slot.
  const float* k_new = nullptr;
  const float* v_new = nullptr;
  int ld_new = 0;
  void* k_dst = nullptr;
  void* v_dst = nullptr;
  // Append mode with splits: per (token, head), how many splits have written their partials; the block
  // that brings it to `splits` merges them (combine_splits) and sets it back to 0. The first
  // kSplitCounterBytes of the workspace: zero before the first append launch, zero after every one.
  int* split_done = nullptr;  // [tokens * heads]
};

// The head of a split plan's workspace kept for split_done (decode plans split only while
// tokens * heads < kDecodeBlocksPerSm * SMs, far below its 4096 counters).
constexpr size_t kSplitCounterBytes = GN_CUDA_ATTENTION_COUNTER_BYTES;

// gn_cuda_attention_append's checks and plan without the launch: p filled in for decode_attention_block
// (append mode, splits merged by their last block), *dmax the instantiation's head-dim bound (64 or 128).
// GN_CUDA_EUNSUPPORTED where gn_cuda_attention_append would refuse, or would need a combine launch, or
// the batch is empty. For the persistent decode layer (decode_layer.cu).
int prepare_attention_append(const float* d_q, int ldq, const float* d_k, const float* d_v, int ldkv,
                             void* d_k_cache, void* d_v_cache, int cache_dtype, const gn_cuda_batch* batch, int heads,
                             int head_dim, int window, float scale, float* d_out, int ldo, void* d_workspace,
                             size_t workspace_bytes, AttentionParams* p, int* dmax);

// Tensor-core prefill kernel (attention_tc.cu): blocks (grid.x) for a batch, and the launch with
// operand_dtype GN_DTYPE_BF16 or GN_DTYPE_F16 (no split, no workspace).
int attention_tc_tiles(const gn_cuda_batch* b);
int launch_attention_tc(const AttentionParams& p, int operand_dtype, cudaStream_t stream);

// Hopper wgmma prefill kernel (attention_wgmma.cu; sm_90a image): blocks (grid.x) for a batch, and the
// launch with operand_dtype GN_DTYPE_BF16 or GN_DTYPE_F16, a cache of that type, head_dim 64 or 128
// (no split, no workspace), with the plain or the pipelined tile schedule.
int attention_wgmma_tiles(const gn_cuda_batch* b);
int launch_attention_wgmma(const AttentionParams& p, int operand_dtype, bool pipelined, cudaStream_t stream);

}  // namespace gncuda
