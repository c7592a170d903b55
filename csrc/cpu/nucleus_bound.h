// Deciding a top-p row's nucleus from its top candidates and the device's sum of the row's weights,
// so that a GPU step brings a few hundred values per top-p row to the host instead of 201 KB
// (model/device_sampling.h). It rests on keep_nucleus leaving the nucleus in id order: the token
// sample_row draws then depends on which tokens the nucleus holds, on their weights and on nothing
// else.
//
// The nucleus sample_row keeps. Rank the row's tokens by weight, descending (ties: lower id first),
// and let R_r be the exact sum of the first r weights. The nucleus is the top j tokens where j is the
// first rank with R_j >= p·S (S: sample_row's sum of all weights; at least one token). sample_row
// finds it by a quickselect over the tokens above a floor (S(1 - p) / 2V): each comparison it makes
// sets a computed sum of some leading run of the ranking (its `before + mass`) against p·S, and a
// sum of r <= n nonnegative doubles in any order is within (n - 1)·2^-53·R_r of R_r. Its floor
// drops nothing the nucleus holds: the tokens ranked after the top j - 1 weigh S - R_{j-1} > (1 - p)S,
// those below the floor at most V·floor = (1 - p)S / 2, so some token at rank >= j is above the
// floor, and the j-th outweighs it.
//
// The certificate. The host recomputes the candidates' weights as sample_row does (same max, same
// expression), ranks them and finds j against p·S' (S' the device's sum: |S' - S| <= (2V + 2246)
// 2^-53 S, cpu/device_draw.h). It accepts j only when
//   R'_{j-1} + δ <= p·S' <= R'_j - δ,  δ = 2^-46 (V + 2048) S' (cuda/draw_bound.h draw_margin),
// which is over 30 times every error above (the host's and ours in the sums, S' against S), so every
// comparison sample_row makes falls the same way: its nucleus is our top j. And it accepts only when
// the j-th token outweighs every token outside the candidates by a relative 2^-40: those have a logit
// below the candidates' threshold, so their weight is at most e^((threshold - max) / T) (within an
// ulp or two of monotone), and the top j of the whole ranking are the candidates' top j.
// Otherwise the row is sampled whole: kNucleusPastCandidates when the nucleus reaches past the
// candidates (more of them could decide it), kNeedFullRow when it is too close to call.
#pragma once
#include <cstdint>

namespace gptneo::cpu {

// The candidates' leading mass falls short of p·S', or their nucleus would end at a weight a token
// outside them may reach: the nucleus extends past the candidates.
constexpr int kNucleusPastCandidates = -6;

// ids[0..count): the candidates (indices into weights, ascending, weights > 0). `outside`: the
// largest weight a token outside the candidates can have. row_total: the device's sum of the row's
// weights (S'); vocab: V. Returns j and leaves the nucleus in ids[0..j) in increasing order, or
// kNucleusPastCandidates / kNeedFullRow (cpu/row_sampler.h) when the candidates do not decide it (no
// sum, top-p off: kNeedFullRow). `margin_scale` multiplies δ
// (1 in use; tests set 0 to show that the margin is what keeps it exact).
int certified_nucleus(int32_t* ids, int count, const double* weights, double outside, double top_p,
                      double row_total, int vocab, double margin_scale = 1);

}  // namespace gptneo::cpu
