// Top-p rows from their top candidates and the device's sum of the row's weights
// (cpu/nucleus_bound.h; model/device_sampling.h): where the candidates decide the nucleus, the token
// is sample_row's on the whole row — over Zipf-like rows (a trained model's shape) with bias,
// penalties, min-p and typical-p after the nucleus, and over top-p values placed on the boundaries
// between nuclei, where the margin is what keeps it exact. Also keep_nucleus's id order, the sum
// query and its refusals, and the guard against tokens outside the candidates.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "cpu/candidate_sampler.h"
#include "cpu/candidates.h"
#include "cpu/device_draw.h"
#include "cpu/mass_select.h"
#include "cpu/nucleus_bound.h"
#include "cpu/row_sampler.h"
#include "cpu/sampling.h"

#include "tests/cpu/harness.h"
#include "tests/cpu/sampling_specs.h"

namespace gptneo::cputest {

using namespace gptneo::cpu;

namespace {

// The device's S' for the row (the kernel's emulation), or NaN when it declines.
double device_sum(const std::vector<float>& row, const RowSampleSpec& spec) {
  DrawQueries q;
  std::vector<DrawChange> scratch;
  if (!sum_query(spec, static_cast<int>(row.size()), &q, &scratch)) return NAN;
  double sum;
  const int answer = draw_row(row.data(), static_cast<int>(row.size()), q.params.data(), q.change_meta.data(),
                              q.change_vals.data(), q.change_start[1], &sum);
  return answer == kDrawSummed ? sum : NAN;
}

// What DeviceRowSampler does for a top-p row: the candidates of nucleus_need (select_candidates_row
// with the sampler's slots), the changed ids' logits, S', then sample_nucleus_candidates.
int sample_nucleus(const std::vector<float>& row, const RowSampleSpec& spec, double row_total, CandidateScratch* scratch) {
  const int V = static_cast<int>(row.size());
  const int need = nucleus_need(spec, V, 256);
  if (need <= 0) return -100;
  std::vector<uint32_t> keys;
  const int slots = std::min(V, 2 * need + 64);
  std::vector<int32_t> ids(static_cast<size_t>(slots));
  std::vector<float> vals(static_cast<size_t>(slots));
  const int count = select_candidates_row(row.data(), V, need, slots, ids.data(), vals.data(), &keys);
  if (count > slots) return kNeedFullRow;
  std::vector<int32_t> changed;
  changed_ids(spec, &changed);
  std::vector<float> changed_vals;
  for (int32_t id : changed) changed_vals.push_back(row[id]);
  return sample_nucleus_candidates(ids.data(), vals.data(), count, changed.data(), changed_vals.data(),
                                   static_cast<int>(changed.size()), V, spec, row_total, scratch);
}

void test_nucleus_order(Rng& rng) {
  // keep_nucleus keeps the leading mass of the ranking (weight descending, lower id first) and leaves
  // it in increasing id order: compared with a full sort, over small and large (bitmap) nuclei.
  int cases = 0, ok = 0;
  for (int t = 0; t < 200; ++t) {
    const int n = t % 4 == 0 ? 20000 : rng.integer(1, 700);
    std::vector<double> weights(static_cast<size_t>(n));
    for (double& w : weights) w = t % 3 == 0 ? (rng() % 4 + 1) * 0.25 : std::exp(rng.uniform(-6, 0));  // ties often
    std::vector<int32_t> ids(static_cast<size_t>(n)), ranked(static_cast<size_t>(n));
    std::iota(ids.begin(), ids.end(), 0);
    std::iota(ranked.begin(), ranked.end(), 0);
    std::stable_sort(ranked.begin(), ranked.end(), [&](int32_t a, int32_t b) { return weights[a] > weights[b]; });
    const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
    const double top_p = (t % 10) / 10.0 + 0.05;
    std::vector<double> keys(static_cast<size_t>(n));
    const int kept = keep_nucleus(ids.data(), n, weights.data(), keys.data(), total, top_p);
    // Oracle: the first rank whose cumulative mass reaches top_p * total (sums in rank order; the
    // chosen top_p values keep away from exact boundaries only by chance, so compare as sets
    // either side of rounding: the count must match within the ties' reach and the set be a prefix).
    std::vector<int32_t> want(ranked.begin(), ranked.begin() + kept);
    std::sort(want.begin(), want.end());
    double before = 0;
    for (int r = 0; r + 1 < kept; ++r) before += weights[ranked[r]];
    const bool prefix_ok = kept >= 1 && (kept == 1 || before < top_p * total * (1 + 1e-12));
    ++cases;
    ok += prefix_ok && std::equal(want.begin(), want.end(), ids.begin()) && std::is_sorted(ids.begin(), ids.begin() + kept);
  }
  report(ok == cases, "device nucleus: keep_nucleus keeps a leading run of the ranking, in increasing id order",
         fmt("%g of %g", ok, cases));
  std::vector<int32_t> dense(5000), sparse(300);
  std::iota(dense.begin(), dense.end(), 0);
  for (int i = 0; i < 300; ++i) sparse[i] = i * 997 + 3;
  for (auto* v : {&dense, &sparse}) {
    const std::vector<int32_t> sorted = *v;
    for (int i = static_cast<int>(v->size()) - 1; i > 0; --i) std::swap((*v)[i], (*v)[rng.integer(0, i)]);
    sort_distinct_ids(v->data(), static_cast<int>(v->size()));
    report(*v == sorted, v == &dense ? "device nucleus: sort_distinct_ids, dense ids (bitmap)"
                                     : "device nucleus: sort_distinct_ids, sparse ids (sort)", "");
  }
  // An id twice (a caller's mistake, e.g. through the addon's samplingNucleus): sorted, none dropped.
  std::vector<int32_t> twice(dense.rbegin(), dense.rend());
  twice[17] = twice[18];
  std::vector<int32_t> want_twice = twice;
  std::sort(want_twice.begin(), want_twice.end());
  sort_distinct_ids(twice.data(), static_cast<int>(twice.size()));
  report(twice == want_twice, "device nucleus: sort_distinct_ids keeps an id given twice (falls back to a sort)", "");
}

void test_nucleus_rows(Rng& rng) {
  CandidateScratch scratch;
  RowSamplerScratch full_scratch;
  int rows = 0, served = 0, exact = 0, declined = 0;
  const double top_ps[] = {0.9, 0.5, 0.95, 0.8, 0.99, 0};
  const double zipf[] = {1.5, 2, 1.3, 1.7};
  for (int t = 0; t < 600; ++t) {
    const int V = t % 10 == 0 ? 50257 : 1201;
    std::vector<float> row = zipf_row(rng, V, zipf[t % 4]);
    if (t % 6 == 5) row[rng.integer(0, V - 1)] = -kInf;
    DrawSpec s;
    fill_draw_spec(rng, row, t, &s);
    SamplingParams& p = s.spec.params;
    p.top_k = 0;
    p.top_p = top_ps[t % 6];
    p.typical_p = t % 11 == 3 ? 0.7 : 1;  // applied to the nucleus on the host
    const int want = sample_row(row.data(), V, s.spec, &full_scratch);
    const double sum = device_sum(row, s.spec);
    ++rows;
    if (!(sum > 0)) {
      ++declined;
      continue;
    }
    const int got = sample_nucleus(row, s.spec, sum, &scratch);
    if (got == kNeedFullRow || got == kNucleusPastCandidates) continue;
    ++served;
    exact += got == want;
  }
  report(exact == served && declined == 0 && served > rows / 2,
         "device nucleus: every top-p row the candidates decide gets sample_row's token (bias, penalties, min-p, typical-p)",
         fmt("%g of %g rows served and equal, %g need the whole row", exact, rows, rows - served));
}

// top-p placed on the boundary between two nuclei: p·S within a few ulps of a leading run's mass
// R_j. sample_row's comparison there depends on its summation order and on S's last bits, so the
// certificate must refuse all of those; with the margin removed and S' off by as much as the
// device's can be, certified_nucleus picks the wrong j (the test bites).
void test_nucleus_boundaries(Rng& rng) {
  CandidateScratch scratch;
  RowSamplerScratch full_scratch;
  int cases = 0, wrong = 0, refused = 0, wrong_without_margin = 0;
  for (int t = 0; t < 40; ++t) {
    const int V = 1201;
    const std::vector<float> row = zipf_row(rng, V, t % 2 ? 1.5 : 2);
    DrawSpec s;
    s.spec.params.temperature = 1;
    s.spec.u = static_cast<double>(rng() >> 11) * 0x1p-53;
    s.bind();
    const float max = *std::max_element(row.begin(), row.end());
    std::vector<double> w(static_cast<size_t>(V));
    for (int i = 0; i < V; ++i) w[i] = exp_nonpositive((static_cast<double>(row[i]) - max) / 1.0);
    std::vector<int32_t> ranked(static_cast<size_t>(V));
    std::iota(ranked.begin(), ranked.end(), 0);
    std::stable_sort(ranked.begin(), ranked.end(), [&](int32_t a, int32_t b) { return w[a] > w[b]; });
    long double total = 0;
    for (double x : w) total += x;
    for (int b = 0; b < 4; ++b) {
      const int j = rng.integer(1, 12);
      long double leading = 0;
      for (int r = 0; r < j; ++r) leading += w[ranked[r]];
      for (int k = -4; k <= 4; ++k) {
        s.spec.params.top_p = static_cast<double>(leading / total) + k * 0x1p-53;
        if (!(s.spec.params.top_p > 0 && s.spec.params.top_p < 1)) continue;
        const int want = sample_row(row.data(), V, s.spec, &full_scratch);
        const double sum = device_sum(row, s.spec);
        const int got = sample_nucleus(row, s.spec, sum, &scratch);
        ++cases;
        refused += got == kNeedFullRow;  // (too close to call: not past the candidates)
        wrong += got >= 0 && got != want;
        // Without the margin, with S' as far off as the device's may be: the nucleus's size.
        std::vector<int32_t> ids(static_cast<size_t>(V));
        std::iota(ids.begin(), ids.end(), 0);
        const double off = sum * (1 + (k % 2 ? 1 : -1) * 0x1p-44);
        const int bare = certified_nucleus(ids.data(), V, w.data(), 0, s.spec.params.top_p, off, V, 0);
        int oracle = 0;
        long double run = 0;
        while (oracle < V && run < static_cast<long double>(s.spec.params.top_p) * total) run += w[ranked[oracle++]];
        wrong_without_margin += bare >= 0 && bare != std::max(oracle, 1);
      }
    }
  }
  report(wrong == 0 && refused > cases * 9 / 10, "device nucleus: top-p on the boundary between nuclei is refused, never wrong",
         fmt("%g of %g refused, %g wrong", refused, cases, wrong));
  report(wrong_without_margin > 0, "device nucleus: without the margin, an S' within the device's error picks another nucleus (the test bites)",
         fmt("%g of %g wrong", wrong_without_margin, cases));
}

// A nucleus longer than the candidates' top, completed by a changed id below their threshold: a
// token outside the candidates (token 257 here) outweighs it and belongs in the nucleus instead, so
// the candidates must not decide the row.
void test_nucleus_outside_candidates() {
  const int V = 1201;
  std::vector<float> row(static_cast<size_t>(V), -20);
  for (int i = 0; i < 600; ++i) row[i] = -static_cast<float>(i) / 1000;  // distinct, slowly falling
  DrawSpec s;
  s.spec.params.temperature = 1;
  s.bias_ids = {1000};
  s.bias_values = {19.71};  // token 1000: -20 + 19.71 = -0.29, below the candidates' threshold -0.256
  s.bind();
  long double total = 0, leading = 0;
  for (int i = 0; i < V; ++i) total += std::exp(static_cast<long double>(i == 1000 ? -0.29f : row[i]));
  for (int i = 0; i < 257; ++i) leading += std::exp(static_cast<long double>(row[i]));
  // p·S between the top 257 and the top 258 (token 257, weight e^-0.257, is the 258th).
  s.spec.params.top_p = static_cast<double>((leading + 0.4L * std::exp(-0.257L)) / total);
  CandidateScratch scratch;
  RowSamplerScratch full_scratch;
  int refused = 0, wrong = 0, cases = 0;
  for (int k = 0; k < 50; ++k) {
    s.spec.u = (k + 0.5) / 50;
    const int got = sample_nucleus(row, s.spec, device_sum(row, s.spec), &scratch);
    const int want = sample_row(row.data(), V, s.spec, &full_scratch);
    ++cases;
    refused += got == kNucleusPastCandidates;
    wrong += got >= 0 && got != want;
  }
  report(refused == cases && wrong == 0,
         "device nucleus: a nucleus that a token outside the candidates belongs to is sampled whole",
         fmt("%g of %g refused, %g wrong", refused, cases, wrong));
}

void test_nucleus_guards() {
  // A token outside the candidates may weigh up to `outside`: the nucleus must not end at or below it.
  const std::vector<double> w = {1, 0.5, 0.25, 0.125};
  auto j_of = [&](double outside, double top_p) {
    std::vector<int32_t> ids = {0, 1, 2, 3};
    return certified_nucleus(ids.data(), 4, w.data(), outside, top_p, 1.875, 50257);
  };
  // p·S' = 0.8 * 1.875 = 1.5: the mass of the top two, a boundary; 0.85: three tokens; 0.5: one; 0.7: two.
  report(j_of(0.2, 0.85) == 3 && j_of(0.25, 0.85) == kNucleusPastCandidates &&
             j_of(0.3, 0.85) == kNucleusPastCandidates && j_of(0, 0.8) == kNeedFullRow && j_of(0, 0.5) == 1 &&
             j_of(0, 0.7) == 2 && j_of(0.9, 0) == 1 && j_of(1, 0) == kNucleusPastCandidates,
         "device nucleus: refuses a nucleus a token outside the candidates could join, and one on a boundary", "");
  std::vector<int32_t> ids = {0, 1, 2, 3};
  report(certified_nucleus(ids.data(), 4, w.data(), 0, 0.99, 2.5, 50257) == kNucleusPastCandidates &&
             certified_nucleus(ids.data(), 4, w.data(), 0, 0.5, NAN, 50257) == kNeedFullRow &&
             certified_nucleus(ids.data(), 4, w.data(), 0, 1, 1.875, 50257) == kNeedFullRow,
         "device nucleus: refuses when the candidates' mass falls short of p·S', without a sum, or with top-p off", "");

  // The sum query: which rows, and its answer.
  const std::vector<float> row = {1, 2, 3, -1, 0.5f};
  DrawSpec s;
  s.spec.params.temperature = 0.8;
  s.spec.params.top_p = 0.9;
  s.spec.params.min_p = 0.1;  // applied after the nucleus: not in the query
  s.bias_ids = {3};
  s.bias_values = {2};
  s.bind();
  DrawQueries q;
  std::vector<DrawChange> scratch;
  const bool built = sum_query(s.spec, 5, &q, &scratch);
  double sum = 0;
  const int answer = draw_row(row.data(), 5, q.params.data(), q.change_meta.data(), q.change_vals.data(),
                              q.change_start[1], &sum);
  double want = 0;
  const float processed[] = {1, 2, 3, 1, 0.5f};
  for (float v : processed) want += std::exp((v - 3.0) / 0.8);
  report(built && q.params[kDrawU] < 0 && q.params[kDrawMinP] == 0 && answer == kDrawSummed &&
             std::fabs(sum - want) <= 1e-14 * want,
         "device nucleus: the sum query answers kDrawSummed with the processed row's weight sum", fmt("%g vs %g", sum, want));
  auto refused = [&](auto change) {
    DrawSpec r = s;
    change(&r);
    r.bind();
    DrawQueries rq;
    std::vector<DrawChange> c;
    return !sum_query(r.spec, 5, &rq, &c) && !rq.has_query(0);
  };
  report(refused([](DrawSpec* r) { r->spec.params.top_p = 1; }) && refused([](DrawSpec* r) { r->spec.params.top_k = 2; }) &&
             refused([](DrawSpec* r) { r->spec.params.temperature = 0; }) &&
             refused([](DrawSpec* r) { r->bias_ids = {1, 1}; r->bias_values = {1, 2}; }) &&
             !refused([](DrawSpec* r) { r->spec.params.typical_p = 0.5; }),
         "device nucleus: sum queries serve top-p rows without top-k (typical-p and min-p allowed), lists without repeats", "");
  double nan_sum = 0;
  DrawSpec plain;
  plain.spec.params.temperature = 1;
  plain.spec.params.top_p = 0.5;
  plain.bind();
  DrawQueries nq;
  sum_query(plain.spec, 3, &nq, &scratch);
  const std::vector<float> bad = {1, kNaN, 2};
  report(draw_row(bad.data(), 3, nq.params.data(), nq.change_meta.data(), nq.change_vals.data(), 0, &nan_sum) ==
                 kDrawDeclined &&
             std::isnan(nan_sum),
         "device nucleus: a NaN row declines the sum query (its S' is NaN)", "");
}

}  // namespace

void test_device_nucleus(Rng& rng) {
  test_nucleus_order(rng);
  test_nucleus_guards();
  test_nucleus_outside_candidates();
  test_nucleus_rows(rng);
  test_nucleus_boundaries(rng);
}

}  // namespace gptneo::cputest
