// How the streaming decode GEMV (gemm_gemv_stream.cu) divides W [n, k] among warps, as plain
// functions that compile for the host too (tests/cpu/gemv_stream_plan.cpp checks that every weight
// is read exactly once and that the warps' shares are even).
//
// W's rows are cut into groups of R rows. Each warp takes `groups_per_warp` consecutive groups (the
// last warp the remainder): the fewest per warp that let the warps resident on the GPU at once hold
// all of them, so that no warp streams more than one group beyond any other and no second wave of
// blocks runs after the first. A group is streamed in segments of U 16-byte loads per lane and row
// (U * 32 * V elements, V elements per load); a warp's items are (group, segment) pairs in order,
// item i = (first group + i / segments, i % segments), and it keeps the next item's loads in flight
// while it multiplies the current one.
#pragma once

#include "cuda/host_device.h"

namespace gncuda {

struct GemvStreamPlan {
  int groups;           // ceil(n / R)
  int segments;         // per group: ceil(k / segment_elems)
  int groups_per_warp;  // consecutive groups per warp (the last warp may have fewer, or none)
  int warps;            // warps with work: ceil(groups / groups_per_warp)
  int blocks;           // ceil(warps / warps_per_block)
  long long l2_prefetch_bytes;  // the most bytes of its weight rows (gemv_stream_rows) each warp first asks
                                // L2 for, a multiple of 16 (0: none), see api.h
};

// resident_warps: warps the GPU runs at once for this kernel (blocks per SM x SMs x warps per block).
GN_HD GemvStreamPlan plan_gemv_stream(int n, int k, int rows_per_group, int segment_elems, int resident_warps,
                                      int warps_per_block) {
  GemvStreamPlan p{};
  p.groups = (n + rows_per_group - 1) / rows_per_group;
  p.segments = (k + segment_elems - 1) / segment_elems;
  const int resident = resident_warps > 0 ? resident_warps : 1;
  p.groups_per_warp = p.groups > 0 ? (p.groups + resident - 1) / resident : 1;
  p.warps = (p.groups + p.groups_per_warp - 1) / p.groups_per_warp;
  p.blocks = (p.warps + warps_per_block - 1) / warps_per_block;
  return p;
}

// First row group of warp `warp` and how many items (group x segment pairs) it streams (0 for the
// idle warps of the last block).
GN_HD int gemv_stream_first_group(const GemvStreamPlan& p, int warp) { return warp * p.groups_per_warp; }
// One past the warp's last row group (at most groups; at most first for an idle warp's).
GN_HD int gemv_stream_end_group(const GemvStreamPlan& p, int warp) {
  const int first = gemv_stream_first_group(p, warp);
  const int last = first + p.groups_per_warp < p.groups ? first + p.groups_per_warp : p.groups;
  return last > first ? last : first;
}
GN_HD int gemv_stream_items(const GemvStreamPlan& p, int warp) {
  return (gemv_stream_end_group(p, warp) - gemv_stream_first_group(p, warp)) * p.segments;
}

// The weight rows [*row_begin, *row_end) warp `warp` streams (its groups' rows below n; empty for an
// idle warp): consecutive rows of W, so one contiguous range of memory.
GN_HD void gemv_stream_rows(const GemvStreamPlan& p, int warp, int rows_per_group, int n, int* row_begin,
                            int* row_end) {
  const int first = gemv_stream_first_group(p, warp) * rows_per_group;
  const int end = gemv_stream_end_group(p, warp) * rows_per_group;
  *row_begin = first < n ? first : n;
  *row_end = end < n ? end : n;
  if (*row_end < *row_begin) *row_end = *row_begin;
}

// 16-byte loads per lane and row in one item, for groups of `rows` rows: 8 loads per lane in all
// (4 KB per warp in flight) up to 2 rows per group; 1 per row at 4 rows per group, where the 8 x rows'
// accumulators leave no room under 128 registers for two buffers of 8.
GN_HD_CONSTEXPR int gemv_stream_loads_per_row(int rows) { return rows >= 4 ? 1 : 8 / rows; }

// The first of the V elements that lane `lane`'s u-th load of segment `segment` covers, in a row of
// W (the load is live when that element is < k; k % V == 0, so a load is all in or all out).
GN_HD int gemv_stream_element(int segment, int u, int lane, int loads_per_lane, int elems_per_load) {
  return (segment * loads_per_lane + u) * 32 * elems_per_load + lane * elems_per_load;
}

}  // namespace gncuda
