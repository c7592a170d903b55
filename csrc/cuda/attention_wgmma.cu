// Prefill attention on Hopper tensor cores through wgmma (GN_ATTENTION_WGMMA): the tensor-core
// kernel's numerics (attention_tc.cu: q, k, v and the probabilities rounded to the operand type T,
// products exact, sums and the online softmax in fp32), with the matrix products issued as
// warpgroup-wide asynchronous wgmma instead of per-warp mma.sync. sm_90a image only (the other images
// hold an empty stub; attention.cu asks wgmma_image_loaded() before choosing it).
//
// Why: on an H200 the mma.sync kernel reached 35% of torch SDPA at the 1.3B shape (ctx 2048), and
// mma.sync tops out well below Hopper's wgmma rate (csrc/cuda/NOTES.md round 10).
//
// A block (256 threads: two warpgroups) serves kQueries = 128 consecutive queries of one sequence and
// one head and walks the visible keys in tiles of kKeys = 128:
//   - every thread stages the next K and V tiles with cp.async straight from the paged cache (already
//     of type T) into the swizzled layout of attention_wgmma_layout.h, two buffers deep; the block-table
//     lookups run one tile further ahead, carried in a register;
//   - S = Q·Kᵀ per warpgroup: D/16 wgmma m64n128k16 with both operands in shared memory;
//   - the online softmax on S's accumulators (mask only where a tile is not wholly visible to a row),
//     rows reduced across the 4 lanes of a quad;
//   - O += P·V: kKeys/16 wgmma m64nDk16 with P (S rounded to T) in registers and V read MN-major.
// Two schedules (GN_ATTENTION_WGMMA and GN_ATTENTION_WGMMA_PIPELINED, template PIPE): each tile's P·V
// right after its softmax, or issued in the next iteration behind that tile's S so that the softmax
// overlaps the warpgroup's own P·V (attention_wgmma_layout.h: which tiles each iteration stages).
// Index math: cuda/attention_wgmma_layout.h (host-tested by csrc/tests/cpu/attention_wgmma_layout.cpp,
// which also emulates this kernel's data flow against a plain attention).
// Requires head_dim 64 or 128, a cache of type T with 16-byte aligned rows, a prefill-like step.
#include <limits.h>

#include "cuda/attention_traits.cuh"
#include "cuda/attention_wgmma_layout.h"
#include "cuda/cp_async.cuh"
#include "cuda/mma.cuh"
#include "cuda/paged.cuh"
#include "cuda/row_pair_softmax.cuh"
#include "cuda/wgmma_common.cuh"
#include "cuda/wgmma_ops.cuh"

namespace gncuda {
namespace {

using wgattn::kKeys;
using wgattn::kQueries;

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define GN_WGMMA_ATTENTION_BOUNDS __launch_bounds__(gncuda::wgattn::kThreads, 1)
#else
#define GN_WGMMA_ATTENTION_BOUNDS __launch_bounds__(gncuda::wgmma::kStubThreads)
#endif

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
constexpr float kLog2eW = 1.4426950408889634f;

// Four floats rounded to T, stored as 8 bytes at dst (8-byte aligned).
template <typename T>
__device__ __forceinline__ void store4_rounded(unsigned char* dst, float a, float b, float c, float d) {
  uint2 w;
  w.x = pack2<T>(a, b);
  w.y = pack2<T>(c, d);
  *reinterpret_cast<uint2*>(dst) = w;
}
#endif

// T: operand and cache type (__nv_bfloat16 or __half); D: head dim (64 or 128); PIPE: each tile's P·V
// issued in the next iteration, after its S, so that a warpgroup's softmax overlaps its own P·V.
template <typename T, int D, bool PIPE>
__global__ void GN_WGMMA_ATTENTION_BOUNDS attention_wgmma_kernel(AttentionParams p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using L = wgattn::Smem<D>;
  constexpr int NS = kKeys / 2;  // S accumulators per thread (m64n128 fp32 D fragment)
  constexpr int NO = D / 2;      // O accumulators per thread
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const uint32_t base = wgmma::atom_aligned_base(smem_raw);  // swizzle atoms start 1024-byte aligned
  unsigned char* const smem = smem_raw + (base - static_cast<uint32_t>(__cvta_generic_to_shared(smem_raw)));
  long long* const slot_s = reinterpret_cast<long long*>(smem + L::kSlots);  // [2][kKeys], -1: none
  int* const range_s = reinterpret_cast<int*>(smem + L::kRanges);            // [warps][2] min, max position
  auto k_stage = [&](int buf) { return base + (uint32_t)(L::kK + buf * L::kKvBytes); };
  auto v_stage = [&](int buf) { return base + (uint32_t)(L::kV + buf * L::kKvBytes); };

  const int tid = threadIdx.x, wg = tid >> 7, warp = (tid >> 5) & 3, lane = tid & 31;
  int h = 0, tile = 0;
  heavy_first_tile(&h, &tile);  // grid (tiles, heads)
  int s = 0, seq_begin = 0, seq_end = 0, t0 = 0;
  if (!find_query_tile(p.b.d_seq_starts, p.b.num_seqs, kQueries, tile, &s, &seq_begin, &seq_end, &t0)) return;
  const int t_end = min(t0 + kQueries, seq_end);

  // Positions of this thread's two rows (D fragment rows g and g + 8 of its warp's 16); -1 past the
  // tile's end.
  const int row0 = t0 + wgmma::d_row(warp, lane, 0) + 64 * wg, row1 = row0 + 8;
  const int pos0 = row0 < t_end ? p.b.d_positions[row0] : -1;
  const int pos1 = row1 < t_end ? p.b.d_positions[row1] : -1;
  int lo = INT_MAX, hi = -1;
  warp_position_range(pos0, pos1, &lo, &hi);
  if (lane == 0) range_s[2 * (tid >> 5)] = lo, range_s[2 * (tid >> 5) + 1] = hi;

  // Q tile (this head's D columns of rows t0 ..), rounded to T, zero past the tile's end; written by
  // st.shared (generic proxy): the fence.proxy.async before the first wgmma's barrier orders it.
  for (int e = tid; e < kQueries * D / 4; e += wgattn::kThreads) {
    const int r = e / (D / 4), d = (e - r * (D / 4)) * 4, t = t0 + r;
    float v[4] = {0.f, 0.f, 0.f, 0.f};
    if (t < t_end) {
      const float* src = p.q + (size_t)t * p.ldq + (size_t)h * D + d;
#pragma unroll
      for (int i = 0; i < 4; ++i) v[i] = src[i];
    }
    store4_rounded<T>(smem + L::kQ + wgattn::tile_offset(kQueries, r, d), v[0], v[1], v[2], v[3]);
  }
  __syncthreads();
  int pmin = INT_MAX, pmax = -1;
#pragma unroll
  for (int w = 0; w < wgattn::kThreads / 32; ++w) pmin = min(pmin, range_s[2 * w]), pmax = max(pmax, range_s[2 * w + 1]);
  const int kb = p.window > 0 ? max(0, pmin - p.window + 1) : 0;
  const int ke = pmax + 1;

  const size_t slot_stride = (size_t)p.heads * D;
  const T* k_cache = static_cast<const T*>(p.k_cache);  // [slots, heads * D]
  const T* v_cache = static_cast<const T*>(p.v_cache);
  auto slot_of = [&](int j) -> long long {
    return j < ke ? cache_slot(p.b.d_block_tables, p.b.max_blocks, p.b.block_size, s, j) : -1;
  };
  // Tile t (keys kb + t kKeys ..) lives in K/V buffer t % 2 and its cache slots in slot buffer t % 2
  // (attention_wgmma_layout.h, where the schedule is host-tested). Staging: 16-byte chunks of T straight
  // into shared memory, zero-filled where there is no slot; K and V of different tiles when pipelined.
  auto stage = [&](int k_tile, int v_tile) {
#pragma unroll
    for (int i = 0; i < L::kChunks / wgattn::kThreads; ++i) {
      const int c = tid + i * wgattn::kThreads, r = wgattn::chunk_row<D>(c), d = wgattn::chunk_d<D>(c);
      const uint32_t off = wgattn::tile_offset(kKeys, r, d);
      if (k_tile >= 0) {
        const long long slot = slot_s[wgattn::tile_buffer(k_tile) * kKeys + r];
        const size_t at = slot >= 0 ? (size_t)slot * slot_stride + (size_t)h * D + d : 0;
        cp_async16(k_stage(wgattn::tile_buffer(k_tile)) + off, k_cache + at, slot >= 0);
      }
      if (v_tile >= 0) {
        const long long slot = slot_s[wgattn::tile_buffer(v_tile) * kKeys + r];
        const size_t at = slot >= 0 ? (size_t)slot * slot_stride + (size_t)h * D + d : 0;
        cp_async16(v_stage(wgattn::tile_buffer(v_tile)) + off, v_cache + at, slot >= 0);
      }
    }
  };
  const int tiles = (ke - kb + kKeys - 1) / kKeys;

  // Prologue: tile 0's slots, tile 1's lookup in flight, tile 0's K (and V unless pipelined) staged.
  long long carry = tid < kKeys ? slot_of(kb + tid) : -1;
  if (tid < kKeys) {
    slot_s[tid] = carry;
    carry = slot_of(kb + kKeys + tid);
  }
  __syncthreads();
  stage(0, PIPE ? -1 : 0);
  cp_async_commit();

  float o[NO];  // O[64 rows of warpgroup wg][D], wgmma D fragment (wgmma_layout.h d_row / d_col)
#pragma unroll
  for (int i = 0; i < NO; ++i) o[i] = 0.f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;  // running max (log2 units) and sum
  const float scale_log2 = p.scale * kLog2eW;
  const uint32_t q_stage = base + (uint32_t)L::kQ;
  float sc[NS];                   // S of the current tile, then its probabilities
  uint32_t pa[kKeys / 16][4];     // P rounded to T in the A-register layout (attention_wgmma_layout.h p_acc)

  // S = Q·Kᵀ for this warpgroup's 64 rows and tile t's 128 keys: issued and committed, not waited for.
  auto issue_scores = [&](int t) {
#pragma unroll
    for (int i = 0; i < NS; ++i) sc[i] = 0.f;
    wgmma::fence_accumulators<NS>(sc);
    wgmma::fence();
#pragma unroll
    for (int j = 0; j < D / 16; ++j)
      wgmma::mma_ss<T, kKeys>(sc, wgattn::q_desc(q_stage, wg, j), wgattn::k_desc(k_stage(wgattn::tile_buffer(t)), j));
    wgmma::commit_group();
  };
  // O += P·V with pa and tile t's V (MN-major): issued and committed, not waited for.
  auto issue_pv = [&](int t) {
    wgmma::fence_accumulators<NO>(o);
    wgmma::fence();
#pragma unroll
    for (int kc = 0; kc < kKeys / 16; ++kc)
      wgmma::mma_rs_tb<T, D>(o, pa[kc], wgattn::v_desc(v_stage(wgattn::tile_buffer(t)), kc));
    wgmma::commit_group();
  };
  // Online softmax of the scores of the tile at keys kt: scale (log2 units), mask where the tile is not
  // wholly visible to a row, row max over the quad, exponentiate, running sums. Accumulator i is row
  // (i/2) % 2 (0: pos0, 1: pos1), key kt + d_col(lane, i). Returns the step (corr* rescales O).
  auto softmax = [&](int kt) {
    const bool full0 = wgattn::tile_fully_visible(kt, pos0, p.window);
    const bool full1 = wgattn::tile_fully_visible(kt, pos1, p.window);
    if (full0 && full1) {
#pragma unroll
      for (int i = 0; i < NS; ++i) sc[i] *= scale_log2;
    } else {
#pragma unroll
      for (int i = 0; i < NS; ++i) {
        const int key = kt + wgmma::d_col(lane, i);
        const int pos = (i & 2) ? pos1 : pos0;
        const bool vis = pos >= 0 && key <= pos && (p.window == 0 || key > pos - p.window);
        sc[i] = vis ? sc[i] * scale_log2 : -INFINITY;
      }
    }
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int i = 0; i < NS; ++i) {
      if (i & 2) mx1 = fmaxf(mx1, sc[i]);
      else mx0 = fmaxf(mx0, sc[i]);
    }
    const RowPairStep step = online_max_step(mx0, mx1, m0, m1);
    float sum0 = 0.f, sum1 = 0.f;
#pragma unroll
    for (int i = 0; i < NS; ++i) {
      if (i & 2) {
        sc[i] = exp2f(sc[i] - step.base1);
        sum1 += sc[i];
      } else {
        sc[i] = exp2f(sc[i] - step.base0);
        sum0 += sc[i];
      }
    }
    l0 = l0 * step.corr0 + sum0;  // this lane's share; the quad's shares are added at the end
    l1 = l1 * step.corr1 + sum1;
    return step;
  };
  auto rescale_and_pack = [&](const RowPairStep& step) {
#pragma unroll
    for (int i = 0; i < NO; ++i) o[i] *= (i & 2) ? step.corr1 : step.corr0;
#pragma unroll
    for (int kc = 0; kc < kKeys / 16; ++kc)
#pragma unroll
      for (int q = 0; q < 4; ++q) pa[kc][q] = pack2<T>(sc[wgattn::p_acc(kc, q)], sc[wgattn::p_acc(kc, q) + 1]);
  };

  for (int t = 0; t < tiles; ++t) {
    const int kt = kb + t * kKeys;
    // Tile t + 1's slots from the register; tile t + 2's lookup goes out.
    if (tid < kKeys) {
      slot_s[wgattn::tile_buffer(t + 1) * kKeys + tid] = carry;
      carry = slot_of(kt + 2 * kKeys + tid);
    }
    __syncthreads();  // tile t + 1's slots visible; every wgmma that read the buffers staged below retired
    stage(t + 1 < tiles ? wgattn::staged_k(t) : -1, PIPE ? wgattn::staged_v(t, true)
                                                          : (t + 1 < tiles ? wgattn::staged_v(t, false) : -1));
    cp_async_commit();           // (an empty group when nothing was staged: keeps the count uniform)
    cp_async_wait<1>();          // this thread's copies of K(t) (and V(t), or V(t-1) when pipelined)
    wgmma::fence_proxy_async();  // … visible to the async proxy (and the Q tile's stores, first time)
    __syncthreads();             // … everyone's

    if constexpr (!PIPE) {
      issue_scores(t);
      wgmma::wait_group<0>();
      wgmma::fence_accumulators<NS>(sc);
      rescale_and_pack(softmax(kt));
      issue_pv(t);
      wgmma::wait_group<0>();  // V buffer of tile t is refilled after the next iteration's first barrier
      wgmma::fence_accumulators<NO>(o);
      wgmma::fence_fragments<kKeys / 16 * 4>(&pa[0][0]);  // pa is rewritten next tile: its reads are done
    } else {
      // S(t), then P(t-1)·V(t-1); the softmax of tile t runs while the tensor cores do P(t-1)·V(t-1).
      issue_scores(t);
      if (t > 0) {
        issue_pv(t - 1);
        wgmma::wait_group<1>();  // S(t) done (groups retire in order); P(t-1)·V(t-1) may still run
      } else {
        wgmma::wait_group<0>();
      }
      wgmma::fence_accumulators<NS>(sc);
      const RowPairStep step = softmax(kt);
      wgmma::wait_group<0>();  // P(t-1)·V(t-1) done: O and pa are free again
      wgmma::fence_accumulators<NO>(o);
      wgmma::fence_fragments<kKeys / 16 * 4>(&pa[0][0]);
      rescale_and_pack(step);
    }
  }
  if constexpr (PIPE) {
    // The last tile's P·V: its V was staged in the last iteration.
    cp_async_wait<0>();
    wgmma::fence_proxy_async();
    __syncthreads();
    issue_pv(tiles - 1);
    wgmma::wait_group<0>();
    wgmma::fence_accumulators<NO>(o);
  }

  cp_async_wait<0>();  // nothing may land after the block is gone (the prologue's copies, if no tile ran)

  // Normalise and store this thread's output elements of valid rows.
  float inv0 = 0.f, inv1 = 0.f;
  quad_sum_inverses(l0, l1, &inv0, &inv1);
#pragma unroll
  for (int i = 0; i < NO; ++i) {
    const bool second = (i & 2) != 0;
    const int pos = second ? pos1 : pos0, row = second ? row1 : row0;
    if (pos >= 0) p.out[(size_t)row * p.ldo + (size_t)h * D + wgmma::d_col(lane, i)] = o[i] * (second ? inv1 : inv0);
  }
#endif
}

template <typename T, int D, bool PIPE>
int launch_typed(const AttentionParams& p, cudaStream_t stream) {
  constexpr int smem = wgattn::Smem<D>::kBytes;
  const auto kernel = attention_wgmma_kernel<T, D, PIPE>;
  GN_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  dim3 grid(attention_wgmma_tiles(&p.b), p.heads, 1);
  kernel<<<grid, wgattn::kThreads, smem, stream>>>(p);
  GN_CUDA_CHECK_LAUNCH();
  return GN_CUDA_OK;
}

template <typename T>
int launch_operand(const AttentionParams& p, bool pipelined, cudaStream_t stream) {
  if (pipelined)
    return p.head_dim == 128 ? launch_typed<T, 128, true>(p, stream) : launch_typed<T, 64, true>(p, stream);
  return p.head_dim == 128 ? launch_typed<T, 128, false>(p, stream) : launch_typed<T, 64, false>(p, stream);
}

}  // namespace

int attention_wgmma_tiles(const gn_cuda_batch* b) { return ceil_div(b->tokens, kQueries) + b->num_seqs; }

int launch_attention_wgmma(const AttentionParams& p, int operand_dtype, bool pipelined, cudaStream_t stream) {
  // The planner admits only a cache of the operand type, head dims 64 and 128.
  if (p.cache_dtype != operand_dtype || (p.head_dim != 64 && p.head_dim != 128)) return GN_CUDA_EUNSUPPORTED;
  if (operand_dtype == GN_DTYPE_BF16) return launch_operand<__nv_bfloat16>(p, pipelined, stream);
  if (operand_dtype == GN_DTYPE_F16) return launch_operand<__half>(p, pipelined, stream);
  return GN_CUDA_EUNSUPPORTED;
}

}  // namespace gncuda
