// Pieces shared by the two decode GEMV kernels (gemm_gemv.cu, gemm_gemv_stream.cu): widening a
// 16-byte load of W to floats, staging the x rows in shared memory, layer-norming them there.
#pragma once
#include "cuda/common.cuh"
#include "cuda/ln_rows_plan.h"

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

// This thread's part of the staged layer norm (ln_rows_plan.h).
template <int warps>
__device__ __forceinline__ LnGroup ln_group(int m) {
  return ln_group_of((int)threadIdx.x, m, warps);
}

// The first kLnPrefetch quads of gamma and beta this thread normalises (round 0), in registers.
constexpr int kLnPrefetch = 2;
struct LnPrefetch {
  float4 g[kLnPrefetch], b[kLnPrefetch];
};

__device__ __forceinline__ bool ln_vector_ok(const float* gamma, const float* beta) {
  return ((reinterpret_cast<uintptr_t>(gamma) | reinterpret_cast<uintptr_t>(beta)) & 15u) == 0;
}

// Reads only gamma and beta (weights): may run before grid_dependency_wait().
template <int warps>
__device__ __forceinline__ LnPrefetch ln_prefetch(int m, int k, const float* gamma, const float* beta) {
  LnPrefetch f;
  const LnGroup grp = ln_group<warps>(m);
  const bool vec = ln_vector_ok(gamma, beta);
#pragma unroll
  for (int i = 0; i < kLnPrefetch; ++i) {
    const int q = grp.tid + i * grp.threads;
    const bool in = vec && grp.row < m && q < k / 4;
    f.g[i] = in ? __ldg(reinterpret_cast<const float4*>(gamma) + q) : make_float4(0.f, 0.f, 0.f, 0.f);
    f.b[i] = in ? __ldg(reinterpret_cast<const float4*>(beta) + q) : make_float4(0.f, 0.f, 0.f, 0.f);
  }
  return f;
}

// Layer norm of m staged rows of k elements in place, by the whole block: the block's warps split
// into groups, one row each, whose threads take the row a quad (4 elements) at a time
// (ln_rows_plan.h). Mean, then centred variance, each an fp32 sum over the threads' quads, warp
// shuffles, then the group's warps through shared memory (another summation order than
// layernorm_kernel's; both fp32). Every thread of the block must call it (it has barriers); the
// caller syncs before (rows staged) and after (rows normalised). It used to be one warp per row with
// a scalar gamma/beta load per element: at m = 1 and k = 2048, seven warps idle while one walked ~64
// dependent L2 round trips, the likely reason the folded layer norm measured slower than a separate
// kernel (NOTES round 8). pre: the first quads of gamma and beta (ln_prefetch), requested earlier.
//   xs: [m, xs_ld] fp32 (shared), gamma, beta: [k] fp32 (global); k % 4 == 0, xs_ld % 4 == 0
template <int warps>
__device__ __forceinline__ void layernorm_staged_rows(float* xs, int xs_ld, int m, int k, const float* gamma,
                                                      const float* beta, float eps, const LnPrefetch& pre) {
  __shared__ float red[2][warps];  // per-warp partial sums: [0] mean pass, [1] variance pass
  const LnGroup grp = ln_group<warps>(m);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, quads = k / 4;
  const int first_warp = warp - grp.tid / 32;  // the group's first warp
  const bool vec = ln_vector_ok(gamma, beta);
  for (int base = 0; base < m; base += grp.rows) {
    const int r = base + grp.row;
    const bool active = r < m;
    float4* xr = reinterpret_cast<float4*>(xs + (size_t)(active ? r : 0) * xs_ld);  // 16-byte aligned
    float s = 0.f;
    if (active) {
#pragma unroll 4
      for (int q = grp.tid; q < quads; q += grp.threads) {
        const float4 v = xr[q];
        s += (v.x + v.y) + (v.z + v.w);
      }
    }
    s = warp_sum(s);
    if (lane == 0) red[0][warp] = s;
    __syncthreads();
    float total = 0.f;
    for (int w = 0; w < grp.threads / 32; ++w) total += red[0][first_warp + w];
    const float mean = total / k;
    float v2 = 0.f;
    if (active) {
#pragma unroll 4
      for (int q = grp.tid; q < quads; q += grp.threads) {
        const float4 v = xr[q];
        const float a = v.x - mean, b = v.y - mean, c = v.z - mean, d = v.w - mean;
        v2 += (a * a + b * b) + (c * c + d * d);
      }
    }
    v2 = warp_sum(v2);
    if (lane == 0) red[1][warp] = v2;
    __syncthreads();
    total = 0.f;
    for (int w = 0; w < grp.threads / 32; ++w) total += red[1][first_warp + w];
    const float rstd = rsqrtf(total / k + eps);
    // No barrier needed before the next round: a thread writes red[0] again only after every thread
    // passed this round's second barrier (so read red[0]), and red[1] only after the next round's first.
    if (!active) continue;
    auto normalize = [&](int q, const float4& g, const float4& b) {
      float4 v = xr[q];
      v.x = (v.x - mean) * rstd * g.x + b.x;
      v.y = (v.y - mean) * rstd * g.y + b.y;
      v.z = (v.z - mean) * rstd * g.z + b.z;
      v.w = (v.w - mean) * rstd * g.w + b.w;
      xr[q] = v;
    };
    int q = grp.tid;
    if (vec && base == 0) {
#pragma unroll
      for (int i = 0; i < kLnPrefetch; ++i, q += grp.threads)
        if (q < quads) normalize(q, pre.g[i], pre.b[i]);
    }
    for (; q < quads; q += grp.threads) {
      if (vec) {
        normalize(q, __ldg(reinterpret_cast<const float4*>(gamma) + q), __ldg(reinterpret_cast<const float4*>(beta) + q));
      } else {
        normalize(q, make_float4(gamma[4 * q], gamma[4 * q + 1], gamma[4 * q + 2], gamma[4 * q + 3]),
                  make_float4(beta[4 * q], beta[4 * q + 1], beta[4 * q + 2], beta[4 * q + 3]));
      }
    }
  }
}

}  // namespace gncuda
