// The index math of the prefilter's radix select (candidates.cu), host-callable so that
// tests/cpu/candidates.cpp can run the kernel's passes on the host. A pass histograms one byte of
// the keys into 256 bins; the warp that then looks for the bin holding the wanted rank gives lane l
// the 8 bins 255 - 8l down to 248 - 8l, so lanes run in descending order of value.
#pragma once
#include <cstdint>

#include "cuda/host_device.h"

namespace gptneo {

constexpr int kRadixBins = 256;
constexpr int kRadixBinsPerLane = kRadixBins / 32;

GN_HD int radix_lane_bin(int lane, int i) { return kRadixBins - 1 - kRadixBinsPerLane * lane - i; }

// Keys counted in lane `lane`'s bins.
GN_HD int radix_lane_total(const uint32_t* hist, int lane) {
  int total = 0;
  for (int i = 0; i < kRadixBinsPerLane; ++i) total += static_cast<int>(hist[radix_lane_bin(lane, i)]);
  return total;
}

// For the lane whose bins hold the rank-th largest key (1-based; `before` keys lie in higher lanes'
// bins): the bin and the rank within it. Returns false when this lane's bins end before the rank.
GN_HD bool radix_lane_pick(const uint32_t* hist, int lane, int before, int rank, int* bin, int* rank_in_bin) {
  for (int i = 0; i < kRadixBinsPerLane; ++i) {
    const int b = radix_lane_bin(lane, i);
    const int n = static_cast<int>(hist[b]);
    if (before + n >= rank) {
      *bin = b;
      *rank_in_bin = rank - before;
      return true;
    }
    before += n;
  }
  return false;
}

// Columns [begin, end) of thread t of `threads` in the compaction pass (contiguous runs, so that
// concatenating the threads' matches keeps column order).
GN_HD void compaction_range(int t, int threads, int cols, int* begin, int* end) {
  const int per = (cols + threads - 1) / threads;
  *begin = t * per < cols ? t * per : cols;
  *end = *begin + per < cols ? *begin + per : cols;
}

}  // namespace gptneo
