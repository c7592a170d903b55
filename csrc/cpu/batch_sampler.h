// Sampling every output row of a step (cpu/row_sampler.h), rows spread over a thread pool, each
// worker with its own scratch. The batch is plain data (packed per-row arrays, the layout of
// lib/sampling/native-rows.ts) so the N-API layer can fill it and native tests can build it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/row_sampler.h"

namespace gptneo::cpu {

struct SamplingBatch {
  std::vector<SamplingParams> params;  // [R]
  std::vector<double> u;               // [steps, R] uniforms in [0, 1) (ignored for temperature 0): one
                                       // per row and step (steps > 1: a run-ahead, cpu/sampling_run.h)
  int steps = 1;
  // Row r's logit bias is (bias_ids, bias_values)[bias_starts[r] .. bias_starts[r + 1]); likewise
  // the distinct seen ids and the (count_ids, counts) pairs.
  std::vector<int32_t> bias_starts, bias_ids;
  std::vector<double> bias_values;
  std::vector<int32_t> seen_starts, seen_ids;
  std::vector<int32_t> count_starts, count_ids, counts;

  int rows() const { return static_cast<int>(params.size()); }
  RowSampleSpec row(int r) const;  // with step 0's uniform
  // Empty when the batch is consistent for `vocab` tokens: every length, offset, option range and
  // uniform checked, every id in [0, vocab) and distinct within its row's list (the N-API layer
  // re-checks what TypeScript validated); else what is wrong. `marks`: reusable scratch.
  std::string check(int vocab, std::vector<uint8_t>* marks) const;
};

// out[r] = sample_row(logits + r * vocab, …) for every row of the batch (kNoUsableLogits where a
// row has nothing usable). `scratch` grows to pool.size() entries and is reused across calls.
void sample_rows(const float* logits, int vocab, const SamplingBatch& batch, ThreadPool& pool,
                 std::vector<RowSamplerScratch>* scratch, int32_t* out);

}  // namespace gptneo::cpu
