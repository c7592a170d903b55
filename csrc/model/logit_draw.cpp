// The device draw's query and answer (GptNeoModel::query_logit_rows, model/logit_queries.cpp) over the
// logits a kBackendLogits step left in backend memory (model/device_sampling.h; the kernel cuda/draw.cu,
// its layout cuda/draw_bound.h).
#include <cstring>

#include "cuda/draw_bound.h"
#include "model/gpt_neo.h"

namespace gptneo {

Status GptNeoModel::check_draw_query(const DrawRequest& req) const {
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

  return Status::Ok();
}

void GptNeoModel::stage_draw_query(const DrawRequest& req) {
  const int R = backend_logits_rows_;
  DrawLayout& at = draw_layout_;
  at.rows = R;
  at.params = queries_.add_query(req.params);
  at.change_vals = queries_.add_query(req.change_vals);
  at.change_start = queries_.add_query(req.change_start);
  at.change_meta = queries_.add_query(req.change_meta);
  at.sums = queries_.add_answer(static_cast<size_t>(R) * sizeof(double));
  at.tokens = queries_.add_answer(static_cast<size_t>(R) * sizeof(int32_t));
}

DrawArgs GptNeoModel::draw_args() const {
  const DrawLayout& at = draw_layout_;
  DrawArgs args;
  args.rows = at.rows;
  args.cols = config_.vocab_size;
  args.params = queries_.query_as<double>(at.params);
  args.change_vals = queries_.query_as<double>(at.change_vals);
  args.change_start = queries_.query_as<int32_t>(at.change_start);
  args.change_meta = queries_.query_as<int32_t>(at.change_meta);
  args.sums = queries_.answer_as<double>(at.sums);
  args.tokens = queries_.answer_as<int32_t>(at.tokens);
  return args;
}

void GptNeoModel::collect_draw(std::vector<int32_t>* tokens, std::vector<double>* sums) const {
  const DrawLayout& at = draw_layout_;
  const size_t R = static_cast<size_t>(at.rows);
  sums->resize(R);
  tokens->resize(R);
  std::memcpy(sums->data(), queries_.answer_host(at.sums), R * sizeof(double));
  std::memcpy(tokens->data(), queries_.answer_host(at.tokens), R * sizeof(int32_t));
}

}  // namespace gptneo
