// The whole per-row sampling decision of lib/sampling/sample.ts `sampleToken`, in C++, so that a
// model step can return token ids instead of logits (napi/step_sampling). It is a port, step for
// step, of the TypeScript sampler (which stays the reference and the fallback):
//   logit bias → repetition penalty → presence/frequency penalties (float32 row, each update
//   computed in double and rounded once, as a Float32Array store does) →
//   temperature 0: argmax, else top-k → min-p logit floor → weigh → top-p floor and nucleus →
//   min-p → typical-p → cumulative draw with a uniform `u` drawn by the request's JS generator.
// It calls the same kernels as lib/sampling/kernels.ts's native set (cpu/sampling.h,
// cpu/mass_select.h), so the candidate order and the weights are those of the TypeScript sampler
// running on the native kernels. Two differences remain, both within rounding: exp_nonpositive
// is within 1 ulp of Math.exp, and typical-p's std::log within 1 ulp of V8's Math.log. A draw can
// therefore differ only when it lands within rounding of a boundary between two tokens (or, for
// typical-p, when two distances agree to the last bit or so).
//
// Built without -mfma (the "cpu" source group): the double expressions below must not be
// contracted into fused multiply-adds, or they would round differently from JavaScript.
#pragma once
#include <cstdint>
#include <vector>

namespace gptneo::cpu {

// lib/sampling/options.ts NormalizedSamplingOptions (the numeric part), validated by the caller.
struct SamplingParams {
  double temperature = 1;         // >= 0; 0 = greedy
  int top_k = 0;                  // >= 0; 0 = off
  double top_p = 1;               // [0, 1]; 1 = off
  double min_p = 0;               // [0, 1]; 0 = off
  double typical_p = 1;           // (0, 1]; 1 = off
  double repetition_penalty = 1;  // > 0; 1 = off
  double presence_penalty = 0;
  double frequency_penalty = 0;
};

// One row's request state. Every id is in [0, vocab) (the caller checks).
struct RowSampleSpec {
  SamplingParams params;
  double u = 0;  // the request generator's next() in [0, 1); unused when temperature == 0
  const int32_t* bias_ids = nullptr;  // logit bias: bias_count (id, value) pairs
  const double* bias_values = nullptr;
  int bias_count = 0;
  const int32_t* seen_ids = nullptr;  // distinct prompt + generated ids (repetition penalty)
  int seen_count = 0;
  const int32_t* count_ids = nullptr;  // generated ids and how often each was generated
  const int32_t* counts = nullptr;
  int counts_count = 0;
};

// Reusable working memory for sample_row, sized to the vocabulary (one per thread).
struct RowSamplerScratch {
  std::vector<float> logits;
  std::vector<double> weights;
  std::vector<double> keys;
  std::vector<int32_t> ids;
  void ensure(int vocab);
};

// sample_row's result when no token has a finite or +Infinity logit.
constexpr int kNoUsableLogits = -1;

// The answer of the samplers that see part of a row when that part does not decide it (the caller
// then samples the full row).
constexpr int kNeedFullRow = -2;

// The token sampleToken would return for this row (logits: vocab floats, vocab >= 1), or
// kNoUsableLogits. Reads `logits` only.
int sample_row(const float* logits, int vocab, const RowSampleSpec& spec, RowSamplerScratch* scratch);

// sample_row on a row that holds n of the vocabulary's `vocab` tokens (a candidate row,
// cpu/candidate_sampler.h): the spec's ids index the row, and the options that depend on the
// vocabulary's size (whether top-k is active; top-p's weight floor without top-k) use `vocab`.
// Returns an index into the row. n == vocab is sample_row.
int sample_row_of(const float* logits, int n, int vocab, const RowSampleSpec& spec, RowSamplerScratch* scratch);

// sample_row for a top-p row without top-k from a candidate row (as for sample_row_of) that holds
// every token whose logit is >= `threshold` (finite) and every id the spec's lists name, given the
// whole row's weight sum as the device computed it (row_total: cpu/nucleus_bound.h bounds how far it
// may be from sample_row's). Returns an index into the row when the candidates decide the nucleus
// (certified_nucleus), else kNucleusPastCandidates (more candidates could) or kNeedFullRow.
int sample_nucleus_of(const float* logits, int n, int vocab, const RowSampleSpec& spec, float threshold,
                      double row_total, RowSamplerScratch* scratch);

}  // namespace gptneo::cpu
