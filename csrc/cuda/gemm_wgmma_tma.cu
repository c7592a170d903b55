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

// tm_x: x16 [m, k] of WT, boxes of [kBM rows][kBK]; tm_w: W [n, k] of WT, boxes of [BN rows][kBK];
// both 128B-swizzled. y and the epilogue as GemmArgs.
template <typename WT, int BN>
__global__ void __launch_bounds__(wgmma::kTmaThreads, 1)
    gemm_wgmma_tma_kernel(const __grid_constant__ CUtensorMap tm_x, const __grid_constant__ CUtensorMap tm_w,
                          GemmArgs a) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using T = wgmma::TileTma<BN>;
  constexpr int S = T::kStages;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const uint32_t base = wgmma::atom_aligned_base(smem_raw);  // swizzle atoms start 1024-byte aligned
  // Stage s at T::a_stage(base, s) and T::b_stage(base, s); the barriers after the last stage.
  const uint32_t bars = base + (uint32_t)(S * T::kStageBytes);
  const auto full = [&](int s) { return bars + (uint32_t)(8 * s); };
  const auto empty = [&](int s) { return bars + (uint32_t)(8 * (S + s)); };

  const int wg = threadIdx.x >> 7, warp = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31;
  const int ktiles = (a.k + kBK - 1) / kBK, tiles_m = (a.m + kBM - 1) / kBM;
  const int tiles = tiles_m * ((a.n + BN - 1) / BN);  // output tiles; this block takes blockIdx.x + i gridDim.x
  if (threadIdx.x == 0) {
    for (int s = 0; s < S; ++s) {
      tma::mbar_init(full(s), 1);
      tma::mbar_init(empty(s), wgmma::kTmaConsumerWarps);
    }
    tma::fence_barrier_init();
  }
  __syncthreads();

  // `it` counts the block's k-tiles over all its output tiles: stage and parities (wgmma_layout.h).
  if (wg == 0) {
    // Producer warpgroup: one thread issues every copy, running ahead into the next output tile.
    tma::setmaxnreg_dec<40>();
    if (warp == 0 && lane == 0) {
      int it = 0;
      for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        const int m0 = kBM * wgmma::tma_tile_row(tile, tiles_m), n0 = BN * wgmma::tma_tile_col(tile, tiles_m);
        for (int kt = 0; kt < ktiles; ++kt, ++it) {
          const int s = wgmma::tma_stage(it, S);
          tma::mbar_wait(empty(s), wgmma::tma_empty_parity(it, S));
          tma::mbar_arrive_expect_tx(full(s), (uint32_t)T::kStageBytes);
          tma::load_2d(T::a_stage(base, s), &tm_x, kt * kBK, m0, full(s));
          tma::load_2d(T::b_stage(base, s), &tm_w, kt * kBK, n0, full(s));
        }
      }
    }
  } else {
    tma::setmaxnreg_inc<232>();
    const int cg = wg - 1;  // consumer warpgroup: rows m0 + 64 cg ..
    float acc[T::kAcc];     // [64 rows of warpgroup cg][BN], wgmma D fragment (wgmma_layout.h d_row/d_col)
    int it = 0;
    for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
      const int m0 = kBM * wgmma::tma_tile_row(tile, tiles_m), n0 = BN * wgmma::tma_tile_col(tile, tiles_m);
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
        if (kt > 0 && lane == 0) tma::mbar_arrive(empty(wgmma::tma_stage(it - 1, S)));
      }
      wgmma::wait_group<0>();
      wgmma::fence_accumulators<T::kAcc>(acc);
      // The output tile's last stage is free too; the producer fills it for the next tile meanwhile.
      if (lane == 0) tma::mbar_arrive(empty(wgmma::tma_stage(it - 1, S)));
      wgmma::store_d_tile<T::kAcc>(a, acc, m0, n0, cg, warp, lane);
    }
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

// persistent: a block per SM, each taking several output tiles (GN_GEMM_WGMMA_TMA_PERSISTENT); else a
// block per output tile (GN_GEMM_WGMMA_TMA).
template <typename WT, int BN>
int launch_typed(const GemmArgs& a, bool persistent, cudaStream_t stream) {
  using T = wgmma::TileTma<BN>;
  CUtensorMap tm_w;
  int status = encode_rows<WT>(&tm_w, a.w, a.n, a.k, BN);
  if (status != GN_CUDA_OK) return status;
  return wgmma::with_rounded_x<WT>(a, stream, [&](const WT* x16) {
    CUtensorMap tm_x;
    const int encoded = encode_rows<WT>(&tm_x, x16, a.m, a.k, kBM);
    if (encoded != GN_CUDA_OK) return encoded;
    GN_CUDA_TRY(cudaFuncSetAttribute(gemm_wgmma_tma_kernel<WT, BN>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     T::kSmemBytes));
    const int tiles = ceil_div(a.m, kBM) * ceil_div(a.n, BN);  // (can_run: fits an int)
    const int blocks = persistent ? std::min(tiles, multiprocessors()) : tiles;  // one block per SM fits
    gemm_wgmma_tma_kernel<WT, BN><<<blocks, wgmma::kTmaThreads, T::kSmemBytes, stream>>>(tm_x, tm_w, a);
    return static_cast<int>(cudaGetLastError());
  });
}

}  // namespace

bool wgmma_tma_available() { return wgmma_image_loaded() && encode_tiled() != nullptr; }

int launch_gemm_wgmma_tma(const GemmArgs& a, bool persistent, cudaStream_t stream) {
  return wgmma::launch_for_tile(
      a, [&](auto wt, auto bn) { return launch_typed<decltype(wt), decltype(bn)::value>(a, persistent, stream); });
}

}  // namespace gncuda
