// The device draw: a sampled row's token drawn where its logits are, for rows whose token depends on
// the whole row (temperature sampling without top-k/top-p/typical-p, min-p allowed; top-p without
// typical-p, min-p allowed, the nucleus draw; with bias and penalties): model/device_sampling.h. Exact where
// it answers (cpu/device_draw.h and cuda/nucleus_draw.h have the arguments; cuda/draw_bound.h the shared
// per-token arithmetic; its host emulation cpu::draw_row is the same algorithm with std::exp); the host
// samples the other rows whole.
//
// One block of kDrawThreads per row; thread t owns the contiguous run [t·R, t·R + R) of ids (R =
// ceil(cols / kDrawThreads)). Pass 1: the processed row's max (bias and penalties applied to the
// row's changed ids, walked alongside the run); NaN or +Infinity declines the row. Pass 2: each
// run's weight sum in double and its kept count; a block scan (fixed order, so deterministic) turns
// the sums into each run's starting cumulative weight. The thread whose run holds target = u·S walks
// it again to the token and checks the margin; a sum query (u < 0) stops at S'. Every row's S' is
// written to `sums` (the certificate of a top-p row's nucleus, cpu/nucleus_bound.h). Computes one double
// exp per id (the first walk's are recomputed only in one run). A nucleus-draw row (top-p in the query)
// goes from pass 1 to nucleus_token: four radix passes (a float exp per id; after the first, only the
// ids in the chosen bins), a double pass that also sums the row as pass 2 would, the certificate, and
// a walk of the run holding the target through the nucleus (or, where min-p cuts inside the nucleus,
// through the tokens min-p keeps, summed in the same double pass).
//
// With row staging on (gn_cuda_row_stage_enabled, opt-in) and where the row fits in the block's shared
// memory (GPT-2's 50257 floats, 201 KB: Hopper's 227 KB, not Ampere's 163 KB or Ada's 99 KB), the block
// first copies it there with wide loads (row_stage.cuh), and the passes
// read their runs from there (run stride 99 words: distinct banks across a warp). Otherwise they read
// the runs from global memory: lane t's loads are a run apart, 32 sectors per warp instruction, served
// by L1 one wavefront per sector. The same arithmetic either way; only where the row is read from.
#include <cooperative_groups.h>
#include <cooperative_groups/reduce.h>
#include <math_constants.h>

#include "cuda/candidate_key.h"
#include "cuda/common.cuh"
#include "cuda/draw_bound.h"
#include "cuda/nucleus_draw.h"
#include "cuda/row_stage.cuh"

using namespace gncuda;
namespace cg = cooperative_groups;

namespace {

constexpr int kThreads = gptneo::kDrawThreads;
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFullMask = 0xffffffffu;

// Block-wide exclusive scan of one value per thread, in thread order: a Hillis-Steele inclusive scan
// within each warp, then the warps' totals added in order before a thread's warp (fixed order, so
// deterministic; cpu::draw_row's block_scan makes the same additions). Returns the thread's start and
// sets *total. s_warp: [kWarps] shared scratch. Every thread of the block must call it (it synchronises).
template <typename T>
__device__ T block_exclusive_scan(T value, T* s_warp, T* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  T inclusive = value;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const T up = __shfl_up_sync(kFullMask, inclusive, d);
    if (lane >= d) inclusive += up;
  }
  __syncthreads();  // (an earlier use of s_warp has been read)
  if (lane == 31) s_warp[warp] = inclusive;
  __syncthreads();
  T before = 0, sum = 0;
#pragma unroll 1  // (unrolled, the 16 totals stay live in registers: ~60 more)
  for (int w = 0; w < kWarps; ++w) {
    if (w < warp) before += s_warp[w];
    sum += s_warp[w];
  }
  T exclusive = __shfl_up_sync(kFullMask, inclusive, 1);  // the threads before this one in the warp
  if (lane == 0) exclusive = 0;
  *total = sum;
  return before + exclusive;
}

// The block's reduction of one value per thread by op (associative and commutative: min, max, an
// integer sum). s_warp: [kWarps] shared scratch; every thread calls it and gets the result.
template <typename T, typename Op>
__device__ T block_reduce(T value, T* s_warp, Op op) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) value = op(value, __shfl_xor_sync(kFullMask, value, o));
  __syncthreads();
  if (lane == 0) s_warp[warp] = value;
  __syncthreads();
  T result = s_warp[0];
#pragma unroll 1
  for (int w = 1; w < kWarps; ++w) result = op(result, s_warp[w]);
  return result;
}

struct Plus {
  __device__ int operator()(int a, int b) const { return a + b; }
};
struct Min {
  __device__ double operator()(double a, double b) const { return fmin(a, b); }
};
struct Max {
  __device__ double operator()(double a, double b) const { return fmax(a, b); }
};

// hist[bin] += mass, once per bin per warp: the warp's lanes with equal bins are summed first (a row's
// keys fall in a handful of top bytes, so the first pass's atomics would otherwise meet on one
// address), as two 32-bit halves (cooperative groups reduce those with one redux.sync each on sm_80+;
// 64-bit values would take a loop of shuffles). bin == kNucleusNoBin adds nothing. The whole warp must
// call it.
__device__ __forceinline__ void add_mass(gptneo::NucleusMass* hist, int bin, gptneo::NucleusMass mass) {
  const cg::coalesced_group peers = cg::labeled_partition(cg::tiled_partition<32>(cg::this_thread_block()), bin);
  const unsigned low = cg::reduce(peers, gptneo::nucleus_mass_low(mass), cg::plus<unsigned>());
  const unsigned high = cg::reduce(peers, gptneo::nucleus_mass_high(mass), cg::plus<unsigned>());
  if (peers.thread_rank() == 0 && bin != gptneo::kNucleusNoBin && (low | high) != 0)
    atomicAdd(&hist[bin], gptneo::nucleus_mass_join(high, low));
}

// The nucleus draw of the block's row (cuda/nucleus_draw.h), after pass 1 gave its max m: the token, or
// kDrawUncertain, the same value in every thread; *total: the row's weight sum S', the same additions in
// the same order as pass 2 (its last pass sums the row as it goes; NaN if the radix passes found no
// crossing). logit(i, &at): the processed logit of id i of the thread's run [begin, end) (at walks the
// row's changes from `first`). The radix passes loop `run` times in every thread (a warp-uniform trip
// count for add_mass).
template <typename Logit>
__device__ int nucleus_token(const Logit& logit, int cols, int begin, int end, int run, int first, double m,
                             const double* p, double* total) {
  __shared__ gptneo::NucleusMass s_hist[gptneo::kRadixBins];
  __shared__ double s_double[kWarps];
  __shared__ int s_int[kWarps];
  __shared__ int s_bin;
  __shared__ gptneo::NucleusMass s_above;
  __shared__ int s_answer;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const double top_p = p[gptneo::kDrawTopP], scale = gptneo::nucleus_mass_scale(cols);

  // The radix passes: the boundary key K, from the top byte down (integer sums, order-free).
  uint32_t prefix = 0;
  gptneo::NucleusMass goal = 0;  // warp 0's: the mass still to reach within the chosen bins
  for (int pass = 0; pass < gptneo::kNucleusPasses; ++pass) {
    __syncthreads();  // every thread has read the last pass's pick (s_bin, s_above) before they are reset
    for (int b = tid; b < gptneo::kRadixBins; b += kThreads) s_hist[b] = 0;
    if (tid == 0) s_bin = -1;
    __syncthreads();
    int at = first;
    for (int k = 0; k < run; ++k) {
      const int i = begin + k;
      int bin = gptneo::kNucleusNoBin;
      gptneo::NucleusMass mass = 0;
      if (i < end) {
        const float v = logit(i, &at);
        const uint32_t key = gptneo::candidate_key(v);
        if (gptneo::nucleus_in_prefix(key, prefix, pass)) {
          bin = gptneo::nucleus_digit(key, pass);
          mass = gptneo::nucleus_mass(v, m, p[gptneo::kDrawInvTemperature], scale);
        }
      }
      // (After the first pass few keys match the prefix: most warps skip the aggregation.)
      if (__any_sync(kFullMask, bin != gptneo::kNucleusNoBin)) add_mass(s_hist, bin, mass);
    }
    __syncthreads();
    if (warp == 0) {  // the lane whose bins hold the crossing picks the bin
      const gptneo::NucleusMass mine = gptneo::nucleus_lane_mass(s_hist, lane);
      gptneo::NucleusMass inclusive = mine;
#pragma unroll
      for (int d = 1; d < 32; d <<= 1) {
        const gptneo::NucleusMass up = __shfl_up_sync(kFullMask, inclusive, d);
        if (lane >= d) inclusive += up;
      }
      if (pass == 0) goal = gptneo::nucleus_goal(__shfl_sync(kFullMask, inclusive, 31), top_p);
      const gptneo::NucleusMass before = inclusive - mine;
      int bin;
      gptneo::NucleusMass above;
      if (before < goal && goal <= inclusive && gptneo::nucleus_lane_pick(s_hist, lane, before, goal, &bin, &above)) {
        s_bin = bin;
        s_above = above;
      }
    }
    __syncthreads();
    const int bin = s_bin;
    if (bin < 0) {  // (no crossing: cannot happen with goal <= the mass)
      *total = CUDART_NAN;
      return gptneo::kDrawUncertain;
    }
    prefix |= static_cast<uint32_t>(bin) << (24 - 8 * pass);
    goal -= s_above;
  }

  // The last pass, in double: the run's weight sum (pass 2's), its weight above K and its K-group count;
  // the boundary's facts; with min-p, the run's sum and count of the weights min-p keeps.
  const double min_p = p[gptneo::kDrawMinP];
  double all = 0, above = 0, min_above = CUDART_INF, max_below = 0, w_k = 0, kept_sum = 0;
  int group = 0, count_above = 0, kept_count = 0;
  bool near_min_p = false, ignored = false;
  int at = first;
  for (int i = begin; i < end; ++i) {
    const float v = logit(i, &at);
    const uint32_t key = gptneo::candidate_key(v);
    const double w = gptneo::draw_weight_unfiltered(v, m, p);
    if (w > 0) all += w;
    if (min_p > 0) {  // (the row's, so block-uniform)
      const double kept = gptneo::draw_weight(v, m, p, &near_min_p);
      if (kept > 0) {
        kept_sum += kept;
        ++kept_count;
      }
    }
    if (key > prefix) {
      above += w;
      min_above = fmin(min_above, w);
      ++count_above;
    } else if (key == prefix) {
      ++group;
      w_k = w;
    } else {
      max_below = fmax(max_below, w);
    }
  }
  gptneo::NucleusBoundary b;
  block_exclusive_scan(all, s_double, total);
  block_exclusive_scan(above, s_double, &b.above);
  const int group_start = block_exclusive_scan(group, s_int, &b.count_k);
  b.count_above = block_reduce(count_above, s_int, Plus());
  b.min_above = block_reduce(min_above, s_double, Min());
  b.max_below = block_reduce(max_below, s_double, Max());
  b.w_k = block_reduce(w_k, s_double, Max());  // the group's one weight (0 in runs without the group)
  int cut = gptneo::kNucleusKept;
  double kept_start = 0, kept_total = 0;
  int kept_all = 0;
  if (min_p > 0) {
    kept_start = block_exclusive_scan(kept_sum, s_double, &kept_total);
    kept_all = block_reduce(kept_count, s_int, Plus());
    cut = gptneo::nucleus_min_p(b.w_k, b.count_above == 0, min_p, __syncthreads_or(near_min_p));
  }
  const int take = gptneo::nucleus_take(b, top_p * *total, gptneo::draw_margin(cols, *total));
  if (take == 0 || cut == gptneo::kNucleusMinPUncertain) return gptneo::kDrawUncertain;  // (the same in every thread)
  const bool by_min_p = cut == gptneo::kNucleusCutByMinP;

  // The nucleus: everything above K and the K group's `take` lowest ids; the run's share, scanned. (Cut by
  // min-p: the tokens it keeps, scanned above.)
  const double share = by_min_p ? kept_sum : above + static_cast<double>(min(max(take - group_start, 0), group)) * b.w_k;
  double nucleus_total = kept_total;
  const double start = by_min_p ? kept_start : block_exclusive_scan(share, s_double, &nucleus_total);
  const double target = p[gptneo::kDrawU] * nucleus_total;
  const double delta = gptneo::draw_margin(by_min_p ? kept_all : b.count_above + take, nucleus_total);
  if (tid == 0) s_answer = gptneo::kDrawUncertain;
  __syncthreads();
  if (share > 0 && start <= target && target < start + share) {  // the run holds the target: walk it
    int answer = gptneo::kDrawUncertain;  // rounding may leave the target past the run's last token
    double cumulative = start;
    int rank = group_start;  // the K-group rank of the run's next group token
    at = first;
    for (int i = begin; i < end; ++i) {
      const float v = logit(i, &at);
      double w;
      if (by_min_p) {
        w = gptneo::draw_weight(v, m, p, &ignored);
        if (!(w > 0)) continue;
      } else {
        const uint32_t key = gptneo::candidate_key(v);
        if (key < prefix || (key == prefix && rank++ >= take)) continue;
        w = gptneo::draw_weight_unfiltered(v, m, p);
      }
      const double previous = cumulative;
      cumulative += w;
      if (target < cumulative) {
        answer = previous + delta <= target && target < cumulative - delta ? i : gptneo::kDrawUncertain;
        break;
      }
    }
    atomicMax(&s_answer, answer);  // (two runs claiming a shared edge: neither certifies; deterministic)
  }
  __syncthreads();
  return s_answer;
}

// x: [rows, cols] fp32 logits; params: [rows, kDrawParams]; change_start: [rows + 1];
// change_meta: [changes, 2] (id, flags); change_vals: [changes, 2] (bias, amount); tokens: [rows];
// sums: [rows], each row's weight sum S' (NaN where declined). kStaged: the block's row is copied
// into dynamic shared memory of staged_row_floats(cols) floats first.
// Launch bounds (kThreads, 1): no register cap. ptxas (nvcc 13.0): 70-72 registers (94 staged), no spills,
// on sm_80-sm_90a — with the scans' loops over the warps' totals kept rolled; unrolled, their 16 doubles
// took it past 120.
template <bool kStaged>
__global__ void __launch_bounds__(kThreads, 1)
    draw_rows_kernel(const float* __restrict__ x, int cols, const double* __restrict__ params,
                     const int32_t* __restrict__ change_start, const int32_t* __restrict__ change_meta,
                     const double* __restrict__ change_vals, int32_t* __restrict__ tokens, double* __restrict__ sums) {
  __shared__ float s_max[kWarps];
  __shared__ double s_sum[kWarps];
  __shared__ int s_kept[kWarps];
  __shared__ int s_token;
  const int r = blockIdx.x, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  extern __shared__ __align__(16) float s_row[];  // [staged_row_floats(cols)] when kStaged
  const float* row = x + static_cast<size_t>(r) * cols;
  const double* p = params + static_cast<size_t>(r) * gptneo::kDrawParams;
  const double top_p = p[gptneo::kDrawTopP];
  if (!(p[gptneo::kDrawTemperature] > 0) ||  // a row without a query (the whole block returns)
      (top_p != 0 && !(top_p > 0 && top_p < 1))) {  // (not a query draw_query makes)
    if (tid == 0) {
      tokens[r] = gptneo::kDrawDeclined;
      sums[r] = CUDART_NAN;
    }
    return;
  }
  if (kStaged) row = stage_row<kThreads>(row, cols, s_row);
  const double penalty = p[gptneo::kDrawPenalty];
  const int c_begin = change_start[r], c_end = change_start[r + 1];
  const int run = (cols + kThreads - 1) / kThreads;
  const int begin = min(cols, tid * run), end = min(cols, begin + run);
  const int first = gptneo::draw_first_change(change_meta, c_begin, c_end, begin);
  int at = first;  // the walk through the row's changes, restarted for each pass over the run
  auto logit = [&](int i) { return gptneo::draw_processed_at(row, i, change_meta, change_vals, c_end, &at, penalty); };

  // Pass 1: max and the row's refusals.
  float local_max = -INFINITY;
  bool bad = false;
  for (int i = begin; i < end; ++i) {
    const float v = logit(i);
    bad |= row[i] != row[i] || v != v || v == INFINITY;
    local_max = fmaxf(local_max, v);
  }
  for (int o = 16; o > 0; o >>= 1) local_max = fmaxf(local_max, __shfl_xor_sync(0xffffffffu, local_max, o));
  if (lane == 0) s_max[warp] = local_max;
  if (tid == 0) s_token = gptneo::kDrawUncertain;
  bad = __syncthreads_or(bad);
  float row_max = s_max[0];
  for (int w = 1; w < kWarps; ++w) row_max = fmaxf(row_max, s_max[w]);
  if (bad || row_max == -INFINITY) {
    if (tid == 0) {
      tokens[r] = gptneo::kDrawDeclined;
      sums[r] = CUDART_NAN;
    }
    return;
  }
  const double m = row_max;
  if (top_p > 0) {  // a top-p row: the nucleus draw (min-p, if set, after the nucleus)
    auto logit_at = [&](int i, int* walk) {
      return gptneo::draw_processed_at(row, i, change_meta, change_vals, c_end, walk, penalty);
    };
    double total;
    const int answer = nucleus_token(logit_at, cols, begin, end, run, first, m, p, &total);
    if (tid == 0) {
      tokens[r] = answer;
      sums[r] = total;
    }
    return;
  }

  // Pass 2: the run's weight sum and kept count.
  bool uncertain = false;
  double sum = 0;
  int kept = 0;
  at = first;
  for (int i = begin; i < end; ++i) {
    const double w = gptneo::draw_weight(logit(i), m, p, &uncertain);
    if (w > 0) {
      sum += w;
      ++kept;
    }
  }
  // Block scan of the run sums: the run's starting cumulative weight and the total.
  double total;
  const double start = block_exclusive_scan(sum, s_sum, &total);
  const int n = block_reduce(kept, s_kept, Plus());
  uncertain = __syncthreads_or(uncertain);
  if (p[gptneo::kDrawU] < 0) {  // a sum query: S' is the answer
    if (tid == 0) {
      tokens[r] = gptneo::kDrawSummed;
      sums[r] = total;
    }
    return;
  }
  if (!uncertain) {
    const double target = p[gptneo::kDrawU] * total;
    const double delta = gptneo::draw_margin(n, total);
    if (sum > 0 && start <= target && target < start + sum) {
      // The run holds the target: walk it to the token.
      int answer = gptneo::kDrawUncertain;  // rounding may leave the target past the run's last token
      double cumulative = start;
      bool ignored = false;
      at = first;
      for (int i = begin; i < end; ++i) {
        const double w = gptneo::draw_weight(logit(i), m, p, &ignored);
        if (!(w > 0)) continue;
        const double previous = cumulative;
        cumulative += w;
        if (target < cumulative) {
          answer = previous + delta <= target && target < cumulative - delta ? i : gptneo::kDrawUncertain;
          break;
        }
      }
      // Two runs can both claim a target within rounding of their shared edge; neither can certify
      // it (δ is far above that rounding), and the larger value wins either way: deterministic.
      atomicMax(&s_token, answer);
    }
  }
  __syncthreads();
  if (tid == 0) {
    tokens[r] = s_token;
    sums[r] = total;
  }
}

std::atomic<int> g_staged_limit[kStageDevices];  // per device: staged_row_limit's answer (0: not yet asked)

}  // namespace

extern "C" int gn_cuda_draw_rows(const float* d_x, int rows, int cols, const double* d_params,
                                 const int32_t* d_change_start, const int32_t* d_change_meta,
                                 const double* d_change_vals, int32_t* d_tokens, double* d_sums, void* stream) {
  GN_CUDA_REQUIRE(rows >= 0 && cols >= 1, GN_CUDA_EINVAL);
  if (rows == 0) return GN_CUDA_OK;
  if (const size_t row_bytes = staged_row_bytes(draw_rows_kernel<true>, g_staged_limit, cols)) {
    draw_rows_kernel<true><<<rows, kThreads, row_bytes, as_stream(stream)>>>(
        d_x, cols, d_params, d_change_start, d_change_meta, d_change_vals, d_tokens, d_sums);
  } else {
    draw_rows_kernel<false><<<rows, kThreads, 0, as_stream(stream)>>>(d_x, cols, d_params, d_change_start,
                                                                     d_change_meta, d_change_vals, d_tokens, d_sums);
  }
  GN_CUDA_CHECK_LAUNCH();
  return GN_CUDA_OK;
}
