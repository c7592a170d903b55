// GptNeoModel::draw_logit_rows: the device draw over the logits a kBackendLogits step left in backend
// memory (model/device_sampling.h; the kernel cuda/draw.cu, its layout cuda/draw_bound.h).
#include <cstring>

#include "cuda/draw_bound.h"
#include "model/gpt_neo.h"

namespace gptneo {

namespace {

// Appends the bytes of v to *out.
template <typename T>
void append(const std::vector<T>& v, std::vector<uint8_t>* out) {
  const size_t at = out->size();
  out->resize(at + v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(out->data() + at, v.data(), v.size() * sizeof(T));
}

}  // namespace

Status GptNeoModel::draw_logit_rows(const DrawRequest& req, std::vector<int32_t>* tokens, std::vector<double>* sums) {
  GN_RETURN_IF_ERROR(upload_draw_query(req));
  GN_RETURN_IF_ERROR(backend_->draw_rows(logits_, draw_args_));
  GN_RETURN_IF_ERROR(backend_->synchronize());
  return collect_draw(tokens, sums);
}

Status GptNeoModel::query_logit_rows(const DrawRequest* draw, std::vector<int32_t>* tokens, std::vector<double>* sums,
                                     const CandidateRequest* candidates, CandidateRows* rows) {
  // Both queries up before either kernel (an upload waits for the stream), then both kernels.
  if (draw) GN_RETURN_IF_ERROR(upload_draw_query(*draw));
  if (candidates) GN_RETURN_IF_ERROR(upload_candidate_query(*candidates));
  if (draw) GN_RETURN_IF_ERROR(backend_->draw_rows(logits_, draw_args_));
  if (candidates) GN_RETURN_IF_ERROR(backend_->select_candidates(logits_, candidate_args_));
  GN_RETURN_IF_ERROR(backend_->synchronize());
  if (draw) GN_RETURN_IF_ERROR(collect_draw(tokens, sums));
  if (candidates) GN_RETURN_IF_ERROR(collect_candidates(rows));
  return Status::Ok();
}

Status GptNeoModel::upload_draw_query(const DrawRequest& req) {
  const int R = backend_logits_rows_, V = config_.vocab_size;
  GN_CHECK_ARG(R > 0, "no step left its logits in backend memory (output kBackendLogits) to draw from");
  GN_CHECK_ARG(req.params.size() == static_cast<size_t>(R) * kDrawParams,
               "draw params must have kDrawParams entries per logit row");
  GN_CHECK_ARG(req.change_start.size() == static_cast<size_t>(R) + 1 && req.change_start[0] == 0,
               "draw change_start must be rows + 1 offsets from 0");
  for (int r = 0; r < R; ++r) GN_CHECK_ARG(req.change_start[r + 1] >= req.change_start[r], "draw change_start must not decrease");
  const size_t C = static_cast<size_t>(req.change_start[R]);
  GN_CHECK_ARG(req.change_meta.size() == 2 * C && req.change_vals.size() == 2 * C,
               "draw changes must have 2 meta words and 2 values each, as many as change_start counts");
  for (int r = 0; r < R; ++r) {
    for (int i = req.change_start[r]; i < req.change_start[r + 1]; ++i) {
      const int32_t id = req.change_meta[2 * static_cast<size_t>(i)];
      GN_CHECK_ARG(id >= 0 && id < V, "draw change id " + std::to_string(id) + " is outside the vocabulary");
      GN_CHECK_ARG(i == req.change_start[r] || req.change_meta[2 * static_cast<size_t>(i) - 2] < id,
                   "draw change ids must ascend within a row");
    }
  }

  // One block: params, change values (doubles), change_start, change meta (int32), then the answers:
  // the sums (8-aligned) and the tokens, downloaded together.
  draw_staging_.clear();
  append(req.params, &draw_staging_);
  append(req.change_vals, &draw_staging_);
  const size_t ints_at = draw_staging_.size();
  append(req.change_start, &draw_staging_);
  append(req.change_meta, &draw_staging_);
  const size_t query = draw_staging_.size();
  const size_t sums_at = (query + 7) & ~size_t{7}, tokens_at = sums_at + static_cast<size_t>(R) * sizeof(double);
  const size_t bytes = tokens_at + static_cast<size_t>(R) * sizeof(int32_t);
  if (bytes > draws_capacity_) {
    if (draws_) backend_->release(draws_);
    draws_ = nullptr;
    draws_capacity_ = 0;
    const size_t want = (bytes > 16384 ? bytes : 16384) * 5 / 4;
    GN_RETURN_IF_ERROR(backend_->alloc(want, &draws_));
    draws_capacity_ = want;
  }
  uint8_t* base = static_cast<uint8_t*>(draws_);
  GN_RETURN_IF_ERROR(backend_->upload(base, draw_staging_.data(), query));
  DrawArgs& args = draw_args_;
  args = DrawArgs();
  args.rows = R;
  args.cols = V;
  args.params = reinterpret_cast<const double*>(base);
  args.change_vals = reinterpret_cast<const double*>(base) + req.params.size();
  args.change_start = reinterpret_cast<const int32_t*>(base + ints_at);
  args.change_meta = args.change_start + R + 1;
  args.sums = reinterpret_cast<double*>(base + sums_at);
  args.tokens = reinterpret_cast<int32_t*>(base + tokens_at);
  draw_answer_ = {R, sums_at, tokens_at};
  return Status::Ok();
}

Status GptNeoModel::collect_draw(std::vector<int32_t>* tokens, std::vector<double>* sums) {
  const DrawAnswer& a = draw_answer_;
  const size_t R = static_cast<size_t>(a.rows), bytes = a.tokens_at + R * sizeof(int32_t) - a.sums_at;
  draw_staging_.resize(bytes);
  GN_RETURN_IF_ERROR(backend_->download(draw_staging_.data(), static_cast<uint8_t*>(draws_) + a.sums_at, bytes));
  sums->resize(R);
  tokens->resize(R);
  std::memcpy(sums->data(), draw_staging_.data(), R * sizeof(double));
  std::memcpy(tokens->data(), draw_staging_.data() + (a.tokens_at - a.sums_at), R * sizeof(int32_t));
  return Status::Ok();
}

}  // namespace gptneo
