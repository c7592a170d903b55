// The O(vocabulary) passes of token sampling (lib/sampling/sample.ts), for one row of logits in
// host memory. Each has the semantics of the TypeScript function it replaces, which stays as its
// reference (test/20.sampling-native compares them): NaN ranks as -Infinity, ties go to the lower
// token id. JavaScript spends about 20 ns per Math.exp and 1.5-3 ns per element on the scans; these
// loops are plain C++ the compiler vectorises.
#pragma once
#include <cstdint>

namespace gptneo::cpu {

// Index of the largest value (NaN ignored; ties: lowest index). With no value above -Infinity, the
// first -Infinity; -1 when n == 0 or every value is NaN. (select.ts argmax)
int row_argmax(const float* row, int n);

// The top-k candidate set: every index whose value is >= the k-th largest value (NaN as
// -Infinity, counted with multiplicity), so ties with the k-th all stay, written to ids in index
// order; returns the count. NaN values never qualify; when the k-th largest is -Infinity every
// non-NaN index does. Requires 1 <= k <= n. (sample.ts topKCandidates)
int topk_candidates(const float* row, int n, int k, int32_t* ids);

// Result of weigh_candidates.
struct Weighed {
  int kept = 0;        // candidates left in ids[0..kept)
  double total = 0;    // sum of their weights (in ids order)
  bool usable = true;  // false: every candidate is -Infinity or NaN
  float max = 0;       // the candidates' largest value (the weights' reference)
};

// For the candidates ids[0..count): max = their largest value; weights[id] = exp((row[id] - max) /
// temperature) computed in double; drops the candidates whose weight is 0 (keeping ids' order) and
// sums the rest in order. If the max is +Infinity, the +Infinity candidates weigh 1 and the others
// are dropped. (sample.ts weighCandidates; exp_nonpositive stands in for Math.exp, within 1 ulp.)
Weighed weigh_candidates(const float* row, int32_t* ids, int count, double temperature, double* weights);

// Keeps (in order) the candidates ids[0..count) with (row[id] - max) / temperature >= floor, max
// being their largest value; leaves all of them when that max is not finite or any candidate is
// NaN (as Math.max propagates NaN). Returns the count kept. (sample.ts dropBelowMinPFloor)
int keep_above_logit_floor(const float* row, int32_t* ids, int count, double temperature, double floor);

// Keeps (in order) the candidates with weights[id] >= floor; returns the count kept.
// (sample.ts dropBelowNucleusFloor)
int keep_above_weight_floor(const double* weights, int32_t* ids, int count, double floor);

// dst[i] = src[i], NaN replaced by -Infinity (the row that logit bias and penalties then modify).
void copy_nan_as_neg_inf(const float* src, int n, float* dst);

// e^x for x <= 0 (x = -Infinity gives 0, NaN gives NaN), relative error below 2^-52.
double exp_nonpositive(double x);

}  // namespace gptneo::cpu
