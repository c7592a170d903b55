// Element-wise dtype conversion on the device (weights are uploaded as stored, then converted).
#include "cuda/common.cuh"

using namespace gncuda;

namespace {

__device__ __forceinline__ void store_dyn(void* p, int dtype, size_t i, float v) {
  if (dtype == GN_DTYPE_BF16) static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v);
  else if (dtype == GN_DTYPE_F16) static_cast<__half*>(p)[i] = __float2half_rn(v);
  else static_cast<float*>(p)[i] = v;
}

__global__ void convert_kernel(const void* src, int src_dtype, void* dst, int dst_dtype, size_t count) {
  size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
    store_dyn(dst, dst_dtype, i, load_dyn(src, src_dtype, i));
}

}  // namespace

extern "C" int gn_cuda_convert(const void* d_src, int src_dtype, void* d_dst, int dst_dtype,
                               size_t count, void* stream) {
  GN_CUDA_REQUIRE(valid_dtype(src_dtype) && valid_dtype(dst_dtype), GN_CUDA_EINVAL);
  if (count == 0) return GN_CUDA_OK;
  GN_CUDA_REQUIRE(d_src != nullptr && d_dst != nullptr, GN_CUDA_EINVAL);
  size_t blocks = (count + 255) / 256;
  if (blocks > 65535) blocks = 65535;
  convert_kernel<<<(unsigned)blocks, 256, 0, as_stream(stream)>>>(d_src, src_dtype, d_dst, dst_dtype, count);
  GN_CUDA_CHECK_LAUNCH();
  return GN_CUDA_OK;
}
