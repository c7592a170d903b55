// Sampling a step's rows whose logits stayed in backend memory (a step with output kBackendLogits):
// the rows whose token depends only on the top of their logits (greedy, top-k: cpu/candidate_sampler.h)
// are sampled from candidates the backend selects (Backend::select_candidates on the GPU), so that a
// few hundred values per row cross to the host instead of the whole vocabulary (50257 floats, 201 KB);
// with the device draw on (set_draw), the rows whose token depends on the whole row (temperature
// sampling without top-k, top-p or typical-p, min-p allowed; top-p without top-k or typical-p, min-p
// allowed) are drawn where the logits are (Backend::draw_rows, cpu/device_draw.h; the nucleus draw
// cuda/nucleus_draw.h), one word per row coming back, and top-p rows with typical-p are
// sampled from their top candidates (256 to 2048, adapted step by step)
// with the device's sum of the row's weights certifying the nucleus (cpu/nucleus_bound.h); the other rows (typical-p
// alone, candidates that decide nothing, more ties than the slots hold, a nucleus past the candidates,
// draws or nuclei too close to a boundary to certify) are downloaded whole and sampled by
// cpu::sample_row. Either way each row gets the token sample_row would pick from its whole row. The draw's
// queries and the candidates go in one round trip (GptNeoModel::query_logit_rows); whole rows in a second.
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
  uint64_t drawn_nucleus_rows = 0;  // of those, top-p rows (the nucleus draw, cuda/nucleus_draw.h)
  uint64_t uncertain_draws = 0; // draws the device could not certify (then downloaded whole)
  uint64_t nucleus_rows = 0;    // top-p rows sampled from their candidates and the device's sum
  uint64_t nucleus_misses = 0;  // top-p rows tried that way whose candidates did not decide them (sampled whole)
  int nucleus_candidates = 0;   // the top-p rows' candidate count now
};

// Candidates fetched for a top-p row beyond the ids its bias and penalties change: a trained model's
// nucleus at p = 0.9 is usually a few to a few hundred tokens. The sampler starts at the least and
// doubles (up to the most, and below a quarter of the vocabulary) after a step where a nucleus reached
// past its candidates; it halves after 64 steps without. (Slots per row: 2 x need + 64: about 4.6 KB back
// per row at 256, 33 KB at 2048, instead of 201 KB.)
constexpr int kNucleusCandidatesLeast = 256;
constexpr int kNucleusCandidatesMost = 2048;

class DeviceRowSampler {
 public:
  // Samples the last step's `rows` logit rows: spec(r) is row r's spec (valid until the call
  // returns); out[r] the token or cpu::kNoUsableLogits. Rows are sampled on `pool`.
  Status sample(GptNeoModel& model, int rows, const std::function<cpu::RowSampleSpec(int)>& spec, ThreadPool& pool,
                int32_t* out);

  DeviceSamplingStats stats() const {
    DeviceSamplingStats s = stats_;
    s.nucleus_candidates = nucleus_candidates_;
    return s;
  }
  // Whether rows the candidates cannot serve are drawn on the device, and top-p rows served from their
  // candidates and the device's sum (off until set).
  void set_draw(bool on) { draw_ = on; }

 private:
  // The device draw's queries for the rows it serves, and sum queries for top-p rows (nucleus_[r] set,
  // request_.need[r] given); returns whether any row has one.
  bool build_draw_queries(int rows, int vocab);
  // Its answers: drawn tokens into out (*drawn counts them); a declined sum query takes its row off
  // the nucleus path (sums_[r] is the S' of the others).
  Status read_draws(int rows, int vocab, int32_t* out, int* drawn);

  std::vector<cpu::RowSampleSpec> specs_;
  CandidateRequest request_;  // its extras: each row's changed ids (cpu::changed_ids)
  CandidateRows candidates_;
  std::vector<int32_t> full_rows_;
  bool draw_ = false;
  DrawRequest draw_request_;
  std::vector<cpu::DrawChange> draw_scratch_;
  std::vector<int32_t> drawn_;
  std::vector<double> sums_;
  std::vector<uint8_t> nucleus_;
  // Flat rows (a nucleus far larger than the most candidates: an untrained model, a high temperature)
  // miss every step and would pay for the query each time for nothing: after a step where every top-p
  // row tried missed and the candidates cannot grow, the next nucleus_backoff_ steps sample top-p rows
  // whole (doubling up to 64).
  int nucleus_skip_ = 0;
  int nucleus_backoff_ = 1;
  int nucleus_candidates_ = kNucleusCandidatesLeast;
  int steps_within_candidates_ = 0;  // steps since a nucleus last reached past its candidates
  // After a step's top-p rows: tried of them went the nucleus path, served were decided, past reached
  // past their candidates. Grows, shrinks or backs off (above).
  void adapt_nucleus(int tried, int served, int past, int vocab);
  std::vector<cpu::CandidateScratch> candidate_scratch_;
  std::vector<cpu::RowSamplerScratch> row_scratch_;
  DeviceSamplingStats stats_;
};

}  // namespace gptneo
