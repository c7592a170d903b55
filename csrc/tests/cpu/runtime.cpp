// The thread pool and SIMD path selection.
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

#include "cpu/amx_support.h"

#include "tests/cpu/harness.h"

namespace gptneo::cputest {

using namespace gptneo::cpu;

// Every task runs exactly once per run, across many back-to-back runs of varied sizes; a task's
// exception reaches the caller after the other tasks ran, and the pool stays usable.
void test_thread_pool(ThreadPool* pools[3]) {
  bool ok = true;
  std::string why;
  for (int pi = 0; pi < 3 && ok; ++pi) {
    ThreadPool& pool = *pools[pi];
    std::vector<std::atomic<int>> hits(257);
    for (int r = 0; r < 2000 && ok; ++r) {
      const int n = 1 + (r * 37) % 257;
      for (int t = 0; t < n; ++t) hits[t].store(0);
      pool.run(n, [&](int t, int worker) {
        if (worker < 0 || worker >= pool.size()) hits[t].fetch_add(100);
        hits[t].fetch_add(1);
      });
      for (int t = 0; t < n && ok; ++t) {
        if (hits[t].load() != 1) {
          ok = false;
          why = fmt("threads=%g run %g: task %g ran ", pool.size(), r, t) + std::to_string(hits[t].load()) + " times";
        }
      }
    }
    std::atomic<int> ran{0};
    bool caught = false;
    try {
      pool.run(16, [&](int t, int) {
        ran.fetch_add(1);
        if (t == 5) throw std::runtime_error("task 5 failed");
      });
    } catch (const std::runtime_error& e) {
      caught = std::string(e.what()) == "task 5 failed";
    }
    if (!caught || ran.load() != 16) {
      ok = false;
      why = fmt("threads=%g: exception caught=%g, tasks ran=%g of 16", pool.size(), caught, ran.load());
    }
    std::atomic<int> after{0};
    pool.run(8, [&](int, int) { after.fetch_add(1); });
    if (after.load() != 8) {
      ok = false;
      why = "pool unusable after an exception";
    }
  }
  report(ok, "thread pool: every task once over 2000 runs per pool; task exceptions rethrown by run()", why);
}

void test_simd_selection() {
  // The best usable path: AMX only where Linux granted the tiles.
  const SimdLevel best = detect_simd() == SimdLevel::kAmx && !amx_bf16_usable() ? SimdLevel::kAvx512Bf16 : detect_simd();
  const char* saved = std::getenv("GPTNEO_SIMD");
  const std::string saved_value = saved ? saved : "";
  bool ok = true;
  const struct { const char* env; SimdLevel want; } cases[] = {
      {"portable", SimdLevel::kPortable}, {"avx2", SimdLevel::kAvx2}, {"avx512", SimdLevel::kAvx512},
      {"avx512bf16", SimdLevel::kAvx512Bf16}, {"amx", SimdLevel::kAmx}, {"bogus", best}};
  for (auto& c : cases) {
    setenv("GPTNEO_SIMD", c.env, 1);
    const SimdLevel want = static_cast<int>(c.want) < static_cast<int>(best) ? c.want : best;  // capped
    ok = ok && select_simd() == want;
  }
  if (saved) setenv("GPTNEO_SIMD", saved_value.c_str(), 1);
  else unsetenv("GPTNEO_SIMD");
  ok = ok && static_cast<int>(select_simd()) <= static_cast<int>(best);
  report(ok, std::string("detect_simd=") + simd_name(best) + "; GPTNEO_SIMD caps select_simd, unknown values ignored", "");
}

}  // namespace gptneo::cputest
