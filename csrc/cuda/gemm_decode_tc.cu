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
//
// GN_GEMM_DECODE_TC_CLUSTER (compute capability 9.0): the same warp loop over one k segment per block,
// the blocks that share weight rows grouped in a cluster that adds their partials through distributed
// shared memory (decode_tc_split_plan.h says why and how the work is divided).
#include <atomic>

#include "cuda/cluster.cuh"
#include "cuda/decode_tc_split_plan.h"
#include "cuda/gemm_traits.cuh"
#include "cuda/mma.cuh"
#include "cuda/programmatic.cuh"

namespace gncuda {
namespace {

using T = DecodeTcTraits;

// acc[j][c] += the products over k in [k_begin, k_end) that warp `warp` of the block takes: W rows
// row0 + g (c < 2) and row0 + g + 8 (c >= 2) with x row 8j + 2t + (c & 1) (lane = 4g + t), over the
// 32-element k-blocks numbered wk, wk + ks, ... of each x chunk. xs: [NT*8][chunk + 32] (x as WT
// bits) in shared memory; every thread of the block calls this (it stages x between block barriers).
// k_begin is a multiple of 32 and k_end - k_begin a multiple of 8.
template <typename WT, int NT>
__device__ __forceinline__ void accumulate_k_range(const GemmArgs& a, int k_begin, int k_end, int ks, int chunk,
                                                   int row0, uint16_t* xs, float (&acc)[NT][4]) {
  constexpr int U = T::kUnroll;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int stride = chunk + 32;  // 64 bytes mod 128: the 16-byte B reads of a quarter warp hit distinct banks
  const int wk = warp % ks;
  const bool va = row0 + g < a.n, vb = row0 + g + 8 < a.n;
  const WT* w = static_cast<const WT*>(a.w);
  const WT* wa = w + (size_t)(va ? row0 + g : 0) * a.k + 8 * t;  // W [n][k]: rows g and g + 8 of the tile
  const WT* wb = w + (size_t)(vb ? row0 + g + 8 : 0) * a.k + 8 * t;
  const bool x_vec4 = a.ldx % 4 == 0 && (reinterpret_cast<uintptr_t>(a.x) & 15u) == 0;

  for (int k0 = k_begin; k0 < k_end; k0 += chunk) {
    const int kn = min(chunk, k_end - k0);  // a multiple of 8
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
}

template <typename WT, int NT>
__global__ void __launch_bounds__(T::kWarps * 32) gemm_decode_tc_kernel(GemmArgs a, int ks, int chunk) {
  dependent_kernel_prologue();  // launched by launch_dependent()
  __shared__ __align__(16) uint16_t xs[T::kSmemElems];  // [NT*8][chunk + 32] x as WT bits
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int tiles = T::kWarps / ks, wk = warp % ks;
  const int row0 = (blockIdx.x * tiles + warp / ks) * 16;

  float acc[NT][4];
#pragma unroll
  for (int j = 0; j < NT; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
  accumulate_k_range<WT, NT>(a, 0, a.k, ks, chunk, row0, xs, acc);

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

// GN_GEMM_DECODE_TC_CLUSTER. Grid (p.col_blocks, p.splits), clusters (1, p.splits, 1): block (c, s)
// takes weight rows [c * p.rows, +p.rows) over k split s (decode_tc_split_plan.h). Before waiting on the
// previous kernel it asks L2 for the first `prefetch_bytes` (a multiple of 16) of each of its rows' k
// segment (weights are never written by a kernel). Then every warp's partial goes to its block's shared
// memory, and block s of the cluster adds, for its share of the block's outputs, the partials of every
// block of the cluster (ranks 0, 1, ... in order; within a block the tile's warps in order) and stores
// the epilogue.
template <typename WT, int NT>
__global__ void __launch_bounds__(T::kWarps * 32, T::kClusterBlocksPerSm)
    gemm_decode_tc_cluster_kernel(GemmArgs a, DecodeTcSplitPlan p, int chunk, int prefetch_bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900  // (launched only where clusters exist: no code elsewhere)
  __shared__ __align__(16) uint16_t xs[T::kSmemElems];  // [NT*8][chunk + 32] x as WT bits; then part[]
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int split = blockIdx.y;  // == cluster::rank(): clusters are (1, splits, 1)
  const int k_begin = split_k_begin(p, split), k_end = split_k_end(a.k, p, split);
  const int first_row = blockIdx.x * p.rows, row0 = first_row + (warp / p.ks) * 16;
  static_assert(T::kWarps * NT * 128 * sizeof(float) <= sizeof(uint16_t) * T::kSmemElems, "part[] fits in xs");
  const int seg_bytes = (k_end - k_begin) * (int)sizeof(WT);  // a multiple of 16
  const int ask = prefetch_bytes < seg_bytes ? prefetch_bytes : seg_bytes;
  if (warp % p.ks == 0 && lane < 16 && row0 + lane < a.n && ask > 0)
    prefetch_l2_bulk(static_cast<const WT*>(a.w) + (size_t)(row0 + lane) * a.k + k_begin, ask);
  dependent_kernel_prologue();  // launched by launch_dependent_clustered()

  float acc[NT][4];
#pragma unroll
  for (int j = 0; j < NT; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
  accumulate_k_range<WT, NT>(a, k_begin, k_end, p.ks, chunk, row0, xs, acc);

  float* part = reinterpret_cast<float*>(xs);  // [warps][NT][4][32] (decode_tc_part_index)
  __syncthreads();                             // x is no longer read
#pragma unroll
  for (int j = 0; j < NT; ++j)
#pragma unroll
    for (int c = 0; c < 4; ++c) part[decode_tc_part_index(warp, j, c, lane, NT)] = acc[j][c];
  cluster::sync();  // every block's partials written, and visible across the cluster

  const int outputs = (T::kWarps / p.ks) * NT * 128;
  const int end = decode_tc_reduce_begin(outputs, p.splits, split + 1);
  for (int e = decode_tc_reduce_begin(outputs, p.splits, split) + threadIdx.x; e < end; e += blockDim.x) {
    const DecodeTcOutput o = decode_tc_output(e, NT);
    const int n = first_row + o.row;
    if (o.m >= a.m || n >= a.n) continue;
    float sum = 0.f;
    for (int r = 0; r < p.splits; ++r)
      for (int w = 0; w < p.ks; ++w)
        sum += cluster::load_f32(part + decode_tc_part_index(o.tile * p.ks + w, o.j, o.c, o.lane, NT), (uint32_t)r);
    float* yp = a.y + (size_t)o.m * a.ldy + n;
    *yp = apply_epilogue(sum, a.bias ? a.bias[n] : 0.f, a.epilogue, yp);
  }
  cluster::sync();  // no block leaves (freeing its shared memory) while another may still read it
#else
  __trap();
#endif
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
  const int chunk = decode_tc_chunk(NT, T::kSmemElems);
  return launch_dependent(gemm_decode_tc_kernel<WT, NT>, dim3(ceil_div(a.n, 16 * (T::kWarps / ks))), dim3(T::kWarps * 32), 0,
                          stream, a, ks, chunk);
}

template <typename WT>
int launch_typed(const GemmArgs& a, cudaStream_t stream) {
  if (a.m <= 16) return launch_nt<WT, 2>(a, stream);
  if (a.m <= 32) return launch_nt<WT, 4>(a, stream);
  return launch_nt<WT, 8>(a, stream);
}

constexpr int kMaxDevicesAsked = 16;

// The clustered kernel's plan on the current device: target two blocks per SM (16 warps).
DecodeTcSplitPlan cluster_plan(const GemmArgs& a) {
  return plan_decode_tc_split(a.n, a.k, T::kWarps, T::kClusterBlocksPerSm * multiprocessors(), T::kMaxClusterSplits,
                              T::kMinClusterKseg);
}

// Whether the device runs clusters of `splits` blocks of kernel<WT, NT> (a GPC holds them; MPS or a
// partitioned context may not place them): asked once per device and cluster size, remembered as
// 1 + answer (0: not asked) in a per-instantiation table.
template <typename WT, int NT>
bool clusters_fit(int splits, cudaStream_t stream) {
  static std::atomic<unsigned> asked[T::kMaxClusterSplits + 1][kMaxDevicesAsked] = {};
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || splits < 1 || splits > T::kMaxClusterSplits) return false;
  std::atomic<unsigned>* slot = dev < kMaxDevicesAsked ? &asked[splits][dev] : nullptr;
  if (slot != nullptr && slot->load(std::memory_order_relaxed) != 0) return slot->load(std::memory_order_relaxed) == 2;
  const dim3 cluster(1, splits, 1);
  const DependentLaunch launch(dim3(1, splits), dim3(T::kWarps * 32), 0, stream, &cluster);
  int clusters = 0;
  if (cudaOccupancyMaxActiveClusters(&clusters, gemm_decode_tc_cluster_kernel<WT, NT>, &launch.config) != cudaSuccess) {
    (void)cudaGetLastError();
    clusters = 0;
  }
  if (slot != nullptr) slot->store(clusters > 0 ? 2 : 1, std::memory_order_relaxed);
  return clusters > 0;
}

template <typename WT, int NT>
int launch_cluster_nt(const GemmArgs& a, cudaStream_t stream) {
  const DecodeTcSplitPlan p = cluster_plan(a);
  // Where such clusters cannot be placed, the unsplit kernel serves the shape (the same shapes).
  if (p.splits > 1 && !clusters_fit<WT, NT>(p.splits, stream)) return launch_nt<WT, NT>(a, stream);
  const int chunk = decode_tc_chunk(NT, T::kSmemElems);
  // Each block asks L2 for its rows' k segment, all of W while W fits in half of L2, else the same
  // fraction of every segment (the rest is read as it streams).
  const long long w_bytes = (long long)a.n * a.k * (long long)sizeof(WT);
  const long long half_l2 = device_attribute(cudaDevAttrL2CacheSize, 0) / 2;
  const long long seg_bytes = (long long)p.kseg * (long long)sizeof(WT);
  const long long prefetch = w_bytes <= half_l2 ? seg_bytes : seg_bytes * half_l2 / w_bytes;
  const int prefetch_bytes = (int)(prefetch & ~15LL);  // (the kernel clamps it to the last, shorter segment)
  return launch_dependent_clustered(gemm_decode_tc_cluster_kernel<WT, NT>, dim3(p.col_blocks, p.splits),
                                    dim3(1, p.splits, 1), dim3(T::kWarps * 32), 0, stream, a, p, chunk,
                                    prefetch_bytes);
}

template <typename WT>
int launch_cluster_typed(const GemmArgs& a, cudaStream_t stream) {
  if (a.m <= 16) return launch_cluster_nt<WT, 2>(a, stream);
  if (a.m <= 32) return launch_cluster_nt<WT, 4>(a, stream);
  return launch_cluster_nt<WT, 8>(a, stream);
}

}  // namespace

bool decode_tc_cluster_available() { return device_attribute(cudaDevAttrClusterLaunch, 0) != 0; }

int launch_gemm_decode_tc_cluster(const GemmArgs& a, cudaStream_t stream) {
  if (a.m > T::kMaxM || !decode_tc_cluster_available()) return GN_CUDA_EUNSUPPORTED;
  if (a.w_dtype == GN_DTYPE_BF16) return launch_cluster_typed<__nv_bfloat16>(a, stream);
  if (a.w_dtype == GN_DTYPE_F16) return launch_cluster_typed<__half>(a, stream);
  return GN_CUDA_EUNSUPPORTED;
}

int launch_gemm_decode_tc(const GemmArgs& a, cudaStream_t stream) {
  if (a.m > T::kMaxM) return GN_CUDA_EUNSUPPORTED;
  if (a.w_dtype == GN_DTYPE_BF16) return launch_typed<__nv_bfloat16>(a, stream);
  if (a.w_dtype == GN_DTYPE_F16) return launch_typed<__half>(a, stream);
  return GN_CUDA_EUNSUPPORTED;
}

}  // namespace gncuda
