// Tile parameters and internal launchers of the GEMM kernels (gemm_tc.cu, gemm_gemv.cu,
// gemm_gemv_stream.cu, gemm_decode_tc.cu, gemm_wgmma_ss.cu, gemm_simt.cu); gemm.cu selects one per call.
#pragma once
#include "cuda/common.cuh"

namespace gncuda {

// Tensor-core GEMM (mma.sync m16n8k16, bf16/f16 operands, fp32 accumulate). x stays fp32 in
// shared memory (cp.async needs no conversion) and is rounded to the weight dtype when the A
// fragments are built; W tiles arrive by cp.async in kStages stages. Two tile shapes: 128x128
// (8 warps, 64x32 per warp) for large problems, 64x64 (4 warps, 32x32 per warp) when the large
// tiles would not give every SM a block.
template <int BM, int BN, int WARPS_M, int WARPS_N>
struct TcTile {
  static constexpr int kBM = BM, kBN = BN, kBK = 32;
  static constexpr int kStages = 3;
  static constexpr int kWarpsM = WARPS_M, kWarpsN = WARPS_N;
  static constexpr int kThreads = 32 * kWarpsM * kWarpsN;
  static constexpr int kWM = kBM / kWarpsM, kWN = kBN / kWarpsN;
  static constexpr int kMTiles = kWM / 16, kNTiles = kWN / 8;
  static constexpr int kALd = kBK + 8;  // floats per A row in smem (bank-conflict-free float2 reads)
  static constexpr int kBLd = kBK + 8;  // 16-bit elements per B row in smem
  static constexpr int kAStageBytes = kBM * kALd * 4;
  static constexpr int kBStageBytes = kBN * kBLd * 2;
  static constexpr int kSmemBytes = kStages * (kAStageBytes + kBStageBytes);
  static_assert(kBM * kBK / 4 % kThreads == 0 && kBN * kBK / 8 % kThreads == 0, "whole cp.async chunks per thread");
};
using TcTraits = TcTile<128, 128, 2, 4>;
using TcSmallTraits = TcTile<64, 64, 2, 2>;

// Weight-streaming GEMV for decode (m <= kMaxM per launch): each warp owns R weight rows and
// reads them with 16-byte loads, U per row in flight (R*U loads per thread); x is staged in
// shared memory in chunks of kChunk columns. Each x value read from shared memory serves R rows,
// so batched decode (m >= kBatchedFromM) uses more rows per warp to cut shared-memory traffic.
struct GemvTraits {
  static constexpr int kMaxM = 8;        // rows per launch
  static constexpr int kMaxSlicedM = 64; // larger m runs as ceil(m / kMaxM) launches (W re-read)
  static constexpr int kWarps = 4;
  static constexpr int kChunk = 1024;
  static constexpr int kRowsSmallM = 2, kUnrollSmallM = 4;  // m < kBatchedFromM
  static constexpr int kRowsBatched = 4, kUnrollBatched = 2;
  static constexpr int kBatchedFromM = 4;
  // Row groups are split over up to kWarps warps until the grid has this many warps per SM.
  static constexpr int kTargetWarpsPerSm = 16;
};

// Streaming decode GEMV (gemm_gemv_stream.cu, m <= kMaxM): the grid is what the GPU holds at once,
// each warp streams a fixed run of row groups (gemv_stream_plan.h) and keeps the next item's loads
// in flight while it multiplies the current one; the first loads are issued before x is staged (and,
// on a stream marked for programmatic launch, before the previous kernel has finished). x rows are
// staged whole (m * k fp32 in shared memory). Rows per group: 1 up to 2 x rows, 2 for 3-4, 4 for 5-8
// (each x value read from shared memory then serves that many rows, which keeps the shared-memory
// bytes per weight byte at or under 4); loads per lane and item: gemv_stream_loads_per_row(R) per row.
struct GemvStreamTraits {
  static constexpr int kWarps = 8;              // per block
  static constexpr int kMinBlocksPerSm = 2;     // __launch_bounds__: at most 128 registers
  static constexpr int kMaxM = 8;
  static constexpr int kTwoRowsFromM = 3;
  static constexpr int kFourRowsFromM = 5;
  static constexpr int kMaxSmemBytes = 96 * 1024;  // m * k * 4 bytes of staged x (two blocks per SM on sm_80/90)
};

// Batched decode on tensor cores (gemm_decode_tc.cu): W is the mma A operand read straight from
// global memory (16 rows per warp, kUnroll 32-wide k-blocks in flight), x the B operand staged
// as WT in kSmemElems of shared memory. Serves 1 <= m <= kMaxM; selected for kGemvMaxM < m.
struct DecodeTcTraits {
  static constexpr int kWarps = 8;
  static constexpr int kUnroll = 4;
  static constexpr int kSmemElems = 20480;  // 40 KB
  static constexpr int kMaxM = 64;
  // From this many rows, bf16/f16 weights of wide layers (n >= 2k: qkv, c_fc, lm_head) leave the
  // GEMV for the tensor cores (this kernel, or the tile kernel where its grid fills the GPU). H200
  // run 2: the GEMV's time grows about linearly with m (1.3B qkv 10.6 us at m=1, 56.5 at m=8) while
  // this kernel pads to 16 rows (1.3B qkv 20.4 us at m=16, c_fc 21 vs 58 at m=8; lm_head on the tile
  // kernel 130 vs 303; 125M qkv/c_fc 9.4 vs 19) — crossover near m=2.5-3. Narrow layers (out_proj,
  // c_proj) gain little or lose below m=8 (1.3B out_proj 17 vs 22 at m=8 but 9 at m=1; 125M c_proj
  // 23 vs 24), so they stay on the GEMV. 3 is also where decode-graph padding cannot change the
  // kernel: batches of 1-2 pad to 1-2 rows, batches of 3 or more to 4 or more.
  static constexpr int kFromM = 3;
  // 16-row tiles are split over up to kWarps warps until the grid has this many warps per SM.
  static constexpr int kTargetWarpsPerSm = 8;
  // GN_GEMM_DECODE_TC_CLUSTER (decode_tc_split_plan.h): blocks per SM its grid aims at (16 warps: 64 KB
  // of weight loads in flight per SM), the largest cluster (the portable limit) and the least k per split.
  static constexpr int kClusterBlocksPerSm = 2;
  static constexpr int kMaxClusterSplits = 8;
  static constexpr int kMinClusterKseg = 256;
};

// Plain fp32 FMA tiles: any dtype, any shape or alignment.
struct SimtTraits {
  static constexpr int kBM = 64, kBN = 64, kBK = 16;
  static constexpr int kThreads = 256;
};

struct GemmArgs {
  const float* x;
  int m, ldx;
  const void* w;
  int w_dtype, n, k;
  const float* bias;
  float* y;
  int ldy, epilogue;
  // GEMV only: when ln_gamma is set, each staged x row is layer-normed first (gamma, beta: [k]).
  const float* ln_gamma = nullptr;
  const float* ln_beta = nullptr;
  float ln_eps = 0.f;
  // wgmma kernels only (gn_cuda_gemm_x16): x16, when set, is x already rounded to W's type ([m, k],
  // dense, in place of x); y16, when set, receives y rounded to W's type ([m, n], row stride ldy, in
  // place of y; epilogues without accumulate).
  const void* x16 = nullptr;
  void* y16 = nullptr;
};

int launch_gemm_tc(const GemmArgs& a, bool small_tiles, cudaStream_t stream);
int launch_gemm_gemv(const GemmArgs& a, cudaStream_t stream);
// Whether the GEMV can layer-norm x itself: m <= GemvTraits::kMaxM and all of k in one x chunk.
bool gemv_can_layernorm(int m, int k);
int launch_gemm_decode_tc(const GemmArgs& a, cudaStream_t stream);
// The same kernel with k split over thread-block clusters (compute capability 9.0; GN_CUDA_EUNSUPPORTED
// where the device cannot launch clusters: decode_tc_cluster_available()).
int launch_gemm_decode_tc_cluster(const GemmArgs& a, cudaStream_t stream);
bool decode_tc_cluster_available();
// The streaming GEMV (ln_gamma set: layer-norm x first); bf16/f16 weights.
bool gemv_stream_serves(int m, int k, int w_dtype);
int launch_gemm_gemv_stream(const GemmArgs& a, cudaStream_t stream);

int launch_gemm_simt(const GemmArgs& a, cudaStream_t stream);
// Hopper warpgroup-MMA GEMM (gemm_wgmma_ss.cu; tile constants in wgmma_layout.h; x rounded once into a
// stream-ordered workspace, both operands from shared memory): bf16/f16 weights, the same requirements
// as the tensor-core kernel, and the sm_90a image loaded on the current device (wgmma_image_loaded():
// decided once per device without launching or synchronizing).
int launch_gemm_wgmma_ss(const GemmArgs& a, cudaStream_t stream);
bool wgmma_image_loaded();
// gemm_wgmma_tma.cu: the same tiles fed by the copy engine (TMA) from a producer warpgroup; same
// requirements, plus the driver's cuTensorMapEncodeTiled (wgmma_tma_available()). Experimental.
// kernel: GN_GEMM_WGMMA_TMA (a block per output tile), _PERSISTENT (a block per SM taking several),
// _CLUSTER (persistent clusters of two blocks sharing each W tile by multicast).
int launch_gemm_wgmma_tma(const GemmArgs& a, int kernel, cudaStream_t stream);
bool wgmma_tma_available();

}  // namespace gncuda
