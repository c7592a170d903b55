// mma.sync m16n8k16 (bf16/f16 operands, fp32 accumulate) and operand packing, shared by the
// tensor-core kernels (gemm_tc.cu, gemm_decode_tc.cu, attention_tc.cu; gemm_wgmma_ss.cu's rounding pass).
#pragma once
#include "cuda/common.cuh"

namespace gncuda {

// Two floats rounded (nearest even) to WT and packed, lo in the low 16 bits.
template <typename WT>
__device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <>
__device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}
template <>
__device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
  __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

// The m16n8k16 A fragment (16 rows x 16 k) of lane (g, t) from fp32 values in shared memory, rounded
// to WT: r0 points at (row g, k 2t) of the tile, ld is its row stride in floats (rows g + 8 are
// 8 * ld further, k + 8 is 8 further). Used by the tensor-core GEMMs, whose x tiles stay fp32.
template <typename WT>
__device__ __forceinline__ void a_fragment_from_f32(const float* r0, int ld, uint32_t* a) {
  const float* r1 = r0 + 8 * ld;
  const float2 v00 = *reinterpret_cast<const float2*>(r0);
  const float2 v10 = *reinterpret_cast<const float2*>(r1);
  const float2 v01 = *reinterpret_cast<const float2*>(r0 + 8);
  const float2 v11 = *reinterpret_cast<const float2*>(r1 + 8);
  a[0] = pack2<WT>(v00.x, v00.y);
  a[1] = pack2<WT>(v10.x, v10.y);
  a[2] = pack2<WT>(v01.x, v01.y);
  a[3] = pack2<WT>(v11.x, v11.y);
}

template <typename WT>
__device__ __forceinline__ void mma16816(float* c, const uint32_t* a, const uint32_t* b);
template <>
__device__ __forceinline__ void mma16816<__nv_bfloat16>(float* c, const uint32_t* a, const uint32_t* b) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
template <>
__device__ __forceinline__ void mma16816<__half>(float* c, const uint32_t* a, const uint32_t* b) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

}  // namespace gncuda
