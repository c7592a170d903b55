// Selecting the leading tokens of a ranking by cumulative probability mass, the core of top-p:
// a line-for-line port of lib/sampling/mass-select.ts (its reference), so that it leaves the
// candidates in exactly the same order (the order decides which token typical-p's draw lands on): the same
// three-way quickselect, pivots, tie handling and summation order, in double precision.
#pragma once
#include <cstdint>

namespace gptneo::cpu {

// Reorders ids[0..count) so the kept tokens come first and returns how many are kept: every token
// whose preceding mass (ranked by keys[id] ascending, ties by lower id) is below `limit`, at least
// one; with keep_ties_with_last also every token whose key equals the last kept one's.
int select_leading_mass(int32_t* ids, int count, const double* keys, const double* weights, double limit,
                        bool keep_ties_with_last);

// Top-p: keys[id] = -weights[id] for the candidates, then select_leading_mass with limit
// top_p * total; the kept tokens are left in increasing id order, so that the token a draw lands on
// depends on which tokens the nucleus holds and not on the selection's partitions (and so on nothing
// outside the nucleus: what lets a top-p row be sampled from its top candidates, cpu/candidate_sampler.h).
// (filters.ts keepNucleus)
int keep_nucleus(int32_t* ids, int count, const double* weights, double* keys, double total, double top_p);

// Sorts ids[0..count) (nonnegative) ascending: a bitmap over the id range when they are dense and
// distinct, else std::sort.
void sort_distinct_ids(int32_t* ids, int count);

}  // namespace gptneo::cpu
