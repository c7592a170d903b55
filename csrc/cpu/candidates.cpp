#include "cpu/candidates.h"

#include <algorithm>
#include <functional>

#include "cuda/candidate_key.h"

namespace gptneo::cpu {

int select_candidates_row(const float* row, int cols, int need, int capacity, int32_t* ids, float* vals,
                          std::vector<uint32_t>* keys) {
  if (need <= 0 || cols <= 0) return 0;
  need = std::min(need, cols);
  keys->resize(static_cast<size_t>(cols));
  uint32_t* k = keys->data();
  for (int c = 0; c < cols; ++c) k[c] = candidate_key(row[c]);
  // The need-th largest key. nth_element reorders `keys`, so the scans below key the row again.
  std::nth_element(k, k + (need - 1), k + cols, std::greater<uint32_t>());
  const uint32_t threshold = k[need - 1];
  int count = 0;
  for (int c = 0; c < cols; ++c) count += candidate_key(row[c]) >= threshold;
  if (count > capacity) return count;
  int at = 0;
  for (int c = 0; c < cols && at < count; ++c) {
    if (candidate_key(row[c]) >= threshold) {
      ids[at] = c;
      vals[at] = row[c];
      ++at;
    }
  }
  return count;
}

}  // namespace gptneo::cpu
