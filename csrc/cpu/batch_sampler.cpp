#include "cpu/batch_sampler.h"

#include <cmath>

namespace gptneo::cpu {

namespace {

// The option ranges of lib/sampling/options.ts.
constexpr double kMaxPenalty = 2;
constexpr double kMaxLogitBias = 100;

std::string check_params(const SamplingParams& p) {
  if (!(std::isfinite(p.temperature) && p.temperature >= 0)) return "temperature must be a finite number >= 0";
  if (p.top_k < 0) return "topK must be >= 0";
  if (!(p.top_p >= 0 && p.top_p <= 1)) return "topP must be in [0, 1]";
  if (!(p.min_p >= 0 && p.min_p <= 1)) return "minP must be in [0, 1]";
  if (!(p.typical_p > 0 && p.typical_p <= 1)) return "typicalP must be in (0, 1]";
  if (!(std::isfinite(p.repetition_penalty) && p.repetition_penalty > 0))
    return "repetitionPenalty must be a finite number > 0";
  if (!(std::fabs(p.presence_penalty) <= kMaxPenalty)) return "presencePenalty must be in [-2, 2]";
  if (!(std::fabs(p.frequency_penalty) <= kMaxPenalty)) return "frequencyPenalty must be in [-2, 2]";
  return "";
}

// starts: rows + 1 non-decreasing offsets from 0 to `total`.
std::string check_starts(const std::vector<int32_t>& starts, int rows, size_t total, const char* name) {
  if (starts.size() != static_cast<size_t>(rows) + 1)
    return std::string(name) + " must have one entry per row plus one";
  if (starts[0] != 0) return std::string(name) + " must start at 0";
  for (int r = 0; r < rows; ++r)
    if (starts[r + 1] < starts[r]) return std::string(name) + " must not decrease";
  if (static_cast<size_t>(starts[rows]) != total) return std::string(name) + " must end at the length of its ids";
  return "";
}

// Each row's ids in [0, vocab) and distinct (marks: vocab zeros on entry and on return).
std::string check_ids(const std::vector<int32_t>& starts, const std::vector<int32_t>& ids, int vocab,
                      std::vector<uint8_t>& marks, const char* name) {
  std::string error;
  for (size_t r = 0; r + 1 < starts.size() && error.empty(); ++r) {
    int at = starts[r];
    for (; at < starts[r + 1]; ++at) {
      const int32_t id = ids[at];
      if (id < 0 || id >= vocab) {
        error = std::string(name) + " holds a token id outside [0, vocabSize)";
        break;
      }
      if (marks[id]) {
        error = std::string(name) + " holds a token id twice for one row";
        break;
      }
      marks[id] = 1;
    }
    for (int i = starts[r]; i < at; ++i) marks[ids[i]] = 0;
  }
  return error;
}

}  // namespace

RowSampleSpec SamplingBatch::row(int r) const {
  RowSampleSpec s;
  s.params = params[r];
  s.u = u[r];
  s.bias_ids = bias_ids.data() + bias_starts[r];
  s.bias_values = bias_values.data() + bias_starts[r];
  s.bias_count = bias_starts[r + 1] - bias_starts[r];
  s.seen_ids = seen_ids.data() + seen_starts[r];
  s.seen_count = seen_starts[r + 1] - seen_starts[r];
  s.count_ids = count_ids.data() + count_starts[r];
  s.counts = counts.data() + count_starts[r];
  s.counts_count = count_starts[r + 1] - count_starts[r];
  return s;
}

std::string SamplingBatch::check(int vocab, std::vector<uint8_t>* marks) const {
  const int R = rows();
  if (vocab < 1) return "the vocabulary is empty";
  if (steps < 1) return "steps must be at least 1";
  if (u.size() != params.size() * static_cast<size_t>(steps)) return "u must have one entry per row and step";
  for (int r = 0; r < R; ++r) {
    std::string e = check_params(params[r]);
    if (!e.empty()) return e + " (row " + std::to_string(r) + ")";
  }
  for (size_t i = 0; i < u.size(); ++i)
    if (!(u[i] >= 0 && u[i] < 1)) return "u must be in [0, 1) (row " + std::to_string(i % R) + ")";
  if (bias_values.size() != bias_ids.size()) return "biasValues must have one entry per bias id";
  if (counts.size() != count_ids.size()) return "counts must have one entry per count id";
  for (const std::string& e : {check_starts(bias_starts, R, bias_ids.size(), "biasStarts"),
                               check_starts(seen_starts, R, seen_ids.size(), "seenStarts"),
                               check_starts(count_starts, R, count_ids.size(), "countStarts")})
    if (!e.empty()) return e;
  for (double b : bias_values)
    if (!(std::fabs(b) <= kMaxLogitBias)) return "biasValues must be in [-100, 100]";
  for (int32_t c : counts)
    if (c < 1) return "counts must be positive";
  if (marks->size() < static_cast<size_t>(vocab)) marks->assign(static_cast<size_t>(vocab), 0);
  for (const std::string& e : {check_ids(bias_starts, bias_ids, vocab, *marks, "biasIds"),
                               check_ids(seen_starts, seen_ids, vocab, *marks, "seenIds"),
                               check_ids(count_starts, count_ids, vocab, *marks, "countIds")})
    if (!e.empty()) return e;
  return "";
}

void sample_rows(const float* logits, int vocab, const SamplingBatch& batch, ThreadPool& pool,
                 std::vector<RowSamplerScratch>* scratch, int32_t* out) {
  if (scratch->size() < static_cast<size_t>(pool.size())) scratch->resize(static_cast<size_t>(pool.size()));
  const int R = batch.rows();
  pool.run(R, [&](int r, int worker) {
    out[r] = sample_row(logits + static_cast<size_t>(r) * vocab, vocab, batch.row(r), &(*scratch)[worker]);
  });
}

}  // namespace gptneo::cpu
