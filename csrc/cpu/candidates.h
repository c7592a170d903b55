// The sampling prefilter on the host (CpuBackend::select_candidates; the CUDA kernel is
// cuda/candidates.cu, the scalar reference cpu/ref/ref.h select_candidates_row): the columns of a
// logits row that rank at or above its need-th largest value, so that a sampler whose result depends
// only on the top of the row (top-k, greedy; cpu/row_sampler.h sample_candidates) can run on them
// instead of the whole vocabulary.
#pragma once
#include <cstdint>
#include <vector>

namespace gptneo::cpu {

// For row [cols]: t = the need-th largest key (cuda/candidate_key.h order: NaN lowest, -0 == +0,
// counted with multiplicity; need > cols counts as cols); the selected columns are those whose key
// is >= t (ties with t all stay). Returns how many there are; when that is <= capacity, writes them
// in increasing column order to ids[0..count) and their values, bit for bit, to vals. need <= 0:
// returns 0 and writes nothing. `keys`: reusable scratch.
int select_candidates_row(const float* row, int cols, int need, int capacity, int32_t* ids, float* vals,
                          std::vector<uint32_t>* keys);

}  // namespace gptneo::cpu
