#include "cpu/sampling_run.h"

namespace gptneo::cpu {

SamplingRun::SamplingRun(const SamplingBatch& batch, int steps) : batch_(batch), steps_(steps) {
  const int R = batch.rows();
  state_.resize(static_cast<size_t>(R));
  for (int r = 0; r < R; ++r) {
    RowState& s = state_[r];
    const SamplingParams& p = batch.params[r];
    // lib/sampling/sampler.ts: which lists a request keeps.
    s.track_seen = p.repetition_penalty != 1;
    s.track_counts = p.presence_penalty != 0 || p.frequency_penalty != 0;
    for (int i = batch.seen_starts[r]; i < batch.seen_starts[r + 1]; ++i) {
      s.seen_set.insert(batch.seen_ids[i]);
      s.seen.push_back(batch.seen_ids[i]);
    }
    for (int i = batch.count_starts[r]; i < batch.count_starts[r + 1]; ++i) {
      s.count_slot.emplace(batch.count_ids[i], static_cast<int>(s.count_ids.size()));
      s.count_ids.push_back(batch.count_ids[i]);
      s.counts.push_back(batch.counts[i]);
    }
  }
}

RowSampleSpec SamplingRun::spec(int step, int r) const {
  RowSampleSpec s = batch_.row(r);
  s.u = batch_.u[static_cast<size_t>(step) * batch_.rows() + r];
  const RowState& st = state_[r];
  s.seen_ids = st.seen.data();
  s.seen_count = static_cast<int>(st.seen.size());
  s.count_ids = st.count_ids.data();
  s.counts = st.counts.data();
  s.counts_count = static_cast<int>(st.count_ids.size());
  return s;
}

void SamplingRun::record(int r, int32_t token) {
  RowState& s = state_[r];
  if (s.track_seen && s.seen_set.insert(token).second) s.seen.push_back(token);
  if (!s.track_counts) return;
  const auto [at, added] = s.count_slot.emplace(token, static_cast<int>(s.count_ids.size()));
  if (added) {
    s.count_ids.push_back(token);
    s.counts.push_back(1);
  } else {
    ++s.counts[at->second];
  }
}

void SamplingRun::sample_step(int step, const float* logits, int vocab, ThreadPool& pool,
                              std::vector<RowSamplerScratch>* scratch, int32_t* out) {
  if (scratch->size() < static_cast<size_t>(pool.size())) scratch->resize(static_cast<size_t>(pool.size()));
  const int R = rows();
  pool.run(R, [&](int r, int worker) {
    out[r] = sample_row(logits + static_cast<size_t>(r) * vocab, vocab, spec(step, r), &(*scratch)[worker]);
  });
  record_step(out);
}

void SamplingRun::record_step(const int32_t* tokens) {
  for (int r = 0; r < rows(); ++r)
    if (tokens[r] != kNoUsableLogits) record(r, tokens[r]);
}

}  // namespace gptneo::cpu
