// The work split of the streaming decode GEMV (cuda/gemv_stream_plan.h, used by
// cuda/gemm_gemv_stream.cu), checked on the host by walking every warp, item, row, load and lane the
// kernel would run:
//  - every 16-byte piece of W [n, k] is loaded by exactly one (warp, item, row, load, lane), and no
//    live load addresses past n or k (the kernel masks by exactly these conditions);
//  - consecutive lanes load consecutive 16-byte pieces (coalesced 512-byte warp loads);
//  - the rows each warp asks L2 for before its loads (gemv_stream_rows) are exactly the rows it loads,
//    and the warps' ranges tile [0, n) in order;
//  - no more warps than the GPU holds at once and the fewest groups per warp that allows, each warp
//    with work streams the same number of row groups except the last, and the grid has just enough
//    blocks for them.
// Shapes: every GPT-Neo decode projection (125M, 1.3B, 2.7B, lm_head), tails in n and k, one, two and
// four rows per group, 16- and 32-bit weights, and resident-warp counts from 1 to an H200's.
#include <algorithm>
#include <vector>

#include "cuda/gemv_stream_plan.h"
#include "tests/cpu/harness.h"
#include "tests/report.h"

namespace gptneo::cputest {
namespace {

// printf-style formatting (the harness's fmt takes doubles only).
using gptneo::testing::fmt;

struct Shape {
  int n, k;
};

void check_plan(int n, int k, int rows, int elems_per_load, int resident) {
  constexpr int kWarpsPerBlock = 8;
  const int loads = gncuda::gemv_stream_loads_per_row(rows), segment = loads * 32 * elems_per_load;
  const gncuda::GemvStreamPlan p = gncuda::plan_gemv_stream(n, k, rows, segment, resident, kWarpsPerBlock);
  const std::string what = fmt("gemv_stream plan n=%d k=%d R=%d V=%d resident=%d", n, k, rows, elems_per_load, resident);
  const int pieces = k / elems_per_load;
  std::vector<uint8_t> seen((size_t)n * pieces, 0);
  bool in_bounds = true, coalesced = true, balanced = true, prefetch_rows = true;
  int with_work = 0, prefetch_next = 0;  // the L2 prefetch ranges must tile [0, n) in warp order
  for (int warp = 0; warp < p.blocks * kWarpsPerBlock; ++warp) {
    const int items = gncuda::gemv_stream_items(p, warp), first = gncuda::gemv_stream_first_group(p, warp);
    // The rows a warp asks L2 for (gemv_stream_rows): exactly the rows its items load below n.
    int row_begin = 0, row_end = 0;
    gncuda::gemv_stream_rows(p, warp, rows, n, &row_begin, &row_end);
    if (items > 0) {
      const int lo = first * rows, hi = std::min(n, (first + items / p.segments) * rows);
      if (row_begin != lo || row_end != hi || row_begin != prefetch_next) prefetch_rows = false;
      prefetch_next = row_end;
    } else if (row_end != row_begin) {
      prefetch_rows = false;
    }
    if (items > 0) ++with_work;
    if (items % p.segments != 0) balanced = false;
    const int groups = items / p.segments;
    if (warp < p.warps - 1 && groups != p.groups_per_warp) balanced = false;
    if (warp == p.warps - 1 && (groups < 1 || groups > p.groups_per_warp)) balanced = false;
    if (warp >= p.warps && items != 0) balanced = false;
    for (int i = 0; i < items; ++i) {
      const int g = first + i / p.segments, s = i % p.segments;
      if (g >= p.groups) in_bounds = false;
      for (int r = 0; r < rows; ++r) {
        const int row = g * rows + r;
        for (int u = 0; u < loads; ++u)
          for (int lane = 0; lane < 32; ++lane) {
            const int e = gncuda::gemv_stream_element(s, u, lane, loads, elems_per_load);
            if (lane > 0 && e - gncuda::gemv_stream_element(s, u, lane - 1, loads, elems_per_load) != elems_per_load)
              coalesced = false;
            if (row >= n || e >= k) continue;  // masked in the kernel
            if (e < 0 || e % elems_per_load != 0) {
              in_bounds = false;
              continue;
            }
            ++seen[(size_t)row * pieces + e / elems_per_load];
          }
      }
    }
  }
  size_t missing = 0, repeated = 0;
  for (uint8_t v : seen) {
    missing += v == 0;
    repeated += v > 1;
  }
  // (the fewest groups per warp: one fewer would need more warps than are resident)
  const bool grid_ok = p.warps <= resident && (long long)(p.groups_per_warp - 1) * resident < p.groups &&
                       with_work == p.warps && p.blocks * kWarpsPerBlock >= p.warps &&
                       (p.blocks - 1) * kWarpsPerBlock < p.warps;
  prefetch_rows = prefetch_rows && prefetch_next == n;
  report(missing == 0 && repeated == 0 && in_bounds && coalesced && balanced && grid_ok && prefetch_rows, what,
         fmt("missing %zu, repeated %zu, in bounds %d, coalesced %d, balanced %d, grid %d, prefetch rows %d (warps %d of "
             "%d resident, %d blocks, %d groups x %d segments, %d groups per warp)",
             missing, repeated, in_bounds, coalesced, balanced, grid_ok, prefetch_rows, p.warps, resident, p.blocks,
             p.groups, p.segments, p.groups_per_warp));
}

}  // namespace

void test_gemv_stream_plan() {
  const Shape model[] = {{2304, 768},  {768, 768},   {3072, 768},  {768, 3072},  {50257, 768}, {6144, 2048},
                         {2048, 2048}, {8192, 2048}, {2048, 8192}, {50257, 2048}, {7680, 2560}, {2560, 10240}};
  const Shape tails[] = {{1, 8}, {3, 8}, {201, 136}, {4500, 2056}, {5000, 1032}, {67, 40}, {9000, 16}, {40, 8200}};
  for (const Shape& s : model)
    for (int rows : {1, 2, 4}) check_plan(s.n, s.k, rows, 8, 2 * 132 * 8);  // bf16/f16 on an H100/H200
  for (const Shape& s : tails)
    for (int rows : {1, 2, 4})
      for (int v : {4, 8})
        for (int resident : {1, 7, 64, 2112}) check_plan(s.n, s.k, rows, v, resident);
}

}  // namespace gptneo::cputest
