// One row of fp32 values copied into a block's shared memory, for the per-row sampling kernels (draw.cu,
// candidates.cu) that read their row several times: run 4 (H200) timed the candidates kernel at 53 us
// for one row of GPT-2's vocabulary, its five passes each a latency-bound walk over 201 KB of L2 by one
// SM. Staged once with wide loads, the passes read shared memory instead. A 50257-float row (201 KB)
// fits on Hopper (227 KB per block), not on Ampere (163 KB) or Ada (99 KB): there the kernels read global
// memory as before (staged_row_limit answers which).
#pragma once
#include <atomic>

#include "cuda/common.cuh"
#include "cuda/row_stage_layout.h"

namespace gncuda {

// Copies row[0, cols) into shared memory with the block's kThreads threads and returns where it lies:
// s_row + (0..3), placed so that row's 16-byte-aligned middle lands on 16-byte boundaries. Scalar loads
// up to the first 16-byte boundary of row, then float4 loads (kUnroll per thread in flight) stored as
// float4, then the scalar tail; ends with __syncthreads(). Every thread of the block must call it.
// row: [cols] fp32 (global, 4-byte aligned); s_row: [staged_row_floats(cols)] fp32 (shared, 16-byte aligned).
template <int kThreads>
__device__ __forceinline__ const float* stage_row(const float* __restrict__ row, int cols, float* s_row) {
  constexpr int kUnroll = 4;
  const int tid = threadIdx.x;
  const StagedRowLayout lay = staged_row_layout(reinterpret_cast<uintptr_t>(row), cols);
  const int head = lay.head, body = lay.body;
  float* dst = s_row + lay.offset;  // dst + head is 16-byte aligned, as row + head is
  if (tid < head) dst[tid] = row[tid];
  const float4* src4 = reinterpret_cast<const float4*>(row + head);
  float4* dst4 = reinterpret_cast<float4*>(dst + head);
  int q = tid;
  for (; q + (kUnroll - 1) * kThreads < body; q += kUnroll * kThreads) {  // kUnroll loads, then their stores
    float4 v[kUnroll];
#pragma unroll
    for (int j = 0; j < kUnroll; ++j) v[j] = __ldg(src4 + q + j * kThreads);
#pragma unroll
    for (int j = 0; j < kUnroll; ++j) dst4[q + j * kThreads] = v[j];
  }
  for (; q < body; q += kThreads) dst4[q] = __ldg(src4 + q);
  for (int c = lay.tail_begin + tid; c < cols; c += kThreads) dst[c] = row[c];
  __syncthreads();
  return dst;
}

// The largest staged row, in bytes, `kernel` takes on the current device: what a block may opt in to,
// less the kernel's static shared memory and a reserve, its limit raised to that on the first call per
// device; 44 KB (within the default 48) where that cannot be done. `state`: one word per device ordinal
// (kStageDevices of them, zero-initialised: not yet asked).
constexpr int kStageDevices = 64;
template <typename Kernel>
int staged_row_limit(Kernel kernel, std::atomic<int>* state) {
  constexpr int kDefault = 44 * 1024;  // 48 KB without opting in, less room for static shared memory (< 4 KB)
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= kStageDevices) {
    (void)cudaGetLastError();
    return kDefault;
  }
  int known = state[dev].load(std::memory_order_acquire);
  if (known == 0) {
    cudaFuncAttributes fa{};
    int optin = 0, limit = kDefault;
    bool failed = true;
    if (cudaFuncGetAttributes(&fa, kernel) == cudaSuccess &&
        cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) == cudaSuccess) {
      const int room = optin - static_cast<int>(fa.sharedSizeBytes) - 1024;
      failed = room > kDefault && cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, room) != cudaSuccess;
      if (room > kDefault && !failed) limit = room;
    }
    if (failed) (void)cudaGetLastError();  // (only our own error: an earlier one stays for its caller)
    known = limit;
    state[dev].store(known, std::memory_order_release);
  }
  return known;
}

// The dynamic shared memory a staged launch of `staged` (a kernel's staged instantiation) takes for rows
// of `cols`, or 0 when it is not to be staged: row staging off (gn_cuda_row_stage_enabled), or the row
// larger than the block may hold on this device.
template <typename Kernel>
size_t staged_row_bytes(Kernel staged, std::atomic<int>* state, int cols) {
  const size_t bytes = staged_row_floats(cols) * sizeof(float);
  if (!gn_cuda_row_stage_enabled()) return 0;
  return bytes <= static_cast<size_t>(staged_row_limit(staged, state)) ? bytes : 0;
}

}  // namespace gncuda
