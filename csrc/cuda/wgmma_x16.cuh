// The wgmma GEMMs' A operand: x [m, k] fp32 rounded once to the weight's 16-bit type into a
// stream-ordered workspace (cudaMallocAsync: concurrent models on other streams never share it, and
// it is legal during CUDA graph capture). Shared by gemm_wgmma_ss.cu and gemm_wgmma_tma.cu.
#pragma once
#include <algorithm>
#include <atomic>

#include "cuda/gemm_traits.cuh"
#include "cuda/mma.cuh"

namespace gncuda {
namespace wgmma {

// x [m, k] fp32 (row stride ldx; k % 4 == 0, ldx % 4 == 0, 16-byte aligned) → x16 [m, k] of WT,
// dense, each value rounded to nearest even (pack2, as the mma.sync kernels round).
template <typename WT>
__global__ void round_rows_kernel(const float* __restrict__ x, int m, int k, int ldx, WT* __restrict__ x16) {
  const int quads = k / 4;
  const size_t total = (size_t)m * quads;
  for (size_t q = blockIdx.x * (size_t)blockDim.x + threadIdx.x; q < total; q += (size_t)gridDim.x * blockDim.x) {
    const size_t row = q / quads, c = (q % quads) * 4;
    const float4 v = *reinterpret_cast<const float4*>(x + row * ldx + c);
    uint2 packed;
    packed.x = pack2<WT>(v.x, v.y);
    packed.y = pack2<WT>(v.z, v.w);
    *reinterpret_cast<uint2*>(x16 + row * k + c) = packed;
  }
}

// Once per device: the default memory pool keeps what the workspace frees, so that a GEMM's
// cudaMallocAsync after a synchronize does not go back to the driver.
inline int keep_pool_memory() {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> kept[kMaxDevices];
  int dev = 0;
  GN_CUDA_TRY(cudaGetDevice(&dev));
  if (dev < 0 || dev >= kMaxDevices || kept[dev].load(std::memory_order_relaxed)) return GN_CUDA_OK;
  cudaMemPool_t pool;
  GN_CUDA_TRY(cudaDeviceGetDefaultMemPool(&pool, dev));
  uint64_t keep = UINT64_MAX;
  GN_CUDA_TRY(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
  kept[dev].store(1, std::memory_order_relaxed);
  return GN_CUDA_OK;
}

// Allocates x16 [a.m, a.k] of WT on `stream` and queues the rounding pass into it. *x16 = nullptr
// and GN_CUDA_OK when device memory is full. (with_rounded_x below owns the workspace's lifetime.)
template <typename WT>
int round_x(const GemmArgs& a, cudaStream_t stream, WT** x16) {
  *x16 = nullptr;
  // (Skipped while the stream is being captured into a graph, which owns its allocations anyway.)
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  GN_CUDA_TRY(cudaStreamIsCapturing(stream, &capturing));
  if (capturing == cudaStreamCaptureStatusNone) {
    const int kept = keep_pool_memory();
    if (kept != GN_CUDA_OK) return kept;
  }
  void* workspace = nullptr;
  const cudaError_t allocated = cudaMallocAsync(&workspace, (size_t)a.m * a.k * sizeof(WT), stream);
  if (allocated == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    return GN_CUDA_OK;
  }
  GN_CUDA_TRY(allocated);
  *x16 = static_cast<WT*>(workspace);
  const size_t quads = (size_t)a.m * (a.k / 4);
  const int blocks = (int)std::min<size_t>((quads + 255) / 256, 4096);
  round_rows_kernel<WT><<<blocks, 256, 0, stream>>>(a.x, a.m, a.k, a.ldx, *x16);
  const int status = static_cast<int>(cudaGetLastError());
  if (status != GN_CUDA_OK) {
    (void)cudaFreeAsync(workspace, stream);
    *x16 = nullptr;
  }
  return status;
}

// Queues gemm(x16) with x rounded into a workspace, then frees the workspace in stream order (after
// the GEMM has read it). Without the memory for it, runs the mma.sync kernel instead: same numerics
// (where y is fp32; a 16-bit y has no such fallback). x given rounded already (a.x16): gemm(a.x16).
template <typename WT, typename Gemm>
int with_rounded_x(const GemmArgs& a, cudaStream_t stream, Gemm&& gemm) {
  if (a.x16 != nullptr) return gemm(static_cast<const WT*>(a.x16));
  WT* x16 = nullptr;
  int status = round_x<WT>(a, stream, &x16);
  if (status != GN_CUDA_OK) return status;
  if (x16 == nullptr) return a.y16 != nullptr ? static_cast<int>(cudaErrorMemoryAllocation) : launch_gemm_tc(a, false, stream);
  status = gemm(static_cast<const WT*>(x16));
  const int freed = static_cast<int>(cudaFreeAsync(x16, stream));
  return status != GN_CUDA_OK ? status : freed;
}

}  // namespace wgmma
}  // namespace gncuda
