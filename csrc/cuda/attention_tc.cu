// Prefill attention on tensor cores (GN_ATTENTION_TENSOR_CORE): flash-attention tiles with
// mma.sync m16n8k16, for models whose projections already run in bf16/f16 (the caller passes that
// operand dtype; an fp32 model keeps the fp32 tiled kernel).
//
// A block serves kTcQueries consecutive queries of one sequence and one head (4 warps x 16 rows)
// and walks the visible keys in tiles of KEYS (64, or 32 where shared memory would not hold two
// blocks of 64-key tiles per SM: sm_86/89):
//   - the tile's K and V rows are read from the paged cache (float32, or already T), rounded to T and
//     stored row-major in shared memory ([key][DMAX + 8]: the 16-byte pad makes both the 32-bit
//     fragment reads of K and the ldmatrix row reads of V conflict-free); two buffers, so that tile
//     i + 1 is fetched while tile i is multiplied: by cp.async when the cache is already T (no
//     registers, no conversion), else by loads that convert on the way; the block-table lookups run
//     one tile further ahead still, carried in a register;
//   - S = Q·Kᵀ on tensor cores (Q fragments built once, K as the "col" B operand: K rows are
//     k-contiguous), fp32 accumulators;
//   - online softmax in fp32 on the accumulators (scale and log2(e) folded, exp2), rows reduced
//     across the 4 lanes of a quad;
//   - P (rounded to T) reused in registers as the A operand of O += P·V, V fragments by
//     ldmatrix .trans (V rows are n-contiguous, the B operand wants k pairs).
// Numerics as a bf16/f16 model's naive attention: q, k, v and the probabilities rounded to T,
// products exact, sums and softmax in fp32. No split over keys (prefill grids are large).
// Fragment layouts: cuda/tc_fragments.h (checked on the host by tests/attention_tc_emulation.h).
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <type_traits>

#include "cuda/attention_traits.cuh"
#include "cuda/cp_async.cuh"
#include "cuda/mma.cuh"
#include "cuda/paged.cuh"
#include "cuda/row_pair_softmax.cuh"
#include "cuda/tc_fragments.h"

namespace gncuda {
namespace {

constexpr int kTcWarps = 4;
constexpr int kTcQueries = 16 * kTcWarps;  // query rows per block
constexpr int kTcThreads = 32 * kTcWarps;
constexpr float kLog2e = 1.4426950408889634f;

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t* r, const void* smem_row) {
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(smem_row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}

__device__ __forceinline__ uint32_t smem_word(const void* p) { return *reinterpret_cast<const uint32_t*>(p); }

// Four floats rounded to T, stored as 8 bytes at dst (8-byte aligned).
template <typename T>
__device__ __forceinline__ void store4(T* dst, float4 v) {
  uint2 w;
  w.x = pack2<T>(v.x, v.y);
  w.y = pack2<T>(v.z, v.w);
  *reinterpret_cast<uint2*>(dst) = w;
}

// Blocks per SM the register allocation must allow: three on Hopper (168 registers at D = 128, and
// three blocks' shared memory fit in its 228 KB), two elsewhere (A100's 164 KB holds two).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define GN_TC_MIN_BLOCKS 3
#else
#define GN_TC_MIN_BLOCKS 2
#endif

// T: operand type (__nv_bfloat16 or __half); CT: the cache's element type (float or T); KEYS: keys
// per tile (64 or 32).
template <typename T, int DMAX, typename CT, int KEYS>
__global__ void __launch_bounds__(kTcThreads, GN_TC_MIN_BLOCKS) attention_tc_kernel(AttentionParams p) {
  constexpr int LD = DMAX + 8;        // elements per shared-memory row
  constexpr int KC = DMAX / 16;       // k16 chunks of the head dim (S = Q·Kᵀ)
  constexpr int NS = KEYS / 8;        // n8 tiles of S per warp row block
  constexpr int NO = DMAX / 8;        // n8 tiles of O
  // Dynamic shared memory (TcSmem<T, DMAX>): two K and two V tiles, the slots of two tiles.
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* k_s = reinterpret_cast<T*>(smem_raw);                                  // [2][KEYS][LD] (first: Q)
  T* v_s = k_s + 2 * KEYS * LD;                                             // [2][KEYS][LD]
  long long* slot_s = reinterpret_cast<long long*>(v_s + 2 * KEYS * LD);    // [2][KEYS], -1: none
  int* range_s = reinterpret_cast<int*>(slot_s + 2 * KEYS);                 // [kTcWarps][2] min, max position
  T* const kq_s = k_s;  // the Q tile ([kTcQueries][LD]) is staged over the K buffers before any key tile
  static_assert(2 * KEYS >= kTcQueries && KEYS % 16 == 0, "the Q tile fits the two K buffers; whole k16 chunks");

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = frag::group_of(lane);
  const int D = p.head_dim, D4 = D >> 2;
  int h = 0, tile = 0;
  heavy_first_tile(&h, &tile);  // grid (tiles, heads)

  // This block's sequence and query tile (the grid is an upper bound on the tile count).
  int s = 0, seq_begin = 0, seq_end = 0, t0 = 0;
  if (!find_query_tile(p.b.d_seq_starts, p.b.num_seqs, kTcQueries, tile, &s, &seq_begin, &seq_end, &t0)) return;
  const int t_end = min(t0 + kTcQueries, seq_end);

  // Positions of this lane's two rows (g and g + 8 of the warp's 16); -1 past the tile's end.
  const int row0 = t0 + warp * 16 + g, row1 = row0 + 8;
  const int pos0 = row0 < t_end ? p.b.d_positions[row0] : -1;
  const int pos1 = row1 < t_end ? p.b.d_positions[row1] : -1;

  // Key range of the block: from the earliest query's window start to the latest query.
  int lo = INT_MAX, hi = -1;
  warp_position_range(pos0, pos1, &lo, &hi);
  if (lane == 0) range_s[2 * warp] = lo, range_s[2 * warp + 1] = hi;

  // Q tile → the K buffers (rounded to T, zero past D and past the tile's end), and the pad columns
  // [D, DMAX) of the K rows Q does not cover and of the V buffers zeroed once (tile loads write
  // columns < D only; the K rows under Q keep its zeros).
  for (int e = threadIdx.x; e < kTcQueries * DMAX; e += kTcThreads) {
    const int r = e / DMAX, d = e - r * DMAX, t = t0 + r;
    const float v = (t < t_end && d < D) ? p.q[(size_t)t * p.ldq + (size_t)h * D + d] : 0.f;
    kq_s[r * LD + d] = T(v);
  }
  const int pad = DMAX - D;
  for (int e = threadIdx.x; e < 2 * KEYS * pad; e += kTcThreads) {
    const int r = e / pad, d = D + (e - r * pad);
    v_s[r * LD + d] = T(0.f);
    if (r >= kTcQueries) k_s[r * LD + d] = T(0.f);
  }
  __syncthreads();
  int pmin = INT_MAX, pmax = -1;
#pragma unroll
  for (int w = 0; w < kTcWarps; ++w) pmin = min(pmin, range_s[2 * w]), pmax = max(pmax, range_s[2 * w + 1]);
  const int kb = p.window > 0 ? max(0, pmin - p.window + 1) : 0;
  const int ke = pmax + 1;

  // A fragments of this warp's 16 query rows, all head-dim chunks.
  uint32_t qf[KC][4];
#pragma unroll
  for (int kc = 0; kc < KC; ++kc)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const frag::RowCol rc = frag::a_elem(lane, i, 0);
      qf[kc][i] = smem_word(kq_s + (warp * 16 + rc.row) * LD + kc * 16 + rc.col);
    }

  float o[NO][4];
#pragma unroll
  for (int n = 0; n < NO; ++n)
#pragma unroll
    for (int r = 0; r < 4; ++r) o[n][r] = 0.f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;  // running max (log2 units) and sum
  const float scale_log2 = p.scale * kLog2e;
  const size_t slot_stride = (size_t)p.heads * D;
  const CT* k_cache = static_cast<const CT*>(p.k_cache);  // [slots, heads * D]
  const CT* v_cache = static_cast<const CT*>(p.v_cache);

  // Tile staging. Keys past ke, and positions past the block table, are zero rows (slot -1).
  const bool async = std::is_same<CT, T>::value && D % 8 == 0;  // 16-byte rows of T: cp.async
  auto slot_of = [&](int j) -> long long {
    return j < ke ? cache_slot(p.b.d_block_tables, p.b.max_blocks, p.b.block_size, s, j) : -1;
  };
  auto stage = [&](int buf) {
    T* kd = k_s + buf * KEYS * LD;
    T* vd = v_s + buf * KEYS * LD;
    const long long* slots = slot_s + buf * KEYS;
    if (async) {
      // 16-byte chunks of T straight into shared memory (zero-filled where there is no slot).
      const int C = D >> 3;
      for (int e = threadIdx.x; e < KEYS * C; e += kTcThreads) {
        const int r = e / C, c = e - r * C;
        const long long slot = slots[r];
        const size_t at = slot >= 0 ? (size_t)slot * slot_stride + (size_t)h * D + (size_t)c * 8 : 0;
        cp_async16(kd + r * LD + c * 8, k_cache + at, slot >= 0);
        cp_async16(vd + r * LD + c * 8, v_cache + at, slot >= 0);
      }
      return;
    }
    // float32 cache (or head_dim % 8 != 0): K and V rows through registers, rounded to T, 4 float4
    // of each in flight per thread.
    for (int e0 = threadIdx.x; e0 < KEYS * D4; e0 += 4 * kTcThreads) {
      float4 kv[4], vv[4];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const int e = e0 + u * kTcThreads;
        kv[u] = vv[u] = make_float4(0.f, 0.f, 0.f, 0.f);
        if (e < KEYS * D4) {
          const int r = e / D4;
          const long long slot = slots[r];
          if (slot >= 0) {
            const size_t at = (size_t)slot * slot_stride + (size_t)h * D + (size_t)(e - r * D4) * 4;
            kv[u] = load4(k_cache + at);
            vv[u] = load4(v_cache + at);
          }
        }
      }
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const int e = e0 + u * kTcThreads;
        if (e < KEYS * D4) {
          const int r = e / D4, d = (e - r * D4) * 4;
          store4<T>(kd + r * LD + d, kv[u]);
          store4<T>(vd + r * LD + d, vv[u]);
        }
      }
    }
  };

  // Prologue: tile 0's slots, tile 1's lookup in flight, tile 0 staged into buffer 0 (the Q
  // fragments have been read out of it: the barrier below follows every warp's qf reads).
  long long carry = threadIdx.x < KEYS ? slot_of(kb + threadIdx.x) : -1;
  __syncthreads();
  if (threadIdx.x < KEYS) {
    slot_s[threadIdx.x] = carry;
    carry = slot_of(kb + KEYS + threadIdx.x);
  }
  __syncthreads();
  stage(0);
  cp_async_commit();

  for (int kt = kb, tile_no = 0; kt < ke; kt += KEYS, ++tile_no) {
    const int cur = tile_no & 1, nxt = cur ^ 1;
    // Tile i + 1's slots from the register; tile i + 2's lookup goes out (in flight during tile i).
    if (threadIdx.x < KEYS) {
      slot_s[nxt * KEYS + threadIdx.x] = carry;
      carry = slot_of(kt + 2 * KEYS + threadIdx.x);
    }
    __syncthreads();  // tile i + 1's slots are visible; every warp is done with tile i - 1 (buffer nxt)
    if (kt + KEYS < ke) stage(nxt);
    cp_async_commit();    // (an empty group when nothing was staged: keeps the count uniform)
    cp_async_wait<1>();   // this thread's copies of tile i have landed
    __syncthreads();      // … and everyone's
    const T* kt_s = k_s + cur * KEYS * LD;
    const T* vt_s = v_s + cur * KEYS * LD;

    // S = Q·Kᵀ for this warp's 16 rows and the tile's keys.
    float sc[NS][4];
#pragma unroll
    for (int j = 0; j < NS; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) sc[j][r] = 0.f;
#pragma unroll
    for (int kc = 0; kc < KC; ++kc) {
      if (kc * 16 < D) {  // (chunks past D hold zero padding)
#pragma unroll
        for (int j = 0; j < NS; ++j) {
          uint32_t bf[2];
#pragma unroll
          for (int i = 0; i < 2; ++i) {
            const frag::RowCol rc = frag::b_elem(lane, i, 0);  // row = k (head dim), col = n (key)
            bf[i] = smem_word(kt_s + (j * 8 + rc.col) * LD + kc * 16 + rc.row);
          }
          mma16816<T>(sc[j], qf[kc], bf);
        }
      }
    }

    // Online softmax: mask, row max over the quad, rescale, exponentiate.
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int j = 0; j < NS; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const frag::RowCol rc = frag::c_elem(lane, r);
        const int key = kt + j * 8 + rc.col;
        const int pos = r < 2 ? pos0 : pos1;
        const bool vis = pos >= 0 && key <= pos && (p.window == 0 || key > pos - p.window);
        sc[j][r] = vis ? sc[j][r] * scale_log2 : -INFINITY;
        if (r < 2) mx0 = fmaxf(mx0, sc[j][r]);
        else mx1 = fmaxf(mx1, sc[j][r]);
      }
    const RowPairStep step = online_max_step(mx0, mx1, m0, m1);
    const float base0 = step.base0, base1 = step.base1, corr0 = step.corr0, corr1 = step.corr1;
    float sum0 = 0.f, sum1 = 0.f;
#pragma unroll
    for (int j = 0; j < NS; ++j) {
      sc[j][0] = exp2f(sc[j][0] - base0);
      sc[j][1] = exp2f(sc[j][1] - base0);
      sc[j][2] = exp2f(sc[j][2] - base1);
      sc[j][3] = exp2f(sc[j][3] - base1);
      sum0 += sc[j][0] + sc[j][1];
      sum1 += sc[j][2] + sc[j][3];
    }
    l0 = l0 * corr0 + sum0;  // this lane's share; the quad's shares are added at the end
    l1 = l1 * corr1 + sum1;
#pragma unroll
    for (int n = 0; n < NO; ++n) {
      o[n][0] *= corr0;
      o[n][1] *= corr0;
      o[n][2] *= corr1;
      o[n][3] *= corr1;
    }

    // O += P·V, 16 keys per step: P's A fragment is two S accumulator tiles (a_elem of key c
    // within the chunk = c_elem of S tile 2kc + c / 8), V's B fragments by ldmatrix .trans.
#pragma unroll
    for (int kc = 0; kc < KEYS / 16; ++kc) {
      uint32_t pa[4];
      pa[0] = pack2<T>(sc[2 * kc][0], sc[2 * kc][1]);
      pa[1] = pack2<T>(sc[2 * kc][2], sc[2 * kc][3]);
      pa[2] = pack2<T>(sc[2 * kc + 1][0], sc[2 * kc + 1][1]);
      pa[3] = pack2<T>(sc[2 * kc + 1][2], sc[2 * kc + 1][3]);
      const frag::RowCol ra = frag::ldmatrix_x4_row_addr(lane);
#pragma unroll
      for (int np = 0; np < NO / 2; ++np) {
        if (np * 16 < D) {  // (columns past D are padding)
          uint32_t vb[4];
          ldmatrix_x4_trans(vb, vt_s + (kc * 16 + ra.row) * LD + np * 16 + ra.col);
          mma16816<T>(o[2 * np], pa, vb);
          mma16816<T>(o[2 * np + 1], pa, vb + 2);
        }
      }
    }
  }

  cp_async_wait<0>();  // nothing may land after the block is gone (the prologue's copies, if no tile ran)

  // Normalise and store this lane's output elements of valid rows.
  float inv0 = 0.f, inv1 = 0.f;
  quad_sum_inverses(l0, l1, &inv0, &inv1);
#pragma unroll
  for (int n = 0; n < NO; ++n)
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const frag::RowCol rc = frag::c_elem(lane, r);
      const int col = n * 8 + rc.col, row = t0 + warp * 16 + rc.row;
      const int pos = r < 2 ? pos0 : pos1;
      if (pos >= 0 && col < D) p.out[(size_t)row * p.ldo + (size_t)h * D + col] = o[n][r] * (r < 2 ? inv0 : inv1);
    }
}

// Bytes of dynamic shared memory of attention_tc_kernel<T, DMAX, …, KEYS>: 2 K + 2 V tiles of
// [KEYS][DMAX + 8] T, 2 x KEYS slots, the per-warp query ranges.
template <typename T, int DMAX, int KEYS>
constexpr int tc_smem_bytes() {
  return 4 * KEYS * (DMAX + 8) * (int)sizeof(T) + 2 * KEYS * (int)sizeof(long long) + 2 * kTcWarps * (int)sizeof(int);
}

// 64-key tiles where an SM holds two such blocks (with the 1 KB each block reserves), else 32;
// GPTNEO_CUDA_TC_ATTENTION_KEYS=32 (read once) takes 32 everywhere, so that a GPU with room for the
// large tiles can test and time the small ones too (scripts/gpu-check.sh does).
template <typename T, int DMAX>
bool large_tiles_fit() {
  static const bool force_small = [] {
    const char* v = getenv("GPTNEO_CUDA_TC_ATTENTION_KEYS");
    return v != nullptr && strcmp(v, "32") == 0;
  }();
  if (force_small) return false;
  const int per_sm = device_attribute(cudaDevAttrMaxSharedMemoryPerMultiprocessor, 228 * 1024);
  return per_sm >= 2 * (tc_smem_bytes<T, DMAX, 64>() + 1024);
}

template <typename T, int DMAX, typename CT, int KEYS>
int launch_keys(const AttentionParams& p, cudaStream_t stream) {
  constexpr int smem = tc_smem_bytes<T, DMAX, KEYS>();
  const auto kernel = attention_tc_kernel<T, DMAX, CT, KEYS>;
  GN_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  dim3 grid(attention_tc_tiles(&p.b), p.heads, 1);
  kernel<<<grid, kTcThreads, smem, stream>>>(p);
  GN_CUDA_CHECK_LAUNCH();
  return GN_CUDA_OK;
}

template <typename T, int DMAX, typename CT>
int launch_typed(const AttentionParams& p, cudaStream_t stream) {
  return large_tiles_fit<T, DMAX>() ? launch_keys<T, DMAX, CT, 64>(p, stream) : launch_keys<T, DMAX, CT, 32>(p, stream);
}

template <typename T>
int launch_operand(const AttentionParams& p, cudaStream_t stream) {
  const bool wide = p.head_dim > 64;
  if (p.cache_dtype == GN_DTYPE_F32)
    return wide ? launch_typed<T, 128, float>(p, stream) : launch_typed<T, 64, float>(p, stream);
  return wide ? launch_typed<T, 128, T>(p, stream) : launch_typed<T, 64, T>(p, stream);
}

}  // namespace

int attention_tc_tiles(const gn_cuda_batch* b) { return ceil_div(b->tokens, kTcQueries) + b->num_seqs; }

int launch_attention_tc(const AttentionParams& p, int operand_dtype, cudaStream_t stream) {
  // The planner admits a half-precision cache only of the operand type.
  if (p.cache_dtype != GN_DTYPE_F32 && p.cache_dtype != operand_dtype) return GN_CUDA_EUNSUPPORTED;
  if (operand_dtype == GN_DTYPE_BF16) return launch_operand<__nv_bfloat16>(p, stream);
  if (operand_dtype == GN_DTYPE_F16) return launch_operand<__half>(p, stream);
  return GN_CUDA_EUNSUPPORTED;
}

}  // namespace gncuda
