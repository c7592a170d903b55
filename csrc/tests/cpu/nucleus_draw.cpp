// The nucleus draw (cuda/nucleus_draw.h; the kernel cuda/draw.cu runs the same passes as its host
// emulation cpu::draw_row): where it reports a token for a top-p row, that token is sample_row's on the
// whole row — over Zipf-like, spread and flat rows (nuclei of one token to tens of thousands), with
// bias and penalties; over rows of tied logits, where the nucleus ends inside a group of equal weights;
// and over top-p values and uniforms placed on the boundaries between nuclei and between tokens, where
// the margins are what keep it exact (without them the same cases give other tokens). With min-p after
// the nucleus: rows where min-p keeps the whole nucleus and rows where it cuts inside it, and min-p placed
// on nucleus members' weights (uncertain, never wrong). Also the radix passes' index math, the
// certificate's rank guard, and the queries it declines.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "cpu/device_draw.h"
#include "cpu/row_sampler.h"
#include "cpu/sampling.h"
#include "cuda/nucleus_draw.h"

#include "tests/cpu/harness.h"
#include "tests/cpu/sampling_specs.h"

namespace gptneo::cputest {

using namespace gptneo::cpu;

namespace {

constexpr int kNotNucleus = -100;

// The emulated kernel's answer for a top-p row (kNotNucleus when draw_query makes no nucleus query).
int nucleus_draw(const std::vector<float>& row, const RowSampleSpec& spec, double margin_scale = 1) {
  const int V = static_cast<int>(row.size());
  DrawQueries q;
  std::vector<DrawChange> scratch;
  if (!draw_query(spec, V, &q, &scratch) || !(q.params[kDrawTopP] > 0)) return kNotNucleus;
  double sum;
  return draw_row(row.data(), V, q.params.data(), q.change_meta.data(), q.change_vals.data(), q.change_start[1], &sum,
                  margin_scale);
}

// sample_row's nucleus in exact arithmetic (long double sums) for a row without bias or penalties:
// its weights, the nucleus's ids in increasing order, and whether its last token has a tie just
// outside (the nucleus ends inside a group of equal weights).
struct ExactNucleus {
  std::vector<double> weights;
  std::vector<int32_t> ids;
  long double total = 0, nucleus_total = 0;
  bool split_group = false;
};

ExactNucleus exact_nucleus(const std::vector<float>& row, double temperature, double top_p) {
  ExactNucleus e;
  const int V = static_cast<int>(row.size());
  const double max = *std::max_element(row.begin(), row.end());
  e.weights.resize(static_cast<size_t>(V));
  for (int i = 0; i < V; ++i) e.weights[i] = exp_nonpositive((static_cast<double>(row[i]) - max) / temperature);
  std::vector<int32_t> ranked(static_cast<size_t>(V));
  std::iota(ranked.begin(), ranked.end(), 0);
  std::stable_sort(ranked.begin(), ranked.end(), [&](int32_t a, int32_t b) { return e.weights[a] > e.weights[b]; });
  for (double w : e.weights) e.total += w;
  int j = 0;
  while (j < V && (j == 0 || e.nucleus_total < static_cast<long double>(top_p) * e.total))
    e.nucleus_total += e.weights[ranked[j++]];
  e.ids.assign(ranked.begin(), ranked.begin() + j);
  std::sort(e.ids.begin(), e.ids.end());
  e.split_group = j < V && e.weights[ranked[j]] == e.weights[ranked[j - 1]];
  return e;
}

void test_rows(Rng& rng) {
  RowSamplerScratch scratch;
  int rows = 0, certified = 0, exact = 0, uncertain = 0, other = 0, large = 0, large_served = 0;
  const double top_ps[] = {0.9, 0.5, 0.95, 0.8, 0.99, 0.3};
  const double zipf[] = {1.1, 1.3, 1.5, 2};
  for (int t = 0; t < 600; ++t) {
    const int V = t % 10 == 0 ? 50257 : (t % 3 == 0 ? 97 : 1201);
    std::vector<float> row = t % 3 == 0 ? zipf_row(rng, V, zipf[(t / 3) % 4]) : logit_row(rng, V, t % 3 - 1);
    if (t % 6 == 5) row[rng.integer(0, V - 1)] = -kInf;
    DrawSpec s;
    fill_draw_spec(rng, row, t, &s);
    SamplingParams& p = s.spec.params;
    p.top_k = 0;
    p.min_p = 0;
    p.top_p = top_ps[t % 6];
    const int want = sample_row(row.data(), V, s.spec, &scratch);
    const int got = nucleus_draw(row, s.spec);
    ++rows;
    const bool flat = V == 50257 && t % 3 == 2 && p.top_p >= 0.8;  // a nucleus of tens of thousands
    large += flat;
    if (got >= 0) {
      ++certified;
      exact += got == want;
      large_served += flat;
    } else if (got == kDrawUncertain) {
      ++uncertain;
    } else {
      ++other;
    }
  }
  report(exact == certified && other == 0 && certified >= rows - 3,
         "nucleus draw: every certified top-p token equals sample_row's (Zipf, spread and flat rows, bias, penalties)",
         fmt("%g of %g rows certified and equal, %g uncertain", exact, rows, uncertain) +
             fmt("; flat 50257-token rows: %g of %g served", large_served, large));
}

// Min-p after the nucleus (sample_row's filter_after_nucleus): the kept set is the nucleus or, where
// min-p cuts inside it, the tokens of weight >= min_p; both kinds occur, and every certified token is
// sample_row's. Rows without bias or penalties are classified exactly (exact_nucleus); the others add
// fill_draw_spec's bias and penalties. Then min-p set on a nucleus member's weight below the top's (within
// a few ulps): uncertain, never another token; min-p 1 (the top group, whose weights are exactly 1 on both
// sides): certified.
void test_min_p(Rng& rng) {
  RowSamplerScratch scratch;
  int rows = 0, certified = 0, exact = 0, cut = 0, cut_certified = 0, kept = 0, kept_certified = 0, flat = 0,
      flat_served = 0;
  const double min_ps[] = {0.001, 0.02, 0.05, 0.1, 0.3, 0.7, 1.0};
  const double top_ps[] = {0.9, 0.5, 0.95, 0.8, 0.99};
  for (int t = 0; t < 420; ++t) {
    const int V = t % 10 == 0 ? 50257 : (t % 3 == 0 ? 97 : 1201);
    const std::vector<float> row = t % 3 == 0 ? zipf_row(rng, V, t % 2 ? 1.2 : 1.6) : logit_row(rng, V, t % 3 - 1);
    const bool plain = t % 2 == 0;
    DrawSpec s;
    if (plain) {
      s.spec.params.temperature = t % 4 == 0 ? 1 : 0.6;
      s.spec.u = static_cast<double>(rng() >> 11) * 0x1p-53;
      s.bind();
    } else {
      fill_draw_spec(rng, row, t, &s);
    }
    SamplingParams& p = s.spec.params;
    p.top_k = 0;
    p.top_p = top_ps[t % 5];
    p.min_p = min_ps[(t / 2) % 7];
    const int want = sample_row(row.data(), V, s.spec, &scratch);
    const int got = nucleus_draw(row, s.spec);
    ++rows;
    certified += got >= 0;
    exact += got >= 0 && got == want;
    const bool big = V == 50257 && t % 3 == 2 && p.min_p <= 0.05;
    flat += big;
    flat_served += big && got >= 0;
    if (plain) {
      const ExactNucleus e = exact_nucleus(row, p.temperature, p.top_p);
      bool cuts = false;
      for (int32_t id : e.ids) cuts = cuts || e.weights[id] < p.min_p;
      (cuts ? cut : kept) += 1;
      (cuts ? cut_certified : kept_certified) += got >= 0;
    }
  }
  report(exact == certified && certified >= rows - 4 && cut >= 40 && kept >= 40 && cut_certified >= cut - 2 &&
             kept_certified >= kept - 2 && flat_served == flat,
         "nucleus draw with min-p: every certified token equals sample_row's, min-p keeping the nucleus or cutting "
         "inside it",
         fmt("%g of %g certified and equal; min-p cuts %g rows", exact, rows, cut) +
             fmt(" (%g certified), keeps %g (%g certified)", cut_certified, kept, kept_certified) +
             fmt("; flat 50257-token rows with min-p <= 0.05: %g of %g served", flat_served, flat));

  BoundaryTally on_weight;
  for (int t = 0; t < 30; ++t) {
    const int V = 1201;
    const std::vector<float> row = t % 2 ? zipf_row(rng, V, 1.3) : logit_row(rng, V, 1);
    DrawSpec s;
    s.spec.params.temperature = t % 3 ? 1 : 0.5;
    s.spec.params.top_p = 0.9;
    s.spec.u = static_cast<double>(rng() >> 11) * 0x1p-53;
    s.bind();
    const ExactNucleus e = exact_nucleus(row, s.spec.params.temperature, 0.9);
    std::vector<double> below_top;
    for (int32_t id : e.ids)
      if (e.weights[id] < 1) below_top.push_back(e.weights[id]);
    for (int b = 0; b < 3 && !below_top.empty(); ++b) {
      const double w = below_top[rng.integer(0, static_cast<int>(below_top.size()) - 1)];
      for (int k = -3; k <= 3; ++k) {
        s.spec.params.min_p = w * (1 + k * 0x1p-52);
        if (!(s.spec.params.min_p > 0 && s.spec.params.min_p <= 1)) continue;
        on_weight.add(sample_row(row.data(), V, s.spec, &scratch), nucleus_draw(row, s.spec));
      }
    }
  }
  report(on_weight.wrong == 0 && on_weight.uncertain == on_weight.cases && on_weight.cases > 400,
         "nucleus draw with min-p on a nucleus member's weight: uncertain, never wrong",
         fmt("%g of %g uncertain, %g wrong", on_weight.uncertain, on_weight.cases, on_weight.wrong));
  int top_rows = 0, top_exact = 0;
  for (int t = 0; t < 20; ++t) {
    std::vector<float> row = logit_row(rng, 1201, 0);
    if (t % 2) row[7] = row[300] = *std::max_element(row.begin(), row.end());  // a top group of 2 or 3
    DrawSpec s;
    s.spec.params.temperature = 0.8;
    s.spec.params.top_p = t % 4 < 2 ? 0.9 : 1e-6;
    s.spec.params.min_p = 1;
    s.spec.u = static_cast<double>(rng() >> 11) * 0x1p-53;
    s.bind();
    const int want = sample_row(row.data(), 1201, s.spec, &scratch);
    ++top_rows;
    top_exact += nucleus_draw(row, s.spec) == want;
  }
  report(top_exact == top_rows, "nucleus draw with min-p 1: the top group, certified",
         fmt("%g of %g equal to sample_row's", top_exact, top_rows));
}

// Logits on a grid of 17 values: groups of ~70 tokens of one weight, so the nucleus ends inside a
// group, and sample_row takes the group's lowest ids (its ranking's ties), as the draw must.
void test_tied_groups(Rng& rng) {
  RowSamplerScratch scratch;
  int rows = 0, certified = 0, exact = 0, split = 0;
  for (int t = 0; t < 120; ++t) {
    const int V = t % 4 == 0 ? 4099 : 1201;
    std::vector<float> row(static_cast<size_t>(V));
    for (float& v : row) v = std::round(rng.uniform(-2, 2) * 4) / 4;
    DrawSpec s;
    s.spec.params.temperature = t % 2 ? 1 : 0.5;
    s.spec.params.top_p = 0.05 + 0.9 * static_cast<double>(rng() >> 11) * 0x1p-53;
    s.spec.u = static_cast<double>(rng() >> 11) * 0x1p-53;
    s.bind();
    split += exact_nucleus(row, s.spec.params.temperature, s.spec.params.top_p).split_group;
    const int want = sample_row(row.data(), V, s.spec, &scratch);
    const int got = nucleus_draw(row, s.spec);
    ++rows;
    certified += got >= 0;
    exact += got >= 0 && got == want;
  }
  report(exact == certified && certified >= rows - 2 && split > rows / 2,
         "nucleus draw: a nucleus ending inside a group of tied weights takes the group's lowest ids",
         fmt("%g of %g certified and equal; %g end inside a group", exact, rows, split));

  // Every logit equal: one group of 50257, the nucleus its first ceil(p·V) ids.
  std::vector<float> flat(50257, 1.5f);
  DrawSpec s;
  s.spec.params.temperature = 1;
  s.spec.params.top_p = 0.9;
  s.spec.u = 0.999;
  s.bind();
  const int want = sample_row(flat.data(), 50257, s.spec, &scratch);
  const int got = nucleus_draw(flat, s.spec);
  report(got == want && got == 45186, "nucleus draw: a row of one logit: the nucleus is its first ceil(p·V) ids",
         fmt("token %g, sample_row's %g", got, want));
}

// top-p on the boundary between two nuclei (p·S within a few ulps of a leading run's mass), and
// uniforms on the boundary between two tokens of the nucleus (u·R within a few ulps of a cumulative
// weight): the margins must turn every one of them into kDrawUncertain or the same token; without
// them (margin_scale 0) some give other tokens.
void test_boundaries(Rng& rng) {
  RowSamplerScratch scratch;
  BoundaryTally top_p, uniform;
  for (int t = 0; t < 40; ++t) {
    const int V = 1201;
    const std::vector<float> row = t % 2 ? zipf_row(rng, V, t % 4 == 1 ? 1.5 : 1.2) : logit_row(rng, V, 1);
    DrawSpec s;
    s.spec.params.temperature = t % 4 < 2 ? 1 : 0.7;
    s.spec.u = static_cast<double>(rng() >> 11) * 0x1p-53;
    s.bind();
    const ExactNucleus base = exact_nucleus(row, s.spec.params.temperature, 0.5);
    std::vector<int32_t> ranked(static_cast<size_t>(V));
    std::iota(ranked.begin(), ranked.end(), 0);
    std::stable_sort(ranked.begin(), ranked.end(), [&](int32_t a, int32_t b) { return base.weights[a] > base.weights[b]; });
    for (int b = 0; b < 4; ++b) {
      const int j = rng.integer(1, t % 2 ? 12 : 600);
      long double leading = 0;
      for (int r = 0; r < j; ++r) leading += base.weights[ranked[r]];
      for (int k = -4; k <= 4; ++k) {
        s.spec.params.top_p = static_cast<double>(leading / base.total) + k * 0x1p-53;
        if (!(s.spec.params.top_p > 0 && s.spec.params.top_p < 1)) continue;
        top_p.add(sample_row(row.data(), V, s.spec, &scratch), nucleus_draw(row, s.spec), nucleus_draw(row, s.spec, 0));
      }
    }
    // Uniforms on the nucleus's token boundaries (top-p 0.9, away from any nucleus boundary).
    s.spec.params.top_p = 0.9;
    const ExactNucleus e = exact_nucleus(row, s.spec.params.temperature, 0.9);
    std::vector<long double> cumulative;
    long double c = 0;
    for (int32_t id : e.ids) cumulative.push_back(c += e.weights[id]);
    for (int b = 0; b < 6 && e.ids.size() > 1; ++b) {
      const int i = rng.integer(0, static_cast<int>(e.ids.size()) - 2);
      for (int k = -6; k <= 6; ++k) {
        s.spec.u = static_cast<double>(cumulative[i] / c) + k * 0x1p-53;
        if (!(s.spec.u >= 0 && s.spec.u < 1)) continue;
        uniform.add(sample_row(row.data(), V, s.spec, &scratch), nucleus_draw(row, s.spec), nucleus_draw(row, s.spec, 0));
      }
    }
  }
  top_p.report_with_bite("nucleus draw: top-p on the boundary between nuclei is uncertain, never wrong",
                         "nucleus draw: without the margin, top-p on a boundary gives other tokens (the test bites)");
  uniform.report_with_bite("nucleus draw: uniforms on the nucleus's token boundaries are uncertain, never wrong",
                           "nucleus draw: without the margin, those uniforms give other tokens (the test bites)");
}

// Weights of distinct logits closer than 2^-40 (a temperature of 1e14 flattens the row to within
// 1e-13): the host may rank them otherwise than their keys do, so the certificate must refuse.
void test_rank_guard(Rng& rng) {
  RowSamplerScratch scratch;
  int rows = 0, uncertain = 0, wrong = 0;
  for (int t = 0; t < 20; ++t) {
    const std::vector<float> row = logit_row(rng, 1201, 0);
    DrawSpec s;
    s.spec.params.temperature = 1e14;
    s.spec.params.top_p = 0.3 + 0.03 * t;
    s.spec.u = static_cast<double>(rng() >> 11) * 0x1p-53;
    s.bind();
    const int want = sample_row(row.data(), 1201, s.spec, &scratch);
    const int got = nucleus_draw(row, s.spec);
    ++rows;
    uncertain += got == kDrawUncertain;
    wrong += got >= 0 && got != want;
  }
  report(uncertain == rows && wrong == 0, "nucleus draw: weights within 2^-40 across the boundary are refused",
         fmt("%g of %g uncertain", uncertain, rows));
  NucleusBoundary b;
  b.above = 3;
  b.w_k = 0.25;
  b.count_k = 8;
  b.count_above = 5;
  b.min_above = 0.5;
  b.max_below = 0.125;
  const double goal = 3.3, delta = 1e-12;
  NucleusBoundary close_above = b, close_below = b, none_above = b;
  close_above.min_above = 0.25 * (1 + 0x1p-41);
  close_below.max_below = 0.25 * (1 - 0x1p-41);
  none_above.count_above = 0;
  none_above.min_above = 0;  // (ignored without tokens above)
  NucleusBoundary edge = b;  // goal on a group member's edge: 3 + 0.25·t
  report(nucleus_take(b, goal, delta) == 2 && nucleus_take(close_above, goal, delta) == 0 &&
             nucleus_take(close_below, goal, delta) == 0 && nucleus_take(none_above, goal, delta) == 2 &&
             nucleus_take(edge, 3.5, delta) == 0 && nucleus_take(edge, 3.5 + 2 * delta, delta) == 3 &&
             nucleus_take(b, 3 + 9 * 0.25, delta) == 0 && nucleus_take(b, 2.9, delta) == 0,
         "nucleus draw: the certificate's take (group share, rank guard both sides, edges, past the group)", "");
  // A nucleus of the top token alone holds however small p·S is (sample_row keeps one token at least),
  // and a row at top-p 1e-12 is drawn: its top token.
  NucleusBoundary top;
  top.w_k = 1;
  top.count_k = 1;
  top.max_below = 0.5;
  std::vector<float> row = logit_row(rng, 1201, 0);
  DrawSpec s;
  s.spec.params.temperature = 1;
  s.spec.params.top_p = 1e-12;
  s.spec.u = 0.7;
  s.bind();
  const int tiny = nucleus_draw(row, s.spec);
  report(nucleus_take(top, 1e-20, 1e-12) == 1 && tiny == sample_row(row.data(), 1201, s.spec, &scratch) &&
             tiny == static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin()),
         "nucleus draw: a tiny top-p keeps the top token, certified", fmt("token %g", tiny));
}

void test_index_math(Rng& rng) {
  report(nucleus_mass_scale(50257) == 0x1p47 && nucleus_mass_scale(65536) == 0x1p47 && nucleus_mass_scale(65537) == 0x1p46 &&
             nucleus_mass_scale(1) == 0x1p47 && nucleus_mass_scale(2) == 0x1p47 && nucleus_mass_scale(1 << 20) == 0x1p43,
         "nucleus draw: the fixed-point scale keeps a row's total within 64 bits and a weight within 2^47", "");
  // A warp's 32 masses summed as halves (add_mass): no half overflows 32 bits, and the join is the sum.
  int warps = 0, joined = 0;
  for (int t = 0; t < 300; ++t) {
    const NucleusMass top = t % 3 == 0 ? (NucleusMass{1} << 47) + 3 : NucleusMass{1} << 47;  // (expf may round up at 0)
    NucleusMass sum = 0;
    uint64_t low = 0, high = 0;
    for (int lane = 0; lane < 32; ++lane) {
      const NucleusMass m = t % 2 ? top : rng() % (top + 1);
      sum += m;
      low += nucleus_mass_low(m);
      high += nucleus_mass_high(m);
    }
    ++warps;
    joined += low < (uint64_t{1} << 32) && high < (uint64_t{1} << 32) &&
              nucleus_mass_join(static_cast<unsigned>(high), static_cast<unsigned>(low)) == sum;
  }
  report(joined == warps, "nucleus draw: a warp's masses summed as 32-bit halves, joined exactly",
         fmt("%g of %g warps", joined, warps));
  report(nucleus_mass(2.5f, 2.5, 1, 0x1p47) == (NucleusMass{1} << 47) && nucleus_mass(-kInf, 2.5, 1, 0x1p47) == 0 &&
             nucleus_goal(1000, 0.9) == 900 && nucleus_goal(1000, 1e-9) == 1 && nucleus_goal(1000, 1) == 1000,
         "nucleus draw: a pass's weights and goal", "");
  // Keys match the prefix by whole bytes; digits are the pass's byte.
  const uint32_t key = 0xc0a81234u;
  report(nucleus_digit(key, 0) == 0xc0 && nucleus_digit(key, 3) == 0x34 && nucleus_in_prefix(key, 0, 0) &&
             nucleus_in_prefix(key, 0xc0000000u, 1) && !nucleus_in_prefix(key, 0xc1000000u, 1) &&
             nucleus_in_prefix(key, 0xc0a81200u, 3) && !nucleus_in_prefix(key, 0xc0a81300u, 3),
         "nucleus draw: digits and prefixes", "");
  // The warp's pick (lanes from the top, the crossing lane's bins) against a scan from the top bin.
  int cases = 0, ok = 0;
  for (int t = 0; t < 500; ++t) {
    NucleusMass hist[kRadixBins] = {};
    NucleusMass total = 0;
    for (int b = 0; b < kRadixBins; ++b)
      if (rng() % (t % 3 == 0 ? 40 : 3) == 0) total += hist[b] = rng() % 1000000;
    if (total == 0) continue;
    const NucleusMass goal = 1 + rng() % total;
    int want_bin = -1;
    NucleusMass want_above = 0, run = 0;
    for (int b = kRadixBins - 1; b >= 0 && want_bin < 0; --b) {
      if (run + hist[b] >= goal) {
        want_bin = b;
        want_above = run;
      }
      run += hist[b];
    }
    int bin = -1, picks = 0;
    NucleusMass above = 0, before = 0;
    for (int lane = 0; lane < 32; ++lane) {
      const NucleusMass mass = nucleus_lane_mass(hist, lane);
      if (before < goal && goal <= before + mass) picks += nucleus_lane_pick(hist, lane, before, goal, &bin, &above);
      before += mass;
    }
    ++cases;
    ok += picks == 1 && bin == want_bin && above == want_above;
  }
  report(ok == cases, "nucleus draw: the warp's pick is the first bin from the top to reach the goal",
         fmt("%g of %g", ok, cases));
}

void test_declined() {
  // Queries draw_query never makes (top-p at 1 or above) and bad rows; min-p after the nucleus is served.
  const std::vector<float> row = {0.5f, 1, -1, 2};
  double params[kDrawParams] = {0.5, 1, 1, 0, 0, 1, 0.9};
  double sum;
  const int plain = draw_row(row.data(), 4, params, nullptr, nullptr, 0, &sum);
  params[kDrawMinP] = 0.1;
  params[kDrawLogitFloor] = std::log(0.1) - 1e-9;
  const int with_min_p = draw_row(row.data(), 4, params, nullptr, nullptr, 0, &sum);
  params[kDrawMinP] = params[kDrawLogitFloor] = 0;
  params[kDrawTopP] = 1;
  const int at_one = draw_row(row.data(), 4, params, nullptr, nullptr, 0, &sum);
  params[kDrawTopP] = 0.9;
  const std::vector<float> nan_row = {0.5f, NAN, 1, 2};
  const int nan = draw_row(nan_row.data(), 4, params, nullptr, nullptr, 0, &sum);
  report(plain >= 0 && with_min_p >= 0 && at_one == kDrawDeclined && nan == kDrawDeclined,
         "nucleus draw: top-p at 1 and NaN rows are declined; top-p with min-p is drawn",
         fmt("%g %g %g", plain, with_min_p, at_one) + fmt(" %g", nan));
}

}  // namespace

void test_nucleus_draw(Rng& rng) {
  test_rows(rng);
  test_min_p(rng);
  test_tied_groups(rng);
  test_boundaries(rng);
  test_rank_guard(rng);
  test_index_math(rng);
  test_declined();
}

}  // namespace gptneo::cputest
