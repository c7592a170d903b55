// Native benchmark of the CPU kernels at GPT-Neo-125M shapes, with the machine's own bounds
// measured in the same run:
//   * FMA peak: independent chains of 512-bit (or 256-bit) FMAs per thread, no memory traffic.
//   * read bandwidth: a vector sum over a buffer far larger than the caches.
// Decode GEMV (M=1) is bound by weight bytes / bandwidth: reported as GB/s of weights streamed.
// Prefill GEMM (M=128/512) is bound by 2·M·N·K / FMA peak: reported as GFLOP/s.
// Usage: bench_cpu_ops [--quick] [--cpu-time] [--only gemm|gemv|attn]   (GPTNEO_SIMD caps the level)
//   --only gemv: the M=1 (decode) GEMM rows only, every weight dtype (f32, bf16, int8).
//   --cpu-time: single-thread rows are timed with the thread's CPU clock instead of the wall
//   clock, which keeps them meaningful on a machine shared with other work (multi-thread rows
//   always use the wall clock).
// GCC 12 warns spuriously inside its own AVX-512 intrinsics (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/candidate_sampler.h"
#include "cpu/candidates.h"
#include "cpu/device_draw.h"
#include "cpu/limits.h"
#include "cpu/ops.h"
#include "cpu/simd.h"

using namespace gptneo;
using namespace gptneo::cpu;

namespace {

bool g_cpu_time = false;
bool g_use_cpu_clock = false;  // set per measurement: g_cpu_time and a 1-thread pool

double now_s() {
  if (g_use_cpu_clock) {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Best wall time of fn over repetitions lasting about min_s in total (at least 3 runs).
double best_time(const std::function<void()>& fn, double min_s) {
  fn();  // warm-up
  double best = 1e30, start = now_s();
  int runs = 0;
  while (runs < 3 || now_s() - start < min_s) {
    double t0 = now_s();
    fn();
    best = std::min(best, now_s() - t0);
    if (++runs >= 1000) break;
  }
  return best;
}

// ---- machine bounds: cpu/limits.cpp (shared with the Node benchmark) ----------------

// ---- kernels -----------------------------------------------------------------------------
struct Shape {
  const char* name;
  int n, k;
};

float* alloc_floats(size_t n, float v) {
  float* p = static_cast<float*>(std::aligned_alloc(64, ((n * 4 + 63) / 64) * 64));
  for (size_t i = 0; i < n; ++i) p[i] = v * static_cast<float>((i * 2654435761u) % 1000) / 1000.0f;
  return p;
}

struct Bounds {
  double peak_gflops[3];  // by threads (index 1, 2)
  double amx_gflops[3];   // AMX bf16 tile rate by threads (0 without the amx path)
  double bw_gbs[3];
};

void bench_gemm(const Shape& s, DType dtype, int m, ThreadPool& pool, SimdLevel level, const Bounds& bounds,
                bool quick) {
  std::vector<float> w(static_cast<size_t>(s.n) * s.k);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
  PackedWeight pw;
  if (!pack_weight(w.data(), DType::kF32, s.n, s.k, dtype, &pw).ok()) return;
  w.clear();
  w.shrink_to_fit();
  std::unique_ptr<float, decltype(&std::free)> x(alloc_floats(static_cast<size_t>(m) * s.k, 1.0f), std::free);
  std::unique_ptr<float, decltype(&std::free)> y(alloc_floats(static_cast<size_t>(m) * s.n, 0.0f), std::free);
  std::vector<float> bias(s.n, 0.5f);
  g_use_cpu_clock = g_cpu_time && pool.size() == 1;
  double t = best_time([&] {
    gemm(x.get(), m, s.k, pw, bias.data(), y.get(), s.n, Epilogue::kStore, pool, level);
  }, quick ? 0.1 : 0.4);
  const int th = pool.size();
  if (m == 1 || m == 8) {  // still weight-streaming bound: report GB/s
    double gbs = static_cast<double>(pw.bytes) / t / 1e9;
    std::printf("gemm  %-10s %-5s M=%-4d N=%-6d K=%-5d thr=%d  %9.1f us  %7.1f GB/s  (%3.0f%% of %.1f GB/s read bw)\n",
                s.name, dtype_name(dtype), m, s.n, s.k, th, t * 1e6, gbs, 100 * gbs / bounds.bw_gbs[th],
                bounds.bw_gbs[th]);
  } else {
    double gf = 2.0 * m * s.n * s.k / t / 1e9;
    const bool tiles = gemm_rounds_x_to_bf16(m, pw, level);
    const double peak = tiles ? bounds.amx_gflops[th] : bounds.peak_gflops[th];
    std::printf("gemm  %-10s %-5s M=%-4d N=%-6d K=%-5d thr=%d  %9.1f us  %7.1f GFLOP/s (%3.0f%% of %.0f %s peak)\n",
                s.name, dtype_name(dtype), m, s.n, s.k, th, t * 1e6, gf, 100 * gf / peak, peak, tiles ? "AMX" : "FMA");
  }
}

// GPT-Neo-125M attention: 12 heads x 64, block size 16, identity block table.
void bench_attention(int ctx, bool prefill, ThreadPool& pool, SimdLevel level, bool quick) {
  const int heads = 12, hd = 64, width = heads * hd, bs = 16;
  const int blocks = (ctx + bs - 1) / bs;
  std::unique_ptr<float, decltype(&std::free)> kc(alloc_floats(static_cast<size_t>(blocks) * bs * width, 0.1f), std::free);
  std::unique_ptr<float, decltype(&std::free)> vc(alloc_floats(static_cast<size_t>(blocks) * bs * width, 1.0f), std::free);
  std::vector<int32_t> table(blocks);
  for (int b = 0; b < blocks; ++b) table[b] = b;
  const int tokens = prefill ? ctx : 1;
  std::vector<int32_t> starts{0, tokens}, pos(tokens);
  for (int t = 0; t < tokens; ++t) pos[t] = prefill ? t : ctx - 1;
  std::vector<float> q(static_cast<size_t>(tokens) * width, 0.05f), out(q.size());
  PagedBatch b;
  b.num_seqs = 1;
  b.seq_starts = starts.data();
  b.positions = pos.data();
  b.block_tables = table.data();
  b.max_blocks = blocks;
  b.block_size = bs;
  g_use_cpu_clock = g_cpu_time && pool.size() == 1;
  for (int window : {0, 256}) {
    double t = best_time([&] {
      attention_paged(q.data(), width, kc.get(), vc.get(), b, heads, hd, window, 1.0f, out.data(), width, pool, level);
    }, quick ? 0.1 : 0.3);
    // Key-value pairs visited, summed over tokens.
    double pairs = 0;
    for (int tk = 0; tk < tokens; ++tk) pairs += window > 0 ? std::min(pos[tk] + 1, window) : pos[tk] + 1;
    double flops = 4.0 * pairs * heads * hd;
    // Decode reads each visited K/V row once; report that traffic too (prefill is compute-bound).
    const double kv_bytes = 2.0 * 4 * hd * heads * pairs;
    if (prefill)
      std::printf("attn  prefill ctx=%-5d window=%-3d thr=%d  %9.1f us  %7.1f GFLOP/s\n", ctx, window, pool.size(),
                  t * 1e6, flops / t / 1e9);
    else
      std::printf("attn  decode  ctx=%-5d window=%-3d thr=%d  %9.1f us  %7.1f GFLOP/s  %7.1f GB/s of K/V\n", ctx,
                  window, pool.size(), t * 1e6, flops / t / 1e9, kv_bytes / t / 1e9);
  }
}

// The host side of a sampled step on a GPU (model/device_sampling.h), per row of GPT-2's 50257
// tokens: sampling from the whole row (what runs after downloading 201 KB) against sampling from the
// candidates the GPU selects for top-k 50 with 30 penalised ids (about 1.3 KB to download). Logits
// are gaussian with sd 3 (a trained model's spread). Also the CPU backend's own selection
// (select_candidates_row), which the GPU path does not use. One thread; best of repeats.
void bench_sampling_row() {
  const int V = 50257, rows = 64;
  std::vector<float> logits(static_cast<size_t>(rows) * V);
  uint64_t state = 12345;
  auto gauss = [&]() {  // sum of 4 uniforms, scaled to sd 3
    double sum = 0;
    for (int i = 0; i < 4; ++i) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      sum += static_cast<double>(state >> 11) * (1.0 / 9007199254740992.0) - 0.5;
    }
    return static_cast<float>(sum * 3.0 * 1.7320508);
  };
  for (float& v : logits) v = gauss();
  std::vector<int32_t> seen;
  for (int i = 0; i < 30; ++i) seen.push_back(i * 997 % V);
  std::sort(seen.begin(), seen.end());
  cpu::RowSampleSpec spec;
  spec.params.temperature = 0.8;
  spec.params.top_k = 50;
  spec.params.repetition_penalty = 1.1;
  spec.seen_ids = seen.data();
  spec.seen_count = static_cast<int>(seen.size());
  spec.u = 0.37;
  const int need = cpu::candidate_need(spec, V), slots = 2 * need + 64;
  std::vector<int32_t> ids(static_cast<size_t>(rows) * slots), counts(rows);
  std::vector<float> vals(static_cast<size_t>(rows) * slots), seen_vals(static_cast<size_t>(rows) * seen.size());
  std::vector<uint32_t> keys;
  const double select_s = best_time([&] {
    for (int r = 0; r < rows; ++r)
      counts[r] = cpu::select_candidates_row(logits.data() + static_cast<size_t>(r) * V, V, need, slots,
                                             ids.data() + static_cast<size_t>(r) * slots,
                                             vals.data() + static_cast<size_t>(r) * slots, &keys);
  }, 0.5);
  for (int r = 0; r < rows; ++r)
    for (size_t i = 0; i < seen.size(); ++i) seen_vals[r * seen.size() + i] = logits[static_cast<size_t>(r) * V + seen[i]];
  cpu::RowSamplerScratch row_scratch;
  cpu::CandidateScratch cand_scratch;
  int64_t checksum_full = 0, checksum_cand = 0;
  const double full_s = best_time([&] {
    checksum_full = 0;
    for (int r = 0; r < rows; ++r) checksum_full += cpu::sample_row(logits.data() + static_cast<size_t>(r) * V, V, spec, &row_scratch);
  }, 0.5);
  const double cand_s = best_time([&] {
    checksum_cand = 0;
    for (int r = 0; r < rows; ++r)
      checksum_cand += cpu::sample_candidates(ids.data() + static_cast<size_t>(r) * slots, vals.data() + static_cast<size_t>(r) * slots,
                                              counts[r], seen.data(), seen_vals.data() + r * seen.size(),
                                              static_cast<int>(seen.size()), V, spec, &cand_scratch);
  }, 0.5);
  const double slot_bytes = 4.0 + (static_cast<double>(counts[0]) + seen.size()) * 8.0;
  std::printf("sampling row (V=%d, top-k 50, 30 penalised ids; need %d): whole row %.1f us  candidates %.2f us  "
              "(%.0fx; same tokens: %s)  bytes to host %.0f vs %.0f  cpu select_candidates_row %.1f us\n",
              V, need, full_s / rows * 1e6, cand_s / rows * 1e6, full_s / cand_s,
              checksum_full == checksum_cand ? "yes" : "NO", V * 4.0, slot_bytes, select_s / rows * 1e6);
  // Rows the candidates cannot serve (their token depends on the whole row): sample_row on the whole
  // row (what runs after downloading it) against the host's share of the device draw for the rows it
  // serves (building the query; the kernel draws, one word per row comes back).
  struct Mode {
    const char* name;
    double top_p, min_p;
  };
  for (const Mode& mode : {Mode{"temperature", 1, 0}, Mode{"min-p 0.05", 1, 0.05}, Mode{"top-p 0.9", 0.9, 0},
                           Mode{"top-p 0.9, min-p 0.05", 0.9, 0.05}}) {
    cpu::RowSampleSpec wide = spec;
    wide.params.top_k = 0;
    wide.params.top_p = mode.top_p;
    wide.params.min_p = mode.min_p;
    int64_t checksum = 0;
    std::vector<int32_t> whole_tokens(rows);
    const double whole_s = best_time([&] {
      for (int r = 0; r < rows; ++r)
        checksum += whole_tokens[r] = cpu::sample_row(logits.data() + static_cast<size_t>(r) * V, V, wide, &row_scratch);
    }, 0.5);
    cpu::DrawQueries queries;
    std::vector<cpu::DrawChange> scratch;
    bool drawable = true;
    const double query_s = best_time([&] {
      queries.clear();
      for (int r = 0; r < rows; ++r) drawable = cpu::draw_query(wide, V, &queries, &scratch) && drawable;
    }, 0.5);
    // The kernel's emulation on one host thread (what the CPU backend runs with the draw forced on): its
    // time per row, and how many rows it certifies with sample_row's token.
    int certified = 0, equal = 0;
    const double emulated_s = !drawable ? 0 : best_time([&] {
      certified = equal = 0;
      for (int r = 0; r < rows; ++r) {
        const int first = queries.change_start[r];
        double sum;
        const int t = cpu::draw_row(logits.data() + static_cast<size_t>(r) * V, V,
                                    queries.params.data() + static_cast<size_t>(r) * kDrawParams,
                                    queries.change_meta.data() + 2 * first, queries.change_vals.data() + 2 * first,
                                    queries.change_start[r + 1] - first, &sum);
        certified += t >= 0;
        equal += t >= 0 && t == whole_tokens[r];
      }
    }, 0.5);
    if (drawable)
      std::printf("sampling row (V=%d, %s, temperature 0.8, 30 penalised ids): whole row %.1f us  device draw: "
                  "%.2f us on the host (its query), 4 bytes to host; its emulation %.1f us, %d of %d rows certified, "
                  "%d equal  (checksum %lld)\n",
                  V, mode.name, whole_s / rows * 1e6, query_s / rows * 1e6, emulated_s / rows * 1e6, certified, rows,
                  equal, static_cast<long long>(checksum));
    else
      std::printf("sampling row (V=%d, %s, temperature 0.8, 30 penalised ids): whole row %.1f us  device draw: not "
                  "served (whole row)  (checksum %lld)\n",
                  V, mode.name, whole_s / rows * 1e6, static_cast<long long>(checksum));
  }
  // Top-p rows with the draw on (cpu/nucleus_bound.h): the host builds a sum query, then samples from
  // the row's top 256 candidates with the device's S' (here the emulation's, computed untimed). At
  // temperature 0.25 these rows are peaked (a nucleus of a few tokens, as a trained model's often is).
  cpu::RowSampleSpec nucleus_spec = spec;
  nucleus_spec.params.top_k = 0;
  nucleus_spec.params.top_p = 0.9;
  nucleus_spec.params.temperature = 0.25;
  const int n_need = cpu::nucleus_need(nucleus_spec, V, 256), n_slots = 2 * n_need + 64;
  std::vector<int32_t> n_ids(static_cast<size_t>(rows) * n_slots), n_counts(rows);
  std::vector<float> n_vals(static_cast<size_t>(rows) * n_slots);
  std::vector<double> row_sums(rows);
  cpu::DrawQueries sum_queries;
  std::vector<cpu::DrawChange> sum_scratch;
  for (int r = 0; r < rows; ++r) {
    const float* row = logits.data() + static_cast<size_t>(r) * V;
    n_counts[r] = cpu::select_candidates_row(row, V, n_need, n_slots, n_ids.data() + static_cast<size_t>(r) * n_slots,
                                             n_vals.data() + static_cast<size_t>(r) * n_slots, &keys);
    sum_queries.clear();
    cpu::sum_query(nucleus_spec, V, &sum_queries, &sum_scratch);
    cpu::draw_row(row, V, sum_queries.params.data(), sum_queries.change_meta.data(), sum_queries.change_vals.data(),
                  sum_queries.change_start[1], &row_sums[r]);
  }
  int64_t whole_sum = 0, nucleus_sum = 0;
  int served = 0;
  const double whole_s = best_time([&] {
    whole_sum = 0;
    for (int r = 0; r < rows; ++r)
      whole_sum += cpu::sample_row(logits.data() + static_cast<size_t>(r) * V, V, nucleus_spec, &row_scratch);
  }, 0.5);
  const double nucleus_s = best_time([&] {
    nucleus_sum = 0;
    served = 0;
    sum_queries.clear();
    for (int r = 0; r < rows; ++r) {
      cpu::sum_query(nucleus_spec, V, &sum_queries, &sum_scratch);
      const int t = cpu::sample_nucleus_candidates(n_ids.data() + static_cast<size_t>(r) * n_slots,
                                                   n_vals.data() + static_cast<size_t>(r) * n_slots, n_counts[r],
                                                   seen.data(), seen_vals.data() + r * seen.size(),
                                                   static_cast<int>(seen.size()), V, nucleus_spec, row_sums[r], &cand_scratch);
      served += t >= 0;
      nucleus_sum += t;
    }
  }, 0.5);
  std::printf("sampling row (V=%d, top-p 0.9, temperature 0.25, 30 penalised ids; need %d): whole row %.1f us  "
              "nucleus from candidates: %.2f us on the host (sum query + sample_nucleus_candidates; %d of %d rows "
              "served, same tokens: %s)  bytes to host %.0f vs %.0f\n",
              V, n_need, whole_s / rows * 1e6, nucleus_s / rows * 1e6, served, rows,
              served == rows && whole_sum == nucleus_sum ? "yes" : "NO", V * 4.0,
              12.0 + (static_cast<double>(n_counts[0]) + seen.size()) * 8.0);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string only;
  int only_threads = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    else if (std::strcmp(argv[i], "--cpu-time") == 0) g_cpu_time = true;
    else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
    else if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) only_threads = std::atoi(argv[++i]);
  }
  const SimdLevel level = select_simd();
  std::printf("# bench_cpu_ops: simd=%s (detected %s), hardware threads=%d%s%s\n", simd_name(level),
              simd_name(detect_simd()), hardware_threads(), quick ? ", quick" : "",
              g_cpu_time ? ", 1-thread rows timed by thread CPU clock" : "");
  if (level < SimdLevel::kAvx2) {
    std::printf("# the bound kernels need AVX2; nothing measured\n");
    return 0;
  }
  ThreadPool p1(1), p2(2);
  std::vector<ThreadPool*> pools;
  if (only_threads != 2) pools.push_back(&p1);
  if (only_threads != 1) pools.push_back(&p2);
  if (only == "sampling") {
    bench_sampling_row();
    return 0;
  }
  Bounds bounds{};
  const size_t bw_bytes = (quick ? 64u : 256u) << 20;  // 64/256 MiB
  for (ThreadPool* p : pools) {
    const MachineLimits lim = measure_machine_limits(*p, level, bw_bytes);
    bounds.peak_gflops[p->size()] = lim.fma_gflops;
    bounds.bw_gbs[p->size()] = lim.read_gbs;
    bounds.amx_gflops[p->size()] = lim.amx_bf16_gflops;
    std::printf("bound threads=%d  FMA peak %.1f GFLOP/s  AMX bf16 peak %.1f GFLOP/s  read bandwidth %.1f GB/s\n",
                p->size(), bounds.peak_gflops[p->size()], bounds.amx_gflops[p->size()], bounds.bw_gbs[p->size()]);
  }
  const Shape shapes[] = {{"qkv", 2304, 768}, {"out_proj", 768, 768}, {"c_fc", 3072, 768},
                          {"c_proj", 768, 3072}, {"lm_head", 50257, 768}};
  for (DType dt : {DType::kF32, DType::kBF16, DType::kI8}) {
    if (only == "attn") break;
    for (int m : {1, 8, 32, 128, 512}) {
      for (const Shape& s : shapes) {
        if (quick && (m == 512 || m == 8)) continue;
        if (only == "gemv" && m != 1) continue;
        for (ThreadPool* p : pools) bench_gemm(s, dt, m, *p, level, bounds, quick);
      }
    }
  }
  for (int ctx : {128, 512, 2048})
    if (only != "gemm" && only != "gemv")
    for (bool prefill : {false, true})
      for (ThreadPool* p : pools) bench_attention(ctx, prefill, *p, level, quick);
  return 0;
}
