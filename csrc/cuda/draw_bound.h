// The device draw's per-token arithmetic and its error bound (cuda/draw.cu, its host emulation
// cpu/device_draw.h): shared by both so that the kernel and the host run the same expressions.
//
// A row's query is kDrawParams doubles (the layout below) and a list of the ids whose logits bias
// and penalties change (ascending, distinct), each with flags saying which changes apply and the two
// amounts they use; cpu::draw_query builds both from a RowSampleSpec.
//
// Why the draw is exact where it reports a token (the argument in full: cpu/device_draw.h): every
// quantity the decision compares is within a bound of sample_row's, and the kernel reports a token
// only when its comparisons clear the bound with room to spare.
#pragma once
#include <cmath>
#include <cstdint>

#include "cuda/host_device.h"

namespace gptneo {

// A row's query: kDrawParams doubles.
constexpr int kDrawU = 0;                // the request's uniform in [0, 1); -1: a sum query (no draw)
constexpr int kDrawTemperature = 1;      // T > 0; 0: no query for this row (answer kDrawDeclined)
constexpr int kDrawInvTemperature = 2;   // 1 / T
constexpr int kDrawMinP = 3;             // 0: min-p off
constexpr int kDrawLogitFloor = 4;       // with min-p: sample_row's floor on (l - M) / T, log(min_p) - 1e-9
constexpr int kDrawPenalty = 5;          // the repetition penalty (for changes flagged kDrawChangeSeen)
constexpr int kDrawTopP = 6;             // top-p in (0, 1): the nucleus draw (cuda/nucleus_draw.h; min-p, when set,
                                         // then applies to the nucleus); 0: off
constexpr int kDrawParams = 7;

// A change's flags (applied in this order, as sample_row's processed_row applies its lists).
constexpr int32_t kDrawChangeBias = 1;   // l += bias
constexpr int32_t kDrawChangeSeen = 2;   // repetition penalty: l < 0 ? l * penalty : l / penalty
constexpr int32_t kDrawChangeCount = 4;  // presence/frequency: l -= amount

// Per row, the kernel's answer: a token id >= 0, or one of these (the host then samples the whole row).
constexpr int32_t kDrawUncertain = -3;  // the draw or a min-p decision fell within the bound of a boundary
constexpr int32_t kDrawDeclined = -4;   // NaN or +Infinity in the row, or no finite logit
constexpr int32_t kDrawSummed = -5;     // a sum query's answer: the row's weight sum is in the sums output

// Threads per row (the kernel's block; the emulation cuts the row into as many runs).
constexpr int kDrawThreads = 512;

// A changed id's processed logit, as processed_row computes it: each update a double expression
// rounded to float once. (NaN rows never get here: the draw declines them.)
GN_HD float draw_processed(float raw, int32_t flags, double bias, double amount, double penalty) {
  float v = raw;
  if (flags & kDrawChangeBias) v = static_cast<float>(static_cast<double>(v) + bias);
  if (flags & kDrawChangeSeen) {
    const double l = v;
    v = static_cast<float>(l < 0 ? l * penalty : l / penalty);
  }
  if (flags & kDrawChangeCount) v = static_cast<float>(static_cast<double>(v) - amount);
  return v;
}

// The first of the changes [begin, end) (meta: id, flags pairs, ids ascending) whose id is >= id.
GN_HD int draw_first_change(const int32_t* meta, int begin, int end, int id) {
  while (begin < end) {
    const int mid = (begin + end) >> 1;
    if (meta[2 * mid] < id) begin = mid + 1;
    else end = mid;
  }
  return begin;
}

// Element i's logit, processed when it has a change: *at walks the changes (before `end`; meta: id,
// flags; vals: bias, amount) alongside ascending i.
GN_HD float draw_processed_at(const float* row, int i, const int32_t* meta, const double* vals, int end, int* at,
                              double penalty) {
  const float raw = row[i];
  while (*at < end && meta[2 * *at] < i) ++*at;
  if (*at < end && meta[2 * *at] == i)
    return draw_processed(raw, meta[2 * *at + 1], vals[2 * *at], vals[2 * *at + 1], penalty);
  return raw;
}

// How far (relative) a weight may be from sample_row's before a min-p decision on it is uncertain:
// the weights differ by at most ~2250 * 2^-53 (cpu/device_draw.h), 2^-36 is 58x that.
constexpr double kDrawMinPMargin = 0x1p-36;

// Token weight under the row's max `max` (finite) before any min-p: e^x with x = (v - max) / T computed
// with 1/T (within 2 rounding errors of the quotient, inside the bound).
GN_HD double draw_weight_unfiltered(float v, double max, const double* p) {
  return ::exp((static_cast<double>(v) - max) * p[kDrawInvTemperature]);
}

// Token weight under the row's max `max` (finite): 0 when sample_row drops the token (min-p), else
// e^x with x = (v - max) / T (draw_weight_unfiltered without min-p); with min-p the floor decision needs
// the quotient itself. Sets *uncertain when min-p's weight decision is within kDrawMinPMargin of its
// threshold — except at x = 0 (a token at the row's max), whose weight is exactly 1 on both sides, as is
// the top weight sample_row scales min-p by: kept exactly when min_p <= 1 (so min-p 1 keeps the top).
GN_HD double draw_weight(float v, double max, const double* p, bool* uncertain) {
  const double min_p = p[kDrawMinP];
  if (min_p > 0) {
    const double x = (static_cast<double>(v) - max) / p[kDrawTemperature];
    if (x == 0 && min_p <= 1) return 1;
    if (!(x >= p[kDrawLogitFloor])) return 0;
    const double w = ::exp(x);
    if (::fabs(w - min_p) <= kDrawMinPMargin * min_p) *uncertain = true;
    return w >= min_p ? w : 0;
  }
  return draw_weight_unfiltered(v, max, p);
}

// The margin δ a certified draw keeps from both ends of its token's interval, for n kept tokens whose
// weights sum to s (the device's sum): 2^-46 (n + 2048) s, over 30x the bound on how far the device's
// target and cumulative sums can be from sample_row's (cpu/device_draw.h).
GN_HD double draw_margin(int n, double s) { return (static_cast<double>(n) + 2048.0) * 0x1p-46 * s; }

}  // namespace gptneo
