// Native tests of the CPU kernels (cpu/ops.h) against the scalar oracles (cpu/ref/ref.h), at
// every SIMD level this CPU supports, with 1, 2 and 3 threads. No framework: one line per
// case, a final "N passed, M failed" line, exit status 1 on any failure. One file per op under
// csrc/tests/cpu/ (harness.h lists them).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

#include "tests/cpu/harness.h"

using namespace gptneo;
using namespace gptneo::cputest;

namespace {

std::vector<SimdLevel> levels() {
  std::vector<SimdLevel> out;
  for (int l = 0; l <= static_cast<int>(cpu::detect_simd()); ++l) out.push_back(static_cast<SimdLevel>(l));
  return out;
}

}  // namespace

int main() {
  ThreadPool p1(1), p2(2), p3(3);
  ThreadPool* pools[3] = {&p1, &p2, &p3};
  Rng rng(20240611);
  test_simd_selection();
  test_thread_pool(pools);
  test_pack_weight_errors();
  test_pack_weight_i8_matches_reference(rng);
  test_embed(pools, rng);
  test_wgmma_layout(rng);
  test_attention_wgmma_layout(rng);
  test_gemv_stream_plan();
  test_decode_tc_split_plan(rng);
  test_ln_rows_plan(rng);
  test_decode_split();
  test_decode_split_plans();
  test_decode_split_waves();
  test_row_stage_layout();
  test_grid_barrier();
  test_sampling(pools, rng);
  test_candidates(rng);
  test_device_draw(rng);
  test_device_nucleus(rng);
  test_nucleus_draw(rng);
  bool first = true;
  for (SimdLevel level : levels()) {
    std::printf("# level %s\n", simd_name(level));
    auto t0 = std::chrono::steady_clock::now();
    auto lap = [&](const char* what) {
      auto t1 = std::chrono::steady_clock::now();
      if (std::getenv("GN_TEST_CPU_TIMES")) std::printf("# cpu time so far %.2f s\n", double(std::clock()) / CLOCKS_PER_SEC);
      std::printf("# %s %s: %.2f s\n", simd_name(level), what, std::chrono::duration<double>(t1 - t0).count());
      t0 = t1;
    };
    test_gemm_exact(level, pools, rng);
    test_gemm_i8_exact(level, pools, rng);
    lap("gemm exact");
    test_gemm_sweeps(level, pools, rng);
    lap("gemm sweeps");
    test_gemm_amx(level, pools, rng);
    lap("gemm amx");
    test_gemm_gelu_matches_gelu_kernel(level, p2, rng);
    test_gelu(level, rng);
    test_layernorm(level, pools, rng);
    lap("gelu+layernorm");
    test_attention(level, pools, rng, first);
    lap("attention");
    first = false;
  }
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}

