// Sampling prefilter on the device: each row's top candidates, so that a sampled step downloads a
// few hundred values per row instead of the whole vocabulary (model/device_sampling.h). The
// semantics are cpu/candidates.h select_candidates_row's (its CPU twin; scalar oracle
// cpu/ref/ref.h): the columns whose key (cuda/candidate_key.h) is >= the need-th largest key, in
// column order, ties with the need-th all kept.
//
// One block per row. The need-th largest key is found by a radix select on its four bytes, most
// significant first: each pass histograms the byte of the keys that share the prefix fixed so far
// (256 bins in shared memory) and one warp finds the bin where the running count from the top
// reaches the rank still wanted. After the last pass the prefix is the threshold key itself, the
// keys above it number need - rank, and those equal to it fill the last bin, so the selection's size
// is known without another pass. The compaction then gives each thread a contiguous run of columns:
// it counts its matches, a block-wide scan turns counts into offsets, and it writes them in order.
//
// Run 4 (H200) timed it at 53 us for one row of 50257 and 54 us for 64: latency, not bandwidth, in
// each of the six walks over the row (four passes, the compaction's two), every one a few loads in
// flight per thread from L2, and in the first pass's histogram, whose keys' top byte (sign and high
// exponent bits) falls in a handful of bins, so a warp's 32 shared-memory atomics mostly hit one
// address and serialise. The staged kernel (opt-in, gn_cuda_row_stage_enabled: not yet run on a GPU)
// copies the row into shared memory once with wide loads where the block can hold it (row_stage.cuh:
// 201 KB on Hopper; elsewhere, or with the switch off, the walks read global memory as before), the
// compaction's runs read it from there (run stride 99 words: distinct banks), and its first pass adds
// each warp's equal bins once (__match_any_sync: one atomic per distinct bin and warp instruction). The
// counts are integers: the same histogram, threshold and output in any order of addition.
#include "cuda/candidate_key.h"
#include "cuda/common.cuh"
#include "cuda/env_switch.h"
#include "cuda/radix_select.h"
#include "cuda/row_stage.cuh"

using namespace gncuda;

namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kBins = gptneo::kRadixBins;

// The bin where the count from the top bin down reaches `rank` (1-based) and the rank within it
// (cuda/radix_select.h). Run by one warp; rank <= the keys counted in hist, so some lane reaches it.
__device__ void find_bin(const uint32_t* hist, int rank, int* bin, int* rank_in_bin) {
  const int lane = threadIdx.x & 31;
  const int own = gptneo::radix_lane_total(hist, lane);
  int inclusive = own;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const int up = __shfl_up_sync(0xffffffffu, inclusive, d);
    if (lane >= d) inclusive += up;
  }
  const unsigned reached = __ballot_sync(0xffffffffu, inclusive >= rank);
  if (lane == __ffs(reached) - 1) gptneo::radix_lane_pick(hist, lane, inclusive - own, rank, bin, rank_in_bin);
}

// Adds the keys of columns [0, cols) of `row` that share `prefix` under `mask` to hist by their byte at
// `shift`. Warp-uniform trip counts, so that `aggregate` (one atomic per distinct bin of a warp
// instruction, for a pass whose bins are few) may use the full-warp __match_any_sync.
__device__ __forceinline__ void histogram_pass(const float* row, int cols, uint32_t prefix, uint32_t mask, int shift,
                                               bool aggregate, uint32_t* hist) {
  constexpr uint32_t kNoBin = 0xffffffffu;
  const int lane = threadIdx.x & 31;
  for (int c0 = threadIdx.x - lane; c0 < cols; c0 += kThreads) {
    const int c = c0 + lane;
    uint32_t bin = kNoBin;
    if (c < cols) {
      const uint32_t k = gptneo::candidate_key(row[c]);
      if ((k & mask) == prefix) bin = (k >> shift) & 0xffu;
    }
    if (aggregate) {
      const unsigned same = __match_any_sync(0xffffffffu, bin);
      if (bin != kNoBin && lane == __ffs(same) - 1) atomicAdd(&hist[bin], static_cast<uint32_t>(__popc(same)));
    } else if (bin != kNoBin) {
      atomicAdd(&hist[bin], 1u);
    }
  }
}

// x: [rows, cols] fp32 logits; need: [rows]; out_start, extra_start: [rows + 1]; extra_ids:
// [extra_start[rows]]; counts: [rows]; ids, vals: [out_start[rows]]; extra_vals: [extra_start[rows]].
// kStaged: the block's row is copied into dynamic shared memory of staged_row_floats(cols) floats first,
// and the first pass's atomics are aggregated per warp.
template <bool kStaged>  // (staged: one block per SM by its shared memory, so every register it wants)
__global__ void __launch_bounds__(kThreads, kStaged ? 1 : 3)
    select_candidates_kernel(const float* __restrict__ x, int cols, const int32_t* __restrict__ need_per_row,
                             const int32_t* __restrict__ out_start, const int32_t* __restrict__ extra_start,
                             const int32_t* __restrict__ extra_ids, int32_t* __restrict__ counts,
                             int32_t* __restrict__ ids, float* __restrict__ vals, float* __restrict__ extra_vals) {
  __shared__ uint32_t hist[kBins];
  __shared__ int s_bin, s_rank;
  __shared__ int warp_sums[kWarps];
  extern __shared__ __align__(16) float s_row[];  // [staged_row_floats(cols)] when kStaged
  const int r = blockIdx.x;
  const int tid = threadIdx.x;
  const float* row = x + static_cast<size_t>(r) * cols;

  for (int e = extra_start[r] + tid; e < extra_start[r + 1]; e += kThreads) extra_vals[e] = row[extra_ids[e]];
  int need = need_per_row[r];
  if (need <= 0) {
    if (tid == 0) counts[r] = 0;
    return;
  }
  need = min(need, cols);
  if (kStaged) row = stage_row<kThreads>(row, cols, s_row);

  uint32_t prefix = 0, mask = 0;
  int rank = need;  // 1-based rank wanted among the keys that share `prefix`
  int equal = 0;    // after the last pass: how many keys equal the threshold
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = tid; b < kBins; b += kThreads) hist[b] = 0;
    __syncthreads();
    histogram_pass(row, cols, prefix, mask, shift, kStaged && shift == 24, hist);
    __syncthreads();
    if (tid < 32) find_bin(hist, rank, &s_bin, &s_rank);
    __syncthreads();
    prefix |= static_cast<uint32_t>(s_bin) << shift;
    mask |= 0xffu << shift;
    rank = s_rank;
    equal = static_cast<int>(hist[s_bin]);
    __syncthreads();  // hist is cleared by the next pass
  }
  const uint32_t threshold = prefix;
  const int count = (need - rank) + equal;
  if (tid == 0) counts[r] = count;
  const int first = out_start[r];
  if (count > out_start[r + 1] - first) return;  // over capacity: the caller fetches the full row

  // Compaction in column order: each thread owns a contiguous run of columns.
  int begin, end;
  gptneo::compaction_range(tid, kThreads, cols, &begin, &end);
  int mine = 0;
  for (int c = begin; c < end; ++c) mine += gptneo::candidate_key(row[c]) >= threshold;
  // Block-wide exclusive scan of `mine`.
  const int lane = tid & 31, warp = tid >> 5;
  int inclusive = mine;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const int up = __shfl_up_sync(0xffffffffu, inclusive, d);
    if (lane >= d) inclusive += up;
  }
  if (lane == 31) warp_sums[warp] = inclusive;
  __syncthreads();
  int before = 0;
  for (int w = 0; w < warp; ++w) before += warp_sums[w];
  int at = first + before + inclusive - mine;
  for (int c = begin; c < end && mine > 0; ++c) {
    const float v = row[c];
    if (gptneo::candidate_key(v) >= threshold) {
      ids[at] = c;
      vals[at] = v;
      ++at;
      --mine;
    }
  }
}

std::atomic<int> g_staged_limit[kStageDevices];  // per device: staged_row_limit's answer (0: not yet asked)

EnvSwitch g_row_stage("GPTNEO_CUDA_ROW_STAGE", [](const char* v) { return env_text_is(v, "1") ? 1 : 0; });

}  // namespace

extern "C" int gn_cuda_row_stage_enabled(void) { return g_row_stage.get(); }
extern "C" void gn_cuda_set_row_stage(int on) { g_row_stage.set(on ? 1 : 0); }

extern "C" int gn_cuda_select_candidates(const float* d_x, int rows, int cols, const int32_t* d_need,
                                         const int32_t* d_out_start, const int32_t* d_extra_start,
                                         const int32_t* d_extra_ids, int32_t* d_counts, int32_t* d_ids,
                                         float* d_vals, float* d_extra_vals, void* stream) {
  GN_CUDA_REQUIRE(rows >= 0 && cols >= 1, GN_CUDA_EINVAL);
  if (rows == 0) return GN_CUDA_OK;
  if (const size_t row_bytes = staged_row_bytes(select_candidates_kernel<true>, g_staged_limit, cols)) {
    select_candidates_kernel<true><<<rows, kThreads, row_bytes, as_stream(stream)>>>(
        d_x, cols, d_need, d_out_start, d_extra_start, d_extra_ids, d_counts, d_ids, d_vals, d_extra_vals);
  } else {
    select_candidates_kernel<false><<<rows, kThreads, 0, as_stream(stream)>>>(
        d_x, cols, d_need, d_out_start, d_extra_start, d_extra_ids, d_counts, d_ids, d_vals, d_extra_vals);
  }
  GN_CUDA_CHECK_LAUNCH();
  return GN_CUDA_OK;
}
