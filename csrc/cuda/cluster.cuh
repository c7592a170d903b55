// Thread-block clusters (compute capability 9.0; PTX ISA "Cluster of Cooperative Thread Arrays"):
// the calling block's rank, the cluster-wide barrier, and loads from another block's shared memory
// (distributed shared memory). For kernels launched with a cluster dimension; compiled only into
// sm_90+ code (older targets get a trap: their launchers never run such a kernel).
// Used by gemm_wgmma_tma.cu (clusters of two sharing W tiles) and gemm_decode_tc.cu (k split over
// a cluster, partials added through distributed shared memory).
#pragma once
#include <stdint.h>

namespace gncuda {
namespace cluster {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
__device__ __forceinline__ uint32_t rank() {
  uint32_t r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
  return r;
}
// Every thread of every block of the cluster (all threads of each warp: .aligned) meets here; shared
// memory writes and barrier initialisations before it are visible to the whole cluster after it.
__device__ __forceinline__ void sync() {
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;\n" ::: "memory");
}
// The float at `p` (this block's shared memory) in block `r` of the cluster: the same shared offset
// mapped into that block's window (mapa), then read across the cluster.
__device__ __forceinline__ float load_f32(const float* p, uint32_t r) {
  const uint32_t local = static_cast<uint32_t>(__cvta_generic_to_shared(p));
  uint32_t remote;
  float v;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(remote) : "r"(local), "r"(r));
  asm volatile("ld.shared::cluster.f32 %0, [%1];\n" : "=f"(v) : "r"(remote) : "memory");
  return v;
}
#else
__device__ __forceinline__ uint32_t rank() { __trap(); return 0; }
__device__ __forceinline__ void sync() { __trap(); }
__device__ __forceinline__ float load_f32(const float*, uint32_t) { __trap(); return 0.f; }
#endif

}  // namespace cluster
}  // namespace gncuda
