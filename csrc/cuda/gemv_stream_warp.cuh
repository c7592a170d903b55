// One warp's share of the streaming decode GEMV (gemm_gemv_stream.cu): the weight loads of its items
// and the loop that multiplies them with the staged x rows, keeping the next item's loads in flight.
// A device function so that the persistent decode layer (decode_layer.cu) streams its projections
// with the same code, and so the same summation order (bit-identical results for the same R).
#pragma once
#include "cuda/gemm_traits.cuh"
#include "cuda/gemv_rows.cuh"
#include "cuda/gemv_stream_plan.h"

namespace gncuda {

// WT: weight type (bf16/f16); R: rows per group; MM: the largest m served (a.m <= MM).
template <typename WT, int R, int MM>
struct GemvStreamWarp {
  static constexpr int V = 16 / sizeof(WT);               // elements per 16-byte load
  static constexpr int U = gemv_stream_loads_per_row(R);  // loads per lane and row in one item

  // Weight loads of item i of warp `warp` (zeros past n, past k and past the warp's items: such loads
  // are not issued). Reads only W: may run before the previous kernel (or phase) has finished.
  //   W: [a.n, a.k] of WT, rows 16-byte aligned (k % 8 == 0)
  __device__ __forceinline__ static void load(const GemmArgs& a, const GemvStreamPlan& p, int warp, int i,
                                              uint4 (&buf)[R][U]) {
    const int lane = threadIdx.x & 31;
    const int first = gemv_stream_first_group(p, warp), items = gemv_stream_items(p, warp);
    const WT* w = static_cast<const WT*>(a.w);
    const int g = first + i / p.segments, s = i % p.segments;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const int n = g * R + r;
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int e = gemv_stream_element(s, u, lane, U, V);
        buf[r][u] = i < items && n < a.n && e < a.k ? __ldg(reinterpret_cast<const uint4*>(w + (size_t)n * a.k + e))
                                                    : make_uint4(0, 0, 0, 0);
      }
    }
  }

  // The whole block's warps call it after x is staged (and synced): y[m, n] = epilogue(xs[m] · W[n] + b[n])
  // for the warp's rows. wa holds item 0's loads (load(warp, 0)) on entry.
  //   xs: [a.m, a.k] fp32 (shared, 16-byte aligned rows), y: [a.m, a.ldy] fp32 (global)
  __device__ __forceinline__ static void run(const GemmArgs& a, const GemvStreamPlan& p, int warp, const float* xs,
                                             uint4 (&wa)[R][U]) {
    const int lane = threadIdx.x & 31;
    const int first = gemv_stream_first_group(p, warp), items = gemv_stream_items(p, warp);
    float acc[MM][R];
#pragma unroll
    for (int m = 0; m < MM; ++m)
#pragma unroll
      for (int r = 0; r < R; ++r) acc[m][r] = 0.f;

    // Multiply item i's weights with the staged x; after a group's last segment, its sums go out.
    auto compute = [&](int i, const uint4 (&buf)[R][U]) {
      const int g = first + i / p.segments, s = i % p.segments;
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int e = gemv_stream_element(s, u, lane, U, V);
        if (e >= a.k) break;  // e grows with u; xs has nothing past k
#pragma unroll
        for (int r = 0; r < R; ++r) {
          float wf[V];
          unpack16<WT>(buf[r][u], wf);
#pragma unroll
          for (int m = 0; m < MM; ++m) {
            if (m < a.m) {
              const float4* x4 = reinterpret_cast<const float4*>(xs + m * a.k + e);  // 16-byte aligned
#pragma unroll
              for (int j = 0; j < V / 4; ++j) {
                const float4 xv = x4[j];
                acc[m][r] += xv.x * wf[4 * j];
                acc[m][r] += xv.y * wf[4 * j + 1];
                acc[m][r] += xv.z * wf[4 * j + 2];
                acc[m][r] += xv.w * wf[4 * j + 3];
              }
            }
          }
        }
      }
      if (s != p.segments - 1) return;
      // The group's MM x R sums: one reduce-scatter over the warp, then one epilogue per output, written
      // by the first lane of the lanes holding it (one epilogue call site: the unrolled per-(m, r)
      // version made every instantiation ~200 KB of SASS).
      constexpr int C = MM * R, kLanesPerValue = 32 / C;
      float vals[C];
#pragma unroll
      for (int m = 0; m < MM; ++m)
#pragma unroll
        for (int r = 0; r < R; ++r) {
          vals[m * R + r] = acc[m][r];
          acc[m][r] = 0.f;
        }
      const float sum = warp_reduce_scatter<C>(vals, lane);
      const int idx = lane / kLanesPerValue, m = idx / R, n = g * R + idx % R;
      if (lane % kLanesPerValue == 0 && m < a.m && n < a.n) {
        float* yp = a.y + (size_t)m * a.ldy + n;
        *yp = apply_epilogue(sum, a.bias ? a.bias[n] : 0.f, a.epilogue, yp);
      }
    };

    uint4 wb[R][U];
    for (int i = 0; i < items; i += 2) {
      load(a, p, warp, i + 1, wb);
      compute(i, wa);
      if (i + 1 >= items) break;
      load(a, p, warp, i + 2, wa);
      compute(i + 1, wb);
    }
  }
};

}  // namespace gncuda
