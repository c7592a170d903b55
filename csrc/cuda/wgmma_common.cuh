// Building blocks of the Hopper wgmma GEMM (gemm_wgmma_ss.cu): the launch bound of the sm_90a image
// and its stub, the B tile's cp.async loads, the epilogue from the D fragments, and the choice of the
// tile width.
#pragma once
#include <type_traits>

#include "cuda/cp_async.cuh"
#include "cuda/gemm_traits.cuh"
#include "cuda/wgmma_layout.h"
#include "cuda/wgmma_ops.cuh"

namespace gncuda {
namespace wgmma {

// Images built without the sm_90a feature set hold an empty stub with a different launch bound:
// the host reads the loaded image's maxThreadsPerBlock to learn which one the device runs
// (wgmma_image_loaded).
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define GN_WGMMA_BOUNDS __launch_bounds__(gncuda::wgmma::kThreads, 1)
#else
#define GN_WGMMA_BOUNDS __launch_bounds__(gncuda::wgmma::kStubThreads)
#endif

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// W rows n0 .. n0+BN-1, k-tile kt, into the swizzled B stage at shared address b_stage ([BN][kBK]
// 16-bit); zero-filled past n and k. kChunks: 16-byte chunks per thread (BN * kBK / 8 / kThreads).
template <typename WT, int kChunks>
__device__ __forceinline__ void load_b_tile(const GemmArgs& a, const WT* w, int n0, int kt, uint32_t b_stage) {
  const int tid = threadIdx.x, k0 = kt * kBK;
#pragma unroll
  for (int i = 0; i < kChunks; ++i) {
    const int c = tid + i * kThreads, row = b_chunk_row(c), col = b_chunk_k(c);
    const int gn = n0 + row, gk = k0 + col;
    const bool ok = gn < a.n && gk < a.k;
    cp_async16(b_stage + b_offset(row, col), ok ? w + (size_t)gn * a.k + gk : w, ok);
  }
}

// Shared address of the dynamic shared memory's base rounded up to a swizzle atom (1024 bytes: the
// 128-byte swizzle pattern is anchored there; the kernels' kSmemBytes include the slack).
__device__ __forceinline__ uint32_t atom_aligned_base(const void* smem_raw) {
  const uint32_t raw = static_cast<uint32_t>(__cvta_generic_to_shared(smem_raw));
  return (raw + kSwizzleAtomBytes - 1) & ~uint32_t(kSwizzleAtomBytes - 1);
}

// fence_operand on every accumulator: the compiler keeps their reads and writes on their side of a
// wgmma fence or wait.
template <int kAcc>
__device__ __forceinline__ void fence_accumulators(float* acc) {
#pragma unroll
  for (int i = 0; i < kAcc; ++i) fence_operand(acc[i]);
}
// The same for the registers of a register A operand.
template <int kRegs>
__device__ __forceinline__ void fence_fragments(uint32_t* regs) {
#pragma unroll
  for (int i = 0; i < kRegs; ++i) fence_operand(regs[i]);
}

// y rounded to nearest even to WT (the rounding of the x pass, wgmma_x16.cuh, so that a 16-bit y
// read by the next wgmma GEMM is the x16 that pass would have made of the fp32 y).
__device__ __forceinline__ __nv_bfloat16 round_to(float v, __nv_bfloat16) { return __float2bfloat16_rn(v); }
__device__ __forceinline__ __half round_to(float v, __half) { return __float2half_rn(v); }

// The epilogue straight from the D fragments of warpgroup wg (rows m0 + 64 wg ..): accumulator i of
// (warp, lane) is element (d_row, d_col); bias, gelu_new or accumulate (common.cuh apply_epilogue),
// bounds-checked against m and n; into fp32 y, or rounded to WT into y16 when that is set.
template <typename WT, int kAcc>
__device__ __forceinline__ void store_d_tile(const GemmArgs& a, const float* acc, int m0, int n0, int wg, int warp,
                                             int lane) {
  const int row0 = m0 + 64 * wg;
  WT* const y16 = static_cast<WT*>(a.y16);
#pragma unroll
  for (int i = 0; i < kAcc; ++i) {
    const int row = row0 + d_row(warp, lane, i), col = n0 + d_col(lane, i);
    if (row < a.m && col < a.n) {
      const size_t at = (size_t)row * a.ldy + col;
      if (y16 != nullptr) {
        y16[at] = round_to(apply_epilogue(acc[i], a.bias ? a.bias[col] : 0.f, a.epilogue, nullptr), WT());
      } else {
        float* yp = a.y + at;
        *yp = apply_epilogue(acc[i], a.bias ? a.bias[col] : 0.f, a.epilogue, yp);
      }
    }
  }
}
#endif

// 128 x 256 tiles unless 128 x 128 tiles (about half the time each) finish in fewer rounds of blocks
// over the SMs (e.g. 144 wide blocks on 132 SMs: 2 rounds of ~2T vs 3 rounds of ~T).
inline bool wide_tiles(const GemmArgs& a) {
  const long long sms = multiprocessors(), mt = ceil_div(a.m, kBM);
  const long long waves_wide = (ceil_div(a.n, 256) * mt + sms - 1) / sms;
  const long long waves_narrow = (ceil_div(a.n, 128) * mt + sms - 1) / sms;
  return 2 * waves_wide <= waves_narrow;
}

// Calls launch(WT{}, std::integral_constant<int, BN>{}) for the weight type and the tile width
// (wide_tiles) of this GEMM; EUNSUPPORTED for fp32 weights.
template <typename Launch>
int launch_for_tile(const GemmArgs& a, Launch&& launch) {
  using Wide = std::integral_constant<int, 256>;
  using Narrow = std::integral_constant<int, 128>;
  const bool wide = wide_tiles(a);
  if (a.w_dtype == GN_DTYPE_BF16) return wide ? launch(__nv_bfloat16{}, Wide{}) : launch(__nv_bfloat16{}, Narrow{});
  if (a.w_dtype == GN_DTYPE_F16) return wide ? launch(__half{}, Wide{}) : launch(__half{}, Narrow{});
  return GN_CUDA_EUNSUPPORTED;
}

}  // namespace wgmma
}  // namespace gncuda
