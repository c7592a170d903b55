// GptNeoModel::query_logit_rows: the sampler's questions about the logits a kBackendLogits step left in
// backend memory (the device draw, model/logit_draw.cpp; the candidates, model/logit_candidates.cpp)
// in one round trip through the model's QueryBlock.
#include "model/gpt_neo.h"

namespace gptneo {

Status GptNeoModel::query_logit_rows(const DrawRequest* draw, std::vector<int32_t>* tokens, std::vector<double>* sums,
                                     const CandidateRequest* candidates, CandidateRows* rows) {
  // Both checked before anything is queued: a malformed query refuses the whole round trip.
  if (draw) GN_RETURN_IF_ERROR(check_draw_query(*draw));
  if (candidates) GN_RETURN_IF_ERROR(check_candidate_query(*candidates));
  queries_.begin();
  if (draw) stage_draw_query(*draw);
  if (candidates) stage_candidate_query(*candidates);
  // One copy up, the kernels behind it on the stream, one copy down, one wait (the step's own work
  // before them included: a kBackendLogits step returns without waiting).
  GN_RETURN_IF_ERROR(queries_.send(*backend_));
  if (draw) GN_RETURN_IF_ERROR(backend_->draw_rows(logits_, draw_args()));
  if (candidates) GN_RETURN_IF_ERROR(backend_->select_candidates(logits_, candidate_args()));
  GN_RETURN_IF_ERROR(queries_.fetch(*backend_));
  GN_RETURN_IF_ERROR(backend_->synchronize());
  if (draw) collect_draw(tokens, sums);
  if (candidates) collect_candidates(rows);
  return Status::Ok();
}

Status GptNeoModel::draw_logit_rows(const DrawRequest& req, std::vector<int32_t>* tokens, std::vector<double>* sums) {
  return query_logit_rows(&req, tokens, sums, nullptr, nullptr);
}

Status GptNeoModel::select_logit_candidates(const CandidateRequest& req, CandidateRows* out) {
  return query_logit_rows(nullptr, nullptr, nullptr, &req, out);
}

}  // namespace gptneo
