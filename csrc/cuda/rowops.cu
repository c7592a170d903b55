// Row-wise ops: layer norm, embedding gather, row gather, argmax.
#include <limits.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda/common.cuh"
#include "cuda/programmatic.cuh"

using namespace gncuda;

namespace {

constexpr int kRowThreads = 256;

// A layer-normed value as stored: fp32, or rounded to nearest even to a 16-bit type (the rounding of
// the wgmma GEMMs' x pass, wgmma_x16.cuh: a 16-bit output is what that pass would make of the fp32 one).
__device__ __forceinline__ float ln_out(float v, float) { return v; }
__device__ __forceinline__ __nv_bfloat16 ln_out(float v, __nv_bfloat16) { return __float2bfloat16_rn(v); }
__device__ __forceinline__ __half ln_out(float v, __half) { return __float2half_rn(v); }

// Rows of up to kRowThreads * kLnRegs elements: each thread keeps its elements in registers, so
// the row is read from memory once (the same two fp32 passes and summation order as
// layernorm_kernel below, hence the same result). OutT: float, __nv_bfloat16 or __half.
constexpr int kLnRegs = 8;
template <typename OutT>
__global__ void layernorm_regs_kernel(const float* __restrict__ x, int dim, int ldx,
                                      const float* __restrict__ gamma, const float* __restrict__ beta,
                                      float eps, OutT* y, int ldy) {
  dependent_kernel_prologue();  // launched by launch_dependent()
  __shared__ float scratch[32];
  const float* xr = x + (size_t)blockIdx.x * ldx;
  OutT* yr = y + (size_t)blockIdx.x * ldy;
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
    if (i < dim) yr[i] = ln_out((v[j] - mean) * rstd * gamma[i] + beta[i], OutT());
  }
}

// One block per row; two passes over the row (mean, then centred variance) in fp32.
template <typename OutT>
__global__ void layernorm_kernel(const float* __restrict__ x, int dim, int ldx,
                                 const float* __restrict__ gamma, const float* __restrict__ beta,
                                 float eps, OutT* y, int ldy) {
  dependent_kernel_prologue();  // launched by launch_dependent()
  __shared__ float scratch[32];
  const float* xr = x + (size_t)blockIdx.x * ldx;
  OutT* yr = y + (size_t)blockIdx.x * ldy;
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
  for (int i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = ln_out((xr[i] - mean) * rstd * gamma[i] + beta[i], OutT());
}

template <typename OutT>
int launch_layernorm(const float* d_x, int rows, int dim, int ldx, const float* d_gamma, const float* d_beta, float eps,
                     OutT* d_y, int ldy, cudaStream_t stream) {
  return launch_dependent(dim <= kRowThreads * kLnRegs ? layernorm_regs_kernel<OutT> : layernorm_kernel<OutT>,
                          dim3(rows), dim3(kRowThreads), 0, stream, d_x, dim, ldx, d_gamma, d_beta, eps, d_y, ldy);
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
  return launch_layernorm(d_x, rows, dim, ldx, d_gamma, d_beta, eps, d_y, ldy, as_stream(stream));
}

extern "C" int gn_cuda_layernorm_x16(const float* d_x, int rows, int dim, int ldx, const float* d_gamma,
                                     const float* d_beta, float eps, void* d_y16, int y_dtype, int ldy, void* stream) {
  GN_CUDA_REQUIRE(rows >= 0 && dim > 0 && ldx >= dim && ldy >= dim, GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(y_dtype == GN_DTYPE_BF16 || y_dtype == GN_DTYPE_F16, GN_CUDA_EINVAL);
  if (rows == 0) return GN_CUDA_OK;
  GN_CUDA_REQUIRE(d_x && d_gamma && d_beta && d_y16, GN_CUDA_EINVAL);
  if (y_dtype == GN_DTYPE_BF16)
    return launch_layernorm(d_x, rows, dim, ldx, d_gamma, d_beta, eps, static_cast<__nv_bfloat16*>(d_y16), ldy,
                            as_stream(stream));
  return launch_layernorm(d_x, rows, dim, ldx, d_gamma, d_beta, eps, static_cast<__half*>(d_y16), ldy, as_stream(stream));
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
