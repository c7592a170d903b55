// The order in which the sampling prefilter ranks logits (Backend::select_candidates): an unsigned
// key that grows with the value, with NaN below everything (-Infinity included) and -0 equal to +0,
// so that "key >= key(t)" is "value >= t" for every non-NaN t, as cpu/sampling.h compares values.
// Shared by the CUDA kernel (candidates.cu) and the host implementations.
#pragma once
#include <cstdint>
#include <cstring>

#include "cuda/host_device.h"

namespace gptneo {

GN_HD uint32_t candidate_key(float v) {
  if (v != v) return 0u;   // NaN: the lowest key
  if (v == 0.f) v = 0.f;   // -0 → +0
#if defined(__CUDA_ARCH__)
  const uint32_t b = __float_as_uint(v);
#else
  uint32_t b;
  std::memcpy(&b, &v, sizeof b);
#endif
  // Negative values: all bits flipped (larger magnitude → smaller key); non-negative: sign bit set.
  // -Infinity maps to 0x007fffff, above NaN's 0.
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

}  // namespace gptneo
