// The in-step sampler (cpu/batch_sampler.h): every row sampled over a pool of 1, 2 or 3 threads
// equals the same row sampled alone, whatever the worker and its scratch saw before; rows with no
// usable logit give kNoUsableLogits without disturbing the others; greedy and top-k 1 are the
// argmax; penalties move the argmax as their formulas say; check() names each inconsistency. A
// run-ahead (cpu/sampling_run.h) samples each step as rows sampled alone with that step's uniform and
// a penalty history kept by a plain reference of PenaltyHistory.record.
// (Agreement with the TypeScript sampler, its reference, is test/20.sampling-native-step.)
#include <string>
#include <vector>

#include <algorithm>

#include "cpu/batch_sampler.h"
#include "cpu/sampling.h"
#include "cpu/sampling_run.h"

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

// Run-ahead: 6 steps over the same logits (so the penalties must move the tokens), each row as if
// sampled alone with step j's uniform and the history a plain reference keeps.
void test_sampling_run(ThreadPool* pools[3], Rng& rng) {
  Fixture f = make_fixture(rng);
  const int R = f.batch.rows(), V = f.vocab, K = 6;
  f.batch.steps = K;
  for (int i = R; i < K * R; ++i) f.batch.u.push_back(rng.uniform(0, 1) * 0.999);
  std::vector<uint8_t> marks;
  report(f.batch.check(V, &marks).empty(), "sampling run: the batch with 6 uniforms per row passes check()", "");
  // The reference: per row, the lists PenaltyHistory would hold.
  std::vector<std::vector<int32_t>> seen(R), count_ids(R), counts(R);
  for (int r = 0; r < R; ++r) {
    seen[r].assign(f.batch.seen_ids.begin() + f.batch.seen_starts[r], f.batch.seen_ids.begin() + f.batch.seen_starts[r + 1]);
    count_ids[r].assign(f.batch.count_ids.begin() + f.batch.count_starts[r],
                        f.batch.count_ids.begin() + f.batch.count_starts[r + 1]);
    counts[r].assign(f.batch.counts.begin() + f.batch.count_starts[r], f.batch.counts.begin() + f.batch.count_starts[r + 1]);
  }
  std::vector<int32_t> want(static_cast<size_t>(K) * R);
  for (int j = 0; j < K; ++j) {
    for (int r = 0; r < R; ++r) {
      RowSampleSpec spec = f.batch.row(r);
      spec.u = f.batch.u[static_cast<size_t>(j) * R + r];
      spec.seen_ids = seen[r].data();
      spec.seen_count = static_cast<int>(seen[r].size());
      spec.count_ids = count_ids[r].data();
      spec.counts = counts[r].data();
      spec.counts_count = static_cast<int>(count_ids[r].size());
      RowSamplerScratch fresh;
      const int t = sample_row(f.logits.data() + static_cast<size_t>(r) * V, V, spec, &fresh);
      want[static_cast<size_t>(j) * R + r] = t;
      if (t < 0) continue;
      const SamplingParams& p = f.batch.params[r];
      if (p.repetition_penalty != 1 && std::find(seen[r].begin(), seen[r].end(), t) == seen[r].end()) seen[r].push_back(t);
      if (p.presence_penalty != 0 || p.frequency_penalty != 0) {
        auto at = std::find(count_ids[r].begin(), count_ids[r].end(), t);
        if (at == count_ids[r].end()) {
          count_ids[r].push_back(t);
          counts[r].push_back(1);
        } else {
          ++counts[r][at - count_ids[r].begin()];
        }
      }
    }
  }
  int moved = 0;  // greedy rows with a penalty whose token changed between steps
  for (int r = 0; r < R; ++r) {
    const SamplingParams& p = f.batch.params[r];
    const bool penalised = p.repetition_penalty != 1 || p.presence_penalty != 0 || p.frequency_penalty != 0;
    if (p.temperature == 0 && penalised && want[r] >= 0 && want[R + r] != want[r]) ++moved;
  }
  report(moved > 0, "sampling run: the reference's penalties move greedy rows between steps", fmt("%g rows", moved));
  for (int t = 0; t < 3; ++t) {
    SamplingRun run(f.batch, K);
    std::vector<RowSamplerScratch> scratch;
    std::vector<int32_t> got(static_cast<size_t>(K) * R, -7);
    for (int j = 0; j < K; ++j) run.sample_step(j, f.logits.data(), V, *pools[t], &scratch, got.data() + static_cast<size_t>(j) * R);
    int same = 0;
    for (size_t i = 0; i < got.size(); ++i) same += got[i] == want[i];
    bool state = true;
    for (int r = 0; r < R; ++r)
      state = state && run.seen_ids(r) == seen[r] && run.count_ids(r) == count_ids[r] && run.counts(r) == counts[r];
    report(same == K * R && state, "sampling run: " + std::to_string(t + 1) + " threads, 6 steps equal the reference",
           fmt("%g of %g tokens", same, K * R) + (state ? "" : "; penalty state differs"));
  }
  // check(): u must hold one uniform per row and step.
  f.batch.u.pop_back();
  report(!f.batch.check(V, &marks).empty(), "sampling run: check() refuses a missing uniform", "");
}

}  // namespace

void test_sampling(ThreadPool* pools[3], Rng& rng) {
  test_rows_match_alone(pools, rng);
  test_sampling_run(pools, rng);
  test_greedy_and_penalties(rng);
  test_check_errors(rng);
}

}  // namespace gptneo::cputest
