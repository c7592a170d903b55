// Sampling a step's rows whose logits stayed in backend memory (a step with output kBackendLogits):
// the rows whose token depends only on the top of their logits (greedy, top-k: cpu/candidate_sampler.h)
// are sampled from candidates the backend selects (Backend::select_candidates on the GPU), so that a
// few hundred values per row cross to the host instead of the whole vocabulary (50257 floats, 201 KB);
// with the device draw on (set_draw), the rows whose token depends on the whole row but on no
// reordering of it (temperature sampling without top-k, top-p or typical-p; min-p allowed) are drawn
// where the logits are (Backend::draw_rows, cpu/device_draw.h), one word per row coming back; the
// other rows (top-p, typical-p, candidates that decide nothing, more ties than the slots hold, draws
// too close to a boundary to certify) are downloaded whole and sampled by cpu::sample_row. Either way
// each row gets the token sample_row would pick from its whole row.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "cpu/candidate_sampler.h"
#include "cpu/device_draw.h"
#include "cpu/row_sampler.h"
#include "model/gpt_neo.h"

namespace gptneo {

struct DeviceSamplingStats {
  uint64_t candidate_rows = 0;  // rows sampled from their candidates
  uint64_t full_rows = 0;       // rows downloaded whole
  uint64_t drawn_rows = 0;      // rows whose token the device drew
  uint64_t uncertain_draws = 0; // draws the device could not certify (then downloaded whole)
};

class DeviceRowSampler {
 public:
  // Samples the last step's `rows` logit rows: spec(r) is row r's spec (valid until the call
  // returns); out[r] the token or cpu::kNoUsableLogits. Rows are sampled on `pool`.
  Status sample(GptNeoModel& model, int rows, const std::function<cpu::RowSampleSpec(int)>& spec, ThreadPool& pool,
                int32_t* out);

  const DeviceSamplingStats& stats() const { return stats_; }
  // Whether rows the candidates cannot serve are drawn on the device (off until set).
  void set_draw(bool on) { draw_ = on; }

 private:
  // The device draw for the rows it serves (their out[r] set; *drawn counts them).
  Status draw(GptNeoModel& model, int rows, int32_t* out, int* drawn);

  std::vector<cpu::RowSampleSpec> specs_;
  CandidateRequest request_;  // its extras: each row's changed ids (cpu::changed_ids)
  CandidateRows candidates_;
  std::vector<int32_t> full_rows_;
  bool draw_ = false;
  DrawRequest draw_request_;
  std::vector<cpu::DrawChange> draw_scratch_;
  std::vector<int32_t> drawn_;
  std::vector<cpu::CandidateScratch> candidate_scratch_;
  std::vector<cpu::RowSamplerScratch> row_scratch_;
  DeviceSamplingStats stats_;
};

}  // namespace gptneo
