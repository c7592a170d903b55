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

// An attribute of the current device, or `fallback` when it cannot be read (the error is cleared:
// launch planning then proceeds with the fallback and any real fault surfaces at the launch).
// runtime.cu.
int device_attribute(cudaDeviceAttr attr, int fallback);
// SM count of the current device (132 when it cannot be read).
inline int multiprocessors() { return device_attribute(cudaDevAttrMultiProcessorCount, 132); }
// Bytes of weights each of `warps` warps may ask L2 for ahead of use: a share of half of L2 (so that what
// is asked for first is not evicted by what is asked for last), a multiple of 16 (bulk prefetch sizes).
inline long long l2_prefetch_share(int warps) {
  const long long half_l2 = device_attribute(cudaDevAttrL2CacheSize, 50 << 20) / 2;
  return warps > 0 ? (half_l2 / warps) / 16 * 16 : 0;
}
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
// Asks L2 to fetch [p, p + bytes) (p 16-byte aligned, bytes a multiple of 16) by bulk prefetches of at
// most 1 MiB each, issued by the calling thread; sm_90+ only (a no-op before).
__device__ __forceinline__ void prefetch_l2_bulk(const void* p, size_t bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  const char* c = static_cast<const char*>(p);
  for (size_t done = 0; done < bytes;) {
    const unsigned chunk = (unsigned)(bytes - done < (1u << 20) ? bytes - done : (1u << 20));
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(__cvta_generic_to_global(c + done)), "r"(chunk)
                 : "memory");
    done += chunk;
  }
#else
  (void)p;
  (void)bytes;
#endif
}

// Programmatic dependent launch (sm_90+; no-ops when compiled for older targets, and at run time
// when the kernel was launched without the programmatic-serialization attribute):
// grid_dependency_wait() returns once the previous kernel on the stream has completed and its
// writes are visible, so everything before it may only read what that kernel does not write (the
// weights); grid_dependents_launch() lets the next kernel, if launched with the attribute, start
// its own blocks (their prologue) before this grid ends.
__device__ __forceinline__ void grid_dependency_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void grid_dependents_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
// First statement of a kernel launched by launch_dependent() (programmatic.cuh) that reads its
// inputs from the start: wait for the previous kernel, then let the next one be scheduled.
__device__ __forceinline__ void dependent_kernel_prologue() {
  grid_dependency_wait();
  grid_dependents_launch();
}

// Four consecutive elements of a KV cache row as floats: one 16-byte load of float32, one 8-byte
// load of bf16/f16 (p 16- resp. 8-byte aligned).
__device__ __forceinline__ float4 load4(const float* p) { return __ldg(reinterpret_cast<const float4*>(p)); }
__device__ __forceinline__ float4 load4(const __nv_bfloat16* p) {
  const uint2 w = __ldg(reinterpret_cast<const uint2*>(p));
  const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&w.x));
  const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&w.y));
  return make_float4(a.x, a.y, b.x, b.y);
}
__device__ __forceinline__ float4 load4(const __half* p) {
  const uint2 w = __ldg(reinterpret_cast<const uint2*>(p));
  const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&w.x));
  const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&w.y));
  return make_float4(a.x, a.y, b.x, b.y);
}
// load4 of element `at` of a buffer whose dtype is only known at run time.
__device__ __forceinline__ float4 load4_dyn(const void* p, int dtype, size_t at) {
  if (dtype == GN_DTYPE_BF16) return load4(static_cast<const __nv_bfloat16*>(p) + at);
  if (dtype == GN_DTYPE_F16) return load4(static_cast<const __half*>(p) + at);
  return load4(static_cast<const float*>(p) + at);
}

// float32 → storage type, round to nearest even.
template <typename T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <>
__device__ __forceinline__ __half from_f32<__half>(float v) { return __float2half_rn(v); }

// Load element i of a buffer whose dtype is only known at run time.
__device__ __forceinline__ float load_dyn(const void* p, int dtype, size_t i) {
  if (dtype == GN_DTYPE_BF16) return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
  if (dtype == GN_DTYPE_F16) return __half2float(static_cast<const __half*>(p)[i]);
  return static_cast<const float*>(p)[i];
}

// gelu_new: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), as Hugging Face's NewGELUActivation,
// evaluated as the identical x / (1 + exp(-2u)) (as the CPU kernels and the oracle do): for negative x,
// 1 + tanh(u) cancels and loses the result's relative accuracy (at x = -4 about 2e-3), the sigmoid form
// does not. Past x ~ -10 exp overflows to inf and the result is -0, where the true value is below 1e-40.
// (A correctly rounded reciprocal and a product rather than a division: IEEE division's inlined slow
// path made every GEMM epilogue instantiation larger, gemm_gemv.o's sm_90a code 0.90 -> 1.52 MB, against
// 0.96 MB this way; the result is within 1.5 ulp of the quotient.)
__device__ __forceinline__ float gelu_new(float x) {
  const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);  // sqrt(2/pi) (x + 0.044715 x^3)
  return x * __frcp_rn(1.0f + expf(-2.0f * u));
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

// Sums C values per lane (C a power of two <= 32) over the warp in C - 1 + 5 - log2(C) shuffles instead
// of C full butterflies: each step of a reduce-scatter butterfly halves the values a lane keeps (the
// half its partner does not), then the last 5 - log2(C) steps are an ordinary butterfly. Returns, in
// every lane, the warp's sum of value index lane / (32 / C). Fixed order: deterministic.
template <int C>
__device__ __forceinline__ float warp_reduce_scatter(float (&v)[C], int lane) {
  static_assert(C >= 1 && C <= 32 && (C & (C - 1)) == 0, "C must be a power of two <= 32");
#pragma unroll
  for (int half = C / 2, o = 16; half >= 1; half /= 2, o /= 2) {
    const bool upper = (lane & o) != 0;
#pragma unroll
    for (int i = 0; i < half; ++i) {
      const float send = upper ? v[i] : v[i + half];
      const float keep = upper ? v[i + half] : v[i];
      v[i] = keep + __shfl_xor_sync(0xffffffffu, send, o);
    }
  }
  float s = v[0];
#pragma unroll
  for (int o = 16 / C; o >= 1; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
  return s;
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
