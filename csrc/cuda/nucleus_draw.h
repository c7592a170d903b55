// The nucleus draw: a top-p row's token drawn where its logits are (cuda/draw.cu, a query with
// kDrawTopP set; its host emulation cpu::draw_row), so that a top-p row brings one word to the host
// whatever the size of its nucleus. The per-token arithmetic and the certificate, shared by the
// kernel and the emulation.
//
// What it must reproduce (cpu/nucleus_bound.h): rank the row's tokens by weight, descending, ties by
// lower id; R_r the sum of the first r. sample_row's nucleus is the first j tokens with R_j >= p·S
// (S its sum of all weights), left in id order; its token is the first of them, in id order, whose
// cumulative weight passes u·R_j.
//
// Finding the boundary. A processed logit orders as its key (cuda/candidate_key.h), and a weight grows
// with the logit. Four radix passes over the key's bytes, from the top, histogram the weight of the
// tokens whose keys match the bytes chosen so far; each picks the bin, from the highest down, where
// the mass above it plus its own first reaches p times the row's mass. After the fourth the boundary
// key K is known: the tokens above it, and the K group (tokens of one logit, so one weight on the host
// and one on the device). These passes weigh in float (nucleus_mass: within a few float ulps of the
// weight) and add in fixed point (64-bit integers: exact in any order, so the histograms are the same on
// every launch; the emulation's differ only where glibc's expf and CUDA's do, by an ulp); they only
// choose K. A last pass weighs in double (draw_weight, as the temperature draw), sums the row (S', as
// the temperature draw's second pass), and gives A' (the weight above K), w_K, the group's size c, the
// smallest weight above K and the largest below it. The certificate (nucleus_take):
//   t = how many of the K group the nucleus takes: the least t with A' + t·w_K >= p·S';
//   it holds when A' + (t - 1)·w_K + δ <= p·S' <= A' + t·w_K - δ with δ = draw_margin(V, S') (so each
//   comparison sample_row's quickselect makes falls the same way, nucleus_bound.h), and when every
//   weight above K exceeds w_K, and every weight below falls short of it, by a relative 2^-40 (the
//   host's weights are within ~2^-52·1500 of ours: it ranks the groups as we do). Within the K group
//   both rank by id: the nucleus takes the group's t lowest ids.
// Then the draw over the nucleus in id order, with R' = A' + t·w_K and δ = draw_margin(j, R'), as the
// temperature draw over its kept tokens (cpu/device_draw.h).
// Min-p after the nucleus (sample_row's filter_after_nucleus): it keeps the nucleus tokens whose weight is
// at least min_p times the top token's (whose weight is e^0 = 1 on both sides), a set of the top tokens
// like the nucleus itself, so the kept set is the smaller of the two (nucleus_min_p): the whole nucleus
// when w_K clears min_p by kDrawMinPMargin, else — when w_K falls short of it by the margin — the tokens
// of weight >= min_p (all above K, so all in the nucleus), certain only if no weight in the row lies
// within the margin of min_p (draw_weight's flag); the draw then walks those with their own sum and count.
// w_K within the margin of min_p: uncertain. Where the float passes picked a K whose
// group does not hold the crossing in double (the crossing within ~1e-7 of a group's edge), no t
// certifies, and the row is sampled whole: uncertain, never wrong. (nvcc contracts some of the
// certificate's multiply-adds into fmas where the host rounds twice: kernel and emulation may differ on
// a case within a rounding of a margin, certified on one side and uncertain on the other, never in the
// token.)
#pragma once
#include <cmath>
#include <cstdint>

#include "cuda/draw_bound.h"
#include "cuda/host_device.h"
#include "cuda/radix_select.h"

namespace gptneo {

// A fixed-point mass (the type CUDA's 64-bit atomicAdd takes).
using NucleusMass = unsigned long long;

constexpr int kNucleusPasses = 4;             // one per byte of the 32-bit key
constexpr int kNucleusNoBin = kRadixBins;     // a token outside the passes' prefix
constexpr double kNucleusRankMargin = 0x1p-40;  // how far (relative) the groups' weights must stay apart

// The fixed-point scale of the passes' weights (each in [0, 1]): 2^s with cols·2^s <= 2^63, so that a
// row's total fits 64 bits, and s <= 47, so that a weight splits into halves a warp can sum in 32 bits
// (nucleus_mass_low/high). (GPT-2's 50257: 2^47, a quantum of 2^-47 per weight.)
constexpr int kNucleusMassBits = 47;
GN_HD double nucleus_mass_scale(int cols) {
  int bits = 0;
  while ((int64_t{1} << bits) < cols) ++bits;
  const int s = 63 - bits < kNucleusMassBits ? 63 - bits : kNucleusMassBits;
  double scale = 1;
  for (int i = 0; i < s; ++i) scale *= 2;
  return scale;
}

// A mass (at most 2^47, a hair more if expf rounds up at 0) as two 32-bit halves whose sums over a
// warp's 32 lanes cannot overflow (under 2^29 each), so a warp sums them with 32-bit reductions.
GN_HD unsigned nucleus_mass_low(NucleusMass m) { return static_cast<unsigned>(m & 0xffffffu); }
GN_HD unsigned nucleus_mass_high(NucleusMass m) { return static_cast<unsigned>(m >> 24); }
GN_HD NucleusMass nucleus_mass_join(unsigned high, unsigned low) { return (static_cast<NucleusMass>(high) << 24) + low; }

// A token's weight in the passes: e^x, x = (v - max) / T, in fixed point (truncated). x is split into a
// float and its float remainder, e^x ~ e^x_hi (1 + x_lo): rounding x itself to float would cost a relative
// 2^-24 |x| (up to 2^-20 for the weights that matter), which puts more boundaries in the wrong bin (each
// then only uncertain); split, the error is expf's couple of ulps.
GN_HD NucleusMass nucleus_mass(float v, double max, double inv_t, double scale) {
  const double x = (static_cast<double>(v) - max) * inv_t;
  const float hi = static_cast<float>(x);
  const float lo = hi > -128.0f ? static_cast<float>(x - static_cast<double>(hi)) : 0.0f;  // (e^hi is 0 below: -Infinity too)
  return static_cast<NucleusMass>(static_cast<double>(expf(hi) * (1.0f + lo)) * scale);
}

// The key's byte that pass `pass` (0: the top byte) histograms, and whether the key matches the bytes
// the passes before it chose (prefix holds them in place; pass 0 takes every key).
GN_HD int nucleus_digit(uint32_t key, int pass) { return static_cast<int>((key >> (24 - 8 * pass)) & 0xffu); }
GN_HD bool nucleus_in_prefix(uint32_t key, uint32_t prefix, int pass) {
  return pass == 0 || (key >> (32 - 8 * pass)) == (prefix >> (32 - 8 * pass));
}

// The mass the first pass must reach: p times the row's, at least one quantum.
GN_HD NucleusMass nucleus_goal(NucleusMass total, double top_p) {
  const double g = ceil(top_p * static_cast<double>(total));
  if (!(g >= 1)) return 1;
  return g >= static_cast<double>(total) ? total : static_cast<NucleusMass>(g);
}

// The weight in lane `lane`'s bins (the warp's lanes hold the bins from the top down, radix_select.h).
GN_HD NucleusMass nucleus_lane_mass(const NucleusMass* hist, int lane) {
  NucleusMass total = 0;
  for (int i = 0; i < kRadixBinsPerLane; ++i) total += hist[radix_lane_bin(lane, i)];
  return total;
}

// For the lane whose bins hold the crossing (`before`: the mass in higher lanes' bins, below goal): the
// first bin, from the top, whose mass brings the total to goal, and the mass above it. False when this
// lane's bins end first.
GN_HD bool nucleus_lane_pick(const NucleusMass* hist, int lane, NucleusMass before, NucleusMass goal, int* bin,
                             NucleusMass* above) {
  for (int i = 0; i < kRadixBinsPerLane; ++i) {
    const int b = radix_lane_bin(lane, i);
    if (before + hist[b] >= goal) {
      *bin = b;
      *above = before;
      return true;
    }
    before += hist[b];
  }
  return false;
}

// What the last pass found about the boundary key K.
struct NucleusBoundary {
  double above = 0;      // A': the weight of the tokens above K (a sum in any order)
  double w_k = 0;        // the K group's weight (one value)
  int count_k = 0;       // c: the K group's size
  int count_above = 0;   // the tokens above K
  double min_above = 0;  // the smallest weight above K (any value when count_above == 0)
  double max_below = 0;  // the largest weight below K (0 when none)
};

// The certificate: t (1..c, how many of the K group the nucleus takes) when it holds, else 0. goal:
// p·S'; delta: draw_margin(V, S').
GN_HD int nucleus_take(const NucleusBoundary& b, double goal, double delta) {
  if (!(b.count_k > 0 && b.w_k > 0)) return 0;
  if (b.count_above > 0 && !(b.min_above > b.w_k * (1 + kNucleusRankMargin))) return 0;
  if (!(b.max_below < b.w_k * (1 - kNucleusRankMargin))) return 0;
  const double need = goal - b.above;
  if (!(need > 0)) return 0;
  const double t = ceil(need / b.w_k);
  if (!(t <= static_cast<double>(b.count_k))) return 0;
  const int take = t < 1 ? 1 : static_cast<int>(t);
  const double lower = b.above + static_cast<double>(take - 1) * b.w_k;
  const double upper = b.above + static_cast<double>(take) * b.w_k;
  // (lower == 0: the nucleus is the top token, which sample_row keeps however small p·S is.)
  return (lower == 0 || lower + delta <= goal) && goal <= upper - delta ? take : 0;
}

// What min-p (0: off; at most 1) does to a certified nucleus whose K group weighs w_k (see the top).
// top_group: nothing lies above K (the nucleus is within the row's max group, whose weights are exactly 1
// on both sides: min-p keeps them all). near_min_p: some weight of the row lies within kDrawMinPMargin of
// min_p (draw_weight's flag).
enum NucleusMinP { kNucleusKept = 0, kNucleusCutByMinP = 1, kNucleusMinPUncertain = 2 };
GN_HD int nucleus_min_p(double w_k, bool top_group, double min_p, bool near_min_p) {
  if (!(min_p > 0) || w_k >= min_p * (1 + kDrawMinPMargin) || (top_group && min_p <= 1)) return kNucleusKept;
  if (w_k <= min_p * (1 - kDrawMinPMargin) && !near_min_p) return kNucleusCutByMinP;
  return kNucleusMinPUncertain;
}

}  // namespace gptneo
