// Paged KV cache writes and attention (causal and local window, prefill and decode) against the
// scalar oracle.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "cpu/ops.h"
#include "cpu/ref/ref.h"

#include "tests/cpu/harness.h"

namespace gptneo::cputest {

using namespace gptneo::cpu;

// ------------------------------------------------------------------------------------------
// Paged KV cache + attention
// ------------------------------------------------------------------------------------------
struct AttnCase {
  std::vector<int> lengths;  // context length of each sequence (after this step)
  std::vector<int> fresh;    // new tokens of each sequence this step (<= length)
  int heads, head_dim, block_size, window;
  float scale;
};

std::string describe(const AttnCase& c) {
  std::string s = "len=";
  for (size_t i = 0; i < c.lengths.size(); ++i) s += (i ? "," : "") + std::to_string(c.lengths[i]);
  s += " new=";
  for (size_t i = 0; i < c.fresh.size(); ++i) s += (i ? "," : "") + std::to_string(c.fresh[i]);
  return s + fmt(" H=%g D=%g bs=%g", c.heads, c.head_dim, c.block_size) + fmt(" win=%g scale=%g", c.window, c.scale);
}

void run_attn_case(const AttnCase& c, SimdLevel level, ThreadPool& pool, Rng& rng, bool check_kv) {
  const int seqs = static_cast<int>(c.lengths.size());
  const int width = c.heads * c.head_dim;
  const int bs = c.block_size;
  // Shuffled, non-identity block assignment with spare blocks left unused.
  int max_blocks = 0, total_blocks = 0;
  for (int L : c.lengths) {
    max_blocks = std::max(max_blocks, (L + bs - 1) / bs);
    total_blocks += (L + bs - 1) / bs;
  }
  const int num_blocks = total_blocks + 3;
  std::vector<int32_t> perm(num_blocks);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<int32_t> tables(size_t(seqs) * max_blocks, -1);
  int next = 0;
  for (int s = 0; s < seqs; ++s)
    for (int b = 0; b < (c.lengths[s] + bs - 1) / bs; ++b) tables[size_t(s) * max_blocks + b] = perm[next++];

  // Dense K/V per sequence ([L, width], ld = width + 3), written through kv_write in one batch.
  const int ldkv = width + 3;
  std::vector<std::vector<float>> kd(seqs), vd(seqs);
  std::vector<int32_t> all_starts{0}, all_pos;
  std::vector<float> k_all, v_all;
  for (int s = 0; s < seqs; ++s) {
    kd[s] = rng.vec(size_t(c.lengths[s]) * ldkv);
    vd[s] = rng.vec(size_t(c.lengths[s]) * ldkv);
    for (int p = 0; p < c.lengths[s]; ++p) all_pos.push_back(p);
    k_all.insert(k_all.end(), kd[s].begin(), kd[s].end());
    v_all.insert(v_all.end(), vd[s].begin(), vd[s].end());
    all_starts.push_back(all_starts.back() + c.lengths[s]);
  }
  PagedBatch wb;
  wb.num_seqs = seqs;
  wb.seq_starts = all_starts.data();
  wb.positions = all_pos.data();
  wb.block_tables = tables.data();
  wb.max_blocks = max_blocks;
  wb.block_size = bs;
  const size_t cache_elems = size_t(num_blocks) * bs * width;
  std::vector<float> kc(cache_elems, kNaN), vc(cache_elems, kNaN);
  kv_write(k_all.data(), v_all.data(), ldkv, wb, c.heads, c.head_dim, kc.data(), vc.data(), pool);
  if (check_kv) {
    std::vector<float> kr(cache_elems, kNaN), vr(cache_elems, kNaN);
    ref::kv_write(k_all.data(), v_all.data(), ldkv, wb, c.heads, c.head_dim, kr.data(), vr.data());
    bool ok = std::memcmp(kc.data(), kr.data(), cache_elems * 4) == 0 &&
              std::memcmp(vc.data(), vr.data(), cache_elems * 4) == 0;
    report(ok, "kv_write " + describe(c) + fmt(" threads=%g", pool.size()), "exact, unused slots untouched");
  }

  // The step: the last fresh[s] tokens of each sequence.
  std::vector<int32_t> starts{0}, pos;
  for (int s = 0; s < seqs; ++s) {
    for (int p = c.lengths[s] - c.fresh[s]; p < c.lengths[s]; ++p) pos.push_back(p);
    starts.push_back(starts.back() + c.fresh[s]);
  }
  const int tokens = starts.back();
  const int ldq = width + 1, ldo = width + 2;
  std::vector<float> q = rng.vec(size_t(tokens) * ldq);
  std::vector<float> out(size_t(tokens) * ldo, kNaN);
  PagedBatch ab = wb;
  ab.seq_starts = starts.data();
  ab.positions = pos.data();
  attention_paged(q.data(), ldq, kc.data(), vc.data(), ab, c.heads, c.head_dim, c.window, c.scale, out.data(), ldo,
                  pool, level);

  double worst = 0;
  std::string desc;
  for (int s = 0; s < seqs; ++s) {
    const int t0 = starts[s], nt = c.fresh[s];
    std::vector<float> want(size_t(nt) * ldo, kNaN);
    ref::attention(q.data() + size_t(t0) * ldq, ldq, pos.data() + t0, nt, kd[s].data(), vd[s].data(), ldkv,
                   c.heads, c.head_dim, c.window, c.scale, want.data(), ldo);
    for (int t = 0; t < nt; ++t) {
      const int p = pos[t0 + t];
      const int lo = c.window > 0 ? std::max(0, p - c.window + 1) : 0;
      for (int h = 0; h < c.heads; ++h) {
        // Score error: a float dot of head_dim terms; softmax turns an absolute score error d
        // into a relative weight error of about 2d; the V sum adds sqrt(keys) u.
        double smax = 0, vmax = 0;
        const float* qh = q.data() + size_t(t0 + t) * ldq + h * c.head_dim;
        for (int j = lo; j <= p; ++j) {
          double s_abs = 0;
          for (int d = 0; d < c.head_dim; ++d) {
            s_abs += std::fabs(double(qh[d]) * kd[s][size_t(j) * ldkv + h * c.head_dim + d]);
            vmax = std::max(vmax, double(std::fabs(vd[s][size_t(j) * ldkv + h * c.head_dim + d])));
          }
          smax = std::max(smax, s_abs * std::fabs(c.scale));
        }
        const double ds = 4 * kU * std::sqrt(c.head_dim + 2.0) * smax + 2 * kU * smax;
        const double bound = 2 * vmax * (2 * ds + 16 * kU * std::sqrt(p - lo + 2.0));
        for (int d = 0; d < c.head_dim; ++d) {
          const size_t at = size_t(t) * ldo + h * c.head_dim + d;
          const float got = out[size_t(t0 + t) * ldo + h * c.head_dim + d];
          const double r = std::isnan(got) ? INFINITY : std::fabs(got - double(want[at])) / bound;
          if (!(r <= worst)) {
            worst = r;
            desc = fmt("seq %g token %g head %g", s, t, h) + fmt(" got %.9g want %.9g", got, want[at]);
          }
        }
      }
    }
  }
  // Padding columns of out (ldo > width) must be untouched.
  for (int t = 0; t < tokens; ++t)
    for (int i = width; i < ldo; ++i)
      if (!std::isnan(out[size_t(t) * ldo + i])) worst = INFINITY, desc = "wrote padding";
  report(worst <= 1, std::string("attention ") + simd_name(level) + " " + describe(c) + fmt(" threads=%g", pool.size()),
         fmt("worst err/bound %.3g", worst) + (worst > 1 ? "  " + desc : ""));
}

void test_attention(SimdLevel level, ThreadPool* pools[3], Rng& rng, bool check_kv) {
  const int W = 8;
  // head_dim 16/32/64/128 take the fixed-width AVX-512 paths, 24 the generic masked one.
  const int hd[][2] = {{2, 16}, {1, 32}, {3, 64}, {2, 128}, {2, 24}};
  int counter = 0;
  for (auto& h : hd) {
    for (int bs : {16, 1, 5}) {
      for (int window : {0, W}) {
        // Lengths around the window (W-1, W, W+1), prefill (all new), decode (1 new), chunk (3).
        std::vector<AttnCase> cases = {
            {{W - 1, W, W + 1}, {W - 1, 1, 3}, h[0], h[1], bs, window, 1.0f},
            {{1, 37}, {1, 37}, h[0], h[1], bs, window, 1.0f},
            {{W + 1, 70}, {W + 1, 1}, h[0], h[1], bs, window, 0.125f},
            {{100, 6}, {21, 5}, h[0], h[1], bs, window, 1.0f},  // chunk after 79 cached keys; a short prefill
        };
        if (window > 0 && bs == 5) cases.push_back({{12}, {12}, h[0], h[1], bs, 1, 1.0f});  // window 1: self only
        for (auto& c : cases) run_attn_case(c, level, *pools[counter++ % 3], rng, check_kv && window == 0);
      }
    }
  }
}

}  // namespace gptneo::cputest
