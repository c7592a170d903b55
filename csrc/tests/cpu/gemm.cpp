// GEMM at every SIMD level and thread count against the scalar oracles (cpu/ref): fp32, bf16/f16
// and int8 weights, AMX tiles, every epilogue, awkward shapes, exact-integer cases.
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
#include "cpu/gemm_layout.h"
#include "cpu/ops.h"
#include "cpu/ref/ref.h"

#include "tests/cpu/harness.h"

namespace gptneo::cputest {

using namespace gptneo::cpu;

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
  for (DType dtype : {DType::kBF16, DType::kI8}) {
    for (int m : ms) {
      double worst = 0;
      std::string worst_desc;
      int cases = 0, on_tiles = 0;
      for (int n : ns) {
        for (int k : ks) {
          if (static_cast<double>(m) * n * k > 4.0e6) continue;
          GemmCase c{m, n, k, dtype, epis[counter % 3], counter % 2 == 0};
          ThreadPool& pool = *pools[counter % 3];
          ++counter;
          ++cases;
          PackedWeight probe;
          probe.n = n;
          probe.k = k;
          probe.dtype = dtype;
          on_tiles += gemm_rounds_x_to_bf16(m, probe, level);
          std::string why;
          double r = run_gemm_case(c, level, pool, rng, &why);
          if (!(r <= worst)) {
            worst = r;
            worst_desc = fmt("N=%g K=%g ", n, k) + epi_name(c.epi) + fmt(" threads=%g ", pool.size()) + why;
          }
        }
      }
      report(worst <= 1 && on_tiles == cases,
             std::string("gemm amx tiles ") + dtype_short(dtype) + " M=" + std::to_string(m),
             fmt("%g shapes (%g on tiles), worst err/bound %.3g", cases, on_tiles, worst) + (worst > 1 ? "  " + worst_desc : ""));
    }
  }
}

// gemm with the store and accumulate epilogues against ref::gemm on the float weights w, bit for bit
// (small-integer inputs: every path must be exact). `counter` rotates the pools.
bool exact_both_epilogues(const std::vector<float>& x, int m, int k, const PackedWeight& pw, const std::vector<float>& w,
                          int n, const std::vector<float>& b, const std::vector<float>& y0, ThreadPool* pools[3],
                          int* counter, SimdLevel level) {
  bool ok = true;
  for (Epilogue e : {Epilogue::kStore, Epilogue::kAccumulate}) {
    std::vector<float> y = e == Epilogue::kAccumulate ? y0 : std::vector<float>(y0.size(), kNaN);
    std::vector<float> want = y0;
    gemm(x.data(), m, k, pw, b.data(), y.data(), n, e, *pools[(*counter)++ % 3], level);
    ref::gemm(x.data(), m, k, w.data(), n, k, b.data(), want.data(), n, e);
    for (size_t i = 0; ok && i < y.size(); ++i) ok = y[i] == want[i];
  }
  return ok;
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
      const bool ok = st.ok() && exact_both_epilogues(x, m, k, pw, w, n, b, y0, pools, &counter, level);
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
    ok = ok && exact_both_epilogues(x, m, k, pw, w, n, b, y0, pools, &counter, level);
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

}  // namespace gptneo::cputest
