#include "cpu/device_draw.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gptneo::cpu {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Adds `flag` to the change of each listed id (ids of one list distinct, else false).
bool add_changes(const int32_t* ids, int count, int32_t flag, const double* values, std::vector<DrawChange>* out) {
  for (int i = 0; i < count; ++i) {
    DrawChange c;
    c.id = ids[i];
    c.flags = flag;
    if (flag == kDrawChangeBias) c.bias = values[i];
    if (flag == kDrawChangeCount) c.amount = values[i];
    out->push_back(c);
  }
  // Merge by id: the same id from two lists becomes one change with both flags; twice in one list
  // would be applied twice by processed_row, which one change cannot say.
  std::stable_sort(out->begin(), out->end(), [](const DrawChange& a, const DrawChange& b) { return a.id < b.id; });
  size_t kept = 0;
  for (size_t i = 0; i < out->size(); ++i) {
    DrawChange& c = (*out)[i];
    if (kept > 0 && (*out)[kept - 1].id == c.id) {
      DrawChange& m = (*out)[kept - 1];
      if (m.flags & c.flags) return false;
      m.flags |= c.flags;
      if (c.flags & kDrawChangeBias) m.bias = c.bias;
      if (c.flags & kDrawChangeCount) m.amount = c.amount;
    } else {
      (*out)[kept++] = c;
    }
  }
  out->resize(kept);
  return true;
}

// The changed value of element i, walking the row's ascending changes with *next.
inline float processed_at(const float* row, int i, const DrawChange* changes, int change_count, int* next,
                          double penalty) {
  while (*next < change_count && changes[*next].id < i) ++*next;
  if (*next < change_count && changes[*next].id == i) {
    const DrawChange& c = changes[*next];
    return draw_processed(row[i], c.flags, c.bias, c.amount, penalty);
  }
  return row[i];
}

int first_change_at_or_after(const DrawChange* changes, int change_count, int id) {
  return static_cast<int>(std::lower_bound(changes, changes + change_count, id,
                                           [](const DrawChange& c, int v) { return c.id < v; }) -
                          changes);
}

}  // namespace

bool draw_query(const RowSampleSpec& s, int vocab, double* params, std::vector<DrawChange>* changes) {
  const SamplingParams& p = s.params;
  // The rows sample_row samples with its full-row path and nothing but the min-p filters.
  if (!(p.temperature >= 1e-300 && p.temperature <= 1e300)) return false;
  if (p.top_k > 0 && p.top_k < vocab) return false;
  if (p.top_p < 1 || p.typical_p < 1) return false;
  if (p.min_p > 0 && p.min_p < 1e-300) return false;
  params[kDrawU] = s.u;
  params[kDrawTemperature] = p.temperature;
  params[kDrawInvTemperature] = 1 / p.temperature;
  params[kDrawMinP] = p.min_p > 0 ? p.min_p : 0;
  params[kDrawLogitFloor] = p.min_p > 0 ? std::log(p.min_p) - 1e-9 : 0;  // filter_candidates' expression
  params[kDrawPenalty] = p.repetition_penalty;
  changes->clear();
  if (!add_changes(s.bias_ids, s.bias_count, kDrawChangeBias, s.bias_values, changes)) return false;
  if (p.repetition_penalty != 1 && !add_changes(s.seen_ids, s.seen_count, kDrawChangeSeen, nullptr, changes))
    return false;
  if (p.presence_penalty != 0 || p.frequency_penalty != 0) {
    std::vector<int32_t> ids;
    std::vector<double> amounts;
    for (int i = 0; i < s.counts_count; ++i) {
      if (s.counts[i] <= 0) continue;  // processed_row skips them
      ids.push_back(s.count_ids[i]);
      amounts.push_back(p.presence_penalty + p.frequency_penalty * static_cast<double>(s.counts[i]));
    }
    if (!add_changes(ids.data(), static_cast<int>(ids.size()), kDrawChangeCount, amounts.data(), changes))
      return false;
  }
  return true;
}

void draw_changes_from(const int32_t* meta, const double* vals, int begin, int end, std::vector<DrawChange>* out) {
  out->resize(static_cast<size_t>(end - begin));
  for (int i = begin; i < end; ++i) {
    DrawChange& c = (*out)[i - begin];
    c.id = meta[2 * i];
    c.flags = meta[2 * i + 1];
    c.bias = vals[2 * i];
    c.amount = vals[2 * i + 1];
  }
}

int draw_row(const float* row, int vocab, const double* params, const DrawChange* changes, int change_count,
             double margin_scale) {
  if (!(params[kDrawTemperature] > 0)) return kDrawDeclined;  // a row without a query
  const int run = (vocab + kDrawThreads - 1) / kDrawThreads;
  const double penalty = params[kDrawPenalty];
  // Pass 1: the processed row's max; NaN or +Infinity anywhere declines the row.
  float max = -kInf;
  int next = 0;
  for (int i = 0; i < vocab; ++i) {
    const float raw = row[i];
    const float v = processed_at(row, i, changes, change_count, &next, penalty);
    if (raw != raw || v != v || v == kInf) return kDrawDeclined;
    max = v > max ? v : max;
  }
  if (max == -kInf) return kDrawDeclined;
  const double m = max;

  // Pass 2: each run's weight sum and kept count, then the runs' exclusive prefix.
  std::vector<double> sums(kDrawThreads, 0.0), prefix(kDrawThreads, 0.0);
  bool uncertain = false;
  int kept = 0;
  for (int t = 0; t < kDrawThreads; ++t) {
    const int begin = std::min(vocab, t * run), end = std::min(vocab, begin + run);
    int at = first_change_at_or_after(changes, change_count, begin);
    double sum = 0;
    for (int i = begin; i < end; ++i) {
      const double w = draw_weight(processed_at(row, i, changes, change_count, &at, penalty), m, params, &uncertain);
      if (w > 0) {
        sum += w;
        ++kept;
      }
    }
    sums[t] = sum;
  }
  double total = 0;
  for (int t = 0; t < kDrawThreads; ++t) {
    prefix[t] = total;
    total += sums[t];
  }
  if (uncertain) return kDrawUncertain;
  const double target = params[kDrawU] * total;
  const double delta = margin_scale * draw_margin(kept, total);

  // The run holding the target, walked token by token.
  for (int t = 0; t < kDrawThreads; ++t) {
    if (!(sums[t] > 0 && prefix[t] <= target && target < prefix[t] + sums[t])) continue;
    const int begin = std::min(vocab, t * run), end = std::min(vocab, begin + run);
    int at = first_change_at_or_after(changes, change_count, begin);
    double cumulative = prefix[t];
    for (int i = begin; i < end; ++i) {
      bool ignored = false;
      const double w = draw_weight(processed_at(row, i, changes, change_count, &at, penalty), m, params, &ignored);
      if (!(w > 0)) continue;
      const double before = cumulative;
      cumulative += w;
      if (target < cumulative) return before + delta <= target && target < cumulative - delta ? i : kDrawUncertain;
    }
    return kDrawUncertain;  // rounding left the target past the run's last token
  }
  return kDrawUncertain;  // past the total, or on no run
}

}  // namespace gptneo::cpu
