// The thread layout of the decode GEMVs' staged layer norm (cuda/ln_rows_plan.h, used by
// cuda/gemv_rows.cuh layernorm_staged_rows), checked on the host without a GPU:
//  - in every round, each row below m is owned by one group of consecutive warps whose threads have
//    the indices 0 .. threads - 1 exactly once, and every warp of a group agrees on the row, the
//    group size and the group's first warp (the kernel sums a group's partials from that warp on);
//  - the groups are as large as the block allows (no warp idles while a row has fewer than its
//    share), and a round's rows never exceed the groups;
//  - walking the kernel's phases over that layout (quad partial sums, warp sums, group sums, then
//    the normalisation loop with its prefetched first quads) gives the scalar layer norm.
// m from 1 to 12 with 4, 8 and 16 warps, k from 4 to 2560 quads-worth (GPT-Neo's 768, 2048, 2560).
#include <cmath>
#include <vector>

#include "cpu/ref/ref.h"
#include "cuda/ln_rows_plan.h"
#include "tests/cpu/harness.h"
#include "tests/report.h"

namespace gptneo::cputest {
namespace {

using gptneo::testing::fmt;
constexpr int kPrefetch = 2;  // gemv_rows.cuh kLnPrefetch

void check_layout(int m, int warps, int k, Rng& rng) {
  const int threads = warps * 32, quads = k / 4;
  const std::string what = fmt("ln_rows_plan m=%d warps=%d k=%d", m, warps, k);
  bool layout_ok = true;
  const gncuda::LnGroup g0 = gncuda::ln_group_of(0, m, warps);
  // Full groups: doubling them would leave fewer groups than rows (or more warps than the block has).
  const int per = g0.threads / 32;
  if (per * g0.rows != warps || (per * 2 * m <= warps) || (per > 1 && per * m > warps)) layout_ok = false;
  std::vector<int> seen((size_t)g0.rows * g0.threads, 0);
  for (int t = 0; t < threads; ++t) {
    const gncuda::LnGroup g = gncuda::ln_group_of(t, m, warps);
    if (g.threads != g0.threads || g.rows != g0.rows || g.row < 0 || g.row >= g.rows || g.tid < 0 ||
        g.tid >= g.threads || (t >> 5) - g.tid / 32 != g.row * per)
      layout_ok = false;
    else
      ++seen[(size_t)g.row * g.threads + g.tid];
  }
  for (int v : seen) layout_ok = layout_ok && v == 1;

  // The kernel's phases over this layout, round by round, against the scalar layer norm.
  const int ld = k + 4;
  std::vector<float> x = rng.vec((size_t)m * ld, -2.f, 3.f), gamma = rng.vec(k), beta = rng.vec(k);
  std::vector<float> want((size_t)m * k), xs = x;
  cpu::ref::layernorm(x.data(), m, k, ld, gamma.data(), beta.data(), 1e-5f, want.data(), k);
  std::vector<int> written((size_t)m * quads, 0);
  for (int base = 0; base < m; base += g0.rows) {
    std::vector<double> red0(warps, 0.0), red1(warps, 0.0);
    for (int pass = 0; pass < 2; ++pass) {
      for (int t = 0; t < threads; ++t) {
        const gncuda::LnGroup g = gncuda::ln_group_of(t, m, warps);
        const int r = base + g.row;
        if (r >= m) continue;
        const int first = (t >> 5) - g.tid / 32;
        double mean = 0.0;
        if (pass == 1) {
          for (int w = 0; w < g.threads / 32; ++w) mean += red0[first + w];
          mean /= k;
        }
        for (int q = g.tid; q < quads; q += g.threads)
          for (int e = 0; e < 4; ++e) {
            const double v = xs[(size_t)r * ld + 4 * q + e];
            (pass == 0 ? red0 : red1)[t >> 5] += pass == 0 ? v : (v - mean) * (v - mean);
          }
      }
    }
    for (int t = 0; t < threads; ++t) {
      const gncuda::LnGroup g = gncuda::ln_group_of(t, m, warps);
      const int r = base + g.row;
      if (r >= m) continue;
      const int first = (t >> 5) - g.tid / 32;
      double s = 0.0, v2 = 0.0;
      for (int w = 0; w < g.threads / 32; ++w) {
        s += red0[first + w];
        v2 += red1[first + w];
      }
      const double mean = s / k, rstd = 1.0 / std::sqrt(v2 / k + 1e-5);
      int q = g.tid;
      auto normalize = [&](int qq) {
        ++written[(size_t)r * quads + qq];
        for (int e = 0; e < 4; ++e) {
          float& v = xs[(size_t)r * ld + 4 * qq + e];
          v = (float)((v - mean) * rstd * gamma[4 * qq + e] + beta[4 * qq + e]);
        }
      };
      if (base == 0)
        for (int i = 0; i < kPrefetch; ++i, q += g.threads)
          if (q < quads) normalize(q);
      for (; q < quads; q += g.threads) normalize(q);
    }
  }
  bool once = true;
  for (int v : written) once = once && v == 1;
  double err = 0.0;
  for (int r = 0; r < m; ++r)
    for (int e = 0; e < k; ++e)
      err = std::max(err, (double)std::fabs(xs[(size_t)r * ld + e] - want[(size_t)r * k + e]));
  report(layout_ok && once && err < 1e-4, what,
         fmt("layout %d, every quad once %d, max |diff| %.3g (groups of %d warps, %d rows per round)", layout_ok, once,
             err, per, g0.rows));
}

}  // namespace

void test_ln_rows_plan(Rng& rng) {
  for (int warps : {4, 8, 16})
    for (int m = 1; m <= 12; ++m)
      for (int k : {16, 768, 2048, 2560}) check_layout(m, warps, k, rng);
}

}  // namespace gptneo::cputest
