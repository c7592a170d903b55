// gelu_new, layer norm and the embedding lookup against the scalar oracles.
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

}  // namespace gptneo::cputest
