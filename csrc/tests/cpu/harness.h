// The CPU kernel tests' shared harness (csrc/tests/cpu/): result reporting, the seeded generator,
// dtype helpers, and the entry point of each test file. One executable, test_cpu_ops.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "cpu/simd.h"

namespace gptneo::cputest {

using cpu::SimdLevel;

constexpr double kU = 1.0 / (1 << 24);
inline const float kNaN = std::numeric_limits<float>::quiet_NaN();

inline int g_passed = 0, g_failed = 0;

inline void report(bool ok, const std::string& name, const std::string& detail) {
  (ok ? g_passed : g_failed)++;
  std::printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", name.c_str(), detail.empty() ? "" : "  ", detail.c_str());
}

inline std::string fmt(const char* f, double a, double b = 0, double c = 0) {
  char buf[256];
  std::snprintf(buf, sizeof(buf), f, a, b, c);
  return buf;
}

// Small, fast, seeded generator (splitmix64): the oracle tests draw many millions of values.
struct Rng {
  using result_type = uint64_t;
  uint64_t state;
  explicit Rng(uint64_t seed) : state(seed) {}
  static constexpr uint64_t min() { return 0; }
  static constexpr uint64_t max() { return ~uint64_t{0}; }
  uint64_t operator()() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform(float lo, float hi) { return lo + (hi - lo) * static_cast<float>((*this)() >> 40) * (1.0f / 16777216.0f); }
  int integer(int lo, int hi) { return lo + static_cast<int>((*this)() % static_cast<uint64_t>(hi - lo + 1)); }
  std::vector<float> vec(size_t n, float lo = -1.f, float hi = 1.f) {
    std::vector<float> v(n);
    for (auto& x : v) x = uniform(lo, hi);
    return v;
  }
};

inline float round_to(DType t, float v) {
  if (t == DType::kBF16) return bf16_to_f32(f32_to_bf16(v));
  if (t == DType::kF16) return f16_to_f32(f32_to_f16(v));
  return v;
}

// Weights as stored in a checkpoint of dtype t (raw bytes), from float values.
inline std::vector<uint8_t> to_dtype(const std::vector<float>& v, DType t) {
  std::vector<uint8_t> out(v.size() * dtype_size(t));
  for (size_t i = 0; i < v.size(); ++i) {
    if (t == DType::kF32) std::memcpy(out.data() + 4 * i, &v[i], 4);
    else {
      uint16_t h = t == DType::kBF16 ? f32_to_bf16(v[i]) : f32_to_f16(v[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  }
  return out;
}

inline const char* dtype_short(DType t) {
  return t == DType::kF32 ? "f32" : t == DType::kF16 ? "f16" : t == DType::kI8 ? "i8" : "bf16";
}

inline bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

// --- the tests (one file each) ----------------------------------------------------------------
// gemm.cpp
void test_gemm_exact(SimdLevel level, ThreadPool* pools[3], Rng& rng);
void test_gemm_i8_exact(SimdLevel level, ThreadPool* pools[3], Rng& rng);
void test_gemm_sweeps(SimdLevel level, ThreadPool* pools[3], Rng& rng);
void test_gemm_amx(SimdLevel level, ThreadPool* pools[3], Rng& rng);
void test_gemm_gelu_matches_gelu_kernel(SimdLevel level, ThreadPool& pool, Rng& rng);
// pack.cpp
void test_pack_weight_errors();
void test_pack_weight_i8_matches_reference(Rng& rng);
// rowops.cpp
void test_gelu(SimdLevel level, Rng& rng);
void test_layernorm(SimdLevel level, ThreadPool* pools[3], Rng& rng);
void test_embed(ThreadPool* pools[3], Rng& rng);
// attention.cpp
void test_attention(SimdLevel level, ThreadPool* pools[3], Rng& rng, bool check_kv);
// runtime.cpp
void test_thread_pool(ThreadPool* pools[3]);
void test_simd_selection();
// sampling.cpp: the batch sampler over the thread pool
void test_sampling(ThreadPool* pools[3], Rng& rng);
void test_candidates(Rng& rng);
// device_draw.cpp
void test_device_draw(Rng& rng);
// device_nucleus.cpp
void test_device_nucleus(Rng& rng);
// nucleus_draw.cpp
void test_nucleus_draw(Rng& rng);
// wgmma_layout.cpp: the index math of the CUDA wgmma GEMM (cuda/wgmma_layout.h), host-only
void test_wgmma_layout(Rng& rng);
// attention_wgmma_layout.cpp: the index math of the CUDA wgmma prefill attention (cuda/attention_wgmma_layout.h)
void test_attention_wgmma_layout(Rng& rng);
// gemv_stream_plan.cpp: the work split of the CUDA streaming decode GEMV (cuda/gemv_stream_plan.h)
void test_gemv_stream_plan();
// decode_tc_split_plan.cpp: the k split and cluster reduction of the CUDA clustered decode GEMM
// (cuda/decode_tc_split_plan.h)
void test_decode_tc_split_plan(Rng& rng);
// ln_rows_plan.cpp: the thread layout of the CUDA decode GEMVs' staged layer norm (cuda/ln_rows_plan.h)
void test_ln_rows_plan(Rng& rng);
// decode_split.cpp: the key ranges of the CUDA decode attention kernel's splits (cuda/decode_split.h)
void test_decode_split();
void test_decode_split_plans();
void test_decode_split_waves();
// row_stage_layout.cpp: how the CUDA sampling kernels copy a row into shared memory (cuda/row_stage_layout.h)
void test_row_stage_layout();
void test_grid_barrier();

}  // namespace gptneo::cputest
