#include "cpu/mass_select.h"

#include <algorithm>
#include <vector>

namespace gptneo::cpu {

namespace {

constexpr int kSmallRange = 24;
constexpr int kMaxPartitionDepth = 64;

inline bool ranked_before(const double* keys, int32_t a, int32_t b) {
  return keys[a] < keys[b] || (keys[a] == keys[b] && a < b);
}

// Sorts ids[lo..hi) by (key, id): a strict total order, so any sort gives the reference's result.
void sort_range(int32_t* ids, int lo, int hi, const double* keys) {
  if (hi - lo > kSmallRange) {
    std::sort(ids + lo, ids + hi, [keys](int32_t a, int32_t b) { return ranked_before(keys, a, b); });
    return;
  }
  for (int i = lo + 1; i < hi; ++i) {
    const int32_t id = ids[i];
    int j = i - 1;
    while (j >= lo && ranked_before(keys, id, ids[j])) {
      ids[j + 1] = ids[j];
      --j;
    }
    ids[j + 1] = id;
  }
}

inline double median_of_three(double a, double b, double c) {
  return a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
}

void move_first_ranked_to_front(int32_t* ids, int count, const double* keys) {
  int best = 0;
  for (int i = 1; i < count; ++i)
    if (ranked_before(keys, ids[i], ids[best])) best = i;
  std::swap(ids[best], ids[0]);
}

}  // namespace

int select_leading_mass(int32_t* ids, int count, const double* keys, const double* weights, double limit,
                        bool keep_ties_with_last) {
  if (count == 0) return 0;
  if (!(limit > 0)) {
    move_first_ranked_to_front(ids, count, keys);
    if (!keep_ties_with_last) return 1;
    const double key = keys[ids[0]];
    int kept = 1;
    for (int i = 1; i < count; ++i) {
      const int32_t id = ids[i];
      if (keys[id] == key) {
        ids[i] = ids[kept];
        ids[kept++] = id;
      }
    }
    return kept;
  }
  // Invariant: ids[0..lo) are kept with mass `before` < limit; every token of ids[hi..count) ranks
  // after every token of ids[lo..hi) with a strictly larger key, and is not kept.
  int lo = 0, hi = count;
  double before = 0;
  for (int depth = 0;; ++depth) {
    if (hi - lo <= kSmallRange || depth > kMaxPartitionDepth) {
      sort_range(ids, lo, hi, keys);
      int kept = lo;
      while (kept < hi && (kept == lo || before < limit)) before += weights[ids[kept++]];
      if (keep_ties_with_last) {
        const double key = keys[ids[kept - 1]];
        while (kept < hi && keys[ids[kept]] == key) ++kept;
      }
      return kept;
    }
    const double pivot = median_of_three(keys[ids[lo]], keys[ids[(lo + hi) >> 1]], keys[ids[hi - 1]]);
    // Three-way partition: [lo, less) key < pivot, [less, greater) key == pivot, [greater, hi) key > pivot.
    int less = lo, greater = hi;
    double mass_less = 0;
    for (int i = lo; i < greater;) {
      const int32_t id = ids[i];
      const double key = keys[id];
      if (key < pivot) {
        ids[i] = ids[less];
        ids[less] = id;
        ++less;
        ++i;
        mass_less += weights[id];
      } else if (key > pivot) {
        --greater;
        ids[i] = ids[greater];
        ids[greater] = id;
      } else {
        ++i;
      }
    }
    if (before + mass_less >= limit) {  // the boundary lies among the smaller keys
      hi = less;
      continue;
    }
    before += mass_less;
    std::sort(ids + less, ids + greater);  // the pivot's ties, by id
    int kept = less;
    while (kept < greater && before < limit) before += weights[ids[kept++]];
    if (before >= limit) return keep_ties_with_last ? greater : kept;
    lo = greater;
    if (lo >= hi) return hi;
  }
}

void sort_distinct_ids(int32_t* ids, int count) {
  constexpr int kSortBelow = 256;
  if (count < kSortBelow) {
    std::sort(ids, ids + count);
    return;
  }
  int32_t top = 0;
  for (int i = 0; i < count; ++i) top = std::max(top, ids[i]);
  const size_t words = static_cast<size_t>(top) / 64 + 1;
  if (words > 8 * static_cast<size_t>(count)) {  // sparse ids: a sort touches less memory
    std::sort(ids, ids + count);
    return;
  }
  // Dense ids (a large nucleus): one bit per id, then the set bits in order: O(count + top / 64).
  thread_local std::vector<uint64_t> bits;
  bits.assign(words, 0);
  for (int i = 0; i < count; ++i) {
    uint64_t& word = bits[static_cast<size_t>(ids[i]) >> 6];
    const uint64_t bit = uint64_t{1} << (ids[i] & 63);
    if (word & bit) {  // an id twice (a caller's mistake): the bitmap would drop one, a sort keeps both
      std::sort(ids, ids + count);
      return;
    }
    word |= bit;
  }
  int k = 0;
  for (size_t w = 0; w < words; ++w)
    for (uint64_t word = bits[w]; word != 0; word &= word - 1)
      ids[k++] = static_cast<int32_t>(w * 64 + static_cast<size_t>(__builtin_ctzll(word)));
}

int keep_nucleus(int32_t* ids, int count, const double* weights, double* keys, double total, double top_p) {
  for (int i = 0; i < count; ++i) keys[ids[i]] = -weights[ids[i]];
  const int kept = select_leading_mass(ids, count, keys, weights, top_p * total, false);
  sort_distinct_ids(ids, kept);
  return kept;
}

}  // namespace gptneo::cpu
