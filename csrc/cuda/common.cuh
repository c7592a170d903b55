// Shared device helpers and error-check macros for the .cu files (never included by host C++).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "cuda/api.h"

// Returns the cudaError_t of a failing runtime call from the enclosing int-returning function.
#define GN_CUDA_TRY(expr)                              \
  do {                                                 \
    cudaError_t gn_err_ = (expr);                      \
    if (gn_err_ != cudaSuccess) return (int)gn_err_;   \
  } while (0)

// After a <<<>>> launch: returns the launch error (bad configuration, missing kernel image …).
#define GN_CUDA_CHECK_LAUNCH() GN_CUDA_TRY(cudaGetLastError())

#define GN_CUDA_REQUIRE(cond, status) \
  do {                                \
    if (!(cond)) return (status);     \
  } while (0)

namespace gncuda {

inline cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }
inline int ceil_div(int a, int b) { return (a + b - 1) / b; }
inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }
inline bool valid_dtype(int t) { return t == GN_DTYPE_F32 || t == GN_DTYPE_F16 || t == GN_DTYPE_BF16; }

// Element loads as float32 from the storage types.
__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

// Asks L2 to fetch the line holding p (no register, no fault on any mapped address); used to
// overlap a kernel's first weight reads with its x staging.
__device__ __forceinline__ void prefetch_l2(const void* p) { asm volatile("prefetch.L2 [%0];" ::"l"(p)); }

// Load element i of a buffer whose dtype is only known at run time.
__device__ __forceinline__ float load_dyn(const void* p, int dtype, size_t i) {
  if (dtype == GN_DTYPE_BF16) return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
  if (dtype == GN_DTYPE_F16) return __half2float(static_cast<const __half*>(p)[i]);
  return static_cast<const float*>(p)[i];
}

// gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as Hugging Face's NewGELUActivation.
__device__ __forceinline__ float gelu_new(float x) {
  const float k = 0.7978845608028654f;  // sqrt(2/pi)
  return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

__device__ __forceinline__ float apply_epilogue(float acc, float bias, int epilogue, const float* y) {
  float v = acc + bias;
  if (epilogue == GN_EPILOGUE_GELU_NEW) return gelu_new(v);
  if (epilogue == GN_EPILOGUE_ACCUMULATE) return *y + v;
  return v;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over a block whose size is a multiple of 32 (<= 1024). `scratch` holds 32 floats.
// Every thread gets the result. Contains __syncthreads(): call from all threads.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : 0.f;
  return warp_sum(v);
}

}  // namespace gncuda
