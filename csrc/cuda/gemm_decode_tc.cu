// Batched-decode GEMM on tensor cores (GN_GEMM_DECODE_TC): y[m, n] = epilogue(x · Wᵀ + b) for
// m <= 64 with bf16/f16 weights, streaming W once. The roles are swapped (yᵀ = W · xᵀ): W is the
// mma A operand (16 weight rows per warp, read straight from global memory with 16-byte loads,
// kDecodeTcUnroll k-blocks in flight), x is the B operand (its m rows padded to NT*8), staged per
// chunk of k in shared memory already rounded to the weight dtype. Since a dot product does not
// care about the order of k, lane (g, t) of a warp loads the 8 contiguous elements
// [kb + 8t, kb + 8t + 8) of W rows g and g+8 and of x row g, and feeds them to two m16n8k16 steps
// as the logical k indices {2t, 2t+1, 2t+8, 2t+9}: elements 0-3 to the first step, 4-7 to the
// second; W and x use the same mapping, so every product pairs equal physical k.
// When n is small, ks warps of a block share a 16-row tile and split its k-blocks (partials
// added in shared memory in a fixed order). x is rounded to the weight dtype as in the other
// tensor-core kernel. Requires k % 8 == 0 and a 16-byte aligned W (gemm.cu checks).
#include "cuda/gemm_traits.cuh"
#include "cuda/mma.cuh"
#include "cuda/programmatic.cuh"

namespace gncuda {
namespace {

using T = DecodeTcTraits;

template <typename WT, int NT>
__global__ void __launch_bounds__(T::kWarps * 32) gemm_decode_tc_kernel(GemmArgs a, int ks, int chunk) {
  dependent_kernel_prologue();  // launched by launch_dependent()
  constexpr int U = T::kUnroll;
  __shared__ __align__(16) uint16_t xs[T::kSmemElems];  // [NT*8][chunk + 32] x as WT bits
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int stride = chunk + 32;  // 64 bytes mod 128: the 16-byte B reads of a quarter warp hit distinct banks
  const int tiles = T::kWarps / ks, wk = warp % ks;
  const int row0 = (blockIdx.x * tiles + warp / ks) * 16;
  const bool va = row0 + g < a.n, vb = row0 + g + 8 < a.n;
  const WT* w = static_cast<const WT*>(a.w);
  const WT* wa = w + (size_t)(va ? row0 + g : 0) * a.k + 8 * t;
  const WT* wb = w + (size_t)(vb ? row0 + g + 8 : 0) * a.k + 8 * t;
  const bool x_vec4 = a.ldx % 4 == 0 && (reinterpret_cast<uintptr_t>(a.x) & 15u) == 0;

  float acc[NT][4];
#pragma unroll
  for (int j = 0; j < NT; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;

  for (int k0 = 0; k0 < a.k; k0 += chunk) {
    const int kn = min(chunk, a.k - k0);  // a multiple of 8
    const int kn32 = (kn + 31) & ~31;     // whole k-blocks; x is zero past kn and past row m
    const int quads = kn32 >> 2;
    // The first weight loads of this chunk travel from DRAM to L2 while x is staged.
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int kb = (wk + u * ks) * 32;
      if (kb + 8 * t < kn) {
        if (va) prefetch_l2(wa + k0 + kb);
        if (vb) prefetch_l2(wb + k0 + kb);
      }
    }
    __syncthreads();  // the previous chunk is consumed
#pragma unroll 4
    for (int i = threadIdx.x; i < NT * 8 * quads; i += blockDim.x) {
      const int r = i / quads, e = (i - r * quads) * 4;
      float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
      if (r < a.m && e < kn) {
        const float* xr = a.x + (size_t)r * a.ldx + k0 + e;
        if (x_vec4) v = __ldg(reinterpret_cast<const float4*>(xr));
        else v = make_float4(xr[0], xr[1], xr[2], xr[3]);
      }
      *reinterpret_cast<uint2*>(xs + r * stride + e) = make_uint2(pack2<WT>(v.x, v.y), pack2<WT>(v.z, v.w));
    }
    __syncthreads();
    const int nkb = kn32 >> 5;
    for (int b0 = wk; b0 < nkb; b0 += ks * U) {
      uint4 ra[U], rb[U];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int kb = (b0 + u * ks) * 32;
        const bool in = kb + 8 * t < kn;  // false past the chunk too (kb >= kn32 >= kn)
        ra[u] = in && va ? __ldg(reinterpret_cast<const uint4*>(wa + k0 + kb)) : make_uint4(0, 0, 0, 0);
        rb[u] = in && vb ? __ldg(reinterpret_cast<const uint4*>(wb + k0 + kb)) : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int kb = (b0 + u * ks) * 32;
        if (kb >= kn32) break;  // warp-uniform
        const uint32_t a0[4] = {ra[u].x, rb[u].x, ra[u].y, rb[u].y};
        const uint32_t a1[4] = {ra[u].z, rb[u].z, ra[u].w, rb[u].w};
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          const uint4 xv = *reinterpret_cast<const uint4*>(xs + (8 * j + g) * stride + kb + 8 * t);
          const uint32_t b0r[2] = {xv.x, xv.y}, b1r[2] = {xv.z, xv.w};
          mma16816<WT>(acc[j], a0, b0r);
          mma16816<WT>(acc[j], a1, b1r);
        }
      }
    }
  }

  // acc[j][c]: W row row0 + g (+8 for c >= 2), x row 8j + 2t + (c & 1).
  if (ks > 1) {
    float* red = reinterpret_cast<float*>(xs);  // [warp][NT][4][32]
    __syncthreads();
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int c = 0; c < 4; ++c) red[((warp * NT + j) * 4 + c) * 32 + lane] = acc[j][c];
    __syncthreads();
    if (wk != 0) return;
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        float s = 0.f;
        for (int p = 0; p < ks; ++p) s += red[(((warp + p) * NT + j) * 4 + c) * 32 + lane];
        acc[j][c] = s;
      }
  }
#pragma unroll
  for (int j = 0; j < NT; ++j)
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const int m = 8 * j + 2 * t + (c & 1), n = row0 + g + (c >= 2 ? 8 : 0);
      if (m < a.m && n < a.n) {
        float* yp = a.y + (size_t)m * a.ldy + n;
        *yp = apply_epilogue(acc[j][c], a.bias ? a.bias[n] : 0.f, a.epilogue, yp);
      }
    }
}

// Warps per 16-row tile: the fewest (1, 2, 4 or 8) that give the grid kTargetWarpsPerSm warps per SM.
int tile_split(int n) {
  const int sms = multiprocessors();
  const long long target = (long long)T::kTargetWarpsPerSm * sms, tiles = ceil_div(n, 16);
  int ks = 1;
  while (ks < T::kWarps && tiles * ks < target) ks *= 2;
  return ks;
}

template <typename WT, int NT>
int launch_nt(const GemmArgs& a, cudaStream_t stream) {
  const int ks = tile_split(a.n);
  // The longest chunk whose NT*8 padded rows fit (a multiple of 64 elements).
  const int chunk = (T::kSmemElems / (NT * 8) - 32) & ~63;
  return launch_dependent(gemm_decode_tc_kernel<WT, NT>, dim3(ceil_div(a.n, 16 * (T::kWarps / ks))), dim3(T::kWarps * 32), 0,
                          stream, a, ks, chunk);
}

template <typename WT>
int launch_typed(const GemmArgs& a, cudaStream_t stream) {
  if (a.m <= 16) return launch_nt<WT, 2>(a, stream);
  if (a.m <= 32) return launch_nt<WT, 4>(a, stream);
  return launch_nt<WT, 8>(a, stream);
}

}  // namespace

int launch_gemm_decode_tc(const GemmArgs& a, cudaStream_t stream) {
  if (a.m > T::kMaxM) return GN_CUDA_EUNSUPPORTED;
  if (a.w_dtype == GN_DTYPE_BF16) return launch_typed<__nv_bfloat16>(a, stream);
  if (a.w_dtype == GN_DTYPE_F16) return launch_typed<__half>(a, stream);
  return GN_CUDA_EUNSUPPORTED;
}

}  // namespace gncuda
