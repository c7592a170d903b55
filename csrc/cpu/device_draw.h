// Drawing a sampled row's token where its logits are (the device draw, cuda/draw.cu), for the rows
// the candidate prefilter cannot serve because their token depends on the whole row: temperature
// sampling without top-k, top-p or typical-p (OpenAI's default), min-p allowed, and top-p without
// top-k or typical-p, min-p allowed (the nucleus draw, cuda/nucleus_draw.h), with any bias and penalties. The
// host sends the row's uniform and options and gets one token back instead of 201 KB.
//
// Exactness by certificate. sample_row weighs every kept token w_i = E((l_i - M) / T) (double; E its
// own exp, relative error < 2^-52; M the row's max), sums them (S, four partial sums), and returns
// the first token i in id order whose cumulative weight C_i (a left-to-right sum) exceeds
// target = u·S. The device computes w'_i with the CUDA exp (1 ulp) and (l_i - M)·(1/T) (two
// roundings, so an extra relative error 2·2^-53·|x| in the weight, |x| <= 746 for a nonzero weight),
// and sums in its own order (a scan over runs). Writing e = 2^-53 and n for the kept tokens, any
// order of summing n nonnegative terms is within (n - 1)e of the exact sum (relative), so
//   |C'_i - C_i| <= ((n - 1)e + (2 + 1494)e + (n - 1)e + (2 + 746)e)·S <= (2n + 2244)e·S,
//   |target' - target| <= |S' - S| + 2e·S <= (2n + 2246)e·S,
// and every comparison sample_row makes (target < C_i) is decided the same way by the device when
// the two sides differ by more than B = (4n + 4490)e·S. The device reports token i only when
// C'_{i-1} + δ <= target' < C'_i - δ with δ = 2^-46 (n + 2048) S' (draw_bound.h draw_margin; more than
// 30 B for every n, S' within B of S): then C_{i-1} <= target < C_i, and C is nondecreasing (a sum of
// nonnegative terms rounded to nearest never decreases), so sample_row returns i. Otherwise it
// reports kDrawUncertain and the row is sampled whole; over uniform u that happens with probability
// about 2nδ/S (7.5e-5 for GPT-2's vocabulary). Min-p's first cut ((l - M) / T >= log(min_p) - 1e-9)
// is computed with the same IEEE operations on both sides; its second (w >= min_p) is uncertain within
// kDrawMinPMargin. Rows with NaN or +Infinity logits, or none finite, are declined (kDrawDeclined).
// The same pass answers sum queries: S' itself, within (2n + 2244)e·S of S (the bound on C'_i at the
// last token), for top-p rows (cpu/nucleus_bound.h).
#pragma once
#include <cstdint>
#include <vector>

#include "cpu/row_sampler.h"
#include "cuda/draw_bound.h"

namespace gptneo::cpu {

// Queries of a step's rows in the device layout (cuda/draw_bound.h), what Backend::draw_rows reads:
// row r's changes are change_meta / change_vals pairs [change_start[r], change_start[r + 1]).
struct DrawQueries {
  std::vector<double> params;         // [rows, kDrawParams]; temperature 0: no query
  std::vector<int32_t> change_start;  // [rows + 1], from 0
  std::vector<int32_t> change_meta;   // [changes, 2]: id (ascending within a row), flags
  std::vector<double> change_vals;    // [changes, 2]: bias, amount (presence + frequency * count)
  void clear();
  void add_row_without_query();
  bool has_query(int r) const { return params[static_cast<size_t>(r) * kDrawParams + kDrawTemperature] > 0; }
};

// One change while a query is built (draw_query's sort buffer).
struct DrawChange {
  int32_t id = 0;
  int32_t flags = 0;
  double value = 0;  // the bias or the amount, by flags
};

// Appends the row's query to *out and returns true when the device draw serves the row (draw_serves,
// and no id listed twice in one of the spec's lists: processed_row would apply it twice); else appends
// a row without a query (temperature 0) and returns false. `scratch`: reusable working memory.
bool draw_query(const RowSampleSpec& spec, int vocab, DrawQueries* out, std::vector<DrawChange>* scratch);

// Whether the device draw serves the row's options: temperature in [1e-300, 1e300], top-k off,
// typical-p off, min-p 0 or at least 1e-300, and top-p off or in (0, 1) (the nucleus draw, min-p then
// applied to the nucleus; top-p rows with typical-p go through nucleus_bound.h instead).
bool draw_serves(const RowSampleSpec& spec, int vocab);

// Appends a sum query for a top-p row without top-k (the device's sum of the row's weights after bias
// and penalties, for cpu/nucleus_bound.h) and returns true; else appends a row without a query and
// returns false. The same refusals as draw_query, but top-p is what it serves (min-p and typical-p
// allowed: sample_row applies them after the nucleus, on the host).
bool sum_query(const RowSampleSpec& spec, int vocab, DrawQueries* out, std::vector<DrawChange>* scratch);

// The device draw on the host, in the kernel's order (kDrawThreads runs, a scan of their sums, a
// walk of the run holding the target; for a nucleus draw the radix passes and the certificate of
// cuda/nucleus_draw.h first) with std::exp: a token id, kDrawUncertain, kDrawDeclined (also for a row
// without a query, params[kDrawTemperature] == 0, and for a top-p outside [0, 1)) or, for
// a sum query, kDrawSummed.
// *sum: the row's weight sum S' (NaN when declined). params: the row's kDrawParams; meta / vals: its
// change_count changes in the DrawQueries layout.
// `margin_scale` multiplies δ (1 in use; tests set 0 to show that the margin is what keeps it exact).
int draw_row(const float* row, int vocab, const double* params, const int32_t* meta, const double* vals,
             int change_count, double* sum, double margin_scale = 1);

}  // namespace gptneo::cpu
