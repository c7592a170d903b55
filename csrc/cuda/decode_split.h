// The decode attention kernel's split plan (decode_splits) and the keys one block of it takes
// (decode_key_range). Keys: query at absolute
// position pos, local window `window` (0: none), split `split` of `splits`, `chunk` keys per split.
// The splits partition the query's keys [first, pos]; the last split runs to pos even where the
// plan's context understated it. In append mode (the query's own k/v not cached yet) the split holding
// pos reads the cache up to it and takes key pos from registers. Host and device alike, so that
// tests/cpu/decode_split.cpp checks the partition and the plans without a GPU.
#pragma once
#include "cuda/host_device.h"

namespace gncuda {

// Decode kernel (attention_decode.cuh; one query per block, no shared-memory K/V staging):
// a block of kDecodeWarps warps serves one (query, head, split); groups of DMAX/8 lanes take
// one key each (a lane owns 8 of the head's dims: 2 float4 of K and 2 of V), kDecodeUnroll keys
// per group are loaded before the first is used. The slot numbers of up to kDecodeSlotTile keys
// are looked up once per block into shared memory. Splits only when the (query, head) grid is
// under kDecodeBlocksPerSm * SMs blocks, and never into chunks under kDecodeMinIters rounds.
constexpr int kDecodeWarps = 8;
constexpr int kDecodeUnroll = 4;
// Keys per group in flight for 16-bit caches with GPTNEO_CUDA_DECODE_KEYS16=8 (gn_cuda_decode_keys16): held
// as the 8 loaded bytes, the same registers as kDecodeUnroll float32 keys, twice the bytes in flight.
constexpr int kDecodeUnrollWide = 8;
constexpr int kDecodeSlotTile = 512;
constexpr int kDecodeBlocksPerSm = 4;
constexpr int kDecodeMinIters = 2;
// Keys a block consumes per round: (warps * 32 / lanes-per-key) groups x unroll.
constexpr int decode_keys_per_round(int dmax, int unroll = kDecodeUnroll) { return kDecodeWarps * (32 / (dmax / 8)) * unroll; }

// Keys per split when `span` keys are cut `want` ways in whole rounds of `round` keys.
inline int decode_chunk(int span, int want, int round) { return (((span + want - 1) / want + round - 1) / round) * round; }

// Splits of `span` keys for the decode kernel: only when the grid of `base` blocks would leave SMs
// idle, never more than max_splits, each split a whole number of rounds (of `unroll` keys per group)
// and at least kDecodeMinIters of them. Returns the split count; *chunk = keys per split.
inline int decode_splits(int span, long long base, int sms, int dmax, int unroll, int max_splits, int* chunk) {
  const int round = decode_keys_per_round(dmax, unroll);
  const int min_chunk = kDecodeMinIters * round;
  *chunk = 1 << 30;
  const long long target = (long long)kDecodeBlocksPerSm * sms;
  if (span < 2 * min_chunk || base >= target) return 1;
  int want = (int)((target + base - 1) / base);
  want = want < span / min_chunk ? want : span / min_chunk;
  want = want < max_splits ? want : max_splits;
  if (want <= 1) return 1;
  *chunk = decode_chunk(span, want, round);
  return (span + *chunk - 1) / *chunk;  // <= want
}

// Rounds of keys the longest block of a plan of `want` splits walks (chunk as decode_splits makes it),
// the split count that plan really has in *splits and its chunk in *chunk (1 << 30 unsplit).
inline int decode_plan_rounds(int span, int want, int round, int* splits, int* chunk) {
  if (want <= 1) {
    *splits = 1;
    *chunk = 1 << 30;
    return (span + round - 1) / round;
  }
  *chunk = decode_chunk(span, want, round);
  *splits = (span + *chunk - 1) / *chunk;
  return *chunk / round;
}

// The wave-aware plan (GPTNEO_CUDA_DECODE_SPLIT=waves, opt-in until a GPU has timed it; NOTES.md round
// 19): among the plans of 1 to decode_splits' count (so the workspace still covers it), the one with the
// fewest waves x rounds, where a wave is `resident` blocks on each of `sms` SMs (the kernel's occupancy)
// and a round is decode_keys_per_round keys; merging splits costs one round more. Ties go to fewer
// splits. decode_splits aims at 4 blocks per SM and ignores how its grid divides into waves: 1.3B, 8
// sequences at 2048 keys plans 5 splits (640 blocks, 3 waves of 264 at 2 blocks per SM: 3 x 7 rounds)
// where 2 take 1 x 16. Same contract as decode_splits: returns the count, *chunk = keys per split.
inline int decode_splits_waves(int span, long long base, int sms, int resident, int dmax, int unroll, int max_splits,
                               int* chunk) {
  const int most = decode_splits(span, base, sms, dmax, unroll, max_splits, chunk);
  if (most <= 1 || resident < 1 || sms < 1) return most;
  const int round = decode_keys_per_round(dmax, unroll);
  const long long slots = (long long)resident * sms;
  int best_want = most;
  long long best_cost = -1;
  for (int want = 1; want <= most; ++want) {
    int splits = 1, want_chunk = 0;
    const int rounds = decode_plan_rounds(span, want, round, &splits, &want_chunk);
    if (splits > most) continue;
    const long long waves = (base * splits + slots - 1) / slots;
    const long long cost = waves * rounds + (splits > 1 ? 1 : 0);
    if (best_cost < 0 || cost < best_cost) {
      best_cost = cost;
      best_want = want;
    }
  }
  int splits = 1;
  decode_plan_rounds(span, best_want, round, &splits, chunk);
  if (splits <= 1) *chunk = 1 << 30;  // (unsplit, as decode_splits says it)
  return splits;
}

struct DecodeKeyRange {
  int begin;        // first key of this split
  int end;          // one past its last key (end <= begin: none)
  bool own;         // append mode and pos is in [begin, end): this block takes key pos from registers
  int cache_end;    // keys read from the cache: [begin, cache_end)
};

GN_HD DecodeKeyRange decode_key_range(int pos, int window, int split, int splits, int chunk, bool append) {
  const int first = window > 0 ? (pos - window + 1 > 0 ? pos - window + 1 : 0) : 0;
  const int begin = first + split * chunk;
  const int end = split == splits - 1 ? pos + 1 : (pos + 1 < begin + chunk ? pos + 1 : begin + chunk);
  const bool own = append && begin <= pos && pos < end;
  return DecodeKeyRange{begin, end, own, own ? pos : end};
}

}  // namespace gncuda
