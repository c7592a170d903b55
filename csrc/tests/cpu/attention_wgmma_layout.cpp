// The index math of the Hopper wgmma prefill attention (cuda/attention_wgmma_layout.h, used by
// cuda/attention_wgmma.cu), checked on the host against the layouts the PTX ISA documents for wgmma
// (tests/cpu/wgmma_hw_model.h), so that a machine without a GPU catches an index slip:
//  - Q (A of S = Q·Kᵀ) and K (B of S, K-major): every element written once by the kernel's stores /
//    cp.async chunks, and read back through each warpgroup's and k16 step's descriptor exactly where
//    the stores put it;
//  - V (B of O += P·V, MN-major, "transposed"): the same, through the MN-major read model;
//  - P: the S accumulators packed into A registers (p_acc) hold, element by element, what the A
//    register fragment of m64nNk16 wants (PTX "Register Fragments", 16-bit A), which the accumulator
//    fragment of S holds for the same (row, key);
//  - end to end: the kernel's data flow emulated per thread (tiles written through the load mappings,
//    operands read through the descriptor models, the online softmax on the accumulator fragments,
//    P through the register mapping) against a plain attention of the bf16-rounded q, k, v.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <vector>

#include "cuda/attention_wgmma_layout.h"
#include "tests/cpu/harness.h"
#include "tests/cpu/wgmma_hw_model.h"

namespace gptneo::cputest {
namespace {

namespace wg = gncuda::wgmma;
namespace wa = gncuda::wgattn;

// The PTX ISA's A register fragment of m64nNk16 for 16-bit types (independent of the header): element
// e (0..7, register e / 2, low half first) of a lane in warp w is row 16w + lane/4 (+8 for e % 4 >= 2),
// column 2 (lane % 4) + e % 2 (+8 for e >= 4).
int doc_a_row(int warp, int lane, int e) { return 16 * warp + lane / 4 + ((e % 4) >= 2 ? 8 : 0); }
int doc_a_col(int lane, int e) { return 2 * (lane % 4) + e % 2 + (e >= 4 ? 8 : 0); }

// A [rows][D] tile written through tile_offset (chunks of 8 elements for K/V, quads for Q) covers every
// byte once and each 8-element chunk is contiguous.
template <int D>
bool tile_written_once(int rows, int step) {
  std::vector<int> writes(static_cast<size_t>(rows) * D, 0);
  bool ok = true;
  for (int r = 0; r < rows; ++r)
    for (int d = 0; d < D; d += step) {
      const uint32_t at = wa::tile_offset(rows, r, d);
      ok = ok && at % (2 * step) == 0;
      for (int e = 0; e < step; ++e) {
        const uint32_t a = wa::tile_offset(rows, r, d + e);
        ok = ok && a == at + 2u * e && a / 2 < writes.size();
        if (ok) writes[a / 2]++;
      }
    }
  return ok && std::all_of(writes.begin(), writes.end(), [](int v) { return v == 1; });
}

template <int D>
void test_tiles() {
  using L = wa::Smem<D>;
  bool ok = tile_written_once<D>(wa::kQueries, 4) && tile_written_once<D>(wa::kKeys, 8);
  // The kernel's cp.async chunks: each (row, 8-dim chunk) of a K/V tile once.
  std::vector<int> chunks(static_cast<size_t>(wa::kKeys) * D / 8, 0);
  for (int c = 0; c < L::kChunks; ++c) {
    const int r = wa::chunk_row<D>(c), d = wa::chunk_d<D>(c);
    ok = ok && r >= 0 && r < wa::kKeys && d % 8 == 0 && d < D;
    if (ok) chunks[static_cast<size_t>(r) * (D / 8) + d / 8]++;
  }
  ok = ok && std::all_of(chunks.begin(), chunks.end(), [](int v) { return v == 1; });
  ok = ok && L::kK % 1024 == 0 && L::kV % 1024 == 0 && L::kKvBytes % 1024 == 0;
  int mismatches = 0;
  std::vector<int> q_reads(static_cast<size_t>(wa::kQueries) * D, 0), k_reads(static_cast<size_t>(wa::kKeys) * D, 0),
      v_reads(static_cast<size_t>(wa::kKeys) * D, 0);
  for (uint32_t base : {0x0u, 0x400u, 0x9000u}) {
    // Q: warpgroup g, k16 step j reads rows 64 g + r, dims 16 j + kk.
    for (int g = 0; g < wa::kWarpgroups; ++g)
      for (int j = 0; j < D / 16; ++j) {
        const Desc d = decode(wa::q_desc(base, g, j));
        ok = ok && d.swizzle == 1 && d.base_offset == 0 && d.sbo == 1024 && ((d.start >> 7) & 7) == 0;
        for (int r = 0; r < 64; ++r)
          for (int kk = 0; kk < 16; ++kk) {
            const uint32_t hw = hw_b_address(d, r, kk);
            if (hw != base + wa::tile_offset(wa::kQueries, 64 * g + r, 16 * j + kk)) ++mismatches;
            else if (base == 0) q_reads[hw / 2]++;
          }
      }
    // K: step j reads keys n, dims 16 j + kk.
    for (int j = 0; j < D / 16; ++j) {
      const Desc d = decode(wa::k_desc(base + L::kK, j));
      ok = ok && d.swizzle == 1 && d.base_offset == 0 && d.sbo == 1024 && ((d.start >> 7) & 7) == 0;
      for (int n = 0; n < wa::kKeys; ++n)
        for (int kk = 0; kk < 16; ++kk) {
          const uint32_t hw = hw_b_address(d, n, kk);
          if (hw != base + L::kK + wa::tile_offset(wa::kKeys, n, 16 * j + kk)) ++mismatches;
          else if (base == 0) k_reads[(hw - L::kK) / 2]++;
        }
    }
    // V, MN-major: step kc reads keys 16 kc + k (the reduction dim), dims n (the output columns).
    for (int kc = 0; kc < wa::kKeys / 16; ++kc) {
      const Desc d = decode(wa::v_desc(base + L::kV, kc));
      ok = ok && d.swizzle == 1 && d.base_offset == 0 && d.sbo == 1024 && ((d.start >> 7) & 7) == 0;
      for (int k = 0; k < 16; ++k)
        for (int n = 0; n < D; ++n) {
          const uint32_t hw = hw_b_address_mn(d, k, n);
          if (hw != base + L::kV + wa::tile_offset(wa::kKeys, 16 * kc + k, n)) ++mismatches;
          else if (base == 0) v_reads[(hw - L::kV) / 2]++;
        }
    }
  }
  auto once = [](const std::vector<int>& v) { return std::all_of(v.begin(), v.end(), [](int x) { return x == 1; }); };
  ok = ok && mismatches == 0 && once(q_reads) && once(k_reads) && once(v_reads);
  report(ok, fmt("wgmma attention D=%.0f: Q/K/V tiles written once, descriptor reads (K-major Q and K, MN-major V) "
                 "== stores",
                 D),
         fmt("mismatches=%.0f", mismatches));
}

// P's A registers from S's accumulators; the header's A mapping against the documented one; the A
// fragment covers each warpgroup's 64 x 16 tile once.
void test_p_fragments() {
  bool ok = true;
  std::vector<int> cover(64 * 16, 0);
  for (int warp = 0; warp < 4; ++warp)
    for (int lane = 0; lane < 32; ++lane)
      for (int e = 0; e < 8; ++e) {
        const int q = e / 2;
        const int row = wa::a_row(warp, lane, q), col = wa::a_k(lane, q) + e % 2;
        ok = ok && row == doc_a_row(warp, lane, e) && col == doc_a_col(lane, e);
        if (ok) cover[row * 16 + col]++;
        for (int kc = 0; kc < wa::kKeys / 16; ++kc) {
          const int i = wa::p_acc(kc, q) + e % 2;
          ok = ok && i < wa::kKeys / 2 && wg::d_row(warp, lane, i) == row && wg::d_col(lane, i) == 16 * kc + col;
        }
      }
  ok = ok && std::all_of(cover.begin(), cover.end(), [](int v) { return v == 1; });
  report(ok, "wgmma attention: P registers (S accumulators packed) == the 16-bit A fragment of m64nNk16", "");
}

// The schedule over key tiles (tile_buffer, staged_k, staged_v), played through for both forms as the
// kernel runs it, with the weakest guarantees of its waits: cp.async.wait_group 1 leaves the newest
// group in flight, wgmma.wait_group N the newest N wgmma groups. Checked: every K and V tile staged once,
// never into a buffer an unretired wgmma reads, and every wgmma reads a buffer holding its tile, landed.
// `v_lead` shifts the V tile staged per iteration (0: as the header says); 1 must fail when pipelined.
bool play_schedule(bool pipelined, int tiles, int v_lead) {
  struct Buf {
    int tile = -1, group = -1;  // what was staged into it last, by which cp.async group
  };
  Buf kbuf[2], vbuf[2];
  std::vector<int> k_staged(tiles, 0), v_staged(tiles, 0);
  std::vector<std::pair<char, int>> in_flight;  // wgmma groups not yet retired: ('K' or 'V', buffer)
  int groups = 0, landed = 0;                   // cp.async groups committed; groups [0, landed) landed
  bool ok = true;
  auto stage = [&](char kind, int t) {
    if (t < 0 || t >= tiles) return;
    const int b = gncuda::wgattn::tile_buffer(t);
    for (const auto& f : in_flight) ok = ok && !(f.first == kind && f.second == b);
    Buf& buf = kind == 'K' ? kbuf[b] : vbuf[b];
    buf.tile = t;
    buf.group = groups;
    (kind == 'K' ? k_staged : v_staged)[t]++;
  };
  auto read = [&](char kind, int t) {
    const int b = gncuda::wgattn::tile_buffer(t);
    const Buf& buf = kind == 'K' ? kbuf[b] : vbuf[b];
    ok = ok && buf.tile == t && buf.group >= 0 && buf.group < landed;
    in_flight.push_back({kind, b});
  };
  auto wgmma_wait = [&](int n) {
    while ((int)in_flight.size() > n) in_flight.erase(in_flight.begin());
  };
  stage('K', 0);
  if (!pipelined) stage('V', 0);
  ++groups;
  for (int t = 0; t < tiles; ++t) {
    ok = ok && in_flight.empty();  // first barrier: every wgmma of earlier iterations retired
    stage('K', gncuda::wgattn::staged_k(t));
    stage('V', gncuda::wgattn::staged_v(t, pipelined) + v_lead);
    ++groups;
    landed = groups - 1;  // cp.async.wait_group 1
    if (!pipelined) {
      read('K', t);       // S(t)
      wgmma_wait(0);
      read('V', t);       // P(t)·V(t)
      wgmma_wait(0);
    } else {
      read('K', t);       // S(t)
      if (t > 0) {
        read('V', t - 1);  // P(t-1)·V(t-1)
        wgmma_wait(1);
      } else {
        wgmma_wait(0);
      }
      wgmma_wait(0);
    }
  }
  if (pipelined) {
    landed = groups;  // cp.async.wait_group 0 and a barrier
    read('V', tiles - 1);
    wgmma_wait(0);
  }
  for (int t = 0; t < tiles; ++t) ok = ok && k_staged[t] == 1 && v_staged[t] == 1;
  return ok;
}

void test_schedule() {
  bool ok = true, mutant_caught = true;
  for (bool pipelined : {false, true})
    for (int tiles = 1; tiles <= 24; ++tiles) {
      ok = ok && play_schedule(pipelined, tiles, 0);
      if (pipelined && tiles >= 2) mutant_caught = mutant_caught && !play_schedule(true, tiles, 1);
    }
  report(ok && mutant_caught,
         "wgmma attention tile schedule (plain and pipelined): tiles staged once, into free buffers, landed before use",
         mutant_caught ? "" : "staging V one tile early was not caught");
}

// --- the kernel's data flow, emulated -------------------------------------------------------------
struct Problem {
  int n_queries, context, window, head_dim;
  float scale;
};

uint16_t read16(const std::vector<uint8_t>& smem, uint32_t at) {
  uint16_t h;
  std::memcpy(&h, &smem[at], 2);
  return h;
}
void write16(std::vector<uint8_t>& smem, uint32_t at, uint16_t h) { std::memcpy(&smem[at], &h, 2); }

// One sequence: `context` keys, the last n_queries of them are the queries (positions context - n ..).
// q: [n, D] fp32; k, v: [context, D] (bf16-rounded values). Output [n, D].
template <int D>
std::vector<float> emulate(const Problem& pb, const std::vector<float>& q, const std::vector<float>& k,
                           const std::vector<float>& v) {
  using L = wa::Smem<D>;
  constexpr int NS = wa::kKeys / 2, NO = D / 2;
  const float kLog2e = 1.4426950408889634f;
  std::vector<float> out(static_cast<size_t>(pb.n_queries) * D, kNaN);
  std::vector<uint8_t> smem(L::kEnd, 0xCD);
  const int first = pb.context - pb.n_queries;
  for (int t0 = 0; t0 < pb.n_queries; t0 += wa::kQueries) {
    const int t_end = std::min(t0 + wa::kQueries, pb.n_queries);
    auto pos_of = [&](int t) { return t < t_end ? first + t : -1; };
    int pmin = INT_MAX, pmax = -1;
    for (int t = t0; t < t_end; ++t) pmin = std::min(pmin, pos_of(t)), pmax = std::max(pmax, pos_of(t));
    // Q tile through the kernel's quad stores.
    for (int e = 0; e < wa::kQueries * D / 4; ++e) {
      const int r = e / (D / 4), d = (e % (D / 4)) * 4, t = t0 + r;
      for (int i = 0; i < 4; ++i)
        write16(smem, L::kQ + wa::tile_offset(wa::kQueries, r, d) + 2 * i,
                t < t_end ? f32_to_bf16(q[static_cast<size_t>(t) * D + d + i]) : 0);
    }
    const int kb = pb.window > 0 ? std::max(0, pmin - pb.window + 1) : 0, ke = pmax + 1;
    // Per thread: S and O accumulators, running max and sum of its two rows.
    std::vector<float> o(static_cast<size_t>(wa::kThreads) * NO, 0.f);
    std::vector<float> m(static_cast<size_t>(wa::kThreads) * 2, -INFINITY), l(static_cast<size_t>(wa::kThreads) * 2, 0.f);
    for (int kt = kb; kt < ke; kt += wa::kKeys) {
      // K and V tile (buffer 0) through the cp.async chunks; keys past ke are zero rows.
      for (int c = 0; c < L::kChunks; ++c) {
        const int r = wa::chunk_row<D>(c), d = wa::chunk_d<D>(c), j = kt + r;
        for (int e = 0; e < 8; ++e) {
          const uint32_t at = wa::tile_offset(wa::kKeys, r, d) + 2 * e;
          write16(smem, L::kK + at, j < ke ? f32_to_bf16(k[static_cast<size_t>(j) * D + d + e]) : 0);
          write16(smem, L::kV + at, j < ke ? f32_to_bf16(v[static_cast<size_t>(j) * D + d + e]) : 0);
        }
      }
      for (int g = 0; g < wa::kWarpgroups; ++g) {
        // S = Q·Kᵀ through the descriptor models, into each thread's D fragment.
        std::vector<float> S(64 * wa::kKeys, 0.f);
        for (int j = 0; j < D / 16; ++j) {
          const Desc qd = decode(wa::q_desc(0, g, j)), kd = decode(wa::k_desc(L::kK, j));
          for (int r = 0; r < 64; ++r)
            for (int n = 0; n < wa::kKeys; ++n) {
              float acc = 0.f;
              for (int kk = 0; kk < 16; ++kk)
                acc += bf16_to_f32(read16(smem, hw_b_address(qd, r, kk))) * bf16_to_f32(read16(smem, hw_b_address(kd, n, kk)));
              S[r * wa::kKeys + n] += acc;
            }
        }
        std::vector<float> sc(static_cast<size_t>(128) * NS);  // [thread in warpgroup][i]
        for (int t = 0; t < 128; ++t)
          for (int i = 0; i < NS; ++i)
            sc[t * NS + i] = S[wg::d_row(t / 32, t % 32, i) * wa::kKeys + wg::d_col(t % 32, i)];
        // The online softmax, as the kernel: per thread, rows reduced over the quad.
        std::vector<float> mx(128 * 2, -INFINITY), sum(128 * 2, 0.f), corr(128 * 2);
        for (int t = 0; t < 128; ++t) {
          const int warp = t / 32, lane = t % 32, row0 = t0 + 64 * g + wg::d_row(warp, lane, 0);
          const int pos[2] = {pos_of(row0), pos_of(row0 + 8)};
          const bool full = wa::tile_fully_visible(kt, pos[0], pb.window) && wa::tile_fully_visible(kt, pos[1], pb.window);
          for (int i = 0; i < NS; ++i) {
            const int key = kt + wg::d_col(lane, i), p = pos[(i & 2) ? 1 : 0];
            const bool vis = p >= 0 && key <= p && (pb.window == 0 || key > p - pb.window);
            float& x = sc[t * NS + i];
            x = full || vis ? x * pb.scale * kLog2e : -INFINITY;
            mx[t * 2 + ((i & 2) ? 1 : 0)] = std::max(mx[t * 2 + ((i & 2) ? 1 : 0)], x);
          }
        }
        for (int t = 0; t < 128; ++t) {
          const int tg = 128 * g + t;
          for (int r = 0; r < 2; ++r) {
            float qm = -INFINITY;
            for (int x = 0; x < 4; ++x) qm = std::max(qm, mx[((t & ~3) + x) * 2 + r]);  // the quad
            const float mn = std::max(m[tg * 2 + r], qm), b = mn == -INFINITY ? 0.f : mn;
            corr[t * 2 + r] = std::exp2(m[tg * 2 + r] - b);
            m[tg * 2 + r] = mn;
            for (int i = 0; i < NS; ++i)
              if (((i & 2) ? 1 : 0) == r) {
                sc[t * NS + i] = std::exp2(sc[t * NS + i] - b);
                sum[t * 2 + r] += sc[t * NS + i];
              }
            l[tg * 2 + r] = l[tg * 2 + r] * corr[t * 2 + r] + sum[t * 2 + r];
          }
          for (int i = 0; i < NO; ++i) o[tg * NO + i] *= corr[t * 2 + ((i & 2) ? 1 : 0)];
        }
        // O += P·V: P assembled from each thread's A registers (p_acc), V through the MN-major model.
        for (int kc = 0; kc < wa::kKeys / 16; ++kc) {
          std::vector<float> P(64 * 16, kNaN);
          for (int t = 0; t < 128; ++t)
            for (int qr = 0; qr < 4; ++qr)
              for (int e = 0; e < 2; ++e) {
                const int i = wa::p_acc(kc, qr) + e;
                P[wa::a_row(t / 32, t % 32, qr) * 16 + wa::a_k(t % 32, qr) + e] = round_to(DType::kBF16, sc[t * NS + i]);
              }
          const Desc vd = decode(wa::v_desc(L::kV, kc));
          for (int t = 0; t < 128; ++t)
            for (int i = 0; i < NO; ++i) {
              const int r = wg::d_row(t / 32, t % 32, i), n = wg::d_col(t % 32, i);
              float acc = 0.f;
              for (int kk = 0; kk < 16; ++kk) acc += P[r * 16 + kk] * bf16_to_f32(read16(smem, hw_b_address_mn(vd, kk, n)));
              o[(128 * g + t) * NO + i] += acc;
            }
        }
      }
    }
    // Normalise (the quad's sums) and store valid rows.
    for (int tg = 0; tg < wa::kThreads; ++tg) {
      const int g = tg / 128, t = tg % 128, warp = t / 32, lane = t % 32;
      for (int i = 0; i < NO; ++i) {
        const int r = (i & 2) ? 1 : 0, row = t0 + 64 * g + wg::d_row(warp, lane, i);
        float ls = 0.f;
        for (int x = 0; x < 4; ++x) ls += l[((tg & ~3) + x) * 2 + r];
        if (pos_of(row) >= 0) out[static_cast<size_t>(row) * D + wg::d_col(lane, i)] = o[tg * NO + i] * (ls > 0 ? 1.f / ls : 0.f);
      }
    }
  }
  return out;
}

template <int D>
void test_emulated_attention(const Problem& pb, Rng& rng) {
  std::vector<float> q(static_cast<size_t>(pb.n_queries) * D), k(static_cast<size_t>(pb.context) * D),
      v(static_cast<size_t>(pb.context) * D);
  for (auto& x : q) x = rng.uniform(-1.f, 1.f);
  for (auto& x : k) x = round_to(DType::kBF16, rng.uniform(-1.f, 1.f));
  for (auto& x : v) x = round_to(DType::kBF16, rng.uniform(-1.f, 1.f));
  const std::vector<float> got = emulate<D>(pb, q, k, v);
  // Plain attention of the bf16-rounded q, k, v in double precision; the kernel also rounds the
  // probabilities to bf16 (relative 2^-9 each), so its output is within 2^-9 max|v| of this.
  double max_err = 0.0;
  bool written = true;
  const int first = pb.context - pb.n_queries;
  for (int t = 0; t < pb.n_queries; ++t) {
    const int pos = first + t;
    std::vector<double> w(pb.context, 0.0);
    double mx = -1e300, den = 0.0;
    for (int j = 0; j <= pos; ++j) {
      if (pb.window > 0 && j <= pos - pb.window) continue;
      double s = 0.0;
      for (int d = 0; d < D; ++d) s += (double)round_to(DType::kBF16, q[(size_t)t * D + d]) * k[(size_t)j * D + d];
      w[j] = s * pb.scale;
      mx = std::max(mx, w[j]);
    }
    for (int j = 0; j <= pos; ++j) {
      if (pb.window > 0 && j <= pos - pb.window) continue;
      w[j] = std::exp(w[j] - mx);
      den += w[j];
    }
    for (int d = 0; d < D; ++d) {
      double ref = 0.0;
      for (int j = 0; j <= pos; ++j)
        if (!(pb.window > 0 && j <= pos - pb.window)) ref += w[j] * v[(size_t)j * D + d];
      ref /= den;
      const float x = got[(size_t)t * D + d];
      written = written && !std::isnan(x);
      max_err = std::max(max_err, std::fabs(x - ref));
    }
  }
  const bool ok = written && max_err <= 4e-3;  // 2^-9 (max|v| = 1) plus fp32 accumulation, with margin
  report(ok,
         fmt("wgmma attention emulated D=%.0f queries=%.0f context=%.0f", D, pb.n_queries, pb.context) +
             fmt(" window=%.0f", pb.window),
         fmt("max abs err=%.3g", max_err) + (written ? "" : " (unwritten outputs)"));
}

}  // namespace

void test_attention_wgmma_layout(Rng& rng) {
  test_tiles<64>();
  test_tiles<128>();
  test_p_fragments();
  test_schedule();
  // Query tiles ending mid-tile, keys past the last tile's end, a window cutting tiles, scale != 1.
  test_emulated_attention<64>({200, 200, 0, 64, 1.f}, rng);
  test_emulated_attention<128>({130, 300, 0, 128, 0.125f}, rng);
  test_emulated_attention<64>({150, 150, 96, 64, 1.f}, rng);
  test_emulated_attention<128>({40, 40, 0, 128, 1.f}, rng);
}

}  // namespace gptneo::cputest
