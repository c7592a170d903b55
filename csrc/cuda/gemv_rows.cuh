// Pieces shared by the two decode GEMV kernels (gemm_gemv.cu, gemm_gemv_stream.cu): widening a
// 16-byte load of W to floats, staging the x rows in shared memory, layer-norming them there.
#pragma once
#include "cuda/common.cuh"

namespace gncuda {

// One 16-byte load of W (4 fp32, or 8 bf16/f16 elements) -> 16 / sizeof(WT) floats.
template <typename WT>
__device__ __forceinline__ void unpack16(const uint4& v, float* out);
template <>
__device__ __forceinline__ void unpack16<float>(const uint4& v, float* out) {
  out[0] = __uint_as_float(v.x);
  out[1] = __uint_as_float(v.y);
  out[2] = __uint_as_float(v.z);
  out[3] = __uint_as_float(v.w);
}
template <>
__device__ __forceinline__ void unpack16<__nv_bfloat16>(const uint4& v, float* out) {
  const uint32_t u[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    out[2 * i] = __uint_as_float(u[i] << 16);
    out[2 * i + 1] = __uint_as_float(u[i] & 0xffff0000u);
  }
}
template <>
__device__ __forceinline__ void unpack16<__half>(const uint4& v, float* out) {
  const uint32_t u[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    __half2 h = *reinterpret_cast<const __half2*>(&u[i]);
    float2 f = __half22float2(h);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}

// x[m][k0 .. k0 + kn) -> xs[m * xs_ld + e] by the whole block (no barrier: the caller syncs). One flat
// loop, so that every thread has several independent loads in flight whatever m is; float4 loads
// when x's rows allow them (x 16-byte aligned, ldx % 4 == 0; kn and xs_ld multiples of 4).
//   x: [m, ldx] fp32 (global), xs: [m, xs_ld] fp32 (shared)
__device__ __forceinline__ void stage_x_rows(float* xs, int xs_ld, const float* x, int ldx, int m, int k0, int kn) {
  if (ldx % 4 == 0 && (reinterpret_cast<uintptr_t>(x) & 15u) == 0) {
    const int quads = kn >> 2;
#pragma unroll 8
    for (int i = threadIdx.x; i < m * quads; i += blockDim.x) {
      const int r = i / quads, e = (i - r * quads) * 4;
      *reinterpret_cast<float4*>(xs + r * xs_ld + e) =
          __ldg(reinterpret_cast<const float4*>(x + (size_t)r * ldx + k0 + e));
    }
  } else {
#pragma unroll 8
    for (int i = threadIdx.x; i < m * kn; i += blockDim.x) {
      const int r = i / kn, e = i - r * kn;
      xs[r * xs_ld + e] = x[(size_t)r * ldx + k0 + e];
    }
  }
}

// Layer norm of m staged rows of k elements in place, warp w of `warps` (the block's) taking rows w,
// w + warps, ...: mean,
// then centred variance, both fp32 passes over shared memory as in layernorm_kernel (rowops.cu;
// the summation order differs). No barrier: the caller syncs before and after.
//   xs: [m, xs_ld] fp32 (shared), gamma, beta: [k] fp32 (global)
template <int warps>
__device__ __forceinline__ void layernorm_staged_rows(float* xs, int xs_ld, int m, int k, const float* gamma,
                                                      const float* beta, float eps) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  for (int r = warp; r < m; r += warps) {
    float* xr = xs + r * xs_ld;
    float s = 0.f;
    for (int e = lane; e < k; e += 32) s += xr[e];
    const float mean = warp_sum(s) / k;
    float v = 0.f;
    for (int e = lane; e < k; e += 32) {
      const float d = xr[e] - mean;
      v += d * d;
    }
    const float rstd = rsqrtf(warp_sum(v) / k + eps);
    for (int e = lane; e < k; e += 32) xr[e] = (xr[e] - mean) * rstd * gamma[e] + beta[e];
  }
}

}  // namespace gncuda
