// The in-step sampler (cpu/batch_sampler.h): every row sampled over a pool of 1, 2 or 3 threads
// equals the same row sampled alone, whatever the worker and its scratch saw before; rows with no
// usable logit give kNoUsableLogits without disturbing the others; greedy and top-k 1 are the
// argmax; penalties move the argmax as their formulas say; check() names each inconsistency.
// (Agreement with the TypeScript sampler, its reference, is test/20.sampling-native-step.)
#include <string>
#include <vector>

#include "cpu/batch_sampler.h"
#include "cpu/sampling.h"

#include "tests/cpu/harness.h"

namespace gptneo::cputest {

using namespace gptneo::cpu;

namespace {

// R rows of V logits with varied options; row 3 is all NaN, row 5 all -Infinity.
struct Fixture {
  int vocab = 3001;
  std::vector<float> logits;
  SamplingBatch batch;
};

Fixture make_fixture(Rng& rng) {
  Fixture f;
  const int R = 29, V = f.vocab;
  f.logits = rng.vec(static_cast<size_t>(R) * V, -6, 6);
  for (int i = 0; i < V; ++i) {
    f.logits[3 * V + i] = kNaN;
    f.logits[5 * V + i] = -std::numeric_limits<float>::infinity();
  }
  const double temps[] = {0, 0.5, 1, 1.6};
  const int top_ks[] = {0, 1, 40, V};
  const double top_ps[] = {1, 0.9, 0.3, 0};
  f.batch.bias_starts = {0};
  f.batch.seen_starts = {0};
  f.batch.count_starts = {0};
  for (int r = 0; r < R; ++r) {
    SamplingParams p;
    p.temperature = temps[r % 4];
    p.top_k = top_ks[(r / 4) % 4];
    p.top_p = top_ps[(r / 3) % 4];
    p.min_p = r % 5 == 0 ? 0.05 : 0;
    p.typical_p = r % 7 == 0 ? 0.8 : 1;
    p.repetition_penalty = r % 2 ? 1.3 : 1;
    p.presence_penalty = r % 3 ? 0.5 : 0;
    p.frequency_penalty = r % 4 ? -0.25 : 0;
    f.batch.params.push_back(p);
    f.batch.u.push_back(rng.uniform(0, 1) * 0.999);
    for (int i = 0; i < r % 4; ++i) {
      f.batch.bias_ids.push_back(i * 97 + r);
      f.batch.bias_values.push_back(i % 2 ? 3.5 : -2);
    }
    for (int i = 0; i < 20; ++i) f.batch.seen_ids.push_back(i * 131 + r);
    for (int i = 0; i < 5; ++i) {
      f.batch.count_ids.push_back(i * 131 + r);
      f.batch.counts.push_back(1 + i);
    }
    f.batch.bias_starts.push_back(static_cast<int32_t>(f.batch.bias_ids.size()));
    f.batch.seen_starts.push_back(static_cast<int32_t>(f.batch.seen_ids.size()));
    f.batch.count_starts.push_back(static_cast<int32_t>(f.batch.count_ids.size()));
  }
  return f;
}

void test_rows_match_alone(ThreadPool* pools[3], Rng& rng) {
  Fixture f = make_fixture(rng);
  std::vector<uint8_t> marks;
  const std::string problem = f.batch.check(f.vocab, &marks);
  report(problem.empty(), "sampling: the fixture batch passes check()", problem);
  const int R = f.batch.rows();
  std::vector<int32_t> alone(R);
  for (int r = 0; r < R; ++r) {
    RowSamplerScratch fresh;
    alone[r] = sample_row(f.logits.data() + static_cast<size_t>(r) * f.vocab, f.vocab, f.batch.row(r), &fresh);
  }
  report(alone[3] == kNoUsableLogits && alone[5] == kNoUsableLogits, "sampling: all-NaN and all--Infinity rows give -1",
         fmt("%g %g", alone[3], alone[5]));
  int usable = 0;
  for (int r = 0; r < R; ++r) usable += alone[r] >= 0 && alone[r] < f.vocab;
  report(usable == R - 2, "sampling: every other row gives a token id", fmt("%g of %g", usable, R - 2));
  for (int t = 0; t < 3; ++t) {
    std::vector<RowSamplerScratch> scratch;
    for (int pass = 0; pass < 2; ++pass) {  // the second pass reuses scratch the first one dirtied
      std::vector<int32_t> out(R, -7);
      sample_rows(f.logits.data(), f.vocab, f.batch, *pools[t], &scratch, out.data());
      int same = 0;
      for (int r = 0; r < R; ++r) same += out[r] == alone[r];
      report(same == R, "sampling: " + std::to_string(t + 1) + " threads, pass " + std::to_string(pass) +
                            ": every row as when sampled alone", fmt("%g of %g", same, R));
    }
  }
}

void test_greedy_and_penalties(Rng& rng) {
  const int V = 257;
  std::vector<float> row = rng.vec(V, -3, 3);
  const int best = row_argmax(row.data(), V);
  RowSamplerScratch scratch;
  RowSampleSpec spec;
  spec.params.temperature = 0;
  report(sample_row(row.data(), V, spec, &scratch) == best, "sampling: greedy is the argmax", "");
  spec.params.temperature = 1;
  spec.params.top_k = 1;
  spec.u = 0.99;
  report(sample_row(row.data(), V, spec, &scratch) == best, "sampling: top-k 1 is the argmax", "");
  // A bias of -100 on the argmax moves greedy to the runner-up; a repetition penalty of 1e6 likewise.
  std::vector<float> second = row;
  second[best] = -1e30f;
  const int runner_up = row_argmax(second.data(), V);
  const int32_t ids[] = {best};
  const double minus[] = {-100};
  RowSampleSpec biased;
  biased.params.temperature = 0;
  biased.bias_ids = ids;
  biased.bias_values = minus;
  biased.bias_count = 1;
  report(sample_row(row.data(), V, biased, &scratch) == runner_up, "sampling: a -100 bias moves greedy off the argmax", "");
  RowSampleSpec penalised;
  penalised.params.temperature = 0;
  penalised.params.repetition_penalty = 1e6;
  penalised.seen_ids = ids;
  penalised.seen_count = 1;
  row[best] = 3.5f;  // positive: divided by the penalty
  report(sample_row(row.data(), V, penalised, &scratch) == runner_up, "sampling: repetition penalty moves greedy off", "");
  const int32_t counts[] = {3};
  RowSampleSpec frequent;
  frequent.params.temperature = 0;
  frequent.params.frequency_penalty = 2;
  frequent.count_ids = ids;
  frequent.counts = counts;
  frequent.counts_count = 1;
  row[best] = 3.5f + 5.9f;  // 9.4 - 3 * 2 = 3.4 < the runner-up only if that is above 3.4: make it so
  row[runner_up] = 3.45f;
  report(sample_row(row.data(), V, frequent, &scratch) == runner_up, "sampling: frequency penalty counts each use", "");
}

void test_check_errors(Rng& rng) {
  Fixture f = make_fixture(rng);
  std::vector<uint8_t> marks;
  auto expect = [&](const char* what, auto mutate, const char* needle) {
    SamplingBatch b = f.batch;
    mutate(b);
    const std::string e = b.check(f.vocab, &marks);
    report(e.find(needle) != std::string::npos, std::string("sampling check: ") + what, e);
  };
  expect("negative temperature", [](SamplingBatch& b) { b.params[2].temperature = -1; }, "temperature");
  expect("typicalP 0", [](SamplingBatch& b) { b.params[0].typical_p = 0; }, "typicalP");
  expect("u = 1", [](SamplingBatch& b) { b.u[1] = 1; }, "u must be");
  expect("u missing", [](SamplingBatch& b) { b.u.pop_back(); }, "one entry per row");
  expect("id outside", [&](SamplingBatch& b) { b.seen_ids[4] = f.vocab; }, "outside");
  expect("duplicate id", [](SamplingBatch& b) { b.seen_ids[1] = b.seen_ids[0]; }, "twice");
  expect("starts end early", [](SamplingBatch& b) { b.count_starts.back() -= 1; }, "countStarts must end");
  expect("zero count", [](SamplingBatch& b) { b.counts[0] = 0; }, "positive");
  expect("bias out of range", [](SamplingBatch& b) { b.bias_values[0] = 100.5; }, "biasValues");
  // marks are left clean: the unmodified batch still passes after all those failures.
  report(f.batch.check(f.vocab, &marks).empty(), "sampling check: marks are reset after a failure", "");
}

}  // namespace

void test_sampling(ThreadPool* pools[3], Rng& rng) {
  test_rows_match_alone(pools, rng);
  test_greedy_and_penalties(rng);
  test_check_errors(rng);
}

}  // namespace gptneo::cputest
