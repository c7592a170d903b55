// Fallback GEMM with fp32 FMA tiles: any weight dtype, shape, stride or alignment.
#include "cuda/gemm_traits.cuh"

namespace gncuda {
namespace {

using S = SimtTraits;

template <typename WT>
__global__ void __launch_bounds__(SimtTraits::kThreads) gemm_simt_kernel(GemmArgs a) {
  __shared__ float xs[S::kBK][S::kBM + 4];  // k-major so each thread reads its rows/cols
  __shared__ float ws[S::kBK][S::kBN + 4];
  const WT* w = static_cast<const WT*>(a.w);
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int m0 = blockIdx.y * S::kBM, n0 = blockIdx.x * S::kBN;
  float acc[4][4] = {};
  for (int k0 = 0; k0 < a.k; k0 += S::kBK) {
    __syncthreads();
    for (int e = tid; e < S::kBM * S::kBK; e += S::kThreads) {
      const int r = e / S::kBK, kk = e % S::kBK, gk = k0 + kk;
      const int gm = m0 + r, gn = n0 + r;
      xs[kk][r] = (gm < a.m && gk < a.k) ? a.x[(size_t)gm * a.ldx + gk] : 0.f;
      ws[kk][r] = (gn < a.n && gk < a.k) ? to_f32(w[(size_t)gn * a.k + gk]) : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < S::kBK; ++kk) {
      float xv[4], wv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        xv[i] = xs[kk][ty + 16 * i];
        wv[i] = ws[kk][tx + 16 * i];
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += xv[i] * wv[j];
    }
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int row = m0 + ty + 16 * i;
    if (row >= a.m) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int col = n0 + tx + 16 * j;
      if (col >= a.n) continue;
      float* yp = a.y + (size_t)row * a.ldy + col;
      *yp = apply_epilogue(acc[i][j], a.bias ? a.bias[col] : 0.f, a.epilogue, yp);
    }
  }
}

template <typename WT>
int launch_typed(const GemmArgs& a, cudaStream_t stream) {
  dim3 grid(ceil_div(a.n, S::kBN), ceil_div(a.m, S::kBM));
  gemm_simt_kernel<WT><<<grid, S::kThreads, 0, stream>>>(a);
  GN_CUDA_CHECK_LAUNCH();
  return GN_CUDA_OK;
}

}  // namespace

int launch_gemm_simt(const GemmArgs& a, cudaStream_t stream) {
  if (a.w_dtype == GN_DTYPE_BF16) return launch_typed<__nv_bfloat16>(a, stream);
  if (a.w_dtype == GN_DTYPE_F16) return launch_typed<__half>(a, stream);
  return launch_typed<float>(a, stream);
}

}  // namespace gncuda
