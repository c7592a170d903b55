// Hopper GEMM with both wgmma operands in shared memory: y[m, n] = epilogue(x[m, k] · W[n, k]ᵀ + b),
// bf16/f16 weights, fp32 accumulation, sm_90a only (GN_GEMM_WGMMA_SS; the default for prompt-sized
// GEMMs on compute capability 9.0). Verified and measured on an H200 (bench/RESULTS.md run 4): 1.07-1.97x
// the mma.sync kernel, 43-49% of cuBLAS at the 1.3B shapes (csrc/cuda/NOTES.md round 8 on why).
// History: round 4's kernel kept A in registers (x loaded as fp32 and rounded while building
// fragments); it measured slower on 8 of 10 shapes and was removed. This one (NOTES.md round 7):
//  - x is rounded to the weight's 16-bit type once, by a conversion pass into a stream-ordered
//    workspace (cudaMallocAsync; legal inside a CUDA graph capture): the GEMM reads half the bytes of
//    A (16-bit instead of fp32, from L2 once per n-tile) and its threads do not convert A between
//    wgmmas. The rounding is round to nearest even, as gemm_tc.cu's (same numerics). Where the
//    workspace cannot be allocated (device memory full), the GEMM runs on gemm_tc.cu's kernel instead.
//  - A arrives by cp.async into the same 128-byte-swizzled K-major layout as B (wgmma_layout.h
//    a16_offset) and is read through a matrix descriptor per warpgroup (a16_desc).
//  - One wgmma group stays in flight across k-tiles (wait_group 1 instead of 0): the tensor cores
//    work on tile kt while the threads wait for tile kt+1. The stage a refill overwrites is the one
//    tile kt-2 used, whose wgmmas every warpgroup has waited for before the barrier of iteration kt.
// Block: 256 threads, two warpgroups of 64 rows, tile 128 x BN (BN = 256: 4 stages of 48 KB; BN = 128:
// 6 stages of 32 KB); prefetch distance kStages - 2.
// Requires k % 8 == 0, ldx % 4 == 0, 16-byte aligned x and W (gemm.cu checks) and the sm_90a image.
#include <algorithm>
#include <atomic>
#include <cstdint>

#include "cuda/cp_async.cuh"
#include "cuda/gemm_traits.cuh"
#include "cuda/mma.cuh"
#include "cuda/wgmma_common.cuh"
#include "cuda/wgmma_layout.h"
#include "cuda/wgmma_ops.cuh"
#include "cuda/wgmma_x16.cuh"

namespace gncuda {
namespace {

using wgmma::kBK;
using wgmma::kBM;
using wgmma::kThreads;

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// Stages k-tile kt: x16 rows m0.. and W rows n0.. into the swizzled A and B tiles at shared
// addresses a_stage ([kBM][kBK] 16-bit) and b_stage ([BN][kBK] 16-bit). Zero-filled past m, n, k.
template <typename WT, typename T>
__device__ __forceinline__ void load_tile_ss(const GemmArgs& a, const WT* x16, const WT* w, int m0, int n0, int kt,
                                             uint32_t a_stage, uint32_t b_stage) {
  const int tid = threadIdx.x, k0 = kt * kBK;
#pragma unroll
  for (int i = 0; i < T::kAChunks; ++i) {
    const int c = tid + i * kThreads, row = wgmma::a16_chunk_row(c), col = wgmma::a16_chunk_k(c);
    const int gm = m0 + row, gk = k0 + col;
    const bool ok = gm < a.m && gk < a.k;
    cp_async16(a_stage + wgmma::a16_offset(row, col), ok ? x16 + (size_t)gm * a.k + gk : x16, ok);
  }
  wgmma::load_b_tile<WT, T::kBChunks>(a, w, n0, kt, b_stage);
}
#endif

// x16: [m, k] of WT (the rounded x); W: [n, k] of WT; y as GemmArgs.
template <typename WT, int BN>
__global__ void GN_WGMMA_BOUNDS gemm_wgmma_ss_kernel(GemmArgs a, const WT* __restrict__ x16) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using T = wgmma::TileSS<BN>;
  constexpr int S = T::kStages;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const uint32_t base = wgmma::atom_aligned_base(smem_raw);  // swizzle atoms start 1024-byte aligned
  const WT* w = static_cast<const WT*>(a.w);

  const int m0 = blockIdx.x * kBM, n0 = blockIdx.y * BN;  // m fastest: neighbouring blocks share a W tile
  const int wg = threadIdx.x >> 7, warp = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31;

  float acc[T::kAcc];  // [64 rows of warpgroup wg][BN], wgmma D fragment (wgmma_layout.h d_row/d_col)
#pragma unroll
  for (int i = 0; i < T::kAcc; ++i) acc[i] = 0.f;

  const int ktiles = (a.k + kBK - 1) / kBK;
  // Prologue: tiles 0 .. S-3, one cp.async group each (the schedule: wgmma_layout.h ss_*).
#pragma unroll
  for (int t = 0; t < wgmma::ss_prologue_tiles(S); ++t) {
    const int s = wgmma::ss_slot(t, S);
    if (t < ktiles) load_tile_ss<WT, T>(a, x16, w, m0, n0, t, T::a_stage(base, s), T::b_stage(base, s));
    cp_async_commit();
  }
  for (int kt = 0; kt < ktiles; ++kt) {
    const int slot = wgmma::ss_slot(kt, S);
    // Groups committed so far: tiles 0 .. kt+S-3; at most S-3 may still be pending, so tile kt is here.
    cp_async_wait<wgmma::ss_pending_groups(S)>();
    wgmma::fence_proxy_async();  // this thread's copies, visible to wgmma's async-proxy reads
    __syncthreads();             // everyone's copies of tile kt; every thread has waited (wait_group 1
                                 // in iteration kt-1) for its warpgroup's wgmmas of tile kt-2
    // Refill the stage of tile kt-2 with tile kt+S-2 (same slot: (kt+S-2) % S == (kt-2) % S).
    const int next = wgmma::ss_refill_tile(kt, S);
    if (next < ktiles)
      load_tile_ss<WT, T>(a, x16, w, m0, n0, next, T::a_stage(base, wgmma::ss_slot(next, S)),
                          T::b_stage(base, wgmma::ss_slot(next, S)));
    cp_async_commit();

    wgmma::fence_accumulators<T::kAcc>(acc);
    wgmma::fence();
#pragma unroll
    for (int j = 0; j < 4; ++j)
      wgmma::mma_ss<WT, BN>(acc, wgmma::a16_desc(T::a_stage(base, slot), wg, j),
                            wgmma::b_desc(T::b_stage(base, slot), j));
    wgmma::commit_group();
    wgmma::wait_group<1>();  // tile kt-1's wgmmas are done; tile kt's stay in flight
    wgmma::fence_accumulators<T::kAcc>(acc);
  }
  wgmma::wait_group<0>();
  wgmma::fence_accumulators<T::kAcc>(acc);
  cp_async_wait<0>();

  wgmma::store_d_tile<WT, T::kAcc>(a, acc, m0, n0, wg, warp, lane);
#endif
}

template <typename WT, int BN>
int launch_typed(const GemmArgs& a, cudaStream_t stream) {
  using T = wgmma::TileSS<BN>;
  return wgmma::with_rounded_x<WT>(a, stream, [&](const WT* x16) {
    GN_CUDA_TRY(cudaFuncSetAttribute(gemm_wgmma_ss_kernel<WT, BN>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     T::kSmemBytes));
    dim3 grid(ceil_div(a.m, kBM), ceil_div(a.n, BN));
    gemm_wgmma_ss_kernel<WT, BN><<<grid, kThreads, T::kSmemBytes, stream>>>(a, x16);
    return static_cast<int>(cudaGetLastError());
  });
}

// Per device: 0 not asked yet, 1 the sm_90a image is loaded, 2 it is not.
constexpr int kMaxDevices = 64;
std::atomic<int> g_wgmma_state[kMaxDevices];

}  // namespace

bool wgmma_image_loaded() {
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  if (dev < 0 || dev >= kMaxDevices) return false;
  int state = g_wgmma_state[dev].load(std::memory_order_relaxed);
  if (state == 0) {
    // cudaFuncGetAttributes neither launches nor synchronizes (legal during stream capture). The
    // sm_90a image reports the real launch bound; the stub (sm_80-89 SASS, compute_90 PTX JIT-ed on
    // a later GPU) reports kStubThreads; no loadable image at all is an error.
    cudaFuncAttributes fa{};
    int major = 0, minor = 0;
    const bool ok = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
                    cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) == cudaSuccess &&
                    major == 9 && minor == 0 &&
                    cudaFuncGetAttributes(&fa, gemm_wgmma_ss_kernel<__nv_bfloat16, 256>) == cudaSuccess &&
                    fa.maxThreadsPerBlock >= kThreads;
    (void)cudaGetLastError();
    state = ok ? 1 : 2;
    g_wgmma_state[dev].store(state, std::memory_order_relaxed);
  }
  return state == 1;
}

int launch_gemm_wgmma_ss(const GemmArgs& a, cudaStream_t stream) {
  return wgmma::launch_for_tile(a, [&](auto wt, auto bn) { return launch_typed<decltype(wt), decltype(bn)::value>(a, stream); });
}

}  // namespace gncuda
