// Pieces of the online softmax shared by the tensor-core prefill kernels (attention_tc.cu with
// mma.sync, attention_wgmma.cu with wgmma). In both, a thread's accumulators cover two query rows (the
// fragment rows g and g + 8 of its warp's 16) and the four lanes of a quad share each row, so row
// statistics are reduced across the quad.
#pragma once
#include <limits.h>

namespace gncuda {

// Lowest and highest position among a warp's rows (pos0, pos1 of every lane; -1: no row). A warp
// without rows gives lo = INT_MAX, hi = -1.
__device__ __forceinline__ void warp_position_range(int pos0, int pos1, int* lo_out, int* hi_out) {
  int lo = INT_MAX, hi = -1;
  if (pos0 >= 0) lo = pos0, hi = pos0;
  if (pos1 >= 0) lo = min(lo, pos1), hi = max(hi, pos1);
  for (int o = 16; o > 0; o >>= 1) {
    lo = min(lo, __shfl_xor_sync(0xffffffffu, lo, o));
    hi = max(hi, __shfl_xor_sync(0xffffffffu, hi, o));
  }
  *lo_out = lo;
  *hi_out = hi;
}

// One key tile's update of the two rows' running maxima m0, m1 (log2 units) from this lane's maxima
// over the tile, mx0 and mx1: the quad's maxima are folded in; base* is what the tile's exponents
// subtract (0 for a row with nothing visible yet, max -inf, whose exponents are then all 0), corr*
// rescales what the running sums and outputs hold so far.
struct RowPairStep {
  float base0, base1, corr0, corr1;
};
__device__ __forceinline__ RowPairStep online_max_step(float mx0, float mx1, float& m0, float& m1) {
#pragma unroll
  for (int o2 = 1; o2 <= 2; o2 <<= 1) {
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, o2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, o2));
  }
  const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
  RowPairStep st;
  st.base0 = mn0 == -INFINITY ? 0.f : mn0;
  st.base1 = mn1 == -INFINITY ? 0.f : mn1;
  st.corr0 = exp2f(m0 - st.base0);
  st.corr1 = exp2f(m1 - st.base1);
  m0 = mn0;
  m1 = mn1;
  return st;
}

// The inverses of the two rows' softmax denominators from this lane's shares l0, l1 (summed over the
// quad); 0 for a row that saw no key.
__device__ __forceinline__ void quad_sum_inverses(float l0, float l1, float* inv0, float* inv1) {
#pragma unroll
  for (int o2 = 1; o2 <= 2; o2 <<= 1) {
    l0 += __shfl_xor_sync(0xffffffffu, l0, o2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, o2);
  }
  *inv0 = l0 > 0.f ? 1.f / l0 : 0.f;
  *inv1 = l1 > 0.f ? 1.f / l1 : 0.f;
}

}  // namespace gncuda
