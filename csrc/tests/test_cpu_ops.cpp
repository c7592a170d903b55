// Native tests of the CPU kernels (cpu/ops.h) against the scalar oracles (cpu/ref/ref.h), at
// every SIMD level this CPU supports, with 1, 2 and 3 threads. No framework: one line per
// case, a final "N passed, M failed" line, exit status 1 on any failure.
//
// Error bounds (u = 2^-24, the float unit roundoff):
//  * fp32 dot products of length K: |err| <= 4 u sqrt(K + 2) S, S = sum|x_k w_k| + |bias| + |y0|.
//    The worst case of recursive summation is K u S; rounding errors of a long sum behave like a
//    random walk, so sqrt(K) u S with a factor 4 of margin is a tight bound that still never
//    flakes on these seeded inputs, while one wrong or missing term (about S / K) is far above it.
//  * gelu_new: x / (1 + exp(-2v)) in float. v carries up to ~6 roundings (x², x³, products, sum,
//    scale), so exp(-2v) is off by up to 6 |2v| u relatively, plus exp's own 2 ulp and the
//    division: |err| <= (8 + 8 |2v|) u |ref| + 1e-30 (the floor covers exp's clamp at 88).
//  * bf16/f16 weights: tightly (the fp32 bound) against the oracle on the rounded weights, and
//    against the fp32 oracle at most 2x the error of that naive rounded-weight product.
#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "cpu/amx_support.h"
#include "cpu/gemm_layout.h"
#include "cpu/ops.h"
#include "cpu/ref/ref.h"
#include "cpu/simd.h"

using namespace gptneo;
using namespace gptneo::cpu;

namespace {

constexpr double kU = 1.0 / (1 << 24);
const float kNaN = std::numeric_limits<float>::quiet_NaN();

int g_passed = 0, g_failed = 0;

void report(bool ok, const std::string& name, const std::string& detail) {
  (ok ? g_passed : g_failed)++;
  std::printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", name.c_str(), detail.empty() ? "" : "  ", detail.c_str());
}

std::string fmt(const char* f, double a, double b = 0, double c = 0) {
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

std::vector<SimdLevel> levels() {
  std::vector<SimdLevel> out;
  for (int l = 0; l <= static_cast<int>(detect_simd()); ++l) out.push_back(static_cast<SimdLevel>(l));
  return out;
}

float round_to(DType t, float v) {
  if (t == DType::kBF16) return bf16_to_f32(f32_to_bf16(v));
  if (t == DType::kF16) return f16_to_f32(f32_to_f16(v));
  return v;
}

// Weights as stored in a checkpoint of dtype t (raw bytes), from float values.
std::vector<uint8_t> to_dtype(const std::vector<float>& v, DType t) {
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

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

// ------------------------------------------------------------------------------------------
// GEMM
// ------------------------------------------------------------------------------------------
struct GemmCase {
  int m, n, k;
  DType dtype;
  Epilogue epi;
  bool bias;
};

const char* epi_name(Epilogue e) {
  return e == Epilogue::kStore ? "store" : e == Epilogue::kGeluNew ? "gelu" : "accumulate";
}

// Runs one GEMM case; returns the worst error / bound ratio (> 1 fails), or +inf on NaN/
// padding damage. `why` gets a description of the worst element.
double run_gemm_case(const GemmCase& c, SimdLevel level, ThreadPool& pool, Rng& rng, std::string* why) {
  const int ldx = c.k + 3, ldy = c.n + 2;
  std::vector<float> xbuf(static_cast<size_t>(c.m) * ldx + 1);
  float* x = xbuf.data() + 1;  // deliberately not 16-byte aligned
  for (int i = 0; i < c.m; ++i)
    for (int kk = 0; kk < ldx; ++kk) x[static_cast<size_t>(i) * ldx + kk] = kk < c.k ? rng.uniform(-1, 1) : kNaN;
  std::vector<float> w = rng.vec(static_cast<size_t>(c.n) * c.k);
  std::vector<float> bias = rng.vec(c.n);
  std::vector<float> y0(static_cast<size_t>(c.m) * ldy);
  for (size_t i = 0; i < y0.size(); ++i) y0[i] = (i % ldy) < static_cast<size_t>(c.n) ? rng.uniform(-2, 2) : kNaN;
  const float* b = c.bias ? bias.data() : nullptr;

  PackedWeight pw;
  Status st = pack_weight(w.data(), DType::kF32, c.n, c.k, c.dtype, &pw);
  if (!st.ok()) {
    *why = "pack_weight: " + st.message();
    return std::numeric_limits<double>::infinity();
  }
  std::vector<float> y(y0.size());
  for (size_t i = 0; i < y.size(); ++i) y[i] = c.epi == Epilogue::kAccumulate ? y0[i] : ((i % ldy) < size_t(c.n) ? kNaN : y0[i]);
  gemm(x, c.m, ldx, pw, b, y.data(), ldy, c.epi, pool, level);

  // Oracles: on the fp32 weights, and on the weights as rounded to the stored dtype (int8: the
  // scalar quantization and int8 GEMM of cpu/ref; wr then holds q * scale for the error bound).
  // Where the kernel rounds x to bf16 (AMX tiles), the same-precision oracle does too.
  std::vector<float> wr(w.size());
  const bool i8 = c.dtype == DType::kI8;
  std::vector<int8_t> q(i8 ? w.size() : 0);
  std::vector<float> scales(i8 ? c.n : 0);
  if (i8) {
    ref::quantize_i8(w.data(), c.n, c.k, q.data(), scales.data());
    for (size_t i = 0; i < w.size(); ++i) wr[i] = float(double(q[i]) * scales[i / c.k]);
  } else {
    for (size_t i = 0; i < w.size(); ++i) wr[i] = round_to(c.dtype, w[i]);
  }
  std::vector<float> xr = xbuf;
  if (gemm_rounds_x_to_bf16(c.m, pw, level))
    for (auto& v : xr) v = std::isnan(v) ? v : round_to(DType::kBF16, v);
  const bool rounded = c.dtype != DType::kF32;
  auto rounded_ref = [&](float* out, Epilogue e) {
    if (i8) ref::gemm_i8(xr.data() + 1, c.m, ldx, q.data(), scales.data(), c.n, c.k, b, out, ldy, e);
    else ref::gemm(xr.data() + 1, c.m, ldx, wr.data(), c.n, c.k, b, out, ldy, e);
  };
  std::vector<float> ref32 = y0, refr = y0;
  rounded_ref(refr.data(), c.epi);
  if (rounded) ref::gemm(x, c.m, ldx, w.data(), c.n, c.k, b, ref32.data(), ldy, c.epi);
  else ref32 = refr;
  std::vector<float> pre = y0;  // pre-activation, for the gelu bound
  if (c.epi == Epilogue::kGeluNew) rounded_ref(pre.data(), Epilogue::kStore);

  double worst = 0, err_kernel32 = 0, err_naive32 = 0, max_bound = 0;
  for (int i = 0; i < c.m; ++i) {
    for (int j = 0; j < ldy; ++j) {
      const size_t at = static_cast<size_t>(i) * ldy + j;
      if (j >= c.n) {  // padding between n and ldy must be untouched
        if (!same_bits(y[at], y0[at])) {
          *why = fmt("wrote padding at row %g col %g", i, j);
          return std::numeric_limits<double>::infinity();
        }
        continue;
      }
      if (std::isnan(y[at])) {
        *why = fmt("NaN at row %g col %g", i, j);
        return std::numeric_limits<double>::infinity();
      }
      double s = 0;
      for (int kk = 0; kk < c.k; ++kk) s += std::fabs(double(xr[1 + size_t(i) * ldx + kk]) * wr[size_t(j) * c.k + kk]);
      if (b) s += std::fabs(b[j]);
      if (c.epi == Epilogue::kAccumulate) s += std::fabs(y0[at]);
      double bound = 4 * kU * std::sqrt(c.k + 2.0) * s;
      if (c.epi == Epilogue::kGeluNew) {
        // |gelu'| < 1.13 carries the pre-activation error; then gelu's own rounding.
        const double v = pre[at];
        const double v2 = std::fabs(2 * 0.7978845608 * (v + 0.044715 * v * v * v));
        bound = 1.13 * bound + (8 + 8 * v2) * kU * std::fabs(refr[at]) + 1e-30;
      }
      double err = std::fabs(double(y[at]) - refr[at]);
      double ratio = err / bound;
      if (!(ratio <= worst)) {
        worst = ratio;
        *why = fmt("worst row %g col %g", i, j) + fmt(" got %.9g want %.9g", y[at], refr[at]);
      }
      max_bound = std::max(max_bound, bound);
      err_kernel32 = std::max(err_kernel32, std::fabs(double(y[at]) - ref32[at]));
      err_naive32 = std::max(err_naive32, std::fabs(double(refr[at]) - ref32[at]));
    }
  }
  if (rounded) {
    // Against fp32: at most twice the naive same-precision error (plus the fp32 rounding bound).
    double allowed = 2 * err_naive32 + max_bound;
    double r = err_kernel32 / allowed;
    if (r > 1 && r > worst) {
      worst = r;
      *why = fmt("vs fp32: err %.3g > 2 x naive %.3g + %.3g", err_kernel32, err_naive32, max_bound);
    }
  }
  return worst;
}

const char* dtype_short(DType t) {
  return t == DType::kF32 ? "f32" : t == DType::kF16 ? "f16" : t == DType::kI8 ? "i8" : "bf16";
}

void test_gemm_sweeps(SimdLevel level, ThreadPool* pools[3], Rng& rng) {
  // int8 also runs every row count of one AVX-512 tile and one past it (1..9).
  const std::vector<int> ms_float = {1, 2, 3, 7, 17, 64, 129};
  const std::vector<int> ms_i8 = {1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 64, 129};
  const int nks[] = {1, 5, 16, 17, 31, 64, 100, 771};
  const DType dtypes[] = {DType::kF32, DType::kBF16, DType::kF16, DType::kI8};
  const Epilogue epis[] = {Epilogue::kStore, Epilogue::kGeluNew, Epilogue::kAccumulate};
  int counter = 0;
  for (DType dt : dtypes) {
    for (int m : dt == DType::kI8 ? ms_i8 : ms_float) {
      double worst = 0;
      std::string worst_desc;
      int cases = 0;
      for (int n : nks) {
        for (int k : nks) {
          // Keep the double-precision oracle cheap: the full N x K grid for M = 1, 3, 17, a
          // subset (still every tail class of N and K) for the other M values.
          const bool big_f32 = dt == DType::kF32 && n == 771 && k == 771 && m == 17;
          if (static_cast<double>(m) * n * k > 2.0e6 && !big_f32) continue;
          const bool full_grid = m == 1 || m == 3 || m == 17;
          if (!full_grid && !(n == k || n == 17 || k == 17 || n == 771)) continue;
          GemmCase c{m, n, k, dt, epis[counter % 3], counter % 2 == 0};
          ThreadPool& pool = *pools[counter % 3];
          ++counter;
          ++cases;
          std::string why;
          double r = run_gemm_case(c, level, pool, rng, &why);
          if (!(r <= worst)) {
            worst = r;
            worst_desc = fmt("N=%g K=%g ", n, k) + epi_name(c.epi) + fmt(" threads=%g ", pool.size()) + why;
          }
        }
      }
      report(worst <= 1, std::string("gemm ") + simd_name(level) + " " + dtype_short(dt) + " M=" + std::to_string(m),
             fmt("%g shapes, worst err/bound %.3g", cases, worst) + (worst > 1 ? "  " + worst_desc : ""));
    }
  }
}

// Shapes that reach the AMX tile path (bf16 weights, M >= 16, K a multiple of 32): every row and
// column tail of the 32-row x 2-panel tile blocks, with all epilogues and 1-3 threads.
void test_gemm_amx(SimdLevel level, ThreadPool* pools[3], Rng& rng) {
  if (level != SimdLevel::kAmx) return;
  if (!amx_bf16_usable()) {
    std::printf("# gemm amx tiles skipped: the CPU has AMX but Linux refused the tile permission\n");
    return;
  }
  const int ms[] = {16, 17, 31, 32, 33, 100, 129};
  const int ns[] = {1, 16, 17, 31, 33, 100, 771};
  const int ks[] = {32, 64, 96, 768};
  const Epilogue epis[] = {Epilogue::kStore, Epilogue::kGeluNew, Epilogue::kAccumulate};
  int counter = 0;
  for (int m : ms) {
    double worst = 0;
    std::string worst_desc;
    int cases = 0, on_tiles = 0;
    for (int n : ns) {
      for (int k : ks) {
        if (static_cast<double>(m) * n * k > 4.0e6) continue;
        GemmCase c{m, n, k, DType::kBF16, epis[counter % 3], counter % 2 == 0};
        ThreadPool& pool = *pools[counter % 3];
        ++counter;
        ++cases;
        PackedWeight probe;
        probe.n = n;
        probe.k = k;
        probe.dtype = DType::kBF16;
        on_tiles += gemm_rounds_x_to_bf16(m, probe, level);
        std::string why;
        double r = run_gemm_case(c, level, pool, rng, &why);
        if (!(r <= worst)) {
          worst = r;
          worst_desc = fmt("N=%g K=%g ", n, k) + epi_name(c.epi) + fmt(" threads=%g ", pool.size()) + why;
        }
      }
    }
    report(worst <= 1 && on_tiles == cases, std::string("gemm amx tiles bf16 M=") + std::to_string(m),
           fmt("%g shapes (%g on tiles), worst err/bound %.3g", cases, on_tiles, worst) + (worst > 1 ? "  " + worst_desc : ""));
  }
}

// Small integers: every partial sum is an integer below 2^24, so all paths must be exact.
void test_gemm_exact(SimdLevel level, ThreadPool* pools[3], Rng& rng) {
  const int shapes[][3] = {{1, 771, 771}, {3, 100, 31}, {17, 17, 100}, {64, 64, 64}, {129, 31, 257}, {7, 5, 1},
                           {33, 771, 96}};
  const DType dtypes[] = {DType::kF32, DType::kBF16, DType::kF16};
  int counter = 0;
  for (DType dt : dtypes) {
    for (auto& s : shapes) {
      const int m = s[0], n = s[1], k = s[2];
      std::vector<float> x(size_t(m) * k), w(size_t(n) * k), b(n), y0(size_t(m) * n);
      for (auto& v : x) v = float(rng.integer(-3, 3));
      for (auto& v : w) v = float(rng.integer(-3, 3));
      for (auto& v : b) v = float(rng.integer(-20, 20));
      for (auto& v : y0) v = float(rng.integer(-50, 50));
      std::vector<uint8_t> src = to_dtype(w, dt);
      PackedWeight pw;
      Status st = pack_weight(src.data(), dt, n, k, dt, &pw);
      bool ok = st.ok();
      for (Epilogue e : {Epilogue::kStore, Epilogue::kAccumulate}) {
        std::vector<float> y = e == Epilogue::kAccumulate ? y0 : std::vector<float>(y0.size(), kNaN);
        std::vector<float> want = y0;
        if (ok) gemm(x.data(), m, k, pw, b.data(), y.data(), n, e, *pools[counter++ % 3], level);
        ref::gemm(x.data(), m, k, w.data(), n, k, b.data(), want.data(), n, e);
        for (size_t i = 0; ok && i < y.size(); ++i) ok = y[i] == want[i];
      }
      report(ok, std::string("gemm exact ") + simd_name(level) + " " + dtype_short(dt) +
                     fmt(" M=%g N=%g K=%g", m, n, k), st.ok() ? "" : st.message());
    }
  }
}

// int8 with every row holding a +-127: scale 1 and q = w, so on small-integer x every path
// (register tiles and the staged large-M path) must be exact, as in test_gemm_exact.
void test_gemm_i8_exact(SimdLevel level, ThreadPool* pools[3], Rng& rng) {
  const int shapes[][3] = {{1, 771, 771}, {3, 100, 31}, {9, 33, 17}, {17, 17, 100}, {129, 31, 257}, {7, 5, 1}};
  int counter = 0;
  for (auto& s : shapes) {
    const int m = s[0], n = s[1], k = s[2];
    std::vector<float> x(size_t(m) * k), w(size_t(n) * k), b(n), y0(size_t(m) * n);
    for (auto& v : x) v = float(rng.integer(-3, 3));
    for (auto& v : w) v = float(rng.integer(-127, 127));
    for (int j = 0; j < n; ++j) w[size_t(j) * k + rng.integer(0, k - 1)] = rng.integer(0, 1) ? 127.f : -127.f;
    for (auto& v : b) v = float(rng.integer(-20, 20));
    for (auto& v : y0) v = float(rng.integer(-50, 50));
    PackedWeight pw;
    Status st = pack_weight(w.data(), DType::kF32, n, k, DType::kI8, &pw);
    bool ok = st.ok() && pw.dtype == DType::kI8 && pw.scales != nullptr;
    for (int j = 0; ok && j < n; ++j) ok = pw.scales.get()[j] == 1.f;
    for (Epilogue e : {Epilogue::kStore, Epilogue::kAccumulate}) {
      std::vector<float> y = e == Epilogue::kAccumulate ? y0 : std::vector<float>(y0.size(), kNaN);
      std::vector<float> want = y0;
      if (ok) gemm(x.data(), m, k, pw, b.data(), y.data(), n, e, *pools[counter++ % 3], level);
      ref::gemm(x.data(), m, k, w.data(), n, k, b.data(), want.data(), n, e);
      for (size_t i = 0; ok && i < y.size(); ++i) ok = y[i] == want[i];
    }
    report(ok, std::string("gemm exact ") + simd_name(level) + " i8" + fmt(" M=%g N=%g K=%g", m, n, k),
           st.ok() ? "" : st.message());
  }
}

// The kGeluNew epilogue must be the very function gelu_new_inplace applies.
void test_gemm_gelu_matches_gelu_kernel(SimdLevel level, ThreadPool& pool, Rng& rng) {
  const int m = 19, n = 77, k = 300;
  std::vector<float> x = rng.vec(size_t(m) * k, -2, 2), w = rng.vec(size_t(n) * k, -0.3f, 0.3f), b = rng.vec(n);
  PackedWeight pw;
  bool ok = pack_weight(w.data(), DType::kF32, n, k, DType::kF32, &pw).ok();
  std::vector<float> y1(size_t(m) * n, kNaN), y2(size_t(m) * n, kNaN);
  gemm(x.data(), m, k, pw, b.data(), y1.data(), n, Epilogue::kGeluNew, pool, level);
  gemm(x.data(), m, k, pw, b.data(), y2.data(), n, Epilogue::kStore, pool, level);
  gelu_new_inplace(y2.data(), y2.size(), level);
  for (size_t i = 0; ok && i < y1.size(); ++i) ok = same_bits(y1[i], y2[i]);
  report(ok, std::string("gemm gelu epilogue == gelu_new_inplace ") + simd_name(level), "");
}

void test_pack_weight_errors() {
  PackedWeight pw;
  float w[4] = {1, 2, 3, 4};
  bool ok = pack_weight(nullptr, DType::kF32, 2, 2, DType::kF32, &pw).code() == ErrorCode::kInvalidArgument &&
            pack_weight(w, DType::kF32, 0, 2, DType::kF32, &pw).code() == ErrorCode::kInvalidArgument &&
            pack_weight(w, DType::kF32, 2, -1, DType::kF32, &pw).code() == ErrorCode::kInvalidArgument &&
            pack_weight(w, static_cast<DType>(7), 2, 2, DType::kF32, &pw).code() == ErrorCode::kInvalidArgument &&
            pack_weight(w, DType::kF32, 2, 2, DType::kF32, nullptr).code() == ErrorCode::kInvalidArgument &&
            pack_weight(w, DType::kF32, 2, 2, DType::kBF16, &pw).ok() && pw.n == 2 && pw.k == 2 &&
            pw.dtype == DType::kBF16 && pw.bytes % 64 == 0;
  report(ok, "pack_weight rejects bad arguments with kInvalidArgument", "");

  // int8: never a source dtype; non-finite weights cannot be quantized; a zero row gets scale 1.
  float bad[6] = {1, 2, 3, 4, std::numeric_limits<float>::infinity(), 6};
  float zero_row[6] = {0, 0, 0, 0.5f, -1, 0.25f};
  int8_t i8w[4] = {1, 2, 3, 4};
  ok = pack_weight(i8w, DType::kI8, 2, 2, DType::kF32, &pw).code() == ErrorCode::kInvalidArgument &&
       pack_weight(bad, DType::kF32, 2, 3, DType::kI8, &pw).code() == ErrorCode::kInvalidArgument;
  bad[4] = kNaN;
  ok = ok && pack_weight(bad, DType::kF32, 2, 3, DType::kI8, &pw).code() == ErrorCode::kInvalidArgument;
  ok = ok && pack_weight(zero_row, DType::kF32, 2, 3, DType::kI8, &pw).ok() && pw.scales != nullptr &&
       pw.scales.get()[0] == 1.f && pw.scales.get()[1] == 1.f / 127.f &&
       pw.bytes == 64 + kPanelCols * sizeof(float);
  report(ok, "pack_weight int8: rejects an int8 source and non-finite weights; zero rows get scale 1", "");
}

// ------------------------------------------------------------------------------------------
// gelu, layernorm, embed
// ------------------------------------------------------------------------------------------
void test_gelu(SimdLevel level, Rng& rng) {
  const size_t sizes[] = {1, 7, 15, 16, 17, 1000};
  for (size_t n : sizes) {
    std::vector<float> x = rng.vec(n, -12, 12);
    const float specials[] = {0.f, -0.f, 20.f, -20.f, 1e-20f, -1e-20f, 3.f, -3.f, 100.f, -100.f};
    for (size_t i = 0; i < n && i < 10; ++i) x[i * 7 % n] = specials[i];
    std::vector<float> y = x;
    gelu_new_inplace(y.data(), n, level);
    double worst = 0;
    std::string desc;
    for (size_t i = 0; i < n; ++i) {
      const double want = ref::gelu_new(x[i]);
      const double v2 = std::fabs(2 * 0.7978845608 * (x[i] + 0.044715 * double(x[i]) * x[i] * x[i]));
      const double bound = (8 + 8 * v2) * kU * std::fabs(want) + 1e-30;
      const double r = std::fabs(y[i] - want) / bound;
      if (!(r <= worst)) {
        worst = r;
        desc = fmt("x=%.9g got %.9g want %.9g", x[i], y[i], want);
      }
    }
    report(worst <= 1, std::string("gelu_new ") + simd_name(level) + " n=" + std::to_string(n),
           fmt("worst err/bound %.3g", worst) + (worst > 1 ? "  " + desc : ""));
  }
}

void test_layernorm(SimdLevel level, ThreadPool* pools[3], Rng& rng) {
  const int dims[] = {1, 5, 16, 17, 100, 768, 771};
  const int rows_list[] = {1, 3, 17};
  int counter = 0;
  for (int dim : dims) {
    for (int rows : rows_list) {
      for (bool in_place : {false, true}) {
        const int ldx = dim + 5;
        const int ldy = in_place ? ldx : dim + 1;
        std::vector<float> x = rng.vec(size_t(rows) * ldx, -1, 1);
        for (int r = 0; r < rows; ++r)  // a row offset, so a naive one-pass variance would lose digits
          for (int i = 0; i < dim; ++i) x[size_t(r) * ldx + i] += 3.0f * (r % 3);
        std::vector<float> gamma = rng.vec(dim, 0.5f, 1.5f), beta = rng.vec(dim);
        std::vector<float> y(size_t(rows) * ldy, kNaN), want(size_t(rows) * ldy, kNaN);
        const float eps = 1e-5f;
        ref::layernorm(x.data(), rows, dim, ldx, gamma.data(), beta.data(), eps, want.data(), ldy);
        float* out = y.data();
        if (in_place) {
          y = x;
          out = y.data();
        }
        layernorm(in_place ? out : x.data(), rows, dim, ldx, gamma.data(), beta.data(), eps, out, ldy,
                  *pools[counter++ % 3], level);
        double worst = 0;
        for (int r = 0; r < rows; ++r) {
          const float* xr = x.data() + size_t(r) * ldx;
          double mean = 0, var = 0;
          for (int i = 0; i < dim; ++i) mean += xr[i];
          mean /= dim;
          for (int i = 0; i < dim; ++i) var += (xr[i] - mean) * (xr[i] - mean);
          const double rstd = 1 / std::sqrt(var / dim + eps);
          for (int i = 0; i < dim; ++i) {
            const size_t at = size_t(r) * ldy + i;
            const double xhat = (xr[i] - mean) * rstd;
            // mean/variance sums of dim terms: sqrt(dim) u relative, times the centred scale.
            const double bound = 8 * kU * std::sqrt(dim + 1.0) * std::fabs(gamma[i]) *
                                     (1 + std::fabs(xhat) + std::fabs(mean) * rstd) +
                                 2 * kU * (std::fabs(beta[i]) + std::fabs(want[at]));
            const double r2 = std::fabs(double(y[at]) - want[at]) / bound;
            worst = std::isnan(y[at]) ? INFINITY : std::max(worst, r2);
            if (std::isnan(y[at])) break;
          }
        }
        report(worst <= 1, std::string("layernorm ") + simd_name(level) + fmt(" rows=%g dim=%g", rows, dim) +
                               (in_place ? " in-place" : ""), fmt("worst err/bound %.3g", worst));
      }
    }
  }
}

void test_embed(ThreadPool* pools[3], Rng& rng) {
  const DType dtypes[] = {DType::kF32, DType::kBF16, DType::kF16};
  int counter = 0;
  for (DType te : dtypes) {
    for (DType tp : dtypes) {
      const int vocab = 50, max_pos = 20, dim = 37, tokens = 13;
      std::vector<uint8_t> wte = to_dtype(rng.vec(size_t(vocab) * dim), te);
      std::vector<uint8_t> wpe = to_dtype(rng.vec(size_t(max_pos) * dim), tp);
      std::vector<int32_t> ids(tokens), pos(tokens);
      for (int t = 0; t < tokens; ++t) {
        ids[t] = rng.integer(0, vocab - 1);
        pos[t] = rng.integer(0, max_pos - 1);
      }
      ids[0] = vocab - 1;
      pos[0] = max_pos - 1;
      std::vector<float> out(size_t(tokens) * dim, kNaN), want(out.size());
      embed(ids.data(), pos.data(), tokens, wte.data(), te, wpe.data(), tp, dim, out.data(), *pools[counter++ % 3]);
      ref::embed(ids.data(), pos.data(), tokens, wte.data(), te, wpe.data(), tp, dim, want.data());
      bool ok = std::memcmp(out.data(), want.data(), out.size() * 4) == 0;
      report(ok, std::string("embed wte=") + dtype_short(te) + " wpe=" + dtype_short(tp), "exact");
    }
  }
}

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

}  // namespace

int main() {
  ThreadPool p1(1), p2(2), p3(3);
  ThreadPool* pools[3] = {&p1, &p2, &p3};
  Rng rng(20240611);
  test_simd_selection();
  test_thread_pool(pools);
  test_pack_weight_errors();
  test_embed(pools, rng);
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
