// pack_weight: argument errors, and int8 quantization equal to the scalar reference value for value.
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

#include "cpu/gemm_layout.h"
#include "cpu/ops.h"
#include "cpu/ref/ref.h"

#include "tests/cpu/harness.h"

namespace gptneo::cputest {

using namespace gptneo::cpu;

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

// The packed int8 values and scales equal ref::quantize_i8's for every weight: random rows of
// several magnitudes and lengths (tails of every vector width), rows whose quotients land exactly
// on halves (round half away from zero: 0.5 -> 1, -2.5 -> -3, 126.5 -> 127), a zero row, and
// denormal weights.
void test_pack_weight_i8_matches_reference(Rng& rng) {
  const int ks[] = {1, 3, 16, 33, 100, 771};
  bool ok = true;
  std::string why;
  for (int k : ks) {
    const int n = 37;  // three panels, the last partial
    std::vector<float> w(static_cast<size_t>(n) * k);
    for (int j = 0; j < n; ++j) {
      const float mag = j % 3 == 0 ? 1e-3f : j % 3 == 1 ? 1.f : 300.f;
      for (int kk = 0; kk < k; ++kk) w[static_cast<size_t>(j) * k + kk] = rng.uniform(-mag, mag);
    }
    // Row 1: amax 127 makes the scale exactly 1, so these weights are the quotients themselves.
    const float halves[] = {127.f, 0.5f, -0.5f, 2.5f, -2.5f, 126.5f, -126.5f, 1.49999994f, -1.5f, 0.f};
    for (int kk = 0; kk < k; ++kk) w[static_cast<size_t>(1) * k + kk] = halves[kk % 10];
    for (int kk = 0; kk < k; ++kk) w[static_cast<size_t>(2) * k + kk] = 0.f;                    // zero row
    for (int kk = 0; kk < k; ++kk) w[static_cast<size_t>(4) * k + kk] = 1e-39f * (kk % 5 - 2);  // denormals
    PackedWeight pw;
    const Status st = pack_weight(w.data(), DType::kF32, n, k, DType::kI8, &pw);
    if (!st.ok()) {
      ok = false;
      why = "pack_weight: " + st.message();
      break;
    }
    std::vector<int8_t> q(w.size());
    std::vector<float> scales(n);
    ref::quantize_i8(w.data(), n, k, q.data(), scales.data());
    const auto* packed = static_cast<const int8_t*>(pw.data.get());
    for (int j = 0; ok && j < n; ++j) {
      if (!same_bits(pw.scales.get()[j], scales[j])) {
        ok = false;
        why = fmt("k=%g row %g: scale %g", k, j, pw.scales.get()[j]) + fmt(" vs %g", scales[j]);
      }
      const int8_t* panel = packed + static_cast<size_t>(j / kPanelCols) * panel_stride(k);
      for (int kk = 0; ok && kk < k; ++kk) {
        const int got = panel[static_cast<size_t>(kk) * kPanelCols + j % kPanelCols];
        const int want = q[static_cast<size_t>(j) * k + kk];
        if (got != want) {
          ok = false;
          why = fmt("k=%g row %g col %g: ", k, j, kk) + fmt("%g vs reference %g", got, want);
        }
      }
    }
  }
  report(ok, "pack_weight int8: values and scales equal ref::quantize_i8 (halves, zero row, denormals, tails)", why);
}

}  // namespace gptneo::cputest
