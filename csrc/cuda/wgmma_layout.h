// Index math of the Hopper wgmma GEMM (gemm_wgmma_ss.cu): tile shape, the shared-memory layouts
// written by its cp.async loads, the wgmma matrix descriptors, the pipeline schedule and the
// accumulator fragment mapping. Plain C++ (no CUDA types) so that the host test csrc/tests/cpu/wgmma_layout.cpp checks
// every index against the PTX ISA's documented layouts on any machine; the kernel uses the same
// functions.
//
// References (PTX ISA, "Asynchronous Warpgroup Level Matrix Multiply-Accumulate Instructions"):
//  - "Register Fragments" (9.7.15.5.1.1 in ISA 8.x): the fp32 accumulator D of .m64nNk16.
//  - "Shared Memory Matrix Layout" (9.7.15.5.1.2): K-major operands, the 128-byte swizzle mode.
//  - "Matrix Descriptor Format" (9.7.15.5.1.2.2 / "Matrix Descriptor"): the 64-bit descriptor.
#pragma once
#include <stdint.h>

#if defined(__CUDACC__)
#define GN_WGMMA_HD __host__ __device__ __forceinline__
#else
#define GN_WGMMA_HD inline
#endif

namespace gncuda {
namespace wgmma {

// Block tile: kBM rows of x (two consumer warpgroups of 64 rows, one wgmma m64nBNk16 each per
// k16 step) by BN columns of y (BN = 128 or 256), k in steps of kBK.
constexpr int kBM = 128;
constexpr int kBK = 64;            // one 128-byte swizzle row of 16-bit elements
constexpr int kWarpgroups = 2;
constexpr int kThreads = 128 * kWarpgroups;
constexpr int kSwizzleRowBytes = 128;               // bytes of one B row of the tile (kBK x 2)
constexpr int kSwizzleAtomBytes = 8 * kSwizzleRowBytes;  // 8 rows: the pattern repeats every 1024 B
constexpr int kK16StepBytes = 16 * 2;               // a k16 step is 32 bytes along a B row
// Stub launch bound of the kernel in images without the sm_90a feature set (wgmma_common.cuh): the
// loaded image reports maxThreadsPerBlock = kStubThreads there and kThreads in the real one.
constexpr int kStubThreads = 32;

// --- B (W tile, [BN rows = n][kBK = k] of 16-bit elements), K-major, 128-byte swizzle -------------
// Row r occupies bytes [128 r, 128 r + 128) of the stage; its 16-byte chunk c (elements 8c..8c+7)
// sits at chunk position c ^ (r % 8). With the stage base 1024-byte aligned this is exactly the
// hardware's 128B swizzle of the plain row-major address (bits [4,7) ^= bits [7,10)).
GN_WGMMA_HD uint32_t b_offset(int row, int k) {
  return (uint32_t)(row * kSwizzleRowBytes + ((((k >> 3) ^ (row & 7)) & 7) << 4) + ((k & 7) << 1));
}
// cp.async chunk `c` (0 .. BN*8-1) of a B stage: which W row and which 8-element k chunk.
GN_WGMMA_HD int b_chunk_row(int c) { return c >> 3; }
GN_WGMMA_HD int b_chunk_k(int c) { return (c & 7) * 8; }

// --- the matrix descriptor of B for k16 step j (0..3) of a stage ----------------------------------
// bits 0-13 start address >> 4, 16-29 leading byte offset >> 4 (unused by swizzled K-major layouts
// whose k16 step lies inside one swizzle row; set to 1), 32-45 stride byte offset >> 4 (1024: from
// one 8-row group to the next), 49-51 base offset (0: the pattern starts 1024-byte aligned),
// 62-63 swizzle mode (1 = 128-byte swizzle).
constexpr uint64_t kDescSwizzle128 = 1;
GN_WGMMA_HD uint64_t make_desc(uint32_t smem_addr, uint32_t lbo_bytes, uint32_t sbo_bytes, uint64_t swizzle) {
  return (uint64_t)((smem_addr & 0x3FFFFu) >> 4) | ((uint64_t)((lbo_bytes & 0x3FFFFu) >> 4) << 16) |
         ((uint64_t)((sbo_bytes & 0x3FFFFu) >> 4) << 32) | (swizzle << 62);
}
GN_WGMMA_HD uint64_t b_desc(uint32_t stage_addr, int step) {
  return make_desc(stage_addr + (uint32_t)(step * kK16StepBytes), 16, kSwizzleAtomBytes, kDescSwizzle128);
}

// --- A (x tile, [kBM rows][kBK] 16-bit) ---------------------------------------------------------------
// x is rounded to the weight's 16-bit type by a conversion pass first, so the A tile ([kBM rows][kBK]
// 16-bit) is K-major with the 128-byte swizzle, laid out exactly as a B tile of kBM rows; warpgroup g
// reads its 64 rows (8 KB, a whole number of swizzle atoms) through its own descriptor.
constexpr int kA16StageBytes = kBM * kSwizzleRowBytes;
GN_WGMMA_HD uint32_t a16_offset(int row, int k) { return b_offset(row, k); }
GN_WGMMA_HD int a16_chunk_row(int c) { return b_chunk_row(c); }
GN_WGMMA_HD int a16_chunk_k(int c) { return b_chunk_k(c); }
GN_WGMMA_HD uint64_t a16_desc(uint32_t stage_addr, int warpgroup, int step) {
  return b_desc(stage_addr + (uint32_t)(warpgroup * 64 * kSwizzleRowBytes), step);
}

// Its pipeline over S stages (prefetch distance S - 2, one wgmma group in flight): the prologue loads
// tiles 0 .. S-3; iteration kt waits until at most S - 3 cp.async groups are pending (tile kt has then
// landed), loads tile kt + S - 2 into that tile's slot (the slot tile kt - 2 used), and issues tile
// kt's wgmmas; tile t lives in slot t % S. tests/cpu/wgmma_layout.cpp plays the schedule through.
GN_WGMMA_HD constexpr int ss_prologue_tiles(int stages) { return stages - 2; }
GN_WGMMA_HD constexpr int ss_pending_groups(int stages) { return stages - 3; }
GN_WGMMA_HD constexpr int ss_refill_tile(int kt, int stages) { return kt + stages - 2; }
GN_WGMMA_HD constexpr int ss_slot(int tile, int stages) { return tile % stages; }

template <int BN>
struct TileSS {
  static_assert(BN == 128 || BN == 256, "wgmma N of the block tile");
  static constexpr int kBN = BN;
  // One wgmma group stays in flight across k-tiles: stages = prefetch distance + 2.
  static constexpr int kStages = BN == 256 ? 4 : 6;
  static constexpr int kBStageBytes = BN * kSwizzleRowBytes;
  static constexpr int kStageBytes = kA16StageBytes + kBStageBytes;  // A then B, both 1024-byte multiples
  static constexpr int kAcc = BN / 2;
  static constexpr int kSmemBytes = kStages * kStageBytes + kSwizzleAtomBytes;
  static constexpr int kAChunks = kBM * kBK / 8 / kThreads;  // 16-byte cp.async of 16-bit x per thread
  static constexpr int kBChunks = BN * kBK / 8 / kThreads;
  static_assert(kBM * kBK / 8 % kThreads == 0 && BN * kBK / 8 % kThreads == 0, "whole chunks");
  static_assert(kSmemBytes <= 227 * 1024, "fits an sm_90 block's shared memory");
  // Shared addresses of stage s from the atom-aligned base: its A tile, then its B tile.
  GN_WGMMA_HD static constexpr uint32_t a_stage(uint32_t base, int s) { return base + (uint32_t)(s * kStageBytes); }
  GN_WGMMA_HD static constexpr uint32_t b_stage(uint32_t base, int s) { return a_stage(base, s) + kA16StageBytes; }
};

// --- the TMA kernel (gemm_wgmma_tma.cu): a producer warpgroup and two consumer warpgroups -----------
// The copy engine writes the A and B tiles of a stage in exactly the layouts above (a box of 64
// 16-bit elements by kBM or BN rows with the 128-byte swizzle, stage bases 1024-byte aligned), so the
// descriptors are the shared-operand kernel's. Each stage has a "full" mbarrier (one arrival by the
// producer, plus the stage's bytes from the copies) and an "empty" one (one arrival per consumer
// warp once the wgmmas that read the stage have retired). Tile t uses stage t % S in round t / S:
// the consumers wait for the full barrier's phase of parity round % 2; the producer, before
// refilling, for the empty barrier's phase of the previous round, parity (round - 1) % 2, which for
// round 0 is the parity a fresh barrier reports complete at once. A consumer releases tile t - 1's
// stage after wgmma.wait_group 1 in iteration t (tile t's wgmmas stay in flight).
constexpr int kTmaConsumerWarps = 8;               // two consumer warpgroups
constexpr int kTmaThreads = 128 * (1 + kWarpgroups);  // producer warpgroup first
GN_WGMMA_HD constexpr int tma_stage(int tile, int stages) { return tile % stages; }
GN_WGMMA_HD constexpr uint32_t tma_full_parity(int tile, int stages) { return (uint32_t)(tile / stages) & 1u; }
GN_WGMMA_HD constexpr uint32_t tma_empty_parity(int tile, int stages) { return ((uint32_t)(tile / stages) & 1u) ^ 1u; }
// Output tiles (128 x BN) are handed out in units of kCluster neighbouring m tiles of one n tile (the
// blocks of a cluster, which share that W tile: each copies 1/kCluster of its rows into every block of
// the cluster), numbered m fastest so that units running side by side share W tiles too: unit u is m
// tiles kCluster (u % units_m) + rank and n tile u / units_m, with units_m = ceil(tiles_m / kCluster)
// (a row past the last m tile reads the last one's rows again, and its block stores nothing). Cluster c of `clusters` takes units c,
// c + clusters, c + 2 clusters, ...: one each when the grid has a block per tile (GN_GEMM_WGMMA_TMA),
// several when it has about one per SM (GN_GEMM_WGMMA_TMA_PERSISTENT, _CLUSTER). The k-tile counter
// that picks the stage and the parities above (their "tile" argument) runs on across a block's output
// tiles, so the producer fills the next output tile's stages while the consumers still run the
// previous one's epilogue. A consumer releases an output tile's last stage after wgmma.wait_group 0,
// before its epilogue; in a cluster it releases every stage in every block of the cluster (the copies
// that refill it write into all of them), so each empty barrier counts kTmaConsumerWarps x kCluster.
GN_WGMMA_HD constexpr int tma_units_m(int tiles_m, int cluster) { return (tiles_m + cluster - 1) / cluster; }
GN_WGMMA_HD constexpr int tma_tile_row(int unit, int units_m, int cluster, int rank) {
  return cluster * (unit % units_m) + rank;
}
GN_WGMMA_HD constexpr int tma_tile_col(int unit, int units_m) { return unit / units_m; }
// The rows of a B stage that block `rank` copies (for the whole cluster): [rank BN / cluster, ...),
// starting at a whole swizzle atom (BN / cluster is a multiple of 8 rows).
GN_WGMMA_HD constexpr int tma_b_part_row(int bn, int cluster, int rank) { return rank * (bn / cluster); }

// The shared-operand kernel's stages (TileSS), then the barriers.
template <int BN>
struct TileTma : TileSS<BN> {
  using Base = TileSS<BN>;
  static constexpr int kBarrierBytes = 2 * Base::kStages * 8;  // full[kStages], then empty[kStages]
  static constexpr int kSmemBytes = Base::kStages * Base::kStageBytes + kBarrierBytes + kSwizzleAtomBytes;
  static_assert(kSmemBytes <= 227 * 1024, "fits an sm_90 block's shared memory");
};

// --- accumulator fragments (lane = thread % 32, warp = warp index within the warpgroup) ----------
// D (fp32) of m64nNk16: accumulator i (0 .. N/2-1) of lane in warp w is element
// (16w + lane/4 + 8 ((i/2) % 2), 8 (i/4) + 2 (lane % 4) + i % 2).
GN_WGMMA_HD int d_row(int warp, int lane, int i) { return 16 * warp + (lane >> 2) + 8 * ((i >> 1) & 1); }
GN_WGMMA_HD int d_col(int lane, int i) { return 8 * (i >> 2) + 2 * (lane & 3) + (i & 1); }

}  // namespace wgmma
}  // namespace gncuda
