// Hopper GEMM on warpgroup MMA: y[m, n] = epilogue(x[m, k] · W[n, k]ᵀ + b) with
// wgmma.mma_async m64nBNk16 (bf16/f16 operands, fp32 accumulate), sm_90a only.
//
// Block: 256 threads = two warpgroups; block tile 128 x BN (BN = 256, or 128 when 128-wide blocks
// finish in fewer rounds over the SMs; launch_gemm_wgmma), warpgroup g owns rows 64g..64g+63 and all BN columns (BN/2 accumulators per
// thread). Every thread also loads: k-tiles of 64 arrive by cp.async in kStages shared-memory stages
// (prefetch distance kStages - 1, as gemm_tc.cu):
//  - x (fp32) into padded rows (wgmma_layout.h a_offset); each warp rounds its 16 rows to the weight
//    dtype while building the A register fragments (as gemm_tc.cu: same numerics), and A is the
//    register operand of wgmma;
//  - W (bf16/f16) into the 128-byte-swizzled K-major layout that the B matrix descriptor describes
//    (wgmma_layout.h b_offset / b_desc).
// Per k-tile: wait for the tile, fence.proxy.async (cp.async wrote it through the generic proxy,
// wgmma reads it through the async proxy), barrier, build the 4 A fragments, 4 wgmmas, commit,
// refill the stage freed by the previous k-tile, wait for the wgmmas (the next barrier then frees
// this stage). Tails: rows/columns/k beyond the matrix are zero-filled by cp.async (k % 8 == 0), and
// the epilogue (bias, gelu_new, accumulate: common.cuh apply_epilogue) checks m and n.
// Requires k % 8 == 0, ldx % 4 == 0, 16-byte aligned x and W (gemm.cu checks) and the sm_90a image
// (wgmma_image_loaded()).
#include <atomic>

#include "cuda/cp_async.cuh"
#include "cuda/gemm_traits.cuh"
#include "cuda/mma.cuh"
#include "cuda/wgmma_common.cuh"
#include "cuda/wgmma_layout.h"
#include "cuda/wgmma_ops.cuh"

namespace gncuda {
namespace {

using wgmma::kBK;
using wgmma::kBM;
using wgmma::kThreads;

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// Stages k-tile kt: x rows m0.. into A stage `a_stage` ([kBM][kALd] fp32), W rows n0.. into the
// swizzled B stage at shared address `b_stage` ([BN][kBK] 16-bit).
template <typename WT, typename T>
__device__ __forceinline__ void load_tile(const GemmArgs& a, const WT* w, int m0, int n0, int kt, uint32_t a_stage,
                                          uint32_t b_stage) {
  const int tid = threadIdx.x, k0 = kt * kBK;
#pragma unroll
  for (int i = 0; i < T::kAChunks; ++i) {
    const int c = tid + i * kThreads, row = wgmma::a_chunk_row(c), col = wgmma::a_chunk_k(c);
    const int gm = m0 + row, gk = k0 + col;
    const bool ok = gm < a.m && gk < a.k;
    cp_async16(a_stage + 4u * wgmma::a_offset(row, col), ok ? a.x + (size_t)gm * a.ldx + gk : a.x, ok);
  }
  wgmma::load_b_tile<WT, T::kBChunks>(a, w, n0, kt, b_stage);
}
#endif

template <typename WT, int BN>
__global__ void GN_WGMMA_BOUNDS gemm_wgmma_kernel(GemmArgs a) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using T = wgmma::Tile<BN>;
  constexpr int S = T::kStages;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const uint32_t raw = static_cast<uint32_t>(__cvta_generic_to_shared(smem_raw));
  const uint32_t b_base = wgmma::atom_aligned_base(smem_raw);  // swizzle atoms start 1024-byte aligned
  const uint32_t a_base = b_base + S * T::kBStageBytes;                        // [S][kBM][kALd] fp32
  const float* As = reinterpret_cast<const float*>(smem_raw + (a_base - raw));
  const WT* w = static_cast<const WT*>(a.w);  // [n, k]

  const int m0 = blockIdx.x * kBM, n0 = blockIdx.y * BN;  // m fastest: neighbouring blocks share a W tile
  const int wg = threadIdx.x >> 7, warp = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31;

  float acc[T::kAcc];  // [64 rows of warpgroup wg][BN], wgmma D fragment (wgmma_layout.h d_row/d_col)
#pragma unroll
  for (int i = 0; i < T::kAcc; ++i) acc[i] = 0.f;

  const int ktiles = (a.k + kBK - 1) / kBK;
#pragma unroll
  for (int s = 0; s < S - 1; ++s) {
    if (s < ktiles) load_tile<WT, T>(a, w, m0, n0, s, a_base + s * wgmma::kAStageBytes, b_base + s * T::kBStageBytes);
    cp_async_commit();
  }

  // This lane's first A element of its warp's 16 rows, relative to a stage.
  const int a_lane = wgmma::a_offset(64 * wg + wgmma::a_frag_row(warp, lane, 0), wgmma::a_frag_k(lane, 0));
  for (int kt = 0; kt < ktiles; ++kt) {
    const int slot = kt % S;
    cp_async_wait<S - 2>();         // this thread's copies of tile kt have landed
    wgmma::fence_proxy_async();     // … and are visible to wgmma's async-proxy reads
    __syncthreads();                // everyone's; and every wgmma of tile kt-1 has completed

    const float* as = As + slot * (kBM * wgmma::kALd) + a_lane;
    uint32_t af[4][4];
#pragma unroll
    for (int j = 0; j < 4; ++j) a_fragment_from_f32<WT>(as + 16 * j, wgmma::kALd, af[j]);  // k16 step j
    wgmma::fence_accumulators<T::kAcc>(acc);
    wgmma::fence();
    const uint32_t b_stage = b_base + slot * T::kBStageBytes;
#pragma unroll
    for (int j = 0; j < 4; ++j) wgmma::mma_rs<WT, BN>(acc, af[j], wgmma::b_desc(b_stage, j));
    wgmma::commit_group();

    // Refill the stage that tile kt-1 used (its wgmmas completed before this tile's barrier).
    const int next = kt + S - 1;
    if (next < ktiles) {
      const int ns = next % S;
      load_tile<WT, T>(a, w, m0, n0, next, a_base + ns * wgmma::kAStageBytes, b_base + ns * T::kBStageBytes);
    }
    cp_async_commit();
    wgmma::wait_group<0>();
    wgmma::fence_accumulators<T::kAcc>(acc);
  }
  cp_async_wait<0>();

  // Epilogue straight from the D fragments: accumulators 4j + 2h + e are (row g + 8h, col 8j + 2t + e).
  wgmma::store_d_tile<T::kAcc>(a, acc, m0, n0, wg, warp, lane);
#endif
}

template <typename WT, int BN>
int launch_typed(const GemmArgs& a, cudaStream_t stream) {
  using T = wgmma::Tile<BN>;
  GN_CUDA_TRY(cudaFuncSetAttribute(gemm_wgmma_kernel<WT, BN>, cudaFuncAttributeMaxDynamicSharedMemorySize, T::kSmemBytes));
  // Blocks launch m-tile first: the blocks in flight read few W tiles (each once from memory, then
  // from L2) and x, which is small at these m, from L2. (lm_head m=2048: W 77 MB read once rather
  // than up to 16 times.)
  dim3 grid(ceil_div(a.m, kBM), ceil_div(a.n, BN));
  gemm_wgmma_kernel<WT, BN><<<grid, kThreads, T::kSmemBytes, stream>>>(a);
  GN_CUDA_CHECK_LAUNCH();
  return GN_CUDA_OK;
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
    bool ok = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
              cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) == cudaSuccess &&
              major == 9 && minor == 0 &&
              cudaFuncGetAttributes(&fa, gemm_wgmma_kernel<__nv_bfloat16, 256>) == cudaSuccess &&
              fa.maxThreadsPerBlock >= kThreads;
    (void)cudaGetLastError();
    state = ok ? 1 : 2;
    g_wgmma_state[dev].store(state, std::memory_order_relaxed);
  }
  return state == 1;
}

int launch_gemm_wgmma(const GemmArgs& a, cudaStream_t stream) {
  const bool wide = wgmma::wide_tiles(a);
  if (a.w_dtype == GN_DTYPE_BF16)
    return wide ? launch_typed<__nv_bfloat16, 256>(a, stream) : launch_typed<__nv_bfloat16, 128>(a, stream);
  if (a.w_dtype == GN_DTYPE_F16)
    return wide ? launch_typed<__half, 256>(a, stream) : launch_typed<__half, 128>(a, stream);
  return GN_CUDA_EUNSUPPORTED;
}

}  // namespace gncuda
