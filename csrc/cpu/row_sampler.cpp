#include "cpu/row_sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "cpu/mass_select.h"
#include "cpu/nucleus_bound.h"
#include "cpu/sampling.h"

namespace gptneo::cpu {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// sample.ts changesLogits: bias or a penalty would change some logit of this step.
bool changes_logits(const RowSampleSpec& s) {
  const SamplingParams& p = s.params;
  return s.bias_count > 0 || (p.repetition_penalty != 1 && s.seen_count > 0) ||
         ((p.presence_penalty != 0 || p.frequency_penalty != 0) && s.counts_count > 0);
}

// sample.ts processedRow with penalties.ts: each update is a JavaScript number expression stored
// into a Float32Array, i.e. computed in double and rounded to float once.
const float* processed_row(const float* logits, int vocab, const RowSampleSpec& s, float* work) {
  if (!changes_logits(s)) return logits;
  copy_nan_as_neg_inf(logits, vocab, work);
  for (int i = 0; i < s.bias_count; ++i) {
    float& w = work[s.bias_ids[i]];
    w = static_cast<float>(static_cast<double>(w) + s.bias_values[i]);
  }
  const double penalty = s.params.repetition_penalty;
  if (penalty != 1) {
    for (int i = 0; i < s.seen_count; ++i) {
      float& w = work[s.seen_ids[i]];
      const double logit = w;
      w = static_cast<float>(logit < 0 ? logit * penalty : logit / penalty);
    }
  }
  const double presence = s.params.presence_penalty, frequency = s.params.frequency_penalty;
  if (presence != 0 || frequency != 0) {
    for (int i = 0; i < s.counts_count; ++i) {
      const int32_t count = s.counts[i];
      if (count <= 0) continue;
      float& w = work[s.count_ids[i]];
      const double amount = presence + frequency * static_cast<double>(count);
      w = static_cast<float>(static_cast<double>(w) - amount);
    }
  }
  return work;
}

double sum_weights(const int32_t* ids, int count, const double* weights) {
  double total = 0;
  for (int i = 0; i < count; ++i) total += weights[ids[i]];
  return total;
}

// filters.ts keepAboveMinP.
int keep_above_min_p(int32_t* ids, int count, const double* weights, double min_p) {
  double top = 0;
  for (int i = 0; i < count; ++i) top = std::max(top, weights[ids[i]]);
  const double floor = min_p * top;
  int kept = 0;
  for (int i = 0; i < count; ++i) {
    const int32_t id = ids[i];
    if (weights[id] >= floor) ids[kept++] = id;
  }
  return kept;
}

// filters.ts keepTypical (std::log for Math.log: see the header).
int keep_typical(int32_t* ids, int count, const double* weights, double* keys, double mass) {
  const double total = sum_weights(ids, count, weights);
  const double log_total = std::log(total);
  double entropy = 0;
  for (int i = 0; i < count; ++i) {
    const int32_t id = ids[i];
    const double log_weight = std::log(weights[id]);
    keys[id] = log_weight;
    entropy -= (weights[id] / total) * (log_weight - log_total);
  }
  for (int i = 0; i < count; ++i) {
    const int32_t id = ids[i];
    keys[id] = std::fabs(log_total - keys[id] - entropy);  // |−log p − H|
  }
  return select_leading_mass(ids, count, keys, weights, mass * total, true);
}

// sample.ts filterCandidates after top-p: min-p, then typical-p, over ids[0..count) whose weights
// sum to *total (updated).
int filter_after_nucleus(int32_t* ids, int count, const double* weights, const SamplingParams& p,
                         RowSamplerScratch* scratch, double* total) {
  if (p.min_p > 0) {
    count = keep_above_min_p(ids, count, weights, p.min_p);
    *total = sum_weights(ids, count, weights);
  }
  if (p.typical_p < 1) {
    count = keep_typical(ids, count, weights, scratch->keys.data(), p.typical_p);
    *total = sum_weights(ids, count, weights);
  }
  return count;
}

// sample.ts filterCandidates: leaves the survivors in ids[0..count) with their weights; returns
// count (kNoUsableLogits when nothing is usable) and their total in *total.
// work: n entries of a vocabulary of `vocab` tokens (n < vocab: a candidate row, see the header).
int filter_candidates(const float* work, int n, int vocab, const SamplingParams& p, RowSamplerScratch* scratch,
                      double* total) {
  int32_t* ids = scratch->ids.data();
  double* weights = scratch->weights.data();
  const bool top_k_active = p.top_k > 0 && p.top_k < vocab;
  int count;
  if (top_k_active) {
    count = topk_candidates(work, n, std::min(p.top_k, n), ids);
  } else {
    std::iota(ids, ids + n, 0);
    count = n;
  }
  if (p.min_p > 0 && p.top_p == 1)
    count = keep_above_logit_floor(work, ids, count, p.temperature, std::log(p.min_p) - 1e-9);
  const Weighed weighed = weigh_candidates(work, ids, count, p.temperature, weights);
  if (!weighed.usable) return kNoUsableLogits;
  count = weighed.kept;
  double sum = weighed.total;
  if (p.top_p < 1) {
    if (!top_k_active) {
      const double floor = (sum * (1 - p.top_p)) / (2 * static_cast<double>(vocab));
      count = keep_above_weight_floor(weights, ids, count, floor);
    }
    count = keep_nucleus(ids, count, weights, scratch->keys.data(), sum, p.top_p);
    sum = sum_weights(ids, count, weights);
  }
  *total = sum;
  return filter_after_nucleus(ids, count, weights, p, scratch, total);
}

// sample.ts's draw: the first candidate whose cumulative weight passes u * total.
int draw_candidate(const int32_t* ids, int count, const double* weights, double total, double u) {
  const double target = u * total;
  double cumulative = 0;
  for (int i = 0; i < count; ++i) {
    cumulative += weights[ids[i]];
    if (target < cumulative) return ids[i];
  }
  return ids[count - 1];  // rounding left target at the very top of the range
}

}  // namespace

void RowSamplerScratch::ensure(int vocab) {
  const size_t n = static_cast<size_t>(vocab);
  if (logits.size() >= n) return;
  logits.resize(n);
  weights.resize(n);
  keys.resize(n);
  ids.resize(n);
}

int sample_row(const float* logits, int vocab, const RowSampleSpec& spec, RowSamplerScratch* scratch) {
  return sample_row_of(logits, vocab, vocab, spec, scratch);
}

int sample_row_of(const float* logits, int n, int vocab, const RowSampleSpec& spec, RowSamplerScratch* scratch) {
  if (n <= 0 || n > vocab) return kNoUsableLogits;
  scratch->ensure(n);
  const float* work = processed_row(logits, n, spec, scratch->logits.data());
  if (spec.params.temperature == 0) {  // sample.ts greedyToken
    const int best = row_argmax(work, n);
    return best < 0 || work[best] == kNegInf ? kNoUsableLogits : best;
  }
  double total = 0;
  const int count = filter_candidates(work, n, vocab, spec.params, scratch, &total);
  if (count == kNoUsableLogits) return kNoUsableLogits;
  return draw_candidate(scratch->ids.data(), count, scratch->weights.data(), total, spec.u);
}

int sample_nucleus_of(const float* logits, int n, int vocab, const RowSampleSpec& spec, float threshold,
                      double row_total, RowSamplerScratch* scratch) {
  const SamplingParams& p = spec.params;
  if (n <= 0 || n >= vocab || !(p.temperature > 0) || (p.top_k > 0 && p.top_k < vocab) || !(p.top_p < 1) ||
      !std::isfinite(threshold))
    return kNeedFullRow;
  scratch->ensure(n);
  const float* work = processed_row(logits, n, spec, scratch->logits.data());
  int32_t* ids = scratch->ids.data();
  double* weights = scratch->weights.data();
  std::iota(ids, ids + n, 0);
  const Weighed weighed = weigh_candidates(work, ids, n, p.temperature, weights);
  // The row's max must be a finite value among the candidates (it is, with the threshold finite).
  if (!weighed.usable || !std::isfinite(weighed.max) || weighed.max < threshold) return kNeedFullRow;
  // The largest weight a token outside the candidates can have: its logit is below the threshold.
  const double outside = exp_nonpositive((static_cast<double>(threshold) - weighed.max) / p.temperature);
  int count = certified_nucleus(ids, weighed.kept, weights, outside, p.top_p, row_total, vocab);
  if (count < 0) return count;  // kNeedFullRow or kNucleusPastCandidates
  double total = sum_weights(ids, count, weights);
  count = filter_after_nucleus(ids, count, weights, p, scratch, &total);
  return draw_candidate(ids, count, weights, total, spec.u);
}

}  // namespace gptneo::cpu
