// Decode GEMM (m <= 8 per launch): streams W once at full width. Each warp owns R rows of W and
// keeps U 16-byte loads per row in flight; x chunks are staged in shared memory as fp32 (the
// whole of k when it fits: 8192 / m elements per chunk). When the matrix has too few rows to
// keep every SM busy, 2 or 4 warps of a block share a row group and split k between them
// (partial sums added in shared memory, no second pass). Optionally each staged x row is
// layer-normed first (gn_cuda_layernorm_gemv: one launch instead of layernorm + GEMV).
// Requires k % 8 == 0 and a 16-byte aligned W (gemm.cu checks).
#include "cuda/gemm_traits.cuh"
#include "cuda/gemv_rows.cuh"
#include "cuda/programmatic.cuh"

namespace gncuda {
namespace {

using G = GemvTraits;

// LN: layer-norm the staged x rows first (a separate instantiation, so that the plain kernels'
// register allocation is unchanged by it).
template <typename WT, int R, int U, bool LN>
__global__ void __launch_bounds__(G::kWarps * 32) gemv_kernel(GemmArgs a, int ks) {
  LnPrefetch ln{};  // gamma and beta are weights: requested before waiting for the previous kernel
  if constexpr (LN) ln = ln_prefetch<G::kWarps>(a.m, a.k, a.ln_gamma, a.ln_beta);
  dependent_kernel_prologue();  // launched by launch_dependent()
  constexpr int V = 16 / sizeof(WT);  // elements per 16-byte load
  constexpr int kXs = G::kMaxM * G::kChunk;
  __shared__ __align__(16) float xs[kXs];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  // ks warps share R rows and split each x chunk between them (interleaved 32*V-element strips).
  const int groups = G::kWarps / ks, wk = warp % ks;
  const int nbase = (blockIdx.x * groups + warp / ks) * R;
  // x chunk length: as much of k as the m staged rows fit in xs (a multiple of 256 elements, so
  // every chunk starts 16-byte aligned in W).
  const int chunk = (kXs / a.m) & ~255;
  const WT* w = static_cast<const WT*>(a.w);

  float acc[G::kMaxM][R];
#pragma unroll
  for (int m = 0; m < G::kMaxM; ++m)
#pragma unroll
    for (int r = 0; r < R; ++r) acc[m][r] = 0.f;

  for (int k0 = 0; k0 < a.k; k0 += chunk) {
    const int kn = min(chunk, a.k - k0);  // a multiple of 8 (k % 8 == 0)
    const int step = 32 * V * ks;
    __syncthreads();
    stage_x_rows(xs, chunk, a.x, a.ldx, a.m, k0, kn);
    __syncthreads();
    if constexpr (LN) {
      // (the launcher guarantees one chunk: kn == k)
      layernorm_staged_rows<G::kWarps>(xs, chunk, a.m, kn, a.ln_gamma, a.ln_beta, a.ln_eps, ln);
      __syncthreads();
    }
    for (int kk0 = (wk * 32 + lane) * V; kk0 < kn; kk0 += step * U) {
      uint4 wv[R][U];
#pragma unroll
      for (int r = 0; r < R; ++r)
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const int kk = kk0 + u * step, n = nbase + r;
          wv[r][u] = (n < a.n && kk < kn)
                         ? __ldg(reinterpret_cast<const uint4*>(w + (size_t)n * a.k + k0 + kk))
                         : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int kk = kk0 + u * step;
        if (kk >= kn) break;
#pragma unroll
        for (int r = 0; r < R; ++r) {
          float wf[V];
          unpack16<WT>(wv[r][u], wf);
#pragma unroll
          for (int m = 0; m < G::kMaxM; ++m) {
            if (m < a.m) {
              const float* xr = xs + m * chunk + kk;
#pragma unroll
              for (int e = 0; e < V; ++e) acc[m][r] += xr[e] * wf[e];
            }
          }
        }
      }
    }
  }

  // Warp sums; with ks > 1 the partial sums of a row meet in shared memory (xs is free again),
  // and warp wk == 0 of the group adds them in a fixed order.
  float* red = xs;  // [warp][m][r]
  if (ks > 1) __syncthreads();
#pragma unroll
  for (int m = 0; m < G::kMaxM; ++m) {
    if (m >= a.m) break;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const float s = warp_sum(acc[m][r]);
      if (ks > 1) {
        if (lane == 0) red[(warp * G::kMaxM + m) * R + r] = s;
        continue;
      }
      const int n = nbase + r;
      if (lane == 0 && n < a.n) {
        float* yp = a.y + (size_t)m * a.ldy + n;
        *yp = apply_epilogue(s, a.bias ? a.bias[n] : 0.f, a.epilogue, yp);
      }
    }
  }
  if (ks == 1) return;
  __syncthreads();
  if (wk != 0) return;
  for (int e = lane; e < a.m * R; e += 32) {
    const int m = e / R, r = e - m * R, n = nbase + r;
    if (n >= a.n) continue;
    float s = 0.f;
    for (int j = 0; j < ks; ++j) s += red[((warp + j) * G::kMaxM + m) * R + r];
    float* yp = a.y + (size_t)m * a.ldy + n;
    *yp = apply_epilogue(s, a.bias ? a.bias[n] : 0.f, a.epilogue, yp);
  }
}

// Warps per row group: the fewest (1, 2 or 4) that give the grid kGemvTargetWarpsPerSm warps per
// SM, so that small matrices still keep every SM streaming.
int gemv_split(int n, int rows_per_warp) {
  const int sms = multiprocessors();
  const long long target = (long long)G::kTargetWarpsPerSm * sms, row_groups = ceil_div(n, rows_per_warp);
  int ks = 1;
  while (ks < G::kWarps && row_groups * ks < target) ks *= 2;
  return ks;
}

template <typename WT, int R, int U>
int launch_config(const GemmArgs& a, cudaStream_t stream) {
  const int ks = gemv_split(a.n, R);
  const dim3 grid(ceil_div(a.n, (G::kWarps / ks) * R)), block(G::kWarps * 32);
  return launch_dependent(a.ln_gamma != nullptr ? gemv_kernel<WT, R, U, true> : gemv_kernel<WT, R, U, false>, grid, block, 0,
                          stream, a, ks);
}

template <typename WT>
int launch_typed(const GemmArgs& a, cudaStream_t stream) {
  if (a.m >= G::kBatchedFromM) return launch_config<WT, G::kRowsBatched, G::kUnrollBatched>(a, stream);
  return launch_config<WT, G::kRowsSmallM, G::kUnrollSmallM>(a, stream);
}

}  // namespace

// The x chunk gemv_kernel stages for m rows: as much of k as fits, a multiple of 256 elements.
bool gemv_can_layernorm(int m, int k) {
  return m >= 1 && m <= G::kMaxM && k <= ((G::kMaxM * G::kChunk / m) & ~255);
}

// m > kMaxM (up to kMaxSlicedM) runs in slices of kMaxM rows, each streaming W again: still
// cheaper than a tile kernel whose grid would cover only a few SMs.
int launch_gemm_gemv(const GemmArgs& a, cudaStream_t stream) {
  if (a.m > G::kMaxSlicedM) return GN_CUDA_EUNSUPPORTED;
  if (a.ln_gamma != nullptr && !gemv_can_layernorm(a.m, a.k)) return GN_CUDA_EUNSUPPORTED;
  for (int m0 = 0; m0 < a.m; m0 += G::kMaxM) {
    GemmArgs s = a;
    s.x = a.x + (size_t)m0 * a.ldx;
    s.y = a.y + (size_t)m0 * a.ldy;
    s.m = min(G::kMaxM, a.m - m0);
    int st;
    if (a.w_dtype == GN_DTYPE_BF16) st = launch_typed<__nv_bfloat16>(s, stream);
    else if (a.w_dtype == GN_DTYPE_F16) st = launch_typed<__half>(s, stream);
    else st = launch_typed<float>(s, stream);
    if (st != GN_CUDA_OK) return st;
  }
  return GN_CUDA_OK;
}

}  // namespace gncuda
