// Machine ceilings for the benchmarks (see limits.h). Independent FMA chains per thread keep the FMA
// units busy; the read loop keeps four accumulators per thread so loads, not adds, limit it.
#include "cpu/limits.h"

#include "core/host_memory.h"
#include "cpu/amx_support.h"
#include "cpu/gemm_amx.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>

namespace gptneo::cpu {
namespace {

constexpr int kChains = 12;

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Best wall time of fn over repetitions lasting about min_s (at least 3 runs, after a warm-up).
double best_time(const std::function<void()>& fn, double min_s) {
  fn();
  double best = 1e30;
  const double start = now_s();
  for (int runs = 0; runs < 1000 && (runs < 3 || now_s() - start < min_s); ++runs) {
    const double t0 = now_s();
    fn();
    best = std::min(best, now_s() - t0);
  }
  return best;
}

__attribute__((target("avx512f"))) float fma_chains_avx512(long iters) {
  __m512 a[kChains];
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < kChains; ++i) a[i] = _mm512_set1_ps(1.0f + i);
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < kChains; ++i) a[i] = _mm512_fmadd_ps(a[i], m, c);
  for (int i = 1; i < kChains; ++i) a[0] = _mm512_add_ps(a[0], a[i]);
  float out[16];
  _mm512_storeu_ps(out, a[0]);
  return out[0];
}

__attribute__((target("avx2,fma"))) float fma_chains_avx2(long iters) {
  __m256 a[kChains];
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < kChains; ++i) a[i] = _mm256_set1_ps(1.0f + i);
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < kChains; ++i) a[i] = _mm256_fmadd_ps(a[i], m, c);
  for (int i = 1; i < kChains; ++i) a[0] = _mm256_add_ps(a[0], a[i]);
  float out[8];
  _mm256_storeu_ps(out, a[0]);
  return out[0];
}

// Scalar reference chains for the portable path (the compiler may vectorise across chains).
float fma_chains_portable(long iters) {
  float a[kChains];
  for (int i = 0; i < kChains; ++i) a[i] = 1.0f + i;
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < kChains; ++i) a[i] = a[i] * 0.999999f + 1e-7f;
  float s = 0;
  for (float v : a) s += v;
  return s;
}

__attribute__((target("avx2"))) float sum_avx2(const float* p, size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = 0; i + 32 <= n; i += 32) {
    s0 = _mm256_add_ps(s0, _mm256_load_ps(p + i));
    s1 = _mm256_add_ps(s1, _mm256_load_ps(p + i + 8));
    s2 = _mm256_add_ps(s2, _mm256_load_ps(p + i + 16));
    s3 = _mm256_add_ps(s3, _mm256_load_ps(p + i + 24));
  }
  float out[8];
  _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  return out[0];
}

float sum_portable(const float* p, size_t n) {
  float s[4] = {0, 0, 0, 0};
  for (size_t i = 0; i + 4 <= n; i += 4)
    for (int j = 0; j < 4; ++j) s[j] += p[i + j];
  return s[0] + s[1] + s[2] + s[3];
}

}  // namespace

MachineLimits measure_machine_limits(ThreadPool& pool, SimdLevel level, size_t read_bytes) {
  MachineLimits out;
  volatile float sink = 0;
  const long iters = 2000000;
  const int lanes = level >= SimdLevel::kAvx512 ? 16 : level >= SimdLevel::kAvx2 ? 8 : 1;
  const double t_fma = best_time([&] {
    pool.run(pool.size(), [&](int, int) {
      float v = level >= SimdLevel::kAvx512 ? fma_chains_avx512(iters)
                : level >= SimdLevel::kAvx2  ? fma_chains_avx2(iters)
                                             : fma_chains_portable(iters);
      sink = sink + v;
    });
  }, 0.3);
  out.fma_gflops = 2.0 * kChains * lanes * iters * pool.size() / t_fma / 1e9;
  if (level >= SimdLevel::kAmx && amx_bf16_usable()) {
    const long amx_iters = 200000;
    const double t_amx = best_time([&] { pool.run(pool.size(), [&](int, int) { amx::dp_chains(amx_iters); }); }, 0.3);
    out.amx_bf16_gflops = 4.0 * amx::kFlopsPerTileDp * amx_iters * pool.size() / t_amx / 1e9;
  }

  const size_t n = std::max<size_t>(read_bytes / sizeof(float) / 32 * 32, 32);
  // Allocated like the packed weights (huge pages where available), so the bound matches them.
  std::unique_ptr<float, void (*)(void*)> buf(static_cast<float*>(host_alloc(n * sizeof(float))), host_free);
  if (!buf) return out;
  pool.parallel_for(static_cast<int64_t>(n), 1 << 20, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) buf.get()[i] = 1.0f;  // touch every page
  });
  const int parts = pool.size();
  const double t_read = best_time([&] {
    pool.run(parts, [&](int p, int) {
      const size_t b = n / parts * p / 32 * 32, e = p + 1 == parts ? n : n / parts * (p + 1) / 32 * 32;
      float v = level >= SimdLevel::kAvx2 ? sum_avx2(buf.get() + b, e - b) : sum_portable(buf.get() + b, e - b);
      sink = sink + v;
    });
  }, 0.5);
  out.read_gbs = n * sizeof(float) / t_read / 1e9;
  return out;
}

}  // namespace gptneo::cpu
