// kv_write and attention_paged drivers (threading, block-table addressing), plus the portable
// per-row ops. The vectorised rows live in attention_avx2.cpp / attention_avx512.cpp.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu/attention_row.h"
#include "cpu/kernels.h"
#include "cpu/ops.h"

namespace gptneo::cpu {

namespace portable {

struct ScalarOps {
  static float dot(const float* a, const float* b, int n) {
    float s[4] = {0, 0, 0, 0};
    int i = 0;
    for (; i + 4 <= n; i += 4)
      for (int u = 0; u < 4; ++u) s[u] += a[i + u] * b[i + u];
    for (; i < n; ++i) s[0] += a[i] * b[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
  }
  static void dots(const float* q, const float* const* rows, int n, int d, float scale, float* s) {
    for (int i = 0; i < n; ++i) s[i] = scale * dot(q, rows[i], d);
  }
  static void accumulate(float* acc, const float* p, const float* const* rows, int n, int d) {
    for (int i = 0; i < n; ++i)
      for (int e = 0; e < d; ++e) acc[e] += p[i] * rows[i][e];
  }
  static void scale(float* y, float alpha, int n) {
    for (int i = 0; i < n; ++i) y[i] *= alpha;
  }
  static float max_of(const float* s, int n) {
    float m = s[0];
    for (int i = 1; i < n; ++i) m = std::max(m, s[i]);
    return m;
  }
  static float exp_shift_sum(float* s, int n, float m) {
    float sum = 0.0f;
    for (int i = 0; i < n; ++i) {
      s[i] = std::exp(s[i] - m);
      sum += s[i];
    }
    return sum;
  }
};

void attention_rows(const AttnRowArgs* rows, int count) { attend_rows<ScalarOps>(rows, count); }

}  // namespace portable

namespace {

// seq index of every new token, from seq_starts.
std::vector<int> token_sequences(const PagedBatch& b) {
  std::vector<int> seq(b.num_seqs > 0 ? b.seq_starts[b.num_seqs] : 0);
  for (int s = 0; s < b.num_seqs; ++s)
    for (int t = b.seq_starts[s]; t < b.seq_starts[s + 1]; ++t) seq[t] = s;
  return seq;
}

size_t cache_slot(const PagedBatch& b, int seq, int pos) {
  int block = b.block_tables[static_cast<size_t>(seq) * b.max_blocks + pos / b.block_size];
  return static_cast<size_t>(block) * b.block_size + pos % b.block_size;
}

AttnRowsFn rows_fn(SimdLevel level) {
  switch (level) {
    case SimdLevel::kAmx:
    case SimdLevel::kAvx512Bf16:
    case SimdLevel::kAvx512: return avx512::attention_rows;
    case SimdLevel::kAvx2: return avx2::attention_rows;
    case SimdLevel::kPortable: break;
  }
  return portable::attention_rows;
}

// Runs of up to kAttnMaxQueries consecutive new tokens of one sequence: [begin, end) pairs.
std::vector<std::pair<int, int>> query_blocks(const PagedBatch& b) {
  std::vector<std::pair<int, int>> out;
  for (int s = 0; s < b.num_seqs; ++s)
    for (int t = b.seq_starts[s]; t < b.seq_starts[s + 1]; t += kAttnMaxQueries)
      out.emplace_back(t, std::min(b.seq_starts[s + 1], t + kAttnMaxQueries));
  return out;
}

}  // namespace

void kv_write(const float* k, const float* v, int ldkv, const PagedBatch& batch, int heads, int head_dim,
              float* k_cache, float* v_cache, ThreadPool& pool) {
  const std::vector<int> seq = token_sequences(batch);
  const size_t row = static_cast<size_t>(heads) * head_dim;
  pool.parallel_for(static_cast<int64_t>(seq.size()), 16, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      size_t slot = cache_slot(batch, seq[t], batch.positions[t]);
      std::memcpy(k_cache + slot * row, k + t * ldkv, row * sizeof(float));
      std::memcpy(v_cache + slot * row, v + t * ldkv, row * sizeof(float));
    }
  });
}

void attention_paged(const float* q, int ldq, const float* k_cache, const float* v_cache, const PagedBatch& batch,
                     int heads, int head_dim, int window, float scale, float* out, int ldo, ThreadPool& pool,
                     SimdLevel level) {
  const std::vector<int> seq = token_sequences(batch);
  const int tokens = static_cast<int>(seq.size());
  if (tokens == 0 || heads <= 0 || head_dim <= 0) return;
  const AttnRowsFn fn = rows_fn(level);
  const size_t row_stride = static_cast<size_t>(heads) * head_dim;
  const std::vector<std::pair<int, int>> blocks = query_blocks(batch);
  const int nblocks = static_cast<int>(blocks.size());
  // Head-major job order: consecutive jobs (on one thread) reuse one head's keys and values,
  // which is what keeps a long prefill's K/V in cache (a cache row interleaves all heads).
  pool.run(nblocks * heads, [&](int job, int) {
    const int h = job / nblocks;
    const auto [t0, t1] = blocks[job % nblocks];
    AttnRowArgs rows[kAttnMaxQueries];
    for (int t = t0; t < t1; ++t) {
      const int pos = batch.positions[t];
      AttnRowArgs& a = rows[t - t0];
      a.q = q + static_cast<size_t>(t) * ldq + h * head_dim;
      a.k_cache = k_cache + h * head_dim;
      a.v_cache = v_cache + h * head_dim;
      a.block_table = batch.block_tables + static_cast<size_t>(seq[t]) * batch.max_blocks;
      a.block_size = batch.block_size;
      a.row_stride = row_stride;
      a.j_hi = pos;
      a.j_lo = window > 0 ? std::max(0, pos - window + 1) : 0;
      a.head_dim = head_dim;
      a.scale = scale;
      a.out = out + static_cast<size_t>(t) * ldo + h * head_dim;
    }
    fn(rows, t1 - t0);
  });
}

}  // namespace gptneo::cpu
