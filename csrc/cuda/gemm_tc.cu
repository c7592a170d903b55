// Tensor-core GEMM: y[m, n] = epilogue(x[m, k] · W[n, k]ᵀ + b) with mma.sync.m16n8k16
// (bf16 or f16 operands, fp32 accumulate) and a kStages-deep cp.async pipeline (sm_80+).
// Requires k % 8 == 0, ldx % 4 == 0 and 16-byte aligned x and W (gemm.cu checks).
#include "cuda/cp_async.cuh"
#include "cuda/gemm_traits.cuh"
#include "cuda/mma.cuh"

namespace gncuda {
namespace {

// Stages k-tile kt of A (fp32 x rows) and B (W rows) into pipeline slot `stage`.
template <typename WT, typename T>
__device__ __forceinline__ void load_stage(const GemmArgs& a, const WT* w, int m0, int n0, int kt, int stage,
                                           float* As, WT* Bs) {
  const int tid = threadIdx.x, k0 = kt * T::kBK;
  float* as = As + stage * (T::kBM * T::kALd);
  WT* bs = Bs + stage * (T::kBN * T::kBLd);
  constexpr int kAChunks = T::kBM * T::kBK / 4;  // 16 B = 4 floats
#pragma unroll
  for (int i = 0; i < kAChunks / T::kThreads; ++i) {
    const int c = tid + i * T::kThreads, row = c / (T::kBK / 4), col = (c % (T::kBK / 4)) * 4;
    const int gm = m0 + row, gk = k0 + col;
    const bool ok = gm < a.m && gk < a.k;
    cp_async16(as + row * T::kALd + col, ok ? a.x + (size_t)gm * a.ldx + gk : a.x, ok);
  }
  constexpr int kBChunks = T::kBN * T::kBK / 8;  // 16 B = 8 halves
#pragma unroll
  for (int i = 0; i < kBChunks / T::kThreads; ++i) {
    const int c = tid + i * T::kThreads, row = c / (T::kBK / 8), col = (c % (T::kBK / 8)) * 8;
    const int gn = n0 + row, gk = k0 + col;
    const bool ok = gn < a.n && gk < a.k;
    cp_async16(bs + row * T::kBLd + col, ok ? w + (size_t)gn * a.k + gk : w, ok);
  }
}

template <typename WT, typename T>
__global__ void __launch_bounds__(T::kThreads) gemm_tc_kernel(GemmArgs a) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  float* As = reinterpret_cast<float*>(smem_raw);
  WT* Bs = reinterpret_cast<WT*>(smem_raw + T::kStages * T::kAStageBytes);
  const WT* w = static_cast<const WT*>(a.w);

  const int n0 = blockIdx.x * T::kBN, m0 = blockIdx.y * T::kBM;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int wm0 = (warp / T::kWarpsN) * T::kWM, wn0 = (warp % T::kWarpsN) * T::kWN;
  const int g = lane >> 2, tig = lane & 3;

  float acc[T::kMTiles][T::kNTiles][4];
#pragma unroll
  for (int i = 0; i < T::kMTiles; ++i)
#pragma unroll
    for (int j = 0; j < T::kNTiles; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.f;

  const int ktiles = (a.k + T::kBK - 1) / T::kBK;
#pragma unroll
  for (int s = 0; s < T::kStages - 1; ++s) {
    if (s < ktiles) load_stage<WT, T>(a, w, m0, n0, s, s, As, Bs);
    cp_async_commit();
  }

  for (int kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<T::kStages - 2>();  // tile kt has landed (for this thread's copies)
    __syncthreads();                  // … for everyone's; and slot (kt-1) is free to refill
    const int next = kt + T::kStages - 1;
    if (next < ktiles) load_stage<WT, T>(a, w, m0, n0, next, next % T::kStages, As, Bs);
    cp_async_commit();

    const float* as = As + (kt % T::kStages) * (T::kBM * T::kALd);
    const WT* bs = Bs + (kt % T::kStages) * (T::kBN * T::kBLd);
#pragma unroll
    for (int kk = 0; kk < T::kBK; kk += 16) {
      uint32_t af[T::kMTiles][4];
#pragma unroll
      for (int i = 0; i < T::kMTiles; ++i)
        a_fragment_from_f32<WT>(as + (wm0 + i * 16 + g) * T::kALd + kk + 2 * tig, T::kALd, af[i]);
      uint32_t bf[T::kNTiles][2];
#pragma unroll
      for (int j = 0; j < T::kNTiles; ++j) {
        const WT* r = bs + (wn0 + j * 8 + g) * T::kBLd + kk + 2 * tig;
        bf[j][0] = *reinterpret_cast<const uint32_t*>(r);
        bf[j][1] = *reinterpret_cast<const uint32_t*>(r + 8);
      }
#pragma unroll
      for (int i = 0; i < T::kMTiles; ++i)
#pragma unroll
        for (int j = 0; j < T::kNTiles; ++j) mma16816<WT>(acc[i][j], af[i], bf[j]);
    }
  }
  cp_async_wait<0>();

#pragma unroll
  for (int i = 0; i < T::kMTiles; ++i) {
#pragma unroll
    for (int j = 0; j < T::kNTiles; ++j) {
      const int col = n0 + wn0 + j * 8 + 2 * tig;
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const int row = m0 + wm0 + i * 16 + g + (r >= 2 ? 8 : 0);
        const int cc = col + (r & 1);
        if (row < a.m && cc < a.n) {
          float* yp = a.y + (size_t)row * a.ldy + cc;
          *yp = apply_epilogue(acc[i][j][r], a.bias ? a.bias[cc] : 0.f, a.epilogue, yp);
        }
      }
    }
  }
}

template <typename WT, typename T>
int launch_typed(const GemmArgs& a, cudaStream_t stream) {
  if (T::kSmemBytes > 48 * 1024)
    GN_CUDA_TRY(cudaFuncSetAttribute(gemm_tc_kernel<WT, T>, cudaFuncAttributeMaxDynamicSharedMemorySize, T::kSmemBytes));
  dim3 grid(ceil_div(a.n, T::kBN), ceil_div(a.m, T::kBM));
  gemm_tc_kernel<WT, T><<<grid, T::kThreads, T::kSmemBytes, stream>>>(a);
  GN_CUDA_CHECK_LAUNCH();
  return GN_CUDA_OK;
}

}  // namespace

int launch_gemm_tc(const GemmArgs& a, bool small_tiles, cudaStream_t stream) {
  if (a.w_dtype == GN_DTYPE_BF16)
    return small_tiles ? launch_typed<__nv_bfloat16, TcSmallTraits>(a, stream) : launch_typed<__nv_bfloat16, TcTraits>(a, stream);
  if (a.w_dtype == GN_DTYPE_F16)
    return small_tiles ? launch_typed<__half, TcSmallTraits>(a, stream) : launch_typed<__half, TcTraits>(a, stream);
  return GN_CUDA_EUNSUPPORTED;
}

}  // namespace gncuda
