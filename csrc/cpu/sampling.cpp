#include "cpu/sampling.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

// The contiguous loops below are compiled for AVX-512, AVX2 and the baseline, picked at load time
// (GCC function multiversioning); elsewhere they are plain functions.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define GN_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define GN_VECTOR_CLONES
#endif

namespace gptneo::cpu {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

inline double from_bits(uint64_t b) {
  double d;
  std::memcpy(&d, &b, sizeof d);
  return d;
}
inline uint64_t to_bits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, sizeof b);
  return b;
}

// Orders floats as signed integers: the bit pattern with the magnitude bits flipped for negative
// values; NaN maps below everything (INT32_MIN), so a max over keys ignores it.
inline int32_t order_key(int32_t bits) {
  const int32_t key = bits ^ ((bits >> 31) & 0x7fffffff);
  const int32_t nan = -static_cast<int32_t>((bits & 0x7fffffff) > 0x7f800000);  // all ones for NaN
  return (key & ~nan) | (INT32_MIN & nan);  // (selects written as masks, which vectorise)
}

inline float from_key(int32_t key) {
  const int32_t bits = key ^ ((key >> 31) & 0x7fffffff);
  float v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

// The largest key of row[0..n) (INT32_MIN when n == 0 or every value is NaN).
GN_VECTOR_CLONES int32_t max_key(const float* row, int n) {
  int32_t best = INT32_MIN;
  for (int i = 0; i < n; ++i) {
    int32_t bits;
    std::memcpy(&bits, row + i, sizeof bits);  // the float's bit pattern (a plain load)
    best = std::max(best, order_key(bits));
  }
  return best;
}

inline double exp_nonpositive_inline(double x) {
  // e^x = 2^n e^r with n = round(x / ln 2), r = x - n ln 2 (ln 2 split in a part whose products
  // with n are exact and a remainder), |r| <= ln(2) / 2; e^r by its Taylor series to r^13
  // (truncation < 1e-17 relative); 2^n applied as 2^(n + 512) * 2^-512 so that results down to
  // the subnormals round once. Inputs below -745.5 give 0 (e^x < 2^-1075); NaN stays NaN.
  constexpr double kLog2e = 1.4426950408889634;
  constexpr double kLn2Hi = 6.93147180369123816490e-01;
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  constexpr double kShifter = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer
  const double xc = x < -745.5 ? -745.5 : x;       // (NaN compares false and passes through)
  const double t = xc * kLog2e + kShifter;
  const double n = t - kShifter;
  const double r = (xc - n * kLn2Hi) - n * kLn2Lo;
  double p = 1.0 / 6227020800.0;  // 1/13!
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  // t's low mantissa bits hold n: n + 1023 + 512 is the biased exponent of 2^(n + 512).
  const int64_t ni = static_cast<int64_t>(to_bits(t) - to_bits(kShifter));
  const double scale = from_bits(static_cast<uint64_t>(ni + 1535) << 52);
  return p * scale * 0x1p-512;
}

// weights[i] = e^((row[i] - max) / temperature) for i in [0, n).
GN_VECTOR_CLONES void weigh_contiguous(const float* row, int n, double max, double temperature, double* weights) {
  for (int i = 0; i < n; ++i) weights[i] = exp_nonpositive_inline((static_cast<double>(row[i]) - max) / temperature);
}

// The k-th largest value of row (NaN as -Infinity, with multiplicity), 1 <= k <= n.
float kth_largest(const float* row, int n, int k) {
  if (k <= 256) {
    // A min-heap of the k largest seen so far. Once it is full, a block of 256 values whose largest
    // does not beat the root is skipped after one vectorised max.
    thread_local std::vector<float> heap;
    heap.clear();
    const std::greater<float> root_is_min;
    constexpr int kBlock = 256;
    for (int b = 0; b < n; b += kBlock) {
      const int e = std::min(n, b + kBlock);
      if (static_cast<int>(heap.size()) == k) {
        const int32_t block_max = max_key(row + b, e - b);
        if (block_max == INT32_MIN || from_key(block_max) <= heap.front()) continue;  // nothing beats the root
      }
      for (int i = b; i < e; ++i) {
        const float v = row[i] != row[i] ? -kInf : row[i];
        if (static_cast<int>(heap.size()) < k) {
          heap.push_back(v);
          std::push_heap(heap.begin(), heap.end(), root_is_min);
        } else if (v > heap.front()) {
          std::pop_heap(heap.begin(), heap.end(), root_is_min);
          heap.back() = v;
          std::push_heap(heap.begin(), heap.end(), root_is_min);
        }
      }
    }
    return heap.front();
  }
  thread_local std::vector<float> values;
  values.resize(n);
  for (int i = 0; i < n; ++i) values[i] = row[i] != row[i] ? -kInf : row[i];
  std::nth_element(values.begin(), values.begin() + (k - 1), values.end(), std::greater<float>());
  return values[k - 1];
}

}  // namespace

double exp_nonpositive(double x) { return exp_nonpositive_inline(x); }

GN_VECTOR_CLONES void copy_nan_as_neg_inf(const float* src, int n, float* dst) {
  for (int i = 0; i < n; ++i) dst[i] = src[i] != src[i] ? -kInf : src[i];
}

int keep_above_logit_floor(const float* row, int32_t* ids, int count, double temperature, double floor) {
  float max = -kInf;
  bool nan = false;
  for (int i = 0; i < count; ++i) {
    const float v = row[ids[i]];
    nan |= v != v;
    max = v > max ? v : max;
  }
  if (nan || max == kInf || max == -kInf) return count;
  const double m = max;
  int kept = 0;
  for (int i = 0; i < count; ++i) {
    const int32_t id = ids[i];
    ids[kept] = id;
    kept += (static_cast<double>(row[id]) - m) / temperature >= floor;
  }
  return kept;
}

int keep_above_weight_floor(const double* weights, int32_t* ids, int count, double floor) {
  int kept = 0;
  for (int i = 0; i < count; ++i) {
    const int32_t id = ids[i];
    ids[kept] = id;
    kept += weights[id] >= floor;
  }
  return kept;
}

int row_argmax(const float* row, int n) {
  const int32_t key = max_key(row, n);
  if (key == INT32_MIN) return -1;  // empty, or only NaN
  const float best = from_key(key);
  for (int i = 0; i < n; ++i)
    if (row[i] == best) return i;  // the first maximum (either zero for a signed-zero maximum)
  return -1;
}

int topk_candidates(const float* row, int n, int k, int32_t* ids) {
  const float threshold = kth_largest(row, n, k);
  int count = 0;
  for (int i = 0; i < n; ++i)
    if (row[i] >= threshold) ids[count++] = i;  // NaN fails every comparison
  return count;
}

Weighed weigh_candidates(const float* row, int32_t* ids, int count, double temperature, double* weights) {
  Weighed out;
  // Candidates 0..count-1 in order (the whole row, top-k off) take contiguous loops, which the
  // compiler vectorises; others (top-k survivors, a few) the indexed ones.
  int32_t mismatch = 0;
  for (int i = 0; i < count; ++i) mismatch |= ids[i] ^ i;
  const bool contiguous = mismatch == 0;
  float max = -kInf;
  if (contiguous) {
    const int32_t key = max_key(row, count);
    max = key == INT32_MIN ? -kInf : from_key(key);
  } else {
    for (int i = 0; i < count; ++i) {
      const float v = row[ids[i]];
      max = v > max ? v : max;
    }
  }
  out.max = max;
  if (max == -kInf) {
    out.usable = false;
    return out;
  }
  if (max == kInf) {
    for (int i = 0; i < count; ++i) {
      const int32_t id = ids[i];
      if (row[id] == kInf) {
        weights[id] = 1.0;
        ids[out.kept++] = id;
        out.total += 1.0;
      }
    }
    return out;
  }
  // Weights first, then compaction and the sum.
  const double m = max;
  if (contiguous) {
    weigh_contiguous(row, count, m, temperature, weights);
  } else {
    for (int i = 0; i < count; ++i) {
      const int32_t id = ids[i];
      weights[id] = exp_nonpositive_inline((static_cast<double>(row[id]) - m) / temperature);
    }
  }
  // Four partial sums (one dependent add chain would cost 4 cycles per candidate); the total may
  // differ from a left-to-right sum in its last bits, which moves no draw but one landing exactly
  // on a boundary (the draw then takes the last candidate, as after any rounding).
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int i = 0;
  for (; i + 4 <= count; i += 4) {
    const double w0 = weights[ids[i]], w1 = weights[ids[i + 1]], w2 = weights[ids[i + 2]], w3 = weights[ids[i + 3]];
    s0 += w0 > 0 ? w0 : 0.0;
    s1 += w1 > 0 ? w1 : 0.0;
    s2 += w2 > 0 ? w2 : 0.0;
    s3 += w3 > 0 ? w3 : 0.0;
  }
  for (; i < count; ++i) s0 += weights[ids[i]] > 0 ? weights[ids[i]] : 0.0;
  out.total = (s0 + s1) + (s2 + s3);
  if (contiguous) {
    int positive = 0;
    for (int j = 0; j < count; ++j) positive += weights[j] > 0;
    if (positive == count) {  // nothing to drop (the usual case at temperatures near 1)
      out.kept = count;
      return out;
    }
  }
  for (int j = 0; j < count; ++j) {  // drop zero (and NaN) weights, keeping the order
    const int32_t id = ids[j];
    ids[out.kept] = id;
    out.kept += weights[id] > 0;
  }
  return out;
}

}  // namespace gptneo::cpu
