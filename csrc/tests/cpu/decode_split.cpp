// The key ranges of the CUDA decode attention kernel's splits (cuda/decode_split.h), checked on the
// host: for every query position, window and split plan (chunks as the planner makes them, and plans
// made for a shorter context than the query's, whose last split must run to the end), the splits'
// ranges are disjoint and together exactly the query's keys [max(0, pos - window + 1), pos]; in
// append mode exactly one split owns key pos and the cache reads of all splits are those keys
// without pos.
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

}  // namespace gptneo::cputest
