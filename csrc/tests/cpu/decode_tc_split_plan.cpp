// The work split and reduction of the clustered decode tensor-core GEMM (cuda/decode_tc_split_plan.h,
// used by cuda/gemm_decode_tc.cu's gemm_decode_tc_cluster_kernel), replayed on the host:
//  - plans: 1-8 splits of whole 32-element k-blocks covering k once, each at least min_kseg unless k is
//    smaller, 1, 2 or 4 warps per tile with rows = 16 * 8 / ks, the grid reaching 3/4 of the target
//    unless the last plan (4 warps per tile) is taken; and the plans of the GPT-Neo decode projections
//    on an H100/H200 (132 SMs);
//  - the kernel's arithmetic, replayed: each warp of each block of each cluster sums, into the
//    accumulator slots of its lanes, the products over the k-blocks accumulate_k_range gives it (x
//    chunks of decode_tc_chunk elements, k-blocks wk, wk + ks, ... of each chunk); the partials go to
//    part[] at decode_tc_part_index, and each rank sums its decode_tc_reduce_begin range over the
//    cluster's blocks and the tile's warps, writing y at decode_tc_output's (m, row). With small
//    integers every sum is exact, so y must equal x · Wᵀ exactly, and every output with m < M and
//    n < N must be written exactly once (and none past them).
// What this does not replay: the mma fragment layout (the unsplit kernel's, verified on an H200) and
// the cluster barrier and distributed shared-memory loads themselves (the GPU test's job).
#include <vector>

#include "cuda/decode_tc_split_plan.h"
#include "tests/cpu/harness.h"
#include "tests/report.h"

namespace gptneo::cputest {
namespace {

using gptneo::testing::fmt;  // (printf-style; the harness's fmt takes doubles only)
constexpr int kWarps = 8, kSmemElems = 20480, kMaxSplits = 8, kMinKseg = 256;

void check_plan(int n, int k, int target) {
  const gncuda::DecodeTcSplitPlan p = gncuda::plan_decode_tc_split(n, k, kWarps, target, kMaxSplits, kMinKseg);
  const std::string what = fmt("decode_tc_split plan n=%d k=%d target=%d", n, k, target);
  bool ok = (p.ks == 1 || p.ks == 2 || p.ks == 4) && p.rows == 16 * kWarps / p.ks &&
            p.col_blocks == (n + p.rows - 1) / p.rows && p.splits >= 1 && p.splits <= kMaxSplits &&
            p.kseg % 32 == 0 && p.splits == (k + p.kseg - 1) / p.kseg;
  // Every split non-empty, a multiple of 8 long (k % 8 == 0), together exactly [0, k).
  int covered = 0;
  for (int s = 0; s < p.splits && ok; ++s) {
    const int b = gncuda::split_k_begin(p, s), e = gncuda::split_k_end(k, p, s);
    ok = b == covered && e > b && (e - b) % 8 == 0 && (k < kMinKseg || e - b >= kMinKseg || s == p.splits - 1);
    covered = e;
  }
  ok = ok && covered == k;
  // The grid reaches 3/4 of the target, or no plan does and the last (4 warps per tile) is taken. (The
  // choice among plans that reach it is pinned by the expected plans below.)
  ok = ok && (4LL * p.col_blocks * p.splits >= 3LL * target || p.ks == 4);
  report(ok, what, fmt("ks=%d splits=%d kseg=%d", p.ks, p.splits, p.kseg) + fmt(" col_blocks=%d", p.col_blocks));
}

struct Expected {
  const char* name;
  int n, k, ks, splits, kseg;
};

// The kernel's sums for one GEMM, replayed; exact with small integers.
void replay(Rng& rng, int M, int N, int K, int target) {
  const gncuda::DecodeTcSplitPlan p = gncuda::plan_decode_tc_split(N, K, kWarps, target, kMaxSplits, kMinKseg);
  const int nt = M <= 16 ? 2 : M <= 32 ? 4 : 8;
  const int chunk = gncuda::decode_tc_chunk(nt, kSmemElems);
  std::vector<float> x((size_t)M * K), w((size_t)N * K);
  for (auto& v : x) v = (float)rng.integer(-3, 3);
  for (auto& v : w) v = (float)rng.integer(-3, 3);
  std::vector<float> y((size_t)M * N, kNaN);
  std::vector<int> writes((size_t)M * N, 0);
  int stray = 0;
  const int outputs = (kWarps / p.ks) * nt * 128;
  for (int cb = 0; cb < p.col_blocks; ++cb) {
    // part[split][...]: each block's shared memory after its k loop.
    std::vector<std::vector<float>> part(p.splits, std::vector<float>((size_t)kWarps * nt * 128, 0.f));
    for (int s = 0; s < p.splits; ++s) {
      const int kb0 = gncuda::split_k_begin(p, s), ke = gncuda::split_k_end(K, p, s);
      for (int warp = 0; warp < kWarps; ++warp) {
        const int wk = warp % p.ks, row0 = cb * p.rows + (warp / p.ks) * 16;
        for (int k0 = kb0; k0 < ke; k0 += chunk) {
          const int kn = std::min(chunk, ke - k0), nkb = (kn + 31) / 32;
          for (int b = wk; b < nkb; b += p.ks)
            for (int kk = k0 + 32 * b; kk < k0 + 32 * b + 32 && kk < k0 + kn; ++kk)
              for (int lane = 0; lane < 32; ++lane)
                for (int j = 0; j < nt; ++j)
                  for (int c = 0; c < 4; ++c) {
                    const int m = 8 * j + 2 * (lane & 3) + (c & 1), row = row0 + (lane >> 2) + (c >= 2 ? 8 : 0);
                    if (m < M && row < N)  // (x is zero past row M, W rows past N are not loaded)
                      part[s][gncuda::decode_tc_part_index(warp, j, c, lane, nt)] +=
                          w[(size_t)row * K + kk] * x[(size_t)m * K + kk];
                  }
        }
      }
    }
    for (int r = 0; r < p.splits; ++r)
      for (int e = gncuda::decode_tc_reduce_begin(outputs, p.splits, r); e < gncuda::decode_tc_reduce_begin(outputs, p.splits, r + 1);
           ++e) {
        const gncuda::DecodeTcOutput o = gncuda::decode_tc_output(e, nt);
        const int n = cb * p.rows + o.row;
        if (o.m >= M || n >= N) continue;
        if (o.m >= nt * 8 || o.row >= p.rows) {
          ++stray;
          continue;
        }
        float sum = 0.f;
        for (int q = 0; q < p.splits; ++q)
          for (int wv = 0; wv < p.ks; ++wv) sum += part[q][gncuda::decode_tc_part_index(o.tile * p.ks + wv, o.j, o.c, o.lane, nt)];
        y[(size_t)o.m * N + n] = sum;
        writes[(size_t)o.m * N + n]++;
      }
  }
  int wrong = 0, missing = 0;
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      float ref = 0.f;
      for (int kk = 0; kk < K; ++kk) ref += x[(size_t)m * K + kk] * w[(size_t)n * K + kk];
      if (writes[(size_t)m * N + n] != 1) ++missing;
      else if (y[(size_t)m * N + n] != ref) ++wrong;
    }
  report(wrong == 0 && missing == 0 && stray == 0,
         fmt("decode_tc_split replay m=%d n=%d k=%d", M, N, K) + fmt(" target=%d", target),
         fmt("ks=%d splits=%d kseg=%d", p.ks, p.splits, p.kseg) + fmt(" wrong=%d missing=%d", wrong, missing) +
             fmt(" stray=%d", stray));
}

}  // namespace

void test_decode_tc_split_plan(Rng& rng) {
  using gptneo::testing::fmt;  // (printf-style; the harness's fmt takes doubles only)
  // Plans: GPT-Neo decode projections (125M, 1.3B, 2.7B, lm_head), tails, tiny k, a range of targets.
  const int shapes[][2] = {{2304, 768},  {768, 768},    {3072, 768},   {768, 3072},  {6144, 2048}, {2048, 2048},
                           {8192, 2048}, {2048, 8192},  {7680, 2560},  {2560, 2560}, {10240, 2560}, {2560, 10240},
                           {50257, 768}, {50257, 2048}, {33, 2504},    {17, 8},      {200, 1032},  {9000, 16}};
  for (const auto& s : shapes)
    for (int target : {1, 8, 64, 264, 1000}) check_plan(s[0], s[1], target);

  // On an H100/H200 (132 SMs, two blocks per SM): the plans the NOTES predictions assume, and those of
  // the GPU test's shapes.
  const Expected expected[] = {{"1.3B qkv", 6144, 2048, 1, 6, 352},   {"1.3B out_proj", 2048, 2048, 2, 8, 256},
                               {"1.3B c_fc", 8192, 2048, 1, 5, 416},  {"1.3B c_proj", 2048, 8192, 2, 8, 1024},
                               {"125M c_proj", 768, 3072, 4, 8, 384}, {"2.7B c_proj", 2560, 10240, 2, 7, 1472},
                               {"1.3B lm_head", 50257, 2048, 1, 1, 2048},
                               // the GPU test's cases (test_cuda_ops gemm group) cover 1, 2 and 4 warps per tile
                               {"test 3200x2048", 3200, 2048, 1, 8, 256},     {"test 520x4104", 520, 4104, 4, 8, 544},
                               {"test 1100x1544", 1100, 1544, 4, 6, 288}};
  for (const Expected& e : expected) {
    const gncuda::DecodeTcSplitPlan p = gncuda::plan_decode_tc_split(e.n, e.k, kWarps, 264, kMaxSplits, kMinKseg);
    report(p.ks == e.ks && p.splits == e.splits && p.kseg == e.kseg, std::string("decode_tc_split plan ") + e.name,
           fmt("ks=%d splits=%d kseg=%d", p.ks, p.splits, p.kseg));
  }

  // Replays: 2/4/8 x tiles (m 1..64, padded), several x chunks per split (k > chunk), a partial last
  // k-block and split, n tails, one split (k < 2 * min_kseg or a large grid) and eight.
  const int cases[][4] = {{1, 33, 2504, 16},  {8, 200, 1032, 64},  {16, 70, 776, 264}, {17, 130, 520, 8},
                          {33, 300, 1288, 40}, {64, 90, 2056, 100}, {5, 1000, 264, 4},  {3, 40, 8, 264},
                          {64, 257, 600, 1000}};
  for (const auto& c : cases) replay(rng, c[0], c[1], c[2], c[3]);
}

}  // namespace gptneo::cputest
