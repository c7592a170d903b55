// grid_barrier.h on the GPU: gpu-scope acquire/release atomics in PTX, and the block-level wrapper
// (every thread of every block calls grid_sync; thread 0 of each block takes part in the barrier).
#pragma once
#include "cuda/common.cuh"
#include "cuda/grid_barrier.h"

namespace gncuda {

struct DeviceBarrierOps {
  __device__ __forceinline__ unsigned int load_acquire(const unsigned int* p) const {
    unsigned int v;
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
  }
  __device__ __forceinline__ unsigned int fetch_add_acq_rel(unsigned int* p, unsigned int v) const {
    unsigned int old;
    asm volatile("atom.acq_rel.gpu.global.add.u32 %0, [%1], %2;" : "=r"(old) : "l"(p), "r"(v) : "memory");
    return old;
  }
  __device__ __forceinline__ void store_relaxed(unsigned int* p, unsigned int v) const {
    asm volatile("st.relaxed.gpu.global.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
  }
  __device__ __forceinline__ void store_release(unsigned int* p, unsigned int v) const {
    asm volatile("st.release.gpu.global.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
  }
  __device__ __forceinline__ void pause() const { __nanosleep(32); }
};

// Polls before a block gives up on the others (a trap: the launch fails with an error the host sees,
// instead of hanging). Far above any real wait: a phase of a decode layer lasts microseconds.
constexpr long long kGridBarrierMaxPolls = 1ll << 24;

// Every thread of the block: the block's writes so far are visible to every block after it returns,
// and theirs to this one. The grid must be wholly resident (cooperative launch).
__device__ __forceinline__ void grid_sync(GridBarrierState* b) {
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    DeviceBarrierOps ops;
    if (!grid_barrier_wait(b, gridDim.x * gridDim.y * gridDim.z, ops, kGridBarrierMaxPolls)) __trap();
    __threadfence();
  }
  __syncthreads();
}

}  // namespace gncuda
