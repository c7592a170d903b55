// GptNeoModel::select_logit_candidates / download_logit_rows: reading the logits a kBackendLogits
// step left in backend memory, for the step's sampler (model/device_sampling.h).
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

Status GptNeoModel::select_logit_candidates(const CandidateRequest& req, CandidateRows* out) {
  GN_RETURN_IF_ERROR(upload_candidate_query(req));
  GN_RETURN_IF_ERROR(backend_->select_candidates(logits_, candidate_args_));
  GN_RETURN_IF_ERROR(backend_->synchronize());
  return collect_candidates(out);
}

Status GptNeoModel::upload_candidate_query(const CandidateRequest& req) {
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

  // One block of words: the query (need, out_start, extra_start, extra_ids), then the result
  // (counts, ids, vals, extra_vals), each part uploaded or downloaded in one copy.
  const size_t slots = static_cast<size_t>(req.out_start[R]), extras = req.extra_ids.size();
  const size_t query = static_cast<size_t>(R) + 2 * (static_cast<size_t>(R) + 1) + extras;
  const size_t result = static_cast<size_t>(R) + 2 * slots + extras;
  if (query + result > candidates_capacity_) {
    if (candidates_) backend_->release(candidates_);
    candidates_ = nullptr;
    candidates_capacity_ = 0;
    const size_t words = std::max<size_t>(query + result, 4096) * 5 / 4;
    void* mem = nullptr;
    GN_RETURN_IF_ERROR(backend_->alloc(words * sizeof(int32_t), &mem));
    candidates_ = static_cast<int32_t*>(mem);
    candidates_capacity_ = words;
  }
  candidate_staging_.clear();
  for (const std::vector<int32_t>* part : {&req.need, &req.out_start, &req.extra_start, &req.extra_ids})
    candidate_staging_.insert(candidate_staging_.end(), part->begin(), part->end());
  GN_RETURN_IF_ERROR(backend_->upload(candidates_, candidate_staging_.data(), query * sizeof(int32_t)));

  int32_t* d_result = candidates_ + query;
  CandidateArgs& args = candidate_args_;
  args = CandidateArgs();
  args.rows = R;
  args.cols = V;
  args.need = candidates_;
  args.out_start = candidates_ + R;
  args.extra_start = candidates_ + 2 * R + 1;
  args.extra_ids = candidates_ + 3 * R + 2;
  args.counts = d_result;
  args.ids = d_result + R;
  args.vals = reinterpret_cast<float*>(d_result + R + slots);
  args.extra_vals = reinterpret_cast<float*>(d_result + R + 2 * slots);
  candidate_answer_ = {R, slots, extras, query};
  return Status::Ok();
}

Status GptNeoModel::collect_candidates(CandidateRows* out) {
  const CandidateAnswer& a = candidate_answer_;
  const size_t result = static_cast<size_t>(a.rows) + 2 * a.slots + a.extras;
  // Straight into the caller's block, which keeps its capacity from step to step.
  out->words.resize(result);
  out->rows = a.rows;
  out->slots = a.slots;
  out->extras = a.extras;
  return backend_->download(out->words.data(), candidates_ + a.at, result * sizeof(int32_t));
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
  GN_RETURN_IF_ERROR(backend_->synchronize());
  // Runs of consecutive rows in one copy each.
  for (size_t i = 0; i < rows.size();) {
    size_t j = i + 1;
    while (j < rows.size() && rows[j] == rows[j - 1] + 1) ++j;
    GN_RETURN_IF_ERROR(backend_->download(out + i * V, logits_ + static_cast<size_t>(rows[i]) * V,
                                          (j - i) * V * sizeof(float)));
    i = j;
  }
  return Status::Ok();
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
