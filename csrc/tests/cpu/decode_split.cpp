// The key ranges of the CUDA decode attention kernel's splits (cuda/decode_split.h), checked on the
// host: for every query position, window and split plan (chunks as the planner makes them, and plans
// made for a shorter context than the query's, whose last split must run to the end), the splits'
// ranges are disjoint and together exactly the query's keys [max(0, pos - window + 1), pos]; in
// append mode exactly one split owns key pos and the cache reads of all splits are those keys
// without pos. And the planner (decode_splits) over GPT-Neo's grids: its splits cover the span in whole
// rounds of at least kDecodeMinIters, stay within the cap, and a plan with 8 keys per group in flight
// (kDecodeUnrollWide, GPTNEO_CUDA_DECODE_KEYS16=8) never splits more than the plan with 4 of the same
// step — gn_cuda_attention_workspace_bytes sizes the workspace by the latter. The wave-aware planner
// (decode_splits_waves, GPTNEO_CUDA_DECODE_SPLIT=waves) keeps those properties, never splits more than
// the fill plan (the workspace), and its plan costs no more waves x rounds than the fill plan's or no split.
#include <vector>

#include "cuda/decode_split.h"
#include "tests/cpu/harness.h"
#include "tests/report.h"

namespace gptneo::cputest {
namespace {

using gptneo::testing::fmt;

bool check(int pos, int window, int splits, int chunk, bool append) {
  const int first = window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0;
  std::vector<int> seen(pos + 1, 0), cached(pos + 1, 0);
  int owners = 0;
  for (int s = 0; s < splits; ++s) {
    const gncuda::DecodeKeyRange r = gncuda::decode_key_range(pos, window, s, splits, chunk, append);
    for (int j = r.begin; j < r.end; ++j) {
      if (j < 0 || j > pos) return false;
      ++seen[j];
    }
    for (int j = r.begin; j < r.cache_end; ++j) ++cached[j];
    owners += r.own;
    if (r.own != (append && r.begin <= pos && pos < r.end) || (!r.own && r.cache_end != r.end)) return false;
  }
  for (int j = 0; j <= pos; ++j) {
    const int want = j >= first ? 1 : 0;
    if (seen[j] != want) return false;
    if (cached[j] != (append && j == pos ? 0 : want)) return false;
  }
  return owners == (append ? 1 : 0);
}

}  // namespace

void test_decode_split() {
  int cases = 0, bad = 0;
  std::string first_bad;
  for (int pos : {0, 1, 5, 63, 64, 65, 127, 128, 255, 256, 511, 600, 1023, 2047})
    for (int window : {0, 1, 32, 256, 700})
      for (int chunk : {64, 128, 256, 512})
        for (int planned : {1, pos / 2 + 1, pos + 1})  // the context the plan was made for
          for (bool append : {false, true}) {
            const int span = window > 0 && window < planned ? window : planned;
            const int splits = (span + chunk - 1) / chunk;
            ++cases;
            if (!check(pos, window, splits, chunk, append)) {
              if (bad++ == 0)
                first_bad = gptneo::testing::fmt("pos=%d window=%d chunk=%d planned=%d append=%d", pos, window, chunk, planned, append);
            }
          }
  report(bad == 0, gptneo::testing::fmt("decode_split: %d plans partition the keys, one owner of pos in append mode", cases),
         bad ? gptneo::testing::fmt("%d bad, first: %s", bad, first_bad.c_str()) : "");
}

void test_decode_split_plans() {
  int cases = 0, bad = 0;
  std::string first_bad;
  auto fail = [&](const std::string& what) {
    if (bad++ == 0) first_bad = what;
  };
  for (int sms : {1, 78, 108, 132, 144})
    for (int dmax : {64, 128})
      for (long long base : {1LL, 12LL, 16LL, 96LL, 128LL, 384LL, 2048LL})  // tokens x heads
        for (int span = 1; span <= 2048; span = span < 64 ? span + 7 : span * 5 / 4 + 3)
          for (int cap : {64, 5, 2}) {
            int splits_of[2] = {0, 0};
            for (int w = 0; w < 2; ++w) {
              const int unroll = w ? gncuda::kDecodeUnrollWide : gncuda::kDecodeUnroll;
              const int round = gncuda::decode_keys_per_round(dmax, unroll);
              int chunk = 0;
              const int splits = gncuda::decode_splits(span, base, sms, dmax, unroll, cap, &chunk);
              splits_of[w] = splits;
              ++cases;
              const std::string what = gptneo::testing::fmt("sms=%d dmax=%d base=%lld span=%d cap=%d unroll=%d: %d splits of %d",
                                           sms, dmax, base, span, cap, unroll, splits, chunk);
              if (splits < 1 || splits > cap) fail(what + " (count)");
              else if (splits > 1 && (chunk % round != 0 || chunk < gncuda::kDecodeMinIters * round)) fail(what + " (chunk)");
              else if (splits > 1 && ((long long)(splits - 1) * chunk >= span || (long long)splits * chunk < span))
                fail(what + " (cover)");
            }
            if (splits_of[1] > splits_of[0])
              fail(gptneo::testing::fmt("sms=%d dmax=%d base=%lld span=%d cap=%d: 8 keys split %d ways, 4 keys %d", sms, dmax, base, span,
                       cap, splits_of[1], splits_of[0]));
          }
  report(bad == 0, gptneo::testing::fmt("decode_split: %d plans in whole rounds, within the cap, 8 keys never past 4's workspace", cases),
         bad ? gptneo::testing::fmt("%d bad, first: %s", bad, first_bad.c_str()) : "");
}

// waves x rounds (+1 round to merge splits) of a plan, computed from its split count and chunk alone.
static long long wave_cost(int span, long long base, int slots, int splits, int chunk, int round) {
  const long long waves = (base * splits + slots - 1) / slots;
  const long long rounds = splits > 1 ? chunk / round : (span + round - 1) / round;
  return waves * rounds + (splits > 1 ? 1 : 0);
}

void test_decode_split_waves() {
  int cases = 0, bad = 0, changed = 0;
  std::string first_bad;
  auto fail = [&](const std::string& what) {
    if (bad++ == 0) first_bad = what;
  };
  for (int sms : {1, 78, 108, 132, 144})
    for (int resident : {1, 2, 3, 8})
      for (int dmax : {64, 128})
        for (long long base : {1LL, 12LL, 96LL, 128LL, 144LL, 384LL, 2048LL})
          for (int span = 1; span <= 2048; span = span < 64 ? span + 7 : span * 5 / 4 + 3)
            for (int unroll : {gncuda::kDecodeUnroll, gncuda::kDecodeUnrollWide})
              for (int cap : {64, 5}) {
                const int round = gncuda::decode_keys_per_round(dmax, unroll);
                int fill_chunk = 0, chunk = 0;
                const int fill = gncuda::decode_splits(span, base, sms, dmax, unroll, cap, &fill_chunk);
                const int splits = gncuda::decode_splits_waves(span, base, sms, resident, dmax, unroll, cap, &chunk);
                ++cases;
                changed += splits != fill;
                const std::string what = fmt("sms=%g resident=%g dmax=%g", sms, resident, dmax) +
                                         fmt(" base=%g span=%g unroll=%g", (double)base, span, unroll) +
                                         fmt(" cap=%g: %g splits of %g", cap, splits, chunk) + fmt(" (fill %g)", fill);
                const int slots = resident * sms;
                if (splits < 1 || splits > fill) fail(what + " (count)");
                else if (splits > 1 && (chunk % round != 0 || chunk < gncuda::kDecodeMinIters * round))
                  fail(what + " (chunk)");
                else if (splits > 1 && ((long long)(splits - 1) * chunk >= span || (long long)splits * chunk < span))
                  fail(what + " (cover)");
                else if (wave_cost(span, base, slots, splits, chunk, round) >
                             wave_cost(span, base, slots, fill, fill_chunk, round) ||
                         wave_cost(span, base, slots, splits, chunk, round) > wave_cost(span, base, slots, 1, 0, round))
                  fail(what + " (costs more than the fill plan or no split)");
              }
  // The planner's cases in NOTES.md round 18: 1.3B (16 heads of 128), 8 sequences at 2048 keys, 132 SMs.
  int chunk = 0;
  const int fill = gncuda::decode_splits(2048, 128, 132, 128, gncuda::kDecodeUnroll, 64, &chunk);
  const int f32 = gncuda::decode_splits_waves(2048, 128, 132, 2, 128, gncuda::kDecodeUnroll, 64, &chunk);
  const int f32_chunk = chunk;
  const int b16 = gncuda::decode_splits_waves(2048, 128, 132, 3, 128, gncuda::kDecodeUnroll, 64, &chunk);
  const int none = gncuda::decode_splits_waves(2048, 128, 132, 0, 128, gncuda::kDecodeUnroll, 64, &chunk);
  if (fill != 5 || f32 != 2 || f32_chunk != 1024 || b16 != 3 || none != 5)
    fail(fmt("1.3B 8 x 2048: fill %g, float32 cache %g of %g", fill, f32, f32_chunk) +
         fmt(", 16-bit %g, no occupancy %g (want 5, 2 of 1024, 3, 5)", b16, none));
  report(bad == 0 && changed > 0,
         fmt("decode_split: %g wave-aware plans (%g unlike the fill plan) in whole rounds, within the fill plan's", cases,
             changed) +
             " count, costing no more waves x rounds; 1.3B 8 x 2048 plans 2 splits (float32) / 3 (16-bit) for 5",
         bad ? std::to_string(bad) + " bad, first: " + first_bad : "");
}

}  // namespace gptneo::cputest
