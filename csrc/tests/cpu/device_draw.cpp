// The device draw (cpu/device_draw.h; the kernel cuda/draw.cu runs the same arithmetic): where it
// reports a token, that token is sample_row's on the whole row — over random rows with bias,
// penalties and min-p, and over uniforms placed on the boundaries between tokens, where the margin
// is what keeps it exact (with the margin removed the same cases give other tokens). Also which rows
// it serves, the query it builds, and the rows it declines.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/device_draw.h"
#include "cpu/row_sampler.h"
#include "cpu/sampling.h"

#include "tests/cpu/harness.h"
#include "tests/cpu/sampling_specs.h"

namespace gptneo::cputest {

using namespace gptneo::cpu;

namespace {

int draw(const std::vector<float>& row, const RowSampleSpec& spec, double margin_scale = 1) {
  DrawQueries q;
  std::vector<DrawChange> scratch;
  if (!draw_query(spec, static_cast<int>(row.size()), &q, &scratch)) return -100;
  double sum;
  return draw_row(row.data(), static_cast<int>(row.size()), q.params.data(), q.change_meta.data(), q.change_vals.data(),
                  q.change_start[1], &sum, margin_scale);
}

void test_random_rows(Rng& rng) {
  RowSamplerScratch scratch;
  int certified = 0, exact = 0, uncertain = 0, other = 0, rows = 0;
  for (int t = 0; t < 1200; ++t) {
    const int V = t % 40 == 0 ? 50257 : (t % 3 == 0 ? 97 : 1201);
    std::vector<float> row = logit_row(rng, V, t % 2);
    if (t % 6 == 5) row[rng.integer(0, V - 1)] = -kInf;
    DrawSpec s;
    fill_draw_spec(rng, row, t, &s);
    const int want = sample_row(row.data(), V, s.spec, &scratch);
    const int got = draw(row, s.spec);
    ++rows;
    if (got >= 0) {
      ++certified;
      exact += got == want;
    } else if (got == kDrawUncertain) {
      ++uncertain;
    } else {
      ++other;
    }
  }
  report(exact == certified && other == 0 && certified >= rows - 2,
         "device draw: every certified token equals sample_row's (temperature, min-p, bias, penalties)",
         fmt("%g of %g rows certified and equal, %g uncertain", exact, rows, uncertain));
}

// Uniforms on the boundaries of sample_row's cumulative weights: u·S within a few ulps of C_i, where
// the device's other order and exp can pick the neighbour. The margin must turn all of them into
// kDrawUncertain (or the same token); without it some give another token.
void test_boundary_uniforms(Rng& rng) {
  RowSamplerScratch scratch;
  BoundaryTally tally;
  for (int t = 0; t < 60; ++t) {
    const int V = t % 2 ? 1201 : 4099;
    const std::vector<float> row = logit_row(rng, V, t % 2);
    DrawSpec s;
    fill_draw_spec(rng, row, t * 4 + 1, &s);  // temperature 1, a repetition penalty, one bias
    s.spec.params.min_p = 0;
    // The boundaries in exact arithmetic (long double) over sample_row's weights.
    std::vector<float> work(row);
    double max = -INFINITY;
    for (int i = 0; i < V; ++i) {  // processed_row's order: bias, repetition, presence/frequency
      for (int k = 0; k < s.spec.bias_count; ++k)
        if (s.spec.bias_ids[k] == i) work[i] = static_cast<float>(static_cast<double>(work[i]) + s.spec.bias_values[k]);
      for (int k = 0; k < s.spec.seen_count; ++k)
        if (s.spec.seen_ids[k] == i)
          work[i] = static_cast<float>(work[i] < 0 ? work[i] * 1.3 : work[i] / 1.3);
      for (int k = 0; k < s.spec.counts_count; ++k)
        if (s.spec.count_ids[k] == i && s.spec.counts[k] > 0)
          work[i] = static_cast<float>(static_cast<double>(work[i]) -
                                       (s.spec.params.presence_penalty +
                                        s.spec.params.frequency_penalty * static_cast<double>(s.spec.counts[k])));
    }
    for (float v : work) max = std::max(max, static_cast<double>(v));
    std::vector<long double> cumulative(static_cast<size_t>(V));
    long double sum = 0;
    for (int i = 0; i < V; ++i) {
      sum += exp_nonpositive((static_cast<double>(work[i]) - max) / s.spec.params.temperature);
      cumulative[i] = sum;
    }
    for (int b = 0; b < 8; ++b) {
      const int i = rng.integer(0, V - 2);
      for (int k = -6; k <= 6; ++k) {
        s.spec.u = static_cast<double>(cumulative[i] / sum) + k * 0x1p-53;
        if (!(s.spec.u >= 0 && s.spec.u < 1)) continue;
        const int want = sample_row(row.data(), V, s.spec, &scratch);
        tally.add(want, draw(row, s.spec), draw(row, s.spec, 0));
      }
    }
  }
  tally.report_with_bite("device draw: uniforms on token boundaries are uncertain, never wrong",
                         "device draw: without the margin, boundary uniforms give other tokens (the test bites)");
}

// min-p exactly at a token's weight: sample_row keeps it (w >= min_p); an exp 1 ulp lower would drop
// it, so the draw must say uncertain rather than guess.
void test_min_p_on_a_weight(Rng& rng) {
  RowSamplerScratch scratch;
  int cases = 0, ok = 0;
  for (int t = 0; t < 40; ++t) {
    const int V = 301;
    const std::vector<float> row = logit_row(rng, V, 0);
    const double max = *std::max_element(row.begin(), row.end());
    DrawSpec s;
    s.spec.params.temperature = 0.9;
    s.spec.u = 0.5;
    const int j = rng.integer(0, V - 1);
    s.spec.params.min_p = exp_nonpositive((static_cast<double>(row[j]) - max) / 0.9);
    if (!(s.spec.params.min_p >= 1e-300 && s.spec.params.min_p < 1)) continue;
    s.bind();
    const int got = draw(row, s.spec);
    ++cases;
    ok += got == kDrawUncertain || got == sample_row(row.data(), V, s.spec, &scratch);
  }
  report(ok == cases && cases > 30, "device draw: min-p on a token's own weight is uncertain or exact",
         fmt("%g of %g", ok, cases));
}

void test_query_and_refusals() {
  const std::vector<float> row = {1, 2, 3, -1, 0.5f};
  DrawSpec s;
  s.spec.params.temperature = 1;
  s.bias_ids = {3, 1};
  s.bias_values = {2, -1};
  s.seen_ids = {1, 4};
  s.count_ids = {4, 0, 2};
  s.counts = {2, 0, 1};
  s.spec.params.repetition_penalty = 1.5;
  s.spec.params.presence_penalty = 0.5;
  s.spec.params.frequency_penalty = 0.25;
  s.bind();
  DrawQueries q;
  std::vector<DrawChange> scratch;
  const bool built = draw_query(s.spec, 5, &q, &scratch);
  const std::vector<int32_t>& meta = q.change_meta;  // (id, flags) pairs
  const std::vector<double>& vals = q.change_vals;   // (bias, amount) pairs
  const double* params = q.params.data();
  // id 1: bias + seen; 2: count (1); 3: bias; 4: seen + count (2); 0: count 0, skipped.
  const bool layout = built && q.change_start == std::vector<int32_t>{0, 4} && meta.size() == 8 && meta[0] == 1 &&
                      meta[1] == (kDrawChangeBias | kDrawChangeSeen) && vals[0] == -1 &&
                      meta[2] == 2 && meta[3] == kDrawChangeCount && vals[3] == 0.75 &&
                      meta[4] == 3 && meta[5] == kDrawChangeBias && meta[6] == 4 &&
                      meta[7] == (kDrawChangeSeen | kDrawChangeCount) && vals[7] == 1.0 &&
                      params[kDrawTemperature] == 1 && params[kDrawInvTemperature] == 1 && params[kDrawPenalty] == 1.5;
  report(layout, "device draw: the query merges bias and penalty lists into one change per id, ascending", "");
  auto refused = [&](auto change) {
    DrawSpec r = s;
    r.bind();
    change(&r);
    r.bind();
    DrawQueries rq;
    std::vector<DrawChange> c;
    const bool served = draw_query(r.spec, 5, &rq, &c);
    // A refused row is still one row, without a query and without changes.
    return !served && rq.params.size() == kDrawParams && !rq.has_query(0) && rq.change_start == std::vector<int32_t>{0, 0};
  };
  const bool refusals = refused([](DrawSpec* r) { r->spec.params.temperature = 0; }) &&
                        refused([](DrawSpec* r) { r->spec.params.top_k = 3; }) &&
                        refused([](DrawSpec* r) { r->spec.params.typical_p = 0.5; }) &&
                        refused([](DrawSpec* r) { r->spec.params.min_p = 1e-310; }) &&
                        refused([](DrawSpec* r) { r->bias_ids = {2, 2}; }) &&
                        refused([](DrawSpec* r) { r->seen_ids = {0, 0}; }) &&
                        // top-p: the nucleus draw, with nothing but min-p after the nucleus and top-p in (0, 1)
                        !refused([](DrawSpec* r) { r->spec.params.top_p = 0.9, r->spec.params.min_p = 0.05; }) &&
                        refused([](DrawSpec* r) { r->spec.params.top_p = 0.9, r->spec.params.min_p = 1e-310; }) &&
                        refused([](DrawSpec* r) { r->spec.params.top_p = 0.9, r->spec.params.typical_p = 0.5; }) &&
                        refused([](DrawSpec* r) { r->spec.params.top_p = 0.9, r->spec.params.top_k = 3; }) &&
                        refused([](DrawSpec* r) { r->spec.params.top_p = 0; }) &&
                        !refused([](DrawSpec* r) { r->spec.params.top_p = 0.9; }) &&
                        !refused([](DrawSpec* r) { r->spec.params.top_k = 5; });
  DrawSpec nucleus = s;
  nucleus.spec.params.top_p = 0.9;
  nucleus.bind();
  DrawQueries nq;
  const bool nucleus_query = draw_query(nucleus.spec, 5, &nq, &scratch) && nq.params[kDrawTopP] == 0.9 &&
                             params[kDrawTopP] == 0 && nq.change_meta == q.change_meta;
  report(refusals && nucleus_query,
         "device draw: serves temperature sampling (top-k/typical off) and top-p with or without min-p (the nucleus "
         "draw), lists without repeats",
         "");

  DrawSpec plain;
  plain.spec.params.temperature = 1;
  plain.spec.u = 0.3;
  plain.bind();
  const bool declined = draw({1, kNaN, 2}, plain.spec) == kDrawDeclined && draw({1, kInf, 2}, plain.spec) == kDrawDeclined &&
                        draw({-kInf, -kInf}, plain.spec) == kDrawDeclined && draw({-kInf, 0, -kInf}, plain.spec) == 1;
  DrawSpec lifted = plain;
  lifted.bias_ids = {0};
  lifted.bias_values = {1e39};  // float overflow: +Infinity after processing
  lifted.bind();
  report(declined && draw({1, 2, 3}, lifted.spec) == kDrawDeclined,
         "device draw: NaN, +Infinity (also after bias) and all -Infinity rows are declined", "");
}

}  // namespace

void test_device_draw(Rng& rng) {
  test_query_and_refusals();
  test_random_rows(rng);
  test_boundary_uniforms(rng);
  test_min_p_on_a_weight(rng);
}

}  // namespace gptneo::cputest
