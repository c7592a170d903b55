#include "cpu/nucleus_bound.h"

#include <algorithm>
#include <cmath>

#include "cpu/mass_select.h"
#include "cpu/row_sampler.h"
#include "cuda/draw_bound.h"

namespace gptneo::cpu {

int certified_nucleus(int32_t* ids, int count, const double* weights, double outside, double top_p,
                      double row_total, int vocab, double margin_scale) {
  if (count <= 0 || !(row_total > 0) || !std::isfinite(row_total) || !(top_p >= 0 && top_p < 1))
    return kNeedFullRow;
  // The ranking's head, one token at a time: a heap whose top is the best-ranked token left (weight
  // descending, lower id first); popped tokens collect at the end of ids, best first from the back.
  const auto ranks_after = [weights](int32_t a, int32_t b) {
    return weights[a] < weights[b] || (weights[a] == weights[b] && a > b);
  };
  std::make_heap(ids, ids + count, ranks_after);
  const double limit = top_p * row_total;
  const double margin = margin_scale * draw_margin(vocab, row_total);
  int kept = 0;
  double before = 0;
  for (int end = count; end > 0; --end) {
    std::pop_heap(ids, ids + end, ranks_after);
    ++kept;
    const double after = before + weights[ids[end - 1]];
    if (!(limit > 0)) break;  // select_leading_mass keeps the first-ranked token alone
    if (after >= limit) {
      if (!(before + margin <= limit && limit <= after - margin)) return kNeedFullRow;  // too close to call
      break;
    }
    before = after;
    if (end == 1) return kNucleusPastCandidates;  // the candidates' mass does not reach the limit
  }
  // The nucleus is ids[count - kept, count), its last-ranked token first.
  if (!(weights[ids[count - kept]] > outside * (1 + 0x1p-40))) return kNucleusPastCandidates;  // a token outside could rank inside
  std::copy(ids + count - kept, ids + count, ids);
  sort_distinct_ids(ids, kept);
  return kept;
}

}  // namespace gptneo::cpu
