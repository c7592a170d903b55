// The sampling prefilter: select_candidates_row (cpu/candidates.h, the CPU backend's op) equals its
// sort-based oracle bit for bit on rows with ties, NaN, ±Infinity and ±0, at every need and at
// capacities below the count; and sampling from the candidates (cpu/candidate_sampler.h) returns the
// token sample_row returns on the whole row, for greedy and top-k rows with bias and penalties that
// push top tokens down and lift low ones up, which a need without the changed ids would miss.
#include <algorithm>
#include <string>
#include <vector>

#include "cpu/candidate_sampler.h"
#include "cpu/candidates.h"
#include "cpu/ref/ref.h"
#include "cpu/row_sampler.h"
#include "cuda/candidate_key.h"
#include "cuda/radix_select.h"

#include "tests/cpu/harness.h"

namespace gptneo::cputest {

using namespace gptneo::cpu;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Logits on a coarse grid (many exact ties), with a few special values sprinkled in.
std::vector<float> tied_row(Rng& rng, int n, bool specials) {
  std::vector<float> row(static_cast<size_t>(n));
  for (float& v : row) v = static_cast<float>(rng.integer(-40, 40)) * 0.25f;
  if (specials) {
    for (int i = 0; i < n / 50 + 1; ++i) row[rng.integer(0, n - 1)] = kNaN;
    row[rng.integer(0, n - 1)] = -kInf;
    row[rng.integer(0, n - 1)] = -0.0f;
    row[rng.integer(0, n - 1)] = 0.0f;
    if (rng.integer(0, 2) == 0) row[rng.integer(0, n - 1)] = kInf;
  }
  return row;
}

bool same_bits(const float* a, const float* b, int n) { return std::memcmp(a, b, sizeof(float) * n) == 0; }

void test_selection_matches_oracle(Rng& rng) {
  std::vector<uint32_t> keys;
  int cases = 0, same = 0, overflow_ok = 0, overflow_cases = 0;
  for (int t = 0; t < 300; ++t) {
    const int n = t % 3 == 0 ? rng.integer(1, 40) : rng.integer(100, 3000);
    std::vector<float> row = tied_row(rng, n, t % 2 == 0);
    if (t % 17 == 0) std::fill(row.begin(), row.end(), kNaN);
    if (t % 19 == 0) std::fill(row.begin(), row.end(), -kInf);
    const int needs[] = {1, 2, 7, 64, n, n + 3};
    const int need = needs[t % 6];
    std::vector<int32_t> ids(n + 1, -7), want_ids(n + 1, -7);
    std::vector<float> vals(n + 1, 99.f), want_vals(n + 1, 99.f);
    const int want = ref::select_candidates_row(row.data(), n, need, n, want_ids.data(), want_vals.data());
    const int got = select_candidates_row(row.data(), n, need, n, ids.data(), vals.data(), &keys);
    ++cases;
    same += got == want && std::equal(ids.begin(), ids.end(), want_ids.begin()) &&
            same_bits(vals.data(), want_vals.data(), n + 1);
    // The count is at least the need (clamped to n), and below capacity nothing is written.
    if (want > 1) {
      ++overflow_cases;
      std::vector<int32_t> small_ids(n + 1, -7);
      std::vector<float> small_vals(n + 1, 99.f);
      const int c = select_candidates_row(row.data(), n, need, want - 1, small_ids.data(), small_vals.data(), &keys);
      overflow_ok += c == want && std::all_of(small_ids.begin(), small_ids.end(), [](int32_t v) { return v == -7; });
    }
  }
  report(same == cases, "candidates: select_candidates_row equals the sort oracle (ties, NaN, ±inf, ±0)",
         fmt("%g of %g rows", same, cases));
  report(overflow_ok == overflow_cases, "candidates: over capacity, the count comes back and nothing is written",
         fmt("%g of %g rows", overflow_ok, overflow_cases));
  std::vector<int32_t> ids(4, -7);
  std::vector<float> vals(4, 0);
  const float row[4] = {1, 2, 3, 4};
  report(select_candidates_row(row, 4, 0, 4, ids.data(), vals.data(), &keys) == 0 && ids[0] == -7,
         "candidates: need 0 selects nothing", "");
  const float signed_zero[4] = {-0.0f, 0.0f, -1, 0.0f};
  report(select_candidates_row(signed_zero, 4, 1, 4, ids.data(), vals.data(), &keys) == 3 && ids[0] == 0 && ids[2] == 3,
         "candidates: -0 ties with +0", fmt("count %g", select_candidates_row(signed_zero, 4, 1, 4, ids.data(), vals.data(), &keys)));
}

// The CUDA kernel's algorithm (cuda/candidates.cu) run on the host with its own index math
// (cuda/radix_select.h): four radix passes with the warp's bin search written out lane by lane, the
// count from the last pass, then the compaction over 512 threads' contiguous runs.
int emulate_kernel_row(const float* row, int cols, int need, int capacity, int32_t* ids, float* vals) {
  if (need <= 0) return 0;
  need = std::min(need, cols);
  uint32_t prefix = 0, mask = 0;
  int rank = need, equal = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    uint32_t hist[kRadixBins] = {};
    for (int c = 0; c < cols; ++c) {
      const uint32_t k = candidate_key(row[c]);
      if ((k & mask) == prefix) ++hist[(k >> shift) & 0xffu];
    }
    int inclusive = 0, bin = -1, rank_in_bin = 0;
    for (int lane = 0; lane < 32; ++lane) {
      const int own = radix_lane_total(hist, lane);
      inclusive += own;
      if (inclusive >= rank) {  // the first lane the ballot reports
        if (!radix_lane_pick(hist, lane, inclusive - own, rank, &bin, &rank_in_bin)) return -1;
        break;
      }
    }
    if (bin < 0) return -1;
    prefix |= static_cast<uint32_t>(bin) << shift;
    mask |= 0xffu << shift;
    rank = rank_in_bin;
    equal = static_cast<int>(hist[bin]);
  }
  const int count = (need - rank) + equal;
  if (count > capacity) return count;
  const int threads = 512;
  int at = 0;
  for (int t = 0; t < threads; ++t) {  // in thread order = the exclusive scan's offsets
    int begin, end;
    compaction_range(t, threads, cols, &begin, &end);
    for (int c = begin; c < end; ++c)
      if (candidate_key(row[c]) >= prefix) {
        if (at >= count) return -2;  // more matches than the count: the formula is wrong
        ids[at] = c;
        vals[at++] = row[c];
      }
  }
  return at == count ? count : -3;
}

void test_kernel_emulation(Rng& rng) {
  int cases = 0, same = 0;
  for (int t = 0; t < 200; ++t) {
    const int n = t % 4 == 0 ? rng.integer(1, 600) : rng.integer(2000, 50257);
    std::vector<float> row = t % 2 ? tied_row(rng, n, t % 3 == 0) : rng.vec(static_cast<size_t>(n), -30, 30);
    if (t % 23 == 0) std::fill(row.begin(), row.end(), 1.5f);
    const int needs[] = {1, 3, 50, 300, n};
    const int need = needs[t % 5];
    std::vector<int32_t> ids(n, -7), want_ids(n, -7);
    std::vector<float> vals(n, 99.f), want_vals(n, 99.f);
    const int want = ref::select_candidates_row(row.data(), n, need, n, want_ids.data(), want_vals.data());
    const int got = emulate_kernel_row(row.data(), n, need, n, ids.data(), vals.data());
    ++cases;
    same += got == want && ids == want_ids && same_bits(vals.data(), want_vals.data(), n);
  }
  report(same == cases, "candidates: the CUDA kernel's radix select and compaction, emulated, equal the oracle",
         fmt("%g of %g rows", same, cases));
}

// A random spec of the kinds the prefilter serves (greedy, top-k) and some it must refuse.
struct SpecStore {
  RowSampleSpec spec;
  std::vector<int32_t> bias_ids, seen_ids, count_ids, counts;
  std::vector<double> bias_values;
};

void fill_spec(Rng& rng, const std::vector<float>& row, int t, SpecStore* s) {
  const int V = static_cast<int>(row.size());
  SamplingParams& p = s->spec.params;
  const double temps[] = {0, 0.7, 1, 1.4};
  const int top_ks[] = {1, 3, 40, 0};
  p.temperature = temps[t % 4];
  p.top_k = top_ks[(t / 4) % 4];
  p.top_p = t % 3 == 0 ? 0.8 : (t % 5 == 0 ? 0 : 1);
  p.min_p = t % 7 == 0 ? 0.1 : 0;
  p.typical_p = t % 11 == 0 ? 0.7 : 1;
  p.repetition_penalty = t % 2 ? 1.5 : 1;
  p.presence_penalty = t % 3 == 1 ? 1.5 : 0;
  p.frequency_penalty = t % 5 == 2 ? 0.75 : 0;
  s->spec.u = rng.uniform(0, 1) * 0.999;
  // The top of the row by index order of value: penalties aimed at it push its tokens down, so that
  // tokens ranked past k raw enter the top k.
  std::vector<int32_t> order(static_cast<size_t>(V));
  for (int i = 0; i < V; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return candidate_key(row[a]) > candidate_key(row[b]); });
  std::vector<uint8_t> used(static_cast<size_t>(V), 0);
  auto distinct = [&](std::vector<int32_t>* out, int count, int from_top) {
    for (int i = 0; i < count; ++i) {
      const int32_t id = i < from_top ? order[i] : rng.integer(0, V - 1);
      if (!used[id]) {
        used[id] = 1;
        out->push_back(id);
      }
    }
    for (int32_t id : *out) used[id] = 0;
  };
  distinct(&s->seen_ids, t % 9 == 0 ? 0 : 30, 25);
  distinct(&s->count_ids, 8, 6);
  for (size_t i = 0; i < s->count_ids.size(); ++i) s->counts.push_back(1 + static_cast<int32_t>(i % 3));
  distinct(&s->bias_ids, t % 4, 0);  // low-ranked ids, lifted by the bias below
  for (size_t i = 0; i < s->bias_ids.size(); ++i) s->bias_values.push_back(i % 2 ? -3 : 12);
  RowSampleSpec& r = s->spec;
  r.bias_ids = s->bias_ids.data();
  r.bias_values = s->bias_values.data();
  r.bias_count = static_cast<int>(s->bias_ids.size());
  r.seen_ids = s->seen_ids.data();
  r.seen_count = static_cast<int>(s->seen_ids.size());
  r.count_ids = s->count_ids.data();
  r.counts = s->counts.data();
  r.counts_count = static_cast<int>(s->count_ids.size());
}

// Samples from the candidates of `need` (select_candidates_row, then sample_candidates).
int sample_from_top(const std::vector<float>& row, int need, const RowSampleSpec& spec, CandidateScratch* scratch) {
  const int V = static_cast<int>(row.size());
  std::vector<uint32_t> keys;
  std::vector<int32_t> ids(static_cast<size_t>(V));
  std::vector<float> vals(static_cast<size_t>(V));
  const int count = select_candidates_row(row.data(), V, need, V, ids.data(), vals.data(), &keys);
  std::vector<int32_t> changed;
  changed_ids(spec, &changed);
  std::vector<float> changed_vals;
  for (int32_t id : changed) changed_vals.push_back(row[id]);
  return sample_candidates(ids.data(), vals.data(), count, changed.data(), changed_vals.data(),
                           static_cast<int>(changed.size()), V, spec, scratch);
}

void test_sampling_from_candidates(Rng& rng) {
  const int V = 1201;
  CandidateScratch scratch;
  RowSamplerScratch full_scratch;
  int served = 0, exact = 0, refused_ok = 0, refused = 0, needs_full = 0, short_need_differs = 0;
  for (int t = 0; t < 1600; ++t) {
    std::vector<float> row = t % 2 ? tied_row(rng, V, t % 8 == 1) : rng.vec(V, -8, 8);
    SpecStore store;
    fill_spec(rng, row, t, &store);
    const RowSampleSpec& spec = store.spec;
    const int full = sample_row(row.data(), V, spec, &full_scratch);
    const int need = candidate_need(spec, V);
    const bool eligible = spec.params.temperature == 0 || spec.params.top_k > 0;
    if (!eligible) {
      ++refused;
      refused_ok += need == 0;
      continue;
    }
    const int got = sample_from_top(row, need, spec, &scratch);
    if (got == kNeedFullRow) {
      ++needs_full;
      continue;
    }
    ++served;
    exact += got == full;
    // The same with the need of the top-k alone: the penalised top tokens make it miss some rows.
    const int k = spec.params.temperature == 0 ? 1 : spec.params.top_k;
    if (need > k && sample_from_top(row, k, spec, &scratch) != full) ++short_need_differs;
  }
  report(exact == served && served > 900, "candidates: sampling from the top candidates equals sample_row on the whole row",
         fmt("%g of %g rows (%g needed the full row)", exact, served, needs_full));
  report(refused_ok == refused && refused > 0, "candidates: temperature > 0 without top-k needs the whole row (need 0)",
         fmt("%g of %g", refused_ok, refused));
  report(short_need_differs > 20, "candidates: the changed ids' share of the need matters (k alone misses rows)",
         fmt("%g rows differ", short_need_differs));
}

void test_edge_cases() {
  // Top-k 3 over a row whose third value is -Infinity: the threshold is not finite, so the candidates
  // decide nothing (the full row would take every non-NaN token as a tie with -Infinity).
  const std::vector<float> row = {2, 1, -kInf, -kInf, kNaN, -kInf};
  RowSampleSpec spec;
  spec.params.temperature = 1;
  spec.params.top_k = 3;
  CandidateScratch scratch;
  report(candidate_need(spec, 6) == 3 && sample_from_top(row, 3, spec, &scratch) == kNeedFullRow,
         "candidates: a -Infinity threshold asks for the full row", "");
  const int32_t ids[3] = {0, 1, 2};
  // A need that reaches the vocabulary is 0 (the full row is cheaper than the selection).
  RowSampleSpec wide;
  wide.params.temperature = 1;
  wide.params.top_k = 5;
  report(candidate_need(wide, 6) == 5 && candidate_need(wide, 5) == 0, "candidates: top-k >= vocab needs the full row", "");
  // A changed id missing from the candidates is refused, not guessed.
  const int32_t bias_id[1] = {4};
  const double bias_value[1] = {1};
  RowSampleSpec biased = spec;
  biased.bias_ids = bias_id;
  biased.bias_values = bias_value;
  biased.bias_count = 1;
  const float finite[3] = {2, 1, 0.5f};
  report(sample_candidates(ids, finite, 3, nullptr, nullptr, 0, 6, biased, &scratch) == kNeedFullRow,
         "candidates: a changed id without its logit asks for the full row", "");
}

}  // namespace

void test_candidates(Rng& rng) {
  test_selection_matches_oracle(rng);
  test_kernel_emulation(rng);
  test_sampling_from_candidates(rng);
  test_edge_cases();
}

}  // namespace gptneo::cputest
