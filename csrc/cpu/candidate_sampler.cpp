#include "cpu/candidate_sampler.h"

#include <algorithm>
#include <cmath>

namespace gptneo::cpu {

namespace {

bool repetition_on(const RowSampleSpec& s) { return s.params.repetition_penalty != 1; }
bool counts_on(const RowSampleSpec& s) { return s.params.presence_penalty != 0 || s.params.frequency_penalty != 0; }

// ids (any order) as indices into `row_ids` (ascending); every id is there (false otherwise).
bool to_row_indices(const int32_t* ids, int count, const std::vector<int32_t>& row_ids, std::vector<int32_t>* out) {
  out->resize(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    const auto at = std::lower_bound(row_ids.begin(), row_ids.end(), ids[i]);
    if (at == row_ids.end() || *at != ids[i]) return false;
    (*out)[i] = static_cast<int32_t>(at - row_ids.begin());
  }
  return true;
}

// An upper bound on the ids the spec's processing changes (its lists' lengths).
int64_t changed_bound(const RowSampleSpec& s) {
  return int64_t{s.bias_count} + (repetition_on(s) ? s.seen_count : 0) + (counts_on(s) ? s.counts_count : 0);
}

}  // namespace

int candidate_need(const RowSampleSpec& s, int vocab) {
  int64_t k;
  if (s.params.temperature == 0) {
    k = 1;
  } else if (s.params.top_k > 0 && s.params.top_k < vocab) {
    k = s.params.top_k;
  } else {
    return 0;
  }
  const int64_t need = k + changed_bound(s);
  return need >= vocab ? 0 : static_cast<int>(need);
}

void changed_ids(const RowSampleSpec& s, std::vector<int32_t>* out) {
  const size_t from = out->size();
  out->insert(out->end(), s.bias_ids, s.bias_ids + s.bias_count);
  if (repetition_on(s)) out->insert(out->end(), s.seen_ids, s.seen_ids + s.seen_count);
  if (counts_on(s)) out->insert(out->end(), s.count_ids, s.count_ids + s.counts_count);
  std::sort(out->begin() + from, out->end());
  out->erase(std::unique(out->begin() + from, out->end()), out->end());
}

namespace {

// The candidate row in scratch (ids, row): the selection merged with the changed ids, ascending by id,
// and in *local the spec with its ids as indices into that row. False when the selection decides
// nothing (its lowest value, the threshold, is not finite) or an id is missing. *threshold: the
// selection's lowest value.
bool build_candidate_row(const int32_t* sel_ids, const float* sel_vals, int sel_count, const int32_t* changed,
                         const float* changed_vals, int changed_count, const RowSampleSpec& spec,
                         CandidateScratch* scratch, RowSampleSpec* local, float* threshold) {
  if (sel_count <= 0) return false;
  float lowest = sel_vals[0];
  for (int i = 0; i < sel_count; ++i) {
    if (!std::isfinite(sel_vals[i]) && !(sel_vals[i] > 0)) return false;  // NaN or -Infinity
    lowest = std::min(lowest, sel_vals[i]);
  }
  *threshold = lowest;
  std::vector<int32_t>& ids = scratch->ids;
  std::vector<float>& row = scratch->row;
  ids.clear();
  row.clear();
  int a = 0, b = 0;
  while (a < sel_count || b < changed_count) {
    if (b == changed_count || (a < sel_count && sel_ids[a] < changed[b])) {
      ids.push_back(sel_ids[a]);
      row.push_back(sel_vals[a++]);
    } else {
      if (a < sel_count && sel_ids[a] == changed[b]) ++a;  // the same token: one entry
      ids.push_back(changed[b]);
      row.push_back(changed_vals[b++]);
    }
  }
  *local = spec;
  if (!to_row_indices(spec.bias_ids, spec.bias_count, ids, &scratch->bias_ids)) return false;
  local->bias_ids = scratch->bias_ids.data();
  if (repetition_on(spec)) {
    if (!to_row_indices(spec.seen_ids, spec.seen_count, ids, &scratch->seen_ids)) return false;
    local->seen_ids = scratch->seen_ids.data();
  } else {
    local->seen_ids = nullptr;
    local->seen_count = 0;
  }
  if (counts_on(spec)) {
    if (!to_row_indices(spec.count_ids, spec.counts_count, ids, &scratch->count_ids)) return false;
    local->count_ids = scratch->count_ids.data();
  } else {
    local->count_ids = nullptr;
    local->counts = nullptr;
    local->counts_count = 0;
  }
  return true;
}

// The row's token from its candidate row: sample_row_of, or for a top-p row (row_total given: the
// device's weight sum) sample_nucleus_of. kNeedFullRow when the candidates do not decide it.
int sample_candidate_row(const int32_t* sel_ids, const float* sel_vals, int sel_count, const int32_t* changed,
                         const float* changed_vals, int changed_count, int vocab, const RowSampleSpec& spec,
                         const double* row_total, CandidateScratch* scratch) {
  RowSampleSpec local;
  float threshold;
  if (!build_candidate_row(sel_ids, sel_vals, sel_count, changed, changed_vals, changed_count, spec, scratch, &local,
                           &threshold))
    return kNeedFullRow;
  const int n = static_cast<int>(scratch->ids.size());
  const int picked = row_total ? sample_nucleus_of(scratch->row.data(), n, vocab, local, threshold, *row_total,
                                                   &scratch->sampler)
                               : sample_row_of(scratch->row.data(), n, vocab, local, &scratch->sampler);
  return picked < 0 ? picked : scratch->ids[picked];
}

}  // namespace

int sample_candidates(const int32_t* sel_ids, const float* sel_vals, int sel_count, const int32_t* changed,
                      const float* changed_vals, int changed_count, int vocab, const RowSampleSpec& spec,
                      CandidateScratch* scratch) {
  return sample_candidate_row(sel_ids, sel_vals, sel_count, changed, changed_vals, changed_count, vocab, spec, nullptr,
                              scratch);
}

int sample_nucleus_candidates(const int32_t* sel_ids, const float* sel_vals, int sel_count, const int32_t* changed,
                              const float* changed_vals, int changed_count, int vocab, const RowSampleSpec& spec,
                              double row_total, CandidateScratch* scratch) {
  return sample_candidate_row(sel_ids, sel_vals, sel_count, changed, changed_vals, changed_count, vocab, spec,
                              &row_total, scratch);
}

int nucleus_need(const RowSampleSpec& s, int vocab, int candidates) {
  const SamplingParams& p = s.params;
  if (!(p.temperature > 0) || (p.top_k > 0 && p.top_k < vocab) || !(p.top_p < 1) || candidates <= 0) return 0;
  const int64_t need = candidates + changed_bound(s);
  return need >= vocab ? 0 : static_cast<int>(need);
}

}  // namespace gptneo::cpu
