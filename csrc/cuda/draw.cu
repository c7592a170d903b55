// The device draw: a sampled row's token drawn where its logits are, for rows whose token depends on
// the whole row (temperature sampling without top-k/top-p/typical-p, min-p allowed, with bias and
// penalties): model/device_sampling.h. Exact where it answers (cpu/device_draw.h has the argument;
// cuda/draw_bound.h the shared per-token arithmetic; its host emulation cpu::draw_row is the same
// algorithm with std::exp); the host samples the other rows whole.
//
// One block of kDrawThreads per row; thread t owns the contiguous run [t·R, t·R + R) of ids (R =
// ceil(cols / kDrawThreads)). Pass 1: the processed row's max (bias and penalties applied to the
// row's changed ids, walked alongside the run); NaN or +Infinity declines the row. Pass 2: each
// run's weight sum in double and its kept count; a block scan (fixed order, so deterministic) turns
// the sums into each run's starting cumulative weight. The thread whose run holds target = u·S walks
// it again to the token and checks the margin; a sum query (u < 0) stops at S'. Every row's S' is
// written to `sums` (the certificate of a top-p row's nucleus, cpu/nucleus_bound.h). Computes one double
// exp per id (the first walk's are recomputed only in one run).
//
// With row staging on (gn_cuda_row_stage_enabled, opt-in) and where the row fits in the block's shared
// memory (GPT-2's 50257 floats, 201 KB: Hopper's 227 KB, not Ampere's 163 KB or Ada's 99 KB), the block
// first copies it there with wide loads (row_stage.cuh), and the passes
// read their runs from there (run stride 99 words: distinct banks across a warp). Otherwise they read
// the runs from global memory: lane t's loads are a run apart, 32 sectors per warp instruction, served
// by L1 one wavefront per sector. The same arithmetic either way; only where the row is read from.
#include <math_constants.h>

#include "cuda/common.cuh"
#include "cuda/draw_bound.h"
#include "cuda/row_stage.cuh"

using namespace gncuda;

namespace {

constexpr int kThreads = gptneo::kDrawThreads;
constexpr int kWarps = kThreads / 32;

// x: [rows, cols] fp32 logits; params: [rows, kDrawParams]; change_start: [rows + 1];
// change_meta: [changes, 2] (id, flags); change_vals: [changes, 2] (bias, amount); tokens: [rows];
// sums: [rows], each row's weight sum S' (NaN where declined). kStaged: the block's row is copied
// into dynamic shared memory of staged_row_floats(cols) floats first.
template <bool kStaged>
__global__ void __launch_bounds__(kThreads)
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
  if (!(p[gptneo::kDrawTemperature] > 0)) {  // a row without a query (the whole block returns)
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
  // Block scan of the run sums (inclusive within the warp, then the warps before), and the total.
  double inclusive = sum;
  int kept_total = kept;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const double up = __shfl_up_sync(0xffffffffu, inclusive, d);
    if (lane >= d) inclusive += up;
  }
  for (int o = 16; o > 0; o >>= 1) kept_total += __shfl_xor_sync(0xffffffffu, kept_total, o);
  if (lane == 31) s_sum[warp] = inclusive;
  if (lane == 0) s_kept[warp] = kept_total;
  uncertain = __syncthreads_or(uncertain);
  double before = 0, total = 0;
  int n = 0;
  for (int w = 0; w < kWarps; ++w) {
    if (w < warp) before += s_sum[w];
    total += s_sum[w];
    n += s_kept[w];
  }
  double exclusive = __shfl_up_sync(0xffffffffu, inclusive, 1);  // the runs before this one in the warp
  if (lane == 0) exclusive = 0;
  const double start = before + exclusive;  // the run's starting cumulative weight
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
  const size_t row_bytes = staged_row_floats(cols) * sizeof(float);
  if (gn_cuda_row_stage_enabled() &&
      row_bytes <= static_cast<size_t>(staged_row_limit(draw_rows_kernel<true>, g_staged_limit))) {
    draw_rows_kernel<true><<<rows, kThreads, row_bytes, as_stream(stream)>>>(
        d_x, cols, d_params, d_change_start, d_change_meta, d_change_vals, d_tokens, d_sums);
  } else {
    draw_rows_kernel<false><<<rows, kThreads, 0, as_stream(stream)>>>(d_x, cols, d_params, d_change_start,
                                                                     d_change_meta, d_change_vals, d_tokens, d_sums);
  }
  GN_CUDA_CHECK_LAUNCH();
  return GN_CUDA_OK;
}
