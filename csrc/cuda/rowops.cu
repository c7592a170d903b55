// Row-wise ops: layer norm, embedding gather, row gather, argmax.
#include <limits.h>

#include "cuda/common.cuh"
#include "cuda/programmatic.cuh"

using namespace gncuda;

namespace {

constexpr int kRowThreads = 256;

// Rows of up to kRowThreads * kLnRegs elements: each thread keeps its elements in registers, so
// the row is read from memory once (the same two fp32 passes and summation order as
// layernorm_kernel below, hence the same result).
constexpr int kLnRegs = 8;
__global__ void layernorm_regs_kernel(const float* __restrict__ x, int dim, int ldx,
                                      const float* __restrict__ gamma, const float* __restrict__ beta,
                                      float eps, float* y, int ldy) {
  dependent_kernel_prologue();  // launched by launch_dependent()
  __shared__ float scratch[32];
  const float* xr = x + (size_t)blockIdx.x * ldx;
  float* yr = y + (size_t)blockIdx.x * ldy;
  float v[kLnRegs];
#pragma unroll
  for (int j = 0; j < kLnRegs; ++j) {
    const int i = threadIdx.x + j * kRowThreads;
    v[j] = i < dim ? xr[i] : 0.f;
  }
  float s = 0.f;
#pragma unroll
  for (int j = 0; j < kLnRegs; ++j) s += v[j];
  const float mean = block_sum(s, scratch) / dim;
  float var = 0.f;
#pragma unroll
  for (int j = 0; j < kLnRegs; ++j) {
    const float d = threadIdx.x + j * kRowThreads < dim ? v[j] - mean : 0.f;
    var += d * d;
  }
  const float rstd = rsqrtf(block_sum(var, scratch) / dim + eps);
  // y may alias x: each thread writes only the elements it read.
#pragma unroll
  for (int j = 0; j < kLnRegs; ++j) {
    const int i = threadIdx.x + j * kRowThreads;
    if (i < dim) yr[i] = (v[j] - mean) * rstd * gamma[i] + beta[i];
  }
}

// One block per row; two passes over the row (mean, then centred variance) in fp32.
__global__ void layernorm_kernel(const float* __restrict__ x, int dim, int ldx,
                                 const float* __restrict__ gamma, const float* __restrict__ beta,
                                 float eps, float* y, int ldy) {
  dependent_kernel_prologue();  // launched by launch_dependent()
  __shared__ float scratch[32];
  const float* xr = x + (size_t)blockIdx.x * ldx;
  float* yr = y + (size_t)blockIdx.x * ldy;
  float s = 0.f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) s += xr[i];
  const float mean = block_sum(s, scratch) / dim;
  float v = 0.f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    float d = xr[i] - mean;
    v += d * d;
  }
  const float rstd = rsqrtf(block_sum(v, scratch) / dim + eps);
  // y may alias x: every read of the row happened before the last block_sum's barrier.
  for (int i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = (xr[i] - mean) * rstd * gamma[i] + beta[i];
}

__global__ void embed_kernel(const int32_t* __restrict__ ids, const int32_t* __restrict__ positions,
                             const void* wte, int wte_dtype, int vocab, const void* wpe, int wpe_dtype,
                             int max_positions, int dim, float* __restrict__ out) {
  dependent_kernel_prologue();  // launched by launch_dependent()
  const int t = blockIdx.x;
  const int id = ids[t], pos = positions[t];
  float* o = out + (size_t)t * dim;
  if (id < 0 || id >= vocab || pos < 0 || pos >= max_positions) {
    for (int d = threadIdx.x; d < dim; d += blockDim.x) o[d] = __int_as_float(0x7fc00000);
    return;
  }
  const size_t wrow = (size_t)id * dim, prow = (size_t)pos * dim;
  for (int d = threadIdx.x; d < dim; d += blockDim.x)
    o[d] = load_dyn(wte, wte_dtype, wrow + d) + load_dyn(wpe, wpe_dtype, prow + d);
}

__global__ void gather_rows_kernel(const float* __restrict__ src, int ld_src, const int32_t* __restrict__ rows,
                                   int dim, float* __restrict__ dst) {
  dependent_kernel_prologue();  // launched by launch_dependent()
  const float* s = src + (size_t)rows[blockIdx.x] * ld_src;
  float* d = dst + (size_t)blockIdx.x * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) d[i] = s[i];
}

__device__ __forceinline__ void argmax_merge(float& best, int& idx, float v, int i) {
  if (v > best || (v == best && i < idx)) {
    best = v;
    idx = i;
  }
}

__global__ void argmax_rows_kernel(const float* __restrict__ x, int cols, int32_t* __restrict__ out) {
  dependent_kernel_prologue();  // launched by launch_dependent()
  __shared__ float s_val[32];
  __shared__ int s_idx[32];
  const float* xr = x + (size_t)blockIdx.x * cols;
  float best = -INFINITY;
  int idx = INT_MAX;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) argmax_merge(best, idx, xr[c], c);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    argmax_merge(best, idx, __shfl_xor_sync(0xffffffffu, best, o), __shfl_xor_sync(0xffffffffu, idx, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    s_val[warp] = best;
    s_idx[warp] = idx;
  }
  __syncthreads();
  if (warp == 0) {
    best = lane < (int)(blockDim.x >> 5) ? s_val[lane] : -INFINITY;
    idx = lane < (int)(blockDim.x >> 5) ? s_idx[lane] : INT_MAX;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
      argmax_merge(best, idx, __shfl_xor_sync(0xffffffffu, best, o), __shfl_xor_sync(0xffffffffu, idx, o));
    if (lane == 0) out[blockIdx.x] = idx == INT_MAX ? 0 : idx;
  }
}

}  // namespace

extern "C" int gn_cuda_layernorm(const float* d_x, int rows, int dim, int ldx, const float* d_gamma,
                                 const float* d_beta, float eps, float* d_y, int ldy, void* stream) {
  GN_CUDA_REQUIRE(rows >= 0 && dim > 0 && ldx >= dim && ldy >= dim, GN_CUDA_EINVAL);
  if (rows == 0) return GN_CUDA_OK;
  return launch_dependent(dim <= kRowThreads * kLnRegs ? layernorm_regs_kernel : layernorm_kernel, dim3(rows),
                          dim3(kRowThreads), 0, as_stream(stream), d_x, dim, ldx, d_gamma, d_beta, eps, d_y, ldy);
}

extern "C" int gn_cuda_embed(const int32_t* d_ids, const int32_t* d_positions, int tokens, const void* d_wte,
                             int wte_dtype, int vocab, const void* d_wpe, int wpe_dtype, int max_positions,
                             int dim, float* d_out, void* stream) {
  GN_CUDA_REQUIRE(tokens >= 0 && dim > 0 && valid_dtype(wte_dtype) && valid_dtype(wpe_dtype), GN_CUDA_EINVAL);
  if (tokens == 0) return GN_CUDA_OK;
  return launch_dependent(embed_kernel, dim3(tokens), dim3(kRowThreads), 0, as_stream(stream), d_ids, d_positions, d_wte,
                          wte_dtype, vocab, d_wpe, wpe_dtype, max_positions, dim, d_out);
}

extern "C" int gn_cuda_gather_rows(const float* d_src, int ld_src, const int32_t* d_rows, int count, int dim,
                                   float* d_dst, void* stream) {
  GN_CUDA_REQUIRE(count >= 0 && dim > 0 && ld_src >= dim, GN_CUDA_EINVAL);
  if (count == 0) return GN_CUDA_OK;
  return launch_dependent(gather_rows_kernel, dim3(count), dim3(kRowThreads), 0, as_stream(stream), d_src, ld_src, d_rows,
                          dim, d_dst);
}

extern "C" int gn_cuda_argmax_rows(const float* d_x, int rows, int cols, int32_t* d_out, void* stream) {
  GN_CUDA_REQUIRE(rows >= 0 && cols > 0, GN_CUDA_EINVAL);
  if (rows == 0) return GN_CUDA_OK;
  return launch_dependent(argmax_rows_kernel, dim3(rows), dim3(1024), 0, as_stream(stream), d_x, cols, d_out);
}
