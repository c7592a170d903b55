// Sampling a row from its top candidates instead of the whole vocabulary (the device-side sampling
// prefilter: the logits stay on the GPU, Backend::select_candidates picks each row's top, and only
// those values come to the host).
//
// Exactness. For a row whose sampler keeps only its top k logits after bias and penalties (top-k
// sampling, k < vocab; greedy, k = 1), let P be the ids bias or penalties change and t the
// (k + |P|)-th largest raw logit (NaN lowest). At least k ids outside P reach t, and they keep their
// values, so the k-th largest processed logit is >= t: every id outside P that the top-k filter
// keeps has a raw logit >= t. The candidate row, {raw >= t} ∪ P in id order with the raw values,
// therefore holds every token the filter keeps (ties included) with the same processed values and in
// the same order, and everything after the filter looks only at those: sample_candidates returns the
// token sample_row returns on the full row, bit for bit, when t is finite (else kNeedFullRow).
#pragma once
#include <cstdint>
#include <vector>

#include "cpu/row_sampler.h"

namespace gptneo::cpu {

// The `need` of Backend::select_candidates for this row: k + the number of entries in the lists
// whose ids processing changes (an upper bound on |P|), or 0 when the row's token depends on more
// than its top (temperature > 0 without top-k) or the need would reach the whole vocabulary.
int candidate_need(const RowSampleSpec& spec, int vocab);

// Appends the ids whose logits the row's processing changes (logit bias; seen ids under a repetition
// penalty; generated ids under presence/frequency penalties), ascending and distinct, to *out.
void changed_ids(const RowSampleSpec& spec, std::vector<int32_t>* out);

// Working memory of sample_candidates (one per thread).
struct CandidateScratch {
  std::vector<int32_t> ids;    // the candidate row's token ids
  std::vector<float> row;      // its logits
  std::vector<int32_t> bias_ids, seen_ids, count_ids;  // the spec's ids as candidate-row indices
  RowSamplerScratch sampler;
};

// The row's token from its candidates: sel_ids (ascending) / sel_vals, the selection of
// select_candidates for candidate_need(spec, vocab), and changed (ascending, distinct:
// changed_ids(spec)) / changed_vals, their raw logits. Returns the token id, kNoUsableLogits, or
// kNeedFullRow when the selection's lowest value is not finite (it then decides nothing).
int sample_candidates(const int32_t* sel_ids, const float* sel_vals, int sel_count, const int32_t* changed,
                      const float* changed_vals, int changed_count, int vocab, const RowSampleSpec& spec,
                      CandidateScratch* scratch);

// Top-p rows without top-k (their token depends on the whole row's sum, which the device supplies):
// the need for `candidates` top tokens plus the ids processing changes, or 0 when the row is not
// such a row or the need would reach the whole vocabulary.
int nucleus_need(const RowSampleSpec& spec, int vocab, int candidates);

// sample_candidates for such a row, given row_total, the device's sum of the row's weights (its
// draw kernel's sum query, cpu/device_draw.h): the token sample_row returns when the candidates
// decide the nucleus (cpu/nucleus_bound.h), else kNucleusPastCandidates (the nucleus reaches past
// them) or kNeedFullRow.
int sample_nucleus_candidates(const int32_t* sel_ids, const float* sel_vals, int sel_count, const int32_t* changed,
                              const float* changed_vals, int changed_count, int vocab, const RowSampleSpec& spec,
                              double row_total, CandidateScratch* scratch);

}  // namespace gptneo::cpu
