#include "model/device_sampling.h"

#include <algorithm>
#include <string>

#include "cpu/nucleus_bound.h"

namespace gptneo {

namespace {

// Slots per row for a need: the need plus room for ties with the need-th value.
int32_t slots_for(int need, int vocab) { return need <= 0 ? 0 : std::min(vocab, 2 * need + 64); }

}  // namespace

void DeviceRowSampler::adapt_nucleus(int tried, int served, int past, int vocab) {
  if (tried == 0) return;
  const bool can_grow = nucleus_candidates_ * 2 <= kNucleusCandidatesMost && nucleus_candidates_ * 2 < vocab / 4;
  if (past > 0) steps_within_candidates_ = 0;
  if (past > 0 && can_grow) {
    nucleus_candidates_ *= 2;  // retry at once with more
  } else if (served == 0) {
    nucleus_skip_ = nucleus_backoff_;
    nucleus_backoff_ = std::min(64, 2 * nucleus_backoff_);
  }
  if (served > 0) nucleus_backoff_ = 1;
  if (past == 0 && ++steps_within_candidates_ >= 64 && nucleus_candidates_ > kNucleusCandidatesLeast) {
    nucleus_candidates_ /= 2;
    steps_within_candidates_ = 0;
  }
}

bool DeviceRowSampler::build_draw_queries(int rows, int V) {
  DrawRequest& q = draw_request_;
  q.clear();
  bool any = false;
  for (int r = 0; r < rows; ++r) {
    const bool drawn = cpu::draw_serves(specs_[r], V);  // temperature rows, and top-p rows without typical-p
    if (request_.need[r] > 0) {
      q.add_row_without_query();  // the candidates serve it
    } else if (const int need = drawn ? 0 : cpu::nucleus_need(specs_[r], V, nucleus_candidates_); need > 0) {
      // A top-p row: the device sums its weights, the candidates hold its nucleus (unless backing off).
      if (nucleus_skip_ > 0) {
        q.add_row_without_query();
      } else if (cpu::sum_query(specs_[r], V, &q, &draw_scratch_)) {
        nucleus_[r] = 1;
        request_.need[r] = need;
        any = true;
      }
    } else {
      any = cpu::draw_query(specs_[r], V, &q, &draw_scratch_) || any;
    }
  }
  return any;
}

Status DeviceRowSampler::read_draws(int rows, int V, int32_t* out, int* drawn) {
  const DrawRequest& q = draw_request_;
  for (int r = 0; r < rows; ++r) {
    if (!q.has_query(r)) continue;
    if (drawn_[r] >= V) return Internal("the device draw answered token " + std::to_string(drawn_[r]) + " for row " +
                                        std::to_string(r) + ", outside the vocabulary");
    if (nucleus_[r]) {
      if (drawn_[r] != kDrawSummed && drawn_[r] != kDrawDeclined)
        return Internal("the device answered a sum query with " + std::to_string(drawn_[r]));
      if (drawn_[r] == kDrawDeclined) {  // NaN or +Infinity: sampled whole (its candidates go unused)
        nucleus_[r] = 0;
        request_.need[r] = 0;
      }
    } else if (drawn_[r] >= 0) {
      out[r] = drawn_[r];
      ++*drawn;
      if (specs_[r].params.top_p < 1) ++stats_.drawn_nucleus_rows;
    } else if (drawn_[r] == kDrawUncertain) {
      ++stats_.uncertain_draws;
    }
  }
  return Status::Ok();
}

Status DeviceRowSampler::sample(GptNeoModel& model, int rows, const std::function<cpu::RowSampleSpec(int)>& spec,
                                ThreadPool& pool, int32_t* out) {
  const int V = model.config().vocab_size;
  specs_.resize(static_cast<size_t>(rows));
  request_.need.assign(static_cast<size_t>(rows), 0);
  nucleus_.assign(static_cast<size_t>(rows), 0);
  for (int r = 0; r < rows; ++r) {
    specs_[r] = spec(r);
    request_.need[r] = cpu::candidate_need(specs_[r], V);
  }
  std::fill(out, out + rows, cpu::kNeedFullRow);
  // The draw's queries first: they give the top-p rows they serve a candidate need.
  const bool any_draw = draw_ && build_draw_queries(rows, V);
  if (nucleus_skip_ > 0) --nucleus_skip_;
  request_.out_start.assign(1, 0);
  request_.extra_start.assign(1, 0);
  request_.extra_ids.clear();
  bool any = false;
  for (int r = 0; r < rows; ++r) {
    const int need = request_.need[r];
    any = any || need > 0;
    // The ids this row's bias and penalties change: their logits come back as the request's extras.
    if (need > 0) cpu::changed_ids(specs_[r], &request_.extra_ids);
    request_.out_start.push_back(request_.out_start.back() + slots_for(need, V));
    request_.extra_start.push_back(static_cast<int32_t>(request_.extra_ids.size()));
  }
  // One round trip for both: the draw and the candidates launched back to back.
  if (any_draw || any)
    GN_RETURN_IF_ERROR(model.query_logit_rows(any_draw ? &draw_request_ : nullptr, &drawn_, &sums_,
                                              any ? &request_ : nullptr, &candidates_));
  int drawn = 0, nucleus = 0;
  if (any_draw) GN_RETURN_IF_ERROR(read_draws(rows, V, out, &drawn));
  if (any) {
    if (candidate_scratch_.size() < static_cast<size_t>(pool.size())) candidate_scratch_.resize(pool.size());
    const CandidateRows& c = candidates_;
    pool.run(rows, [&](int r, int worker) {
      const int first = request_.out_start[r], slots = request_.out_start[r + 1] - first;
      if (request_.need[r] <= 0 || c.counts()[r] > slots) return;  // out[r] stays kNeedFullRow
      const int e = request_.extra_start[r], extras = request_.extra_start[r + 1] - e;
      if (nucleus_[r]) {
        out[r] = cpu::sample_nucleus_candidates(c.ids() + first, c.vals() + first, c.counts()[r],
                                                request_.extra_ids.data() + e, c.extra_vals() + e, extras, V,
                                                specs_[r], sums_[r], &candidate_scratch_[worker]);
      } else {
        out[r] = cpu::sample_candidates(c.ids() + first, c.vals() + first, c.counts()[r], request_.extra_ids.data() + e,
                                        c.extra_vals() + e, extras, V, specs_[r], &candidate_scratch_[worker]);
      }
    });
    int tried = 0, past = 0;
    for (int r = 0; r < rows; ++r) {
      if (!nucleus_[r]) continue;
      ++tried;
      if (out[r] == cpu::kNucleusPastCandidates) {
        ++past;
        out[r] = cpu::kNeedFullRow;
      }
      nucleus += out[r] != cpu::kNeedFullRow;
    }
    stats_.nucleus_misses += static_cast<uint64_t>(tried - nucleus);
    adapt_nucleus(tried, nucleus, past, V);
  }
  full_rows_.clear();
  for (int r = 0; r < rows; ++r)
    if (out[r] == cpu::kNeedFullRow) full_rows_.push_back(r);
  stats_.candidate_rows += static_cast<uint64_t>(rows) - full_rows_.size() - static_cast<uint64_t>(drawn + nucleus);
  stats_.drawn_rows += static_cast<uint64_t>(drawn);
  stats_.nucleus_rows += static_cast<uint64_t>(nucleus);
  stats_.full_rows += full_rows_.size();
  if (full_rows_.empty()) return Status::Ok();
  const float* full = nullptr;  // [full_rows_.size(), V], the model's (page-locked on CUDA) block
  GN_RETURN_IF_ERROR(model.read_logit_rows(full_rows_, &full));
  if (row_scratch_.size() < static_cast<size_t>(pool.size())) row_scratch_.resize(pool.size());
  pool.run(static_cast<int>(full_rows_.size()), [&](int i, int worker) {
    const int r = full_rows_[i];
    out[r] = cpu::sample_row(full + static_cast<size_t>(i) * V, V, specs_[r], &row_scratch_[worker]);
  });
  return Status::Ok();
}

}  // namespace gptneo
