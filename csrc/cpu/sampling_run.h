// Sampling across the steps of a run-ahead (GptNeoModel::step with steps > 1 and a token chooser):
// every step samples each row as sample_rows would, with that step's uniform, then records the
// sampled token in the row's penalty state the way lib/sampling/history.ts PenaltyHistory.record
// does (the distinct seen ids when the repetition penalty is on, the generated ids' counts when the
// presence or frequency penalty is on), so step j + 1 sees the same state the TypeScript side would
// have packed for it after accepting step j's token.
#pragma once
#include <cstdint>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/batch_sampler.h"
#include "cpu/row_sampler.h"

namespace gptneo::cpu {

class SamplingRun {
 public:
  // `batch` (checked, batch.u holding [steps, rows] uniforms) must outlive the run.
  SamplingRun(const SamplingBatch& batch, int steps);

  int rows() const { return batch_.rows(); }
  int steps() const { return steps_; }

  // Samples step `step`'s rows from `logits` [rows, vocab] into out[rows] (kNoUsableLogits where a row
  // has nothing usable; such a row's state is left as it was), then records the sampled tokens.
  void sample_step(int step, const float* logits, int vocab, ThreadPool& pool, std::vector<RowSamplerScratch>* scratch,
                   int32_t* out);

  // Row r's spec at step `step` (its uniform, its penalty state now), and the state update after a step
  // sampled elsewhere (tokens[rows]; kNoUsableLogits leaves a row's state as it was): what
  // sample_step does around sample_row, for samplers that do not hold the whole rows
  // (cpu/candidate_sampler.h).
  RowSampleSpec spec(int step, int r) const;
  void record_step(const int32_t* tokens);

  // Row r's penalty state now (tests).
  const std::vector<int32_t>& seen_ids(int r) const { return state_[r].seen; }
  const std::vector<int32_t>& count_ids(int r) const { return state_[r].count_ids; }
  const std::vector<int32_t>& counts(int r) const { return state_[r].counts; }

 private:
  struct RowState {
    bool track_seen = false;
    bool track_counts = false;
    std::vector<int32_t> seen;  // distinct prompt + generated ids, in the order first seen
    std::unordered_set<int32_t> seen_set;
    std::vector<int32_t> count_ids, counts;  // generated ids and their counts, in first-seen order
    std::unordered_map<int32_t, int> count_slot;
  };
  void record(int r, int32_t token);

  const SamplingBatch& batch_;
  int steps_;
  std::vector<RowState> state_;
};

}  // namespace gptneo::cpu
