// Streaming decode GEMV (GN_GEMM_GEMV_STREAM, gn_cuda_gemv_stream): y[m, n] = epilogue(x · Wᵀ + b)
// for m <= 8 and bf16/f16 weights (fp32 weights stay on the GEMV), reading W once at the HBM rate. What the first decode GEMV (gemm_gemv.cu) measured
// (H200 run 2, back to back, m = 1: 950-2381 GB/s of the ~4.2 TB/s copy rate) is latency, not
// bandwidth: a grid of 1.3 waves whose second wave runs on a few SMs, each block staging x from L2
// and only then issuing its first weight loads, each warp's loads waiting for its multiply.
// Here:
//   - the grid is what the GPU holds at once (occupancy x SMs), and each warp streams an equal run
//     of row groups (gemv_stream_plan.h), so there is no second wave and no straggling block;
//   - a warp issues its first item's weight loads before x is staged (and before the previous
//     kernel has finished, on a stream marked for programmatic launch on sm_90+), and thereafter
//     always has the next item's loads in flight while it multiplies the current one (two register
//     buffers of gemv_stream_loads_per_row(R) 16-byte loads per lane and row).
// x rows are staged whole in shared memory (fp32; layer-normed there when LN), partial sums stay in
// registers, and each group's sums meet by warp shuffles: no shared-memory reduction, no atomics, a
// fixed summation order. Scalar reference: cpu::ref::gemm (test_cuda_ops checks it against it).
#include <atomic>

#include "cuda/gemm_traits.cuh"
#include "cuda/gemv_stream_warp.cuh"
#include "cuda/programmatic.cuh"

namespace gncuda {
namespace {

using S = GemvStreamTraits;

// R: rows per group; MM: the largest m this instantiation serves (m <= MM); LN: layer-norm x first.
template <typename WT, int R, int MM, bool LN>
__global__ void __launch_bounds__(S::kWarps * 32, S::kMinBlocksPerSm)
    gemv_stream_kernel(GemmArgs a, GemvStreamPlan p) {
  using Warp = GemvStreamWarp<WT, R, MM>;
  extern __shared__ __align__(16) float xs[];  // [m, k] fp32: the x rows
  const int lane = threadIdx.x & 31;
  const int warp = blockIdx.x * S::kWarps + (threadIdx.x >> 5);
  uint4 wa[R][Warp::U];
  Warp::load(a, p, warp, 0, wa);  // weights only: nothing the previous kernel writes
  if (p.l2_prefetch_bytes > 0 && lane == 0) {
    // This warp's rows (W is read-only), into L2 while the previous kernel ends: the first of them, as
    // many as the warp's share of half of L2 holds (an lm_head of 77-206 MB would evict its own start).
    int row_begin = 0, row_end = 0;
    gemv_stream_rows(p, warp, R, a.n, &row_begin, &row_end);
    const long long rows_bytes = (long long)(row_end - row_begin) * a.k * (long long)sizeof(WT);
    prefetch_l2_bulk(static_cast<const WT*>(a.w) + (size_t)row_begin * a.k,
                     (size_t)(rows_bytes < p.l2_prefetch_bytes ? rows_bytes : p.l2_prefetch_bytes));
  }
  LnPrefetch ln{};
  if constexpr (LN) ln = ln_prefetch<S::kWarps>(a.m, a.k, a.ln_gamma, a.ln_beta);  // weights too
  grid_dependents_launch();
  grid_dependency_wait();  // x (and y, for the accumulate epilogue) come from the previous kernel
  stage_x_rows(xs, a.k, a.x, a.ldx, a.m, 0, a.k);
  __syncthreads();
  if constexpr (LN) {
    layernorm_staged_rows<S::kWarps>(xs, a.k, a.m, a.k, a.ln_gamma, a.ln_beta, a.ln_eps, ln);
    __syncthreads();
  }
  Warp::run(a, p, warp, xs, wa);
}

template <typename WT, int R, int MM, bool LN>
int launch_plan(const GemmArgs& a, cudaStream_t stream) {
  constexpr int V = 16 / sizeof(WT), U = gemv_stream_loads_per_row(R);
  const auto kernel = gemv_stream_kernel<WT, R, MM, LN>;
  const int smem = a.m * a.k * 4;
  // Blocks per SM at this x size, remembered for the last (device, size) this instantiation launched
  // with (a decode step asks the same few shapes every token): key and answer in one word.
  static std::atomic<unsigned long long> last{~0ull};
  int dev = 0;
  GN_CUDA_TRY(cudaGetDevice(&dev));
  const unsigned long long key = (unsigned long long)dev << 32 | (unsigned)smem;
  const unsigned long long seen = last.load(std::memory_order_relaxed);
  int per_sm = (int)(seen & 0xff);
  if (seen >> 8 != key) {  // first launch on this device at this size: allow the smem, ask the occupancy
    GN_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, S::kMaxSmemBytes));
    GN_CUDA_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, S::kWarps * 32, smem));
    per_sm = per_sm > 0 ? (per_sm < 255 ? per_sm : 255) : 1;
    last.store(key << 8 | (unsigned)per_sm, std::memory_order_relaxed);
  }
  GemvStreamPlan p = plan_gemv_stream(a.n, a.k, R, U * 32 * V, per_sm * multiprocessors() * S::kWarps, S::kWarps);
  if (l2_prefetch_on(stream)) p.l2_prefetch_bytes = l2_prefetch_share(p.warps);
  return launch_dependent(kernel, dim3(p.blocks), dim3(S::kWarps * 32), smem, stream, a, p);
}

template <typename WT, int R, int MM>
int launch_rows(const GemmArgs& a, cudaStream_t stream) {
  return a.ln_gamma != nullptr ? launch_plan<WT, R, MM, true>(a, stream) : launch_plan<WT, R, MM, false>(a, stream);
}

template <typename WT>
int launch_typed(const GemmArgs& a, cudaStream_t stream) {
  if (a.m >= S::kFourRowsFromM) return launch_rows<WT, 4, S::kMaxM>(a, stream);
  if (a.m >= S::kTwoRowsFromM) return launch_rows<WT, 2, S::kFourRowsFromM - 1>(a, stream);
  return launch_rows<WT, 1, S::kTwoRowsFromM - 1>(a, stream);
}

}  // namespace

bool gemv_stream_serves(int m, int k, int w_dtype) {
  return (w_dtype == GN_DTYPE_BF16 || w_dtype == GN_DTYPE_F16) && m >= 1 && m <= S::kMaxM && k >= 8 && k % 8 == 0 &&
         (long long)m * k * 4 <= S::kMaxSmemBytes;
}

int launch_gemm_gemv_stream(const GemmArgs& a, cudaStream_t stream) {
  if (!gemv_stream_serves(a.m, a.k, a.w_dtype)) return GN_CUDA_EUNSUPPORTED;
  if (a.w_dtype == GN_DTYPE_BF16) return launch_typed<__nv_bfloat16>(a, stream);
  return launch_typed<__half>(a, stream);
}

}  // namespace gncuda
