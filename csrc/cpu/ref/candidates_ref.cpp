// Oracle for the sampling prefilter: a full sort instead of a selection.
#include <algorithm>
#include <functional>
#include <vector>

#include "cpu/ref/ref.h"
#include "cuda/candidate_key.h"

namespace gptneo::cpu::ref {

int select_candidates_row(const float* row, int cols, int need, int capacity, int32_t* ids, float* vals) {
  if (need <= 0 || cols <= 0) return 0;
  std::vector<uint32_t> sorted(static_cast<size_t>(cols));
  for (int c = 0; c < cols; ++c) sorted[c] = candidate_key(row[c]);
  std::sort(sorted.begin(), sorted.end(), std::greater<uint32_t>());
  const uint32_t threshold = sorted[std::min(need, cols) - 1];
  std::vector<int32_t> picked;
  for (int c = 0; c < cols; ++c)
    if (candidate_key(row[c]) >= threshold) picked.push_back(c);
  const int count = static_cast<int>(picked.size());
  if (count > capacity) return count;
  for (int i = 0; i < count; ++i) {
    ids[i] = picked[i];
    vals[i] = row[picked[i]];
  }
  return count;
}

}  // namespace gptneo::cpu::ref
