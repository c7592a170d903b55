#include "cpu/device_draw.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "cuda/candidate_key.h"
#include "cuda/nucleus_draw.h"

namespace gptneo::cpu {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr int kLanes = 32, kWarps = kDrawThreads / kLanes;
static_assert(kDrawThreads % kLanes == 0, "whole warps of runs");

template <typename T>
using PerRun = std::array<T, kDrawThreads>;

// The kernel's block scan (draw.cu block_exclusive_scan), the same additions in the same order, so that
// sums and starts agree with the GPU's bit for bit but for exp: a Hillis-Steele inclusive scan within
// each warp of 32 runs, the warps' totals added in order before a run's warp, and the run's exclusive
// start in its warp. Fills *start and returns the total.
template <typename T>
T block_scan(const PerRun<T>& values, PerRun<T>* start) {
  PerRun<T> inclusive = values;
  for (int base = 0; base < kDrawThreads; base += kLanes)
    for (int d = 1; d < kLanes; d <<= 1)
      for (int l = kLanes - 1; l >= d; --l) inclusive[base + l] += inclusive[base + l - d];  // (old values: downwards)
  std::array<T, kWarps> warp_start{};
  T total = 0;
  for (int w = 0; w < kWarps; ++w) {
    warp_start[w] = total;
    total += inclusive[w * kLanes + kLanes - 1];
  }
  for (int t = 0; t < kDrawThreads; ++t) (*start)[t] = warp_start[t / kLanes] + (t % kLanes > 0 ? inclusive[t - 1] : T{0});
  return total;
}

}  // namespace

void DrawQueries::add_row_without_query() {
  if (change_start.empty()) change_start.push_back(0);
  params.insert(params.end(), kDrawParams, 0.0);
  change_start.push_back(static_cast<int32_t>(change_meta.size() / 2));
}

void DrawQueries::clear() {
  params.clear();
  change_start.assign(1, 0);
  change_meta.clear();
  change_vals.clear();
}

namespace {

// Appends the query q (kDrawParams doubles) with the spec's changes, or a row without a query when an
// id is listed twice in one list (processed_row would apply it twice). Returns whether it appended q.
bool append_query(const RowSampleSpec& s, const double* q, DrawQueries* out, std::vector<DrawChange>* scratch) {
  const SamplingParams& p = s.params;
  // One entry per list entry, sorted by id then flag: one id twice in a list is adjacent with its flag.
  std::vector<DrawChange>& c = *scratch;
  c.clear();
  for (int i = 0; i < s.bias_count; ++i) c.push_back({s.bias_ids[i], kDrawChangeBias, s.bias_values[i]});
  if (p.repetition_penalty != 1)
    for (int i = 0; i < s.seen_count; ++i) c.push_back({s.seen_ids[i], kDrawChangeSeen, 0});
  if (p.presence_penalty != 0 || p.frequency_penalty != 0)
    for (int i = 0; i < s.counts_count; ++i)
      if (s.counts[i] > 0)  // processed_row skips the others
        c.push_back({s.count_ids[i], kDrawChangeCount,
                     p.presence_penalty + p.frequency_penalty * static_cast<double>(s.counts[i])});
  std::sort(c.begin(), c.end(),
            [](const DrawChange& a, const DrawChange& b) { return a.id < b.id || (a.id == b.id && a.flags < b.flags); });
  for (size_t i = 1; i < c.size(); ++i)
    if (c[i].id == c[i - 1].id && c[i].flags == c[i - 1].flags) {
      out->add_row_without_query();
      return false;
    }
  out->params.insert(out->params.end(), q, q + kDrawParams);
  // Merged by id: the same id from two lists becomes one change with both flags.
  for (size_t i = 0; i < c.size(); ++i) {
    if (i == 0 || c[i].id != c[i - 1].id) {
      out->change_meta.insert(out->change_meta.end(), {c[i].id, 0});
      out->change_vals.insert(out->change_vals.end(), {0.0, 0.0});
    }
    out->change_meta.back() |= c[i].flags;
    if (c[i].flags == kDrawChangeBias) out->change_vals[out->change_vals.size() - 2] = c[i].value;
    if (c[i].flags == kDrawChangeCount) out->change_vals.back() = c[i].value;
  }
  out->change_start.push_back(static_cast<int32_t>(out->change_meta.size() / 2));
  return true;
}

// The temperatures the device serves: the range where 1/T and the weights stay finite and normal.
bool served_temperature(double t) { return t >= 1e-300 && t <= 1e300; }

}  // namespace

bool draw_query(const RowSampleSpec& s, int vocab, DrawQueries* out, std::vector<DrawChange>* scratch) {
  if (out->change_start.empty()) out->change_start.push_back(0);
  if (!draw_serves(s, vocab)) {
    out->add_row_without_query();
    return false;
  }
  const SamplingParams& p = s.params;
  const bool nucleus = p.top_p < 1;
  const double q[kDrawParams] = {s.u, p.temperature, 1 / p.temperature, p.min_p > 0 ? p.min_p : 0,
                                 p.min_p > 0 ? std::log(p.min_p) - 1e-9 : 0,  // filter_candidates' expression
                                 p.repetition_penalty, nucleus ? p.top_p : 0};
  return append_query(s, q, out, scratch);
}

bool draw_serves(const RowSampleSpec& s, int vocab) {
  const SamplingParams& p = s.params;
  if (!served_temperature(p.temperature) || (p.top_k > 0 && p.top_k < vocab) || p.typical_p < 1) return false;
  // Temperature rows with min-p (sample_row's full-row path and nothing but the min-p filters), or
  // top-p rows with nothing but min-p after the nucleus (the nucleus draw).
  if (p.min_p > 0 && p.min_p < 1e-300) return false;
  return p.top_p < 1 ? p.top_p > 0 : true;
}

bool sum_query(const RowSampleSpec& s, int vocab, DrawQueries* out, std::vector<DrawChange>* scratch) {
  if (out->change_start.empty()) out->change_start.push_back(0);
  const SamplingParams& p = s.params;
  // sample_row's top-p path: every token weighed (no min-p floor before the nucleus).
  if (!(served_temperature(p.temperature) && !(p.top_k > 0 && p.top_k < vocab) && p.top_p < 1)) {
    out->add_row_without_query();
    return false;
  }
  const double q[kDrawParams] = {-1, p.temperature, 1 / p.temperature, 0, 0, p.repetition_penalty};
  return append_query(s, q, out, scratch);
}

namespace {

// The nucleus draw (cuda/nucleus_draw.h) in the kernel's order, after pass 1 gave the row's max m: the
// four radix passes, the last pass in double (which also sums the row: *total, S', as pass 2 would, and,
// with min-p, the weights it keeps), the certificate, min-p's cut, the draw.
int nucleus_row(const float* row, int vocab, const double* params, const int32_t* meta, const double* vals,
                int change_count, double m, double* total, double margin_scale) {
  thread_local std::vector<float> work;  // the processed row (the kernel recomputes it in every pass)
  work.resize(static_cast<size_t>(vocab));
  int next = 0;
  for (int i = 0; i < vocab; ++i) work[i] = draw_processed_at(row, i, meta, vals, change_count, &next, params[kDrawPenalty]);
  const double top_p = params[kDrawTopP], scale = nucleus_mass_scale(vocab);

  // The radix passes: K, the boundary key, from the top byte down (integer sums: order-free).
  uint32_t prefix = 0;
  NucleusMass goal = 0;
  for (int pass = 0; pass < kNucleusPasses; ++pass) {
    std::array<NucleusMass, kRadixBins> hist{};
    for (int i = 0; i < vocab; ++i) {
      const uint32_t key = candidate_key(work[i]);
      if (nucleus_in_prefix(key, prefix, pass))
        hist[nucleus_digit(key, pass)] += nucleus_mass(work[i], m, params[kDrawInvTemperature], scale);
    }
    if (pass == 0) {
      NucleusMass all = 0;
      for (NucleusMass h : hist) all += h;
      goal = nucleus_goal(all, top_p);
    }
    // The warp's pick: the lane whose bins hold the crossing, then the bin within it.
    NucleusMass before = 0, above = 0;
    int bin = -1;
    for (int lane = 0; lane < kLanes && bin < 0; ++lane) {
      const NucleusMass mass = nucleus_lane_mass(hist.data(), lane);
      if (before < goal && goal <= before + mass && !nucleus_lane_pick(hist.data(), lane, before, goal, &bin, &above))
        return kDrawUncertain;
      before += mass;
    }
    if (bin < 0) return kDrawUncertain;  // (no crossing: cannot happen with goal <= the mass; *total stays NaN)
    prefix |= static_cast<uint32_t>(bin) << (24 - 8 * pass);
    goal -= above;
  }

  // The last pass, in double: each run's weight sum (pass 2's), its weight above K and its K-group count;
  // the boundary's facts.
  const int run = (vocab + kDrawThreads - 1) / kDrawThreads;
  const double min_p = params[kDrawMinP];
  PerRun<double> all{}, all_start{}, above{}, above_start{}, kept_sum{}, kept_start{};
  PerRun<int> group{}, group_start{};
  NucleusBoundary b;
  b.min_above = std::numeric_limits<double>::infinity();
  bool ignored = false, near_min_p = false;
  int kept_all = 0;
  for (int t = 0; t < kDrawThreads; ++t) {
    const int begin = std::min(vocab, t * run), end = std::min(vocab, begin + run);
    for (int i = begin; i < end; ++i) {
      const uint32_t key = candidate_key(work[i]);
      const double w = draw_weight_unfiltered(work[i], m, params);
      if (w > 0) all[t] += w;
      if (min_p > 0) {
        const double kept = draw_weight(work[i], m, params, &near_min_p);
        if (kept > 0) {
          kept_sum[t] += kept;
          ++kept_all;
        }
      }
      if (key > prefix) {
        above[t] += w;
        b.min_above = std::min(b.min_above, w);
        ++b.count_above;
      } else if (key == prefix) {
        ++group[t];
        b.w_k = w;
      } else {
        b.max_below = std::max(b.max_below, w);
      }
    }
  }
  *total = block_scan(all, &all_start);
  b.above = block_scan(above, &above_start);
  b.count_k = block_scan(group, &group_start);
  const double kept_total = block_scan(kept_sum, &kept_start);
  const int cut = nucleus_min_p(b.w_k, b.count_above == 0, min_p, near_min_p);
  const int take = nucleus_take(b, top_p * *total, margin_scale * draw_margin(vocab, *total));
  if (take == 0 || cut == kNucleusMinPUncertain) return kDrawUncertain;
  const bool by_min_p = cut == kNucleusCutByMinP;

  // The nucleus: everything above K and the K group's `take` lowest ids; each run's share, scanned. (Cut
  // by min-p: the tokens it keeps, scanned above.)
  PerRun<double> share{}, start{};
  for (int t = 0; t < kDrawThreads; ++t)
    share[t] = by_min_p ? kept_sum[t] : above[t] + static_cast<double>(std::clamp(take - group_start[t], 0, group[t])) * b.w_k;
  const double nucleus_total = by_min_p ? kept_total : block_scan(share, &start);
  if (by_min_p) start = kept_start;
  const double target = params[kDrawU] * nucleus_total;
  const double delta = margin_scale * draw_margin(by_min_p ? kept_all : b.count_above + take, nucleus_total);
  for (int t = 0; t < kDrawThreads; ++t) {
    if (!(share[t] > 0 && start[t] <= target && target < start[t] + share[t])) continue;
    const int begin = std::min(vocab, t * run), end = std::min(vocab, begin + run);
    double cumulative = start[t];
    int rank = group_start[t];  // the K-group rank of the run's next group token
    for (int i = begin; i < end; ++i) {
      double w;
      if (by_min_p) {
        w = draw_weight(work[i], m, params, &ignored);
        if (!(w > 0)) continue;
      } else {
        const uint32_t key = candidate_key(work[i]);
        if (key < prefix || (key == prefix && rank++ >= take)) continue;
        w = draw_weight_unfiltered(work[i], m, params);
      }
      const double before = cumulative;
      cumulative += w;
      if (target < cumulative) return before + delta <= target && target < cumulative - delta ? i : kDrawUncertain;
    }
    return kDrawUncertain;  // rounding left the target past the run's last token
  }
  return kDrawUncertain;
}

}  // namespace

int draw_row(const float* row, int vocab, const double* params, const int32_t* meta, const double* vals,
             int change_count, double* sum_out, double margin_scale) {
  *sum_out = std::numeric_limits<double>::quiet_NaN();
  if (!(params[kDrawTemperature] > 0)) return kDrawDeclined;  // a row without a query
  const double top_p = params[kDrawTopP];
  if (top_p != 0 && !(top_p > 0 && top_p < 1)) return kDrawDeclined;  // (not a query draw_query makes)
  const int run = (vocab + kDrawThreads - 1) / kDrawThreads;
  const double penalty = params[kDrawPenalty];
  // Pass 1: the processed row's max; NaN or +Infinity anywhere declines the row.
  float max = -kInf;
  int next = 0;
  for (int i = 0; i < vocab; ++i) {
    const float raw = row[i];
    const float v = draw_processed_at(row, i, meta, vals, change_count, &next, penalty);
    if (raw != raw || v != v || v == kInf) return kDrawDeclined;
    max = v > max ? v : max;
  }
  if (max == -kInf) return kDrawDeclined;
  const double m = max;
  if (top_p > 0) return nucleus_row(row, vocab, params, meta, vals, change_count, m, sum_out, margin_scale);

  // Pass 2: each run's weight sum and kept count, then the runs' exclusive prefix.
  PerRun<double> sums{}, prefix{};
  bool uncertain = false;
  int kept = 0;
  for (int t = 0; t < kDrawThreads; ++t) {
    const int begin = std::min(vocab, t * run), end = std::min(vocab, begin + run);
    int at = draw_first_change(meta, 0, change_count, begin);
    double sum = 0;
    for (int i = begin; i < end; ++i) {
      const double w = draw_weight(draw_processed_at(row, i, meta, vals, change_count, &at, penalty), m, params, &uncertain);
      if (w > 0) {
        sum += w;
        ++kept;
      }
    }
    sums[t] = sum;
  }
  const double total = block_scan(sums, &prefix);
  *sum_out = total;
  if (params[kDrawU] < 0) return kDrawSummed;
  if (uncertain) return kDrawUncertain;
  const double target = params[kDrawU] * total;
  const double delta = margin_scale * draw_margin(kept, total);

  // The run holding the target, walked token by token.
  for (int t = 0; t < kDrawThreads; ++t) {
    if (!(sums[t] > 0 && prefix[t] <= target && target < prefix[t] + sums[t])) continue;
    const int begin = std::min(vocab, t * run), end = std::min(vocab, begin + run);
    int at = draw_first_change(meta, 0, change_count, begin);
    double cumulative = prefix[t];
    for (int i = begin; i < end; ++i) {
      bool ignored = false;
      const double w = draw_weight(draw_processed_at(row, i, meta, vals, change_count, &at, penalty), m, params, &ignored);
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
