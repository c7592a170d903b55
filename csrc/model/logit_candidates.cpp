// Reading the logits a kBackendLogits step left in backend memory, for the step's sampler
// (model/device_sampling.h): the candidates' query and answer (GptNeoModel::query_logit_rows,
// model/logit_queries.cpp), and whole rows.
#include <algorithm>

#include "model/gpt_neo.h"

namespace gptneo {

namespace {

// offsets: rows + 1 entries from 0, non-decreasing, ending at most at `limit`.
bool valid_offsets(const std::vector<int32_t>& offsets, int rows, size_t limit) {
  if (offsets.size() != static_cast<size_t>(rows) + 1 || offsets[0] != 0) return false;
  for (int r = 0; r < rows; ++r)
    if (offsets[r + 1] < offsets[r]) return false;
  return static_cast<size_t>(offsets[rows]) <= limit;
}

}  // namespace

Status GptNeoModel::check_candidate_query(const CandidateRequest& req) const {
  const int R = backend_logits_rows_, V = config_.vocab_size;
  GN_CHECK_ARG(R > 0, "no step left its logits in backend memory (output kBackendLogits) for candidates");
  GN_CHECK_ARG(req.need.size() == static_cast<size_t>(R), "candidate need must have one entry per logit row");
  GN_CHECK_ARG(valid_offsets(req.out_start, R, static_cast<size_t>(R) * V),
               "candidate slots must be rows + 1 non-decreasing offsets from 0");
  GN_CHECK_ARG(valid_offsets(req.extra_start, R, req.extra_ids.size()) &&
                   static_cast<size_t>(req.extra_start[R]) == req.extra_ids.size(),
               "candidate extra_start must be rows + 1 non-decreasing offsets from 0 to the extra id count");
  for (int32_t id : req.extra_ids)
    GN_CHECK_ARG(id >= 0 && id < V, "candidate extra id " + std::to_string(id) + " is outside the vocabulary");
  return Status::Ok();
}

// The query's four parts, then one answer part of words: counts [R], ids [slots], vals [slots],
// extra_vals [extras] (CandidateRows' layout).
void GptNeoModel::stage_candidate_query(const CandidateRequest& req) {
  const int R = backend_logits_rows_;
  CandidateLayout& at = candidate_layout_;
  at.rows = R;
  at.slots = static_cast<size_t>(req.out_start[R]);
  at.extras = req.extra_ids.size();
  at.need = queries_.add_query(req.need);
  at.out_start = queries_.add_query(req.out_start);
  at.extra_start = queries_.add_query(req.extra_start);
  at.extra_ids = queries_.add_query(req.extra_ids);
  at.words = queries_.add_answer((static_cast<size_t>(R) + 2 * at.slots + at.extras) * sizeof(int32_t));
}

CandidateArgs GptNeoModel::candidate_args() const {
  const CandidateLayout& at = candidate_layout_;
  CandidateArgs args;
  args.rows = at.rows;
  args.cols = config_.vocab_size;
  args.need = queries_.query_as<int32_t>(at.need);
  args.out_start = queries_.query_as<int32_t>(at.out_start);
  args.extra_start = queries_.query_as<int32_t>(at.extra_start);
  args.extra_ids = queries_.query_as<int32_t>(at.extra_ids);
  int32_t* words = queries_.answer_as<int32_t>(at.words);
  args.counts = words;
  args.ids = words + at.rows;
  args.vals = reinterpret_cast<float*>(words + at.rows + at.slots);
  args.extra_vals = reinterpret_cast<float*>(words + at.rows + 2 * at.slots);
  return args;
}

void GptNeoModel::collect_candidates(CandidateRows* out) const {
  const CandidateLayout& at = candidate_layout_;
  out->words = static_cast<const int32_t*>(queries_.answer_host(at.words));
  out->rows = at.rows;
  out->slots = at.slots;
  out->extras = at.extras;
}

Status GptNeoModel::check_logit_rows(const std::vector<int32_t>& rows) const {
  const int R = backend_logits_rows_;
  GN_CHECK_ARG(R > 0, "no step left its logits in backend memory (output kBackendLogits) to download");
  for (int32_t r : rows) GN_CHECK_ARG(r >= 0 && r < R, "logit row " + std::to_string(r) + " is not one of the step's");
  return Status::Ok();
}

Status GptNeoModel::download_logit_rows(const std::vector<int32_t>& rows, float* out) {
  GN_RETURN_IF_ERROR(check_logit_rows(rows));
  return copy_logit_rows(rows, out);
}

Status GptNeoModel::copy_logit_rows(const std::vector<int32_t>& rows, float* out) {
  const size_t V = static_cast<size_t>(config_.vocab_size);
  // Runs of consecutive rows in one copy each, queued behind the step's work, then one wait. (Into
  // ordinary memory a queued copy completes before it returns; into alloc_host's it runs at the bus rate.)
  for (size_t i = 0; i < rows.size();) {
    size_t j = i + 1;
    while (j < rows.size() && rows[j] == rows[j - 1] + 1) ++j;
    GN_RETURN_IF_ERROR(backend_->download_async(out + i * V, logits_ + static_cast<size_t>(rows[i]) * V,
                                                (j - i) * V * sizeof(float)));
    i = j;
  }
  return backend_->synchronize();
}

Status GptNeoModel::read_logit_rows(const std::vector<int32_t>& rows, const float** out) {
  GN_RETURN_IF_ERROR(check_logit_rows(rows));  // (before the block grows for a request it would refuse)
  const size_t need = rows.size() * static_cast<size_t>(config_.vocab_size);
  if (need > host_rows_capacity_) {
    if (host_rows_) backend_->release_host(host_rows_);
    host_rows_ = nullptr;
    host_rows_capacity_ = 0;
    const size_t floats = std::max<size_t>(need * 5 / 4, static_cast<size_t>(config_.vocab_size));
    void* mem = nullptr;
    GN_RETURN_IF_ERROR(backend_->alloc_host(floats * sizeof(float), &mem));
    host_rows_ = static_cast<float*>(mem);
    host_rows_capacity_ = floats;
  }
  GN_RETURN_IF_ERROR(copy_logit_rows(rows, host_rows_));
  *out = host_rows_;
  return Status::Ok();
}

}  // namespace gptneo
