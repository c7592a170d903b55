// Hopper GEMM fed by the copy engine: y[m, n] = epilogue(x[m, k] · W[n, k]ᵀ + b), bf16/f16 weights,
// fp32 accumulation, sm_90a only (GN_GEMM_WGMMA_TMA; experimental: GPTNEO_CUDA_WGMMA=tma makes the
// dispatcher pick it, until a GPU run has verified and measured it; csrc/cuda/NOTES.md round 8).
//
// Why: the shared-operand kernel (gemm_wgmma_ss.cu) reached 43-49% of cuBLAS at the 1.3B shapes on an
// H200. Its threads both issue the loads and the wgmmas, keep two k-tiles of loads ahead, and end
// every k-tile at a block-wide barrier. Here (the structure of Hopper's fast GEMMs):
//  - one thread of a producer warpgroup issues two bulk tensor copies (TMA) per k-tile, A (x rounded
//    to 16 bits, as gemm_wgmma_ss.cu: wgmma_x16.cuh) and B (W), straight into the 128B-swizzled
//    stage layouts the descriptors read (wgmma_layout.h); tails come back zero-filled by the engine;
//  - each stage has a full and an empty mbarrier (tma.cuh): consumers wait for the bytes of their
//    stage, the producer for the consumers' release, and no block-wide barrier is left in the loop;
//  - the producer warpgroup gives its registers to the two consumer warpgroups (setmaxnreg 40 / 232);
//  - all stages minus one can be in flight ahead of the wgmmas (BN 256: 4 stages of 48 KB; BN 128: 6
//    of 32 KB), against two in gemm_wgmma_ss.cu.
//  - persistent (GN_GEMM_WGMMA_TMA_PERSISTENT; GPTNEO_CUDA_WGMMA=persistent, experimental too): a block
//    per SM walks several output tiles with one pipeline, so the producer loads the next tile's first
//    stages while the consumers write the previous tile's results, and no block starts (barrier set-up,
//    first loads' latency) after the first wave. The same kernel with a block per tile is the plain one.
// Block: 384 threads (producer warpgroup, then two consumer warpgroups of 64 rows each), tile
// 128 x BN. Same numerics as gemm_tc.cu and gemm_wgmma_ss.cu. Requires k % 8 == 0, ldx % 4 == 0,
// 16-byte aligned x and W, the sm_90a image, and the driver's cuTensorMapEncodeTiled.
#include <cuda.h>
#include <cudaTypedefs.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "cuda/cluster.cuh"
#include "cuda/gemm_traits.cuh"
#include "cuda/tma.cuh"
#include "cuda/wgmma_common.cuh"
#include "cuda/wgmma_layout.h"
#include "cuda/wgmma_ops.cuh"
#include "cuda/wgmma_x16.cuh"

namespace gncuda {
namespace {

using wgmma::kBK;
using wgmma::kBM;

// tm_x: x16 [m, k] of WT, boxes of [kBM rows][kBK]; tm_w: W [n, k] of WT, boxes of [BN / C rows][kBK];
// both 128B-swizzled. y and the epilogue as GemmArgs. C: blocks per cluster (1, or 2 launched with a
// cluster dimension of 2: the two blocks take neighbouring m tiles and share the W tile by multicast).
template <typename WT, int BN, int C>
__global__ void __launch_bounds__(wgmma::kTmaThreads, 1)
    gemm_wgmma_tma_kernel(const __grid_constant__ CUtensorMap tm_x, const __grid_constant__ CUtensorMap tm_w,
                          GemmArgs a) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  static_assert(C == 1 || C == 2, "cluster of 1 or 2 blocks");
  using T = wgmma::TileTma<BN>;
  constexpr int S = T::kStages;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const uint32_t base = wgmma::atom_aligned_base(smem_raw);  // swizzle atoms start 1024-byte aligned
  // Stage s at T::a_stage(base, s) and T::b_stage(base, s); the barriers after the last stage. (The
  // same offsets in every block of a cluster: one kernel, one dynamic shared-memory size.)
  const uint32_t bars = base + (uint32_t)(S * T::kStageBytes);
  const auto full = [&](int s) { return bars + (uint32_t)(8 * s); };
  const auto empty = [&](int s) { return bars + (uint32_t)(8 * (S + s)); };

  const int wg = threadIdx.x >> 7, warp = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31;
  const int ktiles = (a.k + kBK - 1) / kBK, tiles_m = (a.m + kBM - 1) / kBM;
  const int units_m = wgmma::tma_units_m(tiles_m, C), units = units_m * ((a.n + BN - 1) / BN);
  const int rank = C == 1 ? 0 : (int)cluster::rank();
  const int cluster = blockIdx.x / C, clusters = gridDim.x / C;  // this cluster takes units cluster + i clusters
  if (threadIdx.x == 0) {
    for (int s = 0; s < S; ++s) {
      tma::mbar_init(full(s), 1);
      tma::mbar_init(empty(s), wgmma::kTmaConsumerWarps * C);
    }
    tma::fence_barrier_init();
  }
  if (C == 1) __syncthreads();
  else cluster::sync();  // the peer's barriers are initialised before any copy or arrival reaches them

  // `it` counts the block's k-tiles over all its output tiles: stage and parities (wgmma_layout.h).
  if (wg == 0) {
    // Producer warpgroup: one thread issues every copy, running ahead into the next output tile.
    tma::setmaxnreg_dec<40>();
    if (warp == 0 && lane == 0) {
      int it = 0;
      for (int unit = cluster; unit < units; unit += clusters) {
        // (a cluster's row tile past the last one reads the last one again, and its results are dropped)
        const int row = min(wgmma::tma_tile_row(unit, units_m, C, rank), tiles_m - 1);
        const int m0 = kBM * row, n0 = BN * wgmma::tma_tile_col(unit, units_m);
        for (int kt = 0; kt < ktiles; ++kt, ++it) {
          const int s = wgmma::tma_stage(it, S);
          // (in a cluster: the stage is free in every block, since each block's barrier counts all their consumers)
          tma::mbar_wait<(C > 1)>(empty(s), wgmma::tma_empty_parity(it, S));
          // This block's stage receives its A tile and every block's part of B: T::kStageBytes in all.
          tma::mbar_arrive_expect_tx(full(s), (uint32_t)T::kStageBytes);
          tma::load_2d(T::a_stage(base, s), &tm_x, kt * kBK, m0, full(s));
          if (C == 1) {
            tma::load_2d(T::b_stage(base, s), &tm_w, kt * kBK, n0, full(s));
          } else {
            // (a part wholly past n, in the last n tile, copies W's first rows instead: finite values
            // for columns whose results are dropped; a box wholly outside the tensor is not relied on)
            const int part = wgmma::tma_b_part_row(BN, C, rank), w_row = n0 + part < a.n ? n0 + part : 0;
            tma::load_2d_multicast(T::b_stage(base, s) + (uint32_t)(part * wgmma::kSwizzleRowBytes), &tm_w, kt * kBK,
                                   w_row, full(s), (uint16_t)((1u << C) - 1));
          }
        }
      }
    }
  } else {
    tma::setmaxnreg_inc<232>();
    const int cg = wg - 1;  // consumer warpgroup: rows m0 + 64 cg ..
    float acc[T::kAcc];     // [64 rows of warpgroup cg][BN], wgmma D fragment (wgmma_layout.h d_row/d_col)
    // Lane 0 of each consumer warp: the stage of k-tile t may be refilled (in every block of the cluster).
    const auto release = [&](int t) {
      if (lane != 0) return;
      if (C == 1) {
        tma::mbar_arrive(empty(wgmma::tma_stage(t, S)));
      } else {
#pragma unroll
        for (int r = 0; r < C; ++r) tma::mbar_arrive_cluster(empty(wgmma::tma_stage(t, S)), (uint32_t)r);
      }
    };
    int it = 0;
    for (int unit = cluster; unit < units; unit += clusters) {
      const int row = wgmma::tma_tile_row(unit, units_m, C, rank);
      const int m0 = kBM * min(row, tiles_m - 1), n0 = BN * wgmma::tma_tile_col(unit, units_m);
#pragma unroll
      for (int i = 0; i < T::kAcc; ++i) acc[i] = 0.f;
      for (int kt = 0; kt < ktiles; ++kt, ++it) {
        const int s = wgmma::tma_stage(it, S);
        tma::mbar_wait(full(s), wgmma::tma_full_parity(it, S));
        wgmma::fence_accumulators<T::kAcc>(acc);
        wgmma::fence();
#pragma unroll
        for (int j = 0; j < 4; ++j)
          wgmma::mma_ss<WT, BN>(acc, wgmma::a16_desc(T::a_stage(base, s), cg, j), wgmma::b_desc(T::b_stage(base, s), j));
        wgmma::commit_group();
        wgmma::wait_group<1>();  // k-tile it-1's wgmmas have retired: its stage may be refilled
        wgmma::fence_accumulators<T::kAcc>(acc);
        if (kt > 0) release(it - 1);
      }
      wgmma::wait_group<0>();
      wgmma::fence_accumulators<T::kAcc>(acc);
      // The output tile's last stage is free too; the producer fills it for the next tile meanwhile.
      release(it - 1);
      if (row < tiles_m) wgmma::store_d_tile<WT, T::kAcc>(a, acc, m0, n0, cg, warp, lane);
    }
  }
  // No block of a cluster leaves while the other may still arrive on its barriers. (The producer warp's
  // lanes split above, lane 0 alone issuing copies: reconverged first for the .aligned barrier.)
  if (C > 1) {
    __syncwarp();
    cluster::sync();
  }
#endif
}

// The driver's cuTensorMapEncodeTiled through the runtime (the addon links no libcuda); null when
// the driver lacks it.
PFN_cuTensorMapEncodeTiled_v12000 encode_tiled() {
  static const PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &found) !=
            cudaSuccess ||
        found != cudaDriverEntryPointSuccess) {
      (void)cudaGetLastError();
      return static_cast<PFN_cuTensorMapEncodeTiled_v12000>(nullptr);
    }
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(p);
  }();
  return fn;
}

// A row-major [rows, k] matrix of WT (row stride k elements, 16-byte multiple) read in boxes of
// [box_rows][kBK] with the 128-byte swizzle; elements outside it read as zero.
template <typename WT>
int encode_rows(CUtensorMap* map, const void* base, int rows, int k, int box_rows) {
  const PFN_cuTensorMapEncodeTiled_v12000 encode = encode_tiled();
  if (encode == nullptr) return GN_CUDA_EUNSUPPORTED;
  const CUtensorMapDataType type =
      std::is_same<WT, __half>::value ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  const cuuint64_t dims[2] = {(cuuint64_t)k, (cuuint64_t)rows};  // innermost first
  const cuuint64_t strides[1] = {(cuuint64_t)k * sizeof(WT)};      // bytes from one row to the next
  const cuuint32_t box[2] = {(cuuint32_t)kBK, (cuuint32_t)box_rows};
  const cuuint32_t element_strides[2] = {1, 1};
  const CUresult r = encode(map, type, 2, const_cast<void*>(base), dims, strides, box, element_strides,
                            CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                            CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return r == CUDA_SUCCESS ? GN_CUDA_OK : GN_CUDA_EINVAL;
}

// The launch configuration of `pairs` clusters of two blocks of the TMA kernel (kTmaThreads threads,
// `smem` bytes of dynamic shared memory each) on `stream`. Not copyable: config points at attr.
struct PairLaunch {
  cudaLaunchAttribute attr[1];
  cudaLaunchConfig_t config = {};
  PairLaunch(int pairs, size_t smem, cudaStream_t stream) {
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = 2;
    attr[0].val.clusterDim.y = 1;
    attr[0].val.clusterDim.z = 1;
    config.gridDim = dim3(2 * pairs);
    config.blockDim = dim3(wgmma::kTmaThreads);
    config.dynamicSmemBytes = smem;
    config.stream = stream;
    config.attrs = attr;
    config.numAttrs = 1;
  }
  PairLaunch(const PairLaunch&) = delete;
  PairLaunch& operator=(const PairLaunch&) = delete;
};

// How many 2-block clusters of kernel<WT, BN, 2> the device runs at once (0 where it cannot launch them).
template <typename WT, int BN>
int max_active_pairs(cudaStream_t stream) {
  const PairLaunch launch(1, wgmma::TileTma<BN>::kSmemBytes, stream);
  int pairs = 0;
  if (cudaOccupancyMaxActiveClusters(&pairs, gemm_wgmma_tma_kernel<WT, BN, 2>, &launch.config) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return pairs;
}

// kBlockPerTile: a block per output tile (GN_GEMM_WGMMA_TMA); kPersistent: a block per SM, each taking
// several (GN_GEMM_WGMMA_TMA_PERSISTENT); kClusterPair: as persistent, in clusters of two blocks that
// share each W tile by multicast (GN_GEMM_WGMMA_TMA_CLUSTER; persistent single blocks where the device
// cannot run such clusters).
enum class TmaGrid { kBlockPerTile, kPersistent, kClusterPair };

template <typename WT, int BN>
int launch_typed(const GemmArgs& a, TmaGrid grid, cudaStream_t stream) {
  using T = wgmma::TileTma<BN>;
  int max_pairs = 0;
  if (grid == TmaGrid::kClusterPair) {
    GN_CUDA_TRY(cudaFuncSetAttribute(gemm_wgmma_tma_kernel<WT, BN, 2>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     T::kSmemBytes));
    max_pairs = max_active_pairs<WT, BN>(stream);
    if (max_pairs == 0) grid = TmaGrid::kPersistent;
  }
  const int cluster = grid == TmaGrid::kClusterPair ? 2 : 1;
  CUtensorMap tm_w;
  int status = encode_rows<WT>(&tm_w, a.w, a.n, a.k, BN / cluster);
  if (status != GN_CUDA_OK) return status;
  return wgmma::with_rounded_x<WT>(a, stream, [&](const WT* x16) {
    CUtensorMap tm_x;
    const int encoded = encode_rows<WT>(&tm_x, x16, a.m, a.k, kBM);
    if (encoded != GN_CUDA_OK) return encoded;
    // Units of `cluster` m tiles by one n tile (wgmma_layout.h tma_units_m; can_run: fits an int).
    const int units = wgmma::tma_units_m(ceil_div(a.m, kBM), cluster) * ceil_div(a.n, BN);
    if (grid == TmaGrid::kClusterPair) {
      const PairLaunch launch(std::min(units, max_pairs), T::kSmemBytes, stream);
      return static_cast<int>(cudaLaunchKernelEx(&launch.config, gemm_wgmma_tma_kernel<WT, BN, 2>, tm_x, tm_w, a));
    }
    GN_CUDA_TRY(cudaFuncSetAttribute(gemm_wgmma_tma_kernel<WT, BN, 1>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     T::kSmemBytes));
    const int blocks = grid == TmaGrid::kPersistent ? std::min(units, multiprocessors()) : units;  // one per SM fits
    gemm_wgmma_tma_kernel<WT, BN, 1><<<blocks, wgmma::kTmaThreads, T::kSmemBytes, stream>>>(tm_x, tm_w, a);
    return static_cast<int>(cudaGetLastError());
  });
}

}  // namespace

bool wgmma_tma_available() { return wgmma_image_loaded() && encode_tiled() != nullptr; }

int launch_gemm_wgmma_tma(const GemmArgs& a, int kernel, cudaStream_t stream) {
  const TmaGrid grid = kernel == GN_GEMM_WGMMA_TMA_CLUSTER      ? TmaGrid::kClusterPair
                       : kernel == GN_GEMM_WGMMA_TMA_PERSISTENT ? TmaGrid::kPersistent
                                                                : TmaGrid::kBlockPerTile;
  return wgmma::launch_for_tile(
      a, [&](auto wt, auto bn) { return launch_typed<decltype(wt), decltype(bn)::value>(a, grid, stream); });
}

}  // namespace gncuda
