// cp.async (sm_80+): 16-byte copies from global to shared memory that bypass the registers and
// complete in commit groups, for the kernels that stage tiles ahead of their use.
#pragma once
#include <cuda_runtime.h>
#include <stdint.h>

namespace gncuda {

// Copies 16 bytes gmem -> smem_addr (a shared-state-space address); pred false writes 16 zero bytes
// and reads nothing (gmem must still be a valid address expression).
__device__ __forceinline__ void cp_async16(uint32_t smem_addr, const void* gmem, bool pred) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr), "l"(gmem), "r"(pred ? 16 : 0));
}
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool pred) {
  cp_async16(static_cast<uint32_t>(__cvta_generic_to_shared(smem)), gmem, pred);
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
// Waits until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

}  // namespace gncuda
