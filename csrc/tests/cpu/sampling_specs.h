// Rows and specs shared by the tests of the device's sampling (device_draw.cpp, device_nucleus.cpp,
// nucleus_draw.cpp).
#pragma once
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "cpu/row_sampler.h"
#include "cuda/draw_bound.h"
#include "tests/cpu/harness.h"

namespace gptneo::cputest {

using cpu::RowSampleSpec;
using cpu::SamplingParams;

inline constexpr float kInf = std::numeric_limits<float>::infinity();

// Logits spread like a trained model's (sum of uniforms, sd ~3), or flat and narrow.
inline std::vector<float> logit_row(Rng& rng, int n, int kind) {
  std::vector<float> row(static_cast<size_t>(n));
  for (float& v : row) {
    if (kind == 0) {
      double s = 0;
      for (int i = 0; i < 4; ++i) s += rng.uniform(-0.5f, 0.5f);
      v = static_cast<float>(s * 3 * 1.7320508);
    } else {
      v = rng.uniform(-2, 2);
    }
  }
  return row;
}

// Logits of a Zipf-like distribution (probability ~ rank^-s, ranks shuffled, some noise): s = 1.3
// puts p = 0.9's nucleus in the thousands, 1.5 near 60 tokens, 2 under ten.
inline std::vector<float> zipf_row(Rng& rng, int n, double s) {
  std::vector<int32_t> rank(static_cast<size_t>(n));
  std::iota(rank.begin(), rank.end(), 1);
  for (int i = n - 1; i > 0; --i) std::swap(rank[i], rank[rng.integer(0, i)]);
  std::vector<float> row(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) row[i] = static_cast<float>(-s * std::log(rank[i]) + rng.uniform(-0.05f, 0.05f) + 4);
  return row;
}

struct DrawSpec {
  RowSampleSpec spec;
  std::vector<int32_t> bias_ids, seen_ids, count_ids, counts;
  std::vector<double> bias_values;
  void bind() {
    spec.bias_ids = bias_ids.data();
    spec.bias_values = bias_values.data();
    spec.bias_count = static_cast<int>(bias_ids.size());
    spec.seen_ids = seen_ids.data();
    spec.seen_count = static_cast<int>(seen_ids.size());
    spec.count_ids = count_ids.data();
    spec.counts = counts.data();
    spec.counts_count = static_cast<int>(count_ids.size());
  }
};

// A spec the draw serves (a top-p row when the caller then sets top_p): temperature sampling, sometimes min-p, with bias and penalties aimed at the
// row's top tokens and at random ones (ids distinct within each list; lists may share ids).
inline void fill_draw_spec(Rng& rng, const std::vector<float>& row, int t, DrawSpec* s) {
  const int V = static_cast<int>(row.size());
  SamplingParams& p = s->spec.params;
  const double temps[] = {0.7, 1, 1.4, 0.3};
  p.temperature = temps[t % 4];
  p.top_k = t % 5 == 0 ? V : 0;  // top-k at the vocabulary is off
  p.min_p = t % 3 == 0 ? 0.05 : (t % 7 == 0 ? 0.3 : 0);
  p.repetition_penalty = t % 2 ? 1.3 : 1;
  p.presence_penalty = t % 3 == 1 ? 0.5 : 0;
  p.frequency_penalty = t % 5 == 2 ? 0.25 : 0;
  s->spec.u = static_cast<double>(rng() >> 11) * 0x1p-53;
  const int top = static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin());
  auto distinct = [&](std::vector<int32_t>* out, int count, bool with_top) {
    if (with_top) out->push_back(top);
    while (static_cast<int>(out->size()) < count) {
      const int32_t id = rng.integer(0, V - 1);
      if (std::find(out->begin(), out->end(), id) == out->end()) out->push_back(id);
    }
    std::sort(out->begin(), out->end());
  };
  distinct(&s->seen_ids, t % 9 == 0 ? 0 : 20, t % 2 == 1);
  distinct(&s->count_ids, 6, t % 4 == 1);
  for (size_t i = 0; i < s->count_ids.size(); ++i) s->counts.push_back(static_cast<int32_t>(i % 3));  // 0: skipped
  distinct(&s->bias_ids, t % 4, false);
  for (size_t i = 0; i < s->bias_ids.size(); ++i) s->bias_values.push_back(i % 2 ? -3 : 6);
  s->bind();
}

// Cases placed on a boundary (a uniform, a top-p or a min-p within a few ulps of where sample_row's answer
// changes): how many the draw left uncertain, and how many gave another token than sample_row's, with its
// margin and without it (bare: the answer with margin_scale 0; -1 when not asked).
struct BoundaryTally {
  int cases = 0, uncertain = 0, wrong = 0, wrong_without_margin = 0;
  void add(int want, int got, int bare = -1) {
    ++cases;
    uncertain += got == kDrawUncertain;
    wrong += got >= 0 && got != want;
    wrong_without_margin += bare >= 0 && bare != want;
  }
  // Never wrong, and uncertain in more than 9 cases of 10 (the rest: the same token).
  bool holds() const { return wrong == 0 && uncertain > cases * 9 / 10; }
  // Reports that (`holds_what`), and that without the margin some cases give another token (`bites_what`).
  void report_with_bite(const std::string& holds_what, const std::string& bites_what) const {
    report(holds(), holds_what, fmt("%g of %g uncertain, %g wrong", uncertain, cases, wrong));
    report(wrong_without_margin > 0, bites_what, fmt("%g of %g wrong", wrong_without_margin, cases));
  }
};

}  // namespace gptneo::cputest
