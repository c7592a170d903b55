// Sampling a step's rows whose logits stayed in backend memory (a step with output kBackendLogits):
// the rows whose token depends only on the top of their logits (greedy, top-k: cpu/candidate_sampler.h)
// are sampled from candidates the backend selects (Backend::select_candidates on the GPU), so that a
// few hundred values per row cross to the host instead of the whole vocabulary (50257 floats, 201 KB);
// the other rows (top-p or plain temperature without top-k, candidates that decide nothing, more ties
// than the slots hold) are downloaded whole and sampled by cpu::sample_row. Either way each row gets
// the token sample_row would pick from its whole row.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "cpu/candidate_sampler.h"
#include "cpu/row_sampler.h"
#include "model/gpt_neo.h"

namespace gptneo {

struct DeviceSamplingStats {
  uint64_t candidate_rows = 0;  // rows sampled from their candidates
  uint64_t full_rows = 0;       // rows downloaded whole
};

class DeviceRowSampler {
 public:
  // Samples the last step's `rows` logit rows: spec(r) is row r's spec (valid until the call
  // returns); out[r] the token or cpu::kNoUsableLogits. Rows are sampled on `pool`.
  Status sample(GptNeoModel& model, int rows, const std::function<cpu::RowSampleSpec(int)>& spec, ThreadPool& pool,
                int32_t* out);

  const DeviceSamplingStats& stats() const { return stats_; }

 private:
  std::vector<cpu::RowSampleSpec> specs_;
  CandidateRequest request_;  // its extras: each row's changed ids (cpu::changed_ids)
  CandidateRows candidates_;
  std::vector<int32_t> full_rows_;
  std::vector<cpu::CandidateScratch> candidate_scratch_;
  std::vector<cpu::RowSamplerScratch> row_scratch_;
  DeviceSamplingStats stats_;
};

}  // namespace gptneo
