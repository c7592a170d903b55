// Paged attention (prefill and decode) over the KV cache [blocks, block_size, heads, D] (float32,
// bf16 or f16),
// and the dispatch between the four kernels (this one, attention_decode.cuh, attention_tc.cu,
// attention_wgmma.cu).
// The tiled kernel serves any step: a block takes warps*QPW consecutive queries of one sequence and one
// head, streams the visible keys in tiles of 32 through shared memory and keeps an online
// softmax per query in fp32 (lane j scores key j of the tile; lane c owns output dims c+32i).
// When a step has few queries but long contexts, the key range is split across blocks
// (gridDim.z) that write partial (m, l, o) results, merged by combine_kernel.
#include <limits.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "cuda/attention_combine.cuh"
#include "cuda/attention_decode.cuh"
#include "cuda/attention_traits.cuh"
#include "cuda/env_switch.h"
#include "cuda/gemm_traits.cuh"  // wgmma_image_loaded
#include "cuda/paged.cuh"
#include "cuda/programmatic.cuh"

using namespace gncuda;

namespace {

template <int DMAX, int QPW>
__global__ void attention_kernel(AttentionParams p) {
  dependent_kernel_prologue();  // launched by launch_dependent()
  constexpr int C = DMAX / 32;   // output dims per lane
  constexpr int KT = kKeyTile;
  extern __shared__ float smem[];
  const int nw = blockDim.x >> 5, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int bq = nw * QPW;
  const int D = p.head_dim;
  const int D4 = (D + 3) & ~3;
  float* q_s = smem;                  // [bq][DMAX] queries, pre-scaled, zero past D
  float* k_s = q_s + bq * DMAX;       // [DMAX][KT+1] keys, transposed
  float* v_s = k_s + DMAX * (KT + 1); // [KT][DMAX] values

  // Which sequence and query tile this block serves.
  int s = 0, seq_begin = 0, seq_end = 0, t0 = 0;
  if (bq == 1) {
    t0 = blockIdx.x;
    s = seq_of_row(p.b.d_seq_starts, p.b.num_seqs, t0);
    seq_begin = p.b.d_seq_starts[s];
    seq_end = p.b.d_seq_starts[s + 1];
  } else if (!find_query_tile(p.b.d_seq_starts, p.b.num_seqs, bq, blockIdx.x, &s, &seq_begin, &seq_end, &t0)) {
    return;  // grid is an upper bound on the number of tiles
  }
  const int t_end = min(t0 + bq, seq_end);
  const int h = blockIdx.y, split = blockIdx.z;

  int pmin = INT_MAX, pmax = -1;
  for (int t = t0; t < t_end; ++t) {
    const int pos = p.b.d_positions[t];
    pmin = min(pmin, pos);
    pmax = max(pmax, pos);
  }
  const int klo = p.window > 0 ? max(0, pmin - p.window + 1) : 0;
  const int kb = max(klo, split * p.split_chunk);
  // The last split runs to the end even if batch.max_context understated the context.
  const int ke = split == p.splits - 1 ? pmax + 1 : min(pmax + 1, split * p.split_chunk + p.split_chunk);

  int qpos[QPW];
#pragma unroll
  for (int i = 0; i < QPW; ++i) {
    const int t = t0 + warp * QPW + i;
    qpos[i] = t < t_end ? p.b.d_positions[t] : -1;
  }
  for (int e = threadIdx.x; e < bq * DMAX; e += blockDim.x) {
    const int r = e / DMAX, d = e - r * DMAX, t = t0 + r;
    q_s[e] = (t < t_end && d < D) ? p.q[(size_t)t * p.ldq + (size_t)h * D + d] * p.scale : 0.f;
  }

  float m[QPW], l[QPW], acc[QPW][C];
#pragma unroll
  for (int i = 0; i < QPW; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.f;
#pragma unroll
    for (int c = 0; c < C; ++c) acc[i][c] = 0.f;
  }

  const size_t slot_stride = (size_t)p.heads * D;
  for (int kt = kb; kt < ke; kt += KT) {
    __syncthreads();  // previous tile fully consumed (and q_s written, first time)
    if (p.vec4) {  // head_dim % 4 == 0 and 16-byte aligned caches: one load per 4 dims
      const int per_row = D >> 2;
#pragma unroll 4
      for (int e = threadIdx.x; e < KT * per_row; e += blockDim.x) {
        const int r = e / per_row, d = (e - r * per_row) * 4, j = kt + r;
        float4 kv = make_float4(0.f, 0.f, 0.f, 0.f), vv = kv;
        if (j < ke) {
          const long long slot = cache_slot(p.b.d_block_tables, p.b.max_blocks, p.b.block_size, s, j);
          if (slot >= 0) {
            const size_t at = (size_t)slot * slot_stride + (size_t)h * D + d;
            kv = load4_dyn(p.k_cache, p.cache_dtype, at);
            vv = load4_dyn(p.v_cache, p.cache_dtype, at);
          }
        }
        k_s[(d + 0) * (KT + 1) + r] = kv.x;
        k_s[(d + 1) * (KT + 1) + r] = kv.y;
        k_s[(d + 2) * (KT + 1) + r] = kv.z;
        k_s[(d + 3) * (KT + 1) + r] = kv.w;
        *reinterpret_cast<float4*>(v_s + r * DMAX + d) = vv;
      }
    } else {
      for (int e = threadIdx.x; e < KT * D4; e += blockDim.x) {
        const int r = e / D4, d = e - r * D4, j = kt + r;
        float kv = 0.f, vv = 0.f;
        if (j < ke && d < D) {
          const long long slot = cache_slot(p.b.d_block_tables, p.b.max_blocks, p.b.block_size, s, j);
          if (slot >= 0) {
            const size_t at = (size_t)slot * slot_stride + (size_t)h * D + d;
            kv = load_dyn(p.k_cache, p.cache_dtype, at);
            vv = load_dyn(p.v_cache, p.cache_dtype, at);
          }
        }
        k_s[d * (KT + 1) + r] = kv;
        v_s[r * DMAX + d] = vv;
      }
    }
    __syncthreads();

    // Scores of key j = kt + lane for each of this warp's queries.
    float sc[QPW];
#pragma unroll
    for (int i = 0; i < QPW; ++i) sc[i] = 0.f;
    const float* qw = q_s + warp * QPW * DMAX;
    for (int d = 0; d < D4; d += 4) {
      const float k0 = k_s[(d + 0) * (KT + 1) + lane], k1 = k_s[(d + 1) * (KT + 1) + lane];
      const float k2 = k_s[(d + 2) * (KT + 1) + lane], k3 = k_s[(d + 3) * (KT + 1) + lane];
#pragma unroll
      for (int i = 0; i < QPW; ++i) {
        const float4 q4 = *reinterpret_cast<const float4*>(qw + i * DMAX + d);
        sc[i] += q4.x * k0 + q4.y * k1 + q4.z * k2 + q4.w * k3;
      }
    }

    // Online softmax update; pj = 0 for masked keys and for queries past the tile's end.
    const int j = kt + lane;
    float pj[QPW];
#pragma unroll
    for (int i = 0; i < QPW; ++i) {
      const bool vis = qpos[i] >= 0 && j < ke && j <= qpos[i] && (p.window == 0 || j > qpos[i] - p.window);
      const float sv = vis ? sc[i] : -INFINITY;
      const float mt = warp_max(sv);
      pj[i] = 0.f;
      if (mt != -INFINITY) {  // warp-uniform
        const float mn = fmaxf(m[i], mt);
        const float corr = expf(m[i] - mn);  // 0 when m[i] is -inf
        pj[i] = vis ? expf(sv - mn) : 0.f;
        l[i] = l[i] * corr + warp_sum(pj[i]);
#pragma unroll
        for (int c = 0; c < C; ++c) acc[i][c] *= corr;
        m[i] = mn;
      }
    }
    const int nkeys = min(KT, ke - kt);
    for (int jj = 0; jj < nkeys; ++jj) {
      float vv[C];
#pragma unroll
      for (int c = 0; c < C; ++c) vv[c] = lane + 32 * c < D ? v_s[jj * DMAX + lane + 32 * c] : 0.f;
#pragma unroll
      for (int i = 0; i < QPW; ++i) {
        const float pb = __shfl_sync(0xffffffffu, pj[i], jj);
#pragma unroll
        for (int c = 0; c < C; ++c) acc[i][c] += pb * vv[c];
      }
    }
  }

#pragma unroll
  for (int i = 0; i < QPW; ++i) {
    if (qpos[i] < 0) continue;
    const int t = t0 + warp * QPW + i;
    if (p.splits == 1) {
      const float inv = 1.f / l[i];
      float* o = p.out + (size_t)t * p.ldo + (size_t)h * D;
#pragma unroll
      for (int c = 0; c < C; ++c)
        if (lane + 32 * c < D) o[lane + 32 * c] = acc[i][c] * inv;
    } else {
      const size_t row = ((size_t)split * p.b.tokens + t) * p.heads + h;
      float* o = p.part_o + row * D;
#pragma unroll
      for (int c = 0; c < C; ++c)
        if (lane + 32 * c < D) o[lane + 32 * c] = acc[i][c];
      if (lane == 0) {
        p.part_ml[row * 2] = m[i];
        p.part_ml[row * 2 + 1] = l[i];
      }
    }
  }
}

// Merges the splits' partial results of one (token, head) per block.
__global__ void combine_kernel(AttentionParams p) {
  dependent_kernel_prologue();  // launched by launch_dependent()
  const int t = blockIdx.x / p.heads, h = blockIdx.x - t * p.heads;
  combine_splits(p, t, h);
}

struct Plan {
  int kernel;  // GN_ATTENTION_TILED or GN_ATTENTION_DECODE
  AttentionConfig cfg;
  int tiles;   // grid.x
  int splits;  // grid.z
  int split_chunk;
  int unroll = kDecodeUnroll;  // decode: keys per group in flight (AttentionParams::unroll)
};

// gn_cuda_decode_keys16's state: GPTNEO_CUDA_DECODE_KEYS16=8 for the wide unroll, else the default.
EnvSwitch g_decode_keys16("GPTNEO_CUDA_DECODE_KEYS16",
                          [](const char* v) { return env_text_is(v, "8") ? kDecodeUnrollWide : kDecodeUnroll; });

// gn_cuda_decode_split_waves's state: GPTNEO_CUDA_DECODE_SPLIT=waves for the wave-aware split plan.
EnvSwitch g_decode_split_waves("GPTNEO_CUDA_DECODE_SPLIT", [](const char* v) { return env_text_is(v, "waves") ? 1 : 0; });

bool decode_like(const gn_cuda_batch* b) { return b->tokens < 4 * b->num_seqs; }

// K/V rows can be read 4 elements at a time (load4).
bool rows_vec4(int head_dim, const void* k, const void* v) {
  return head_dim % 4 == 0 && aligned16(k) && aligned16(v);
}

// The decode kernel serves decode-like steps whose K/V rows can be read 4 elements at a time.
bool decode_kernel_serves(const gn_cuda_batch* b, int head_dim, const void* k, const void* v) {
  return decode_like(b) && head_dim <= 128 && rows_vec4(head_dim, k, v);
}

// The tensor-core kernel serves the other steps when the caller accepts half-precision operands,
// the cache is float32 or of that type, and K/V rows can be read 4 elements at a time.
bool tc_kernel_serves(const gn_cuda_batch* b, int head_dim, const void* k, const void* v, int cache_dtype,
                      int operand_dtype) {
  return !decode_like(b) && (operand_dtype == GN_DTYPE_BF16 || operand_dtype == GN_DTYPE_F16) &&
         (cache_dtype == GN_DTYPE_F32 || cache_dtype == operand_dtype) && head_dim <= 128 &&
         rows_vec4(head_dim, k, v);
}

// GPTNEO_CUDA_TC_ATTENTION=0 keeps the tensor-core prefill kernel out of automatic selection (read
// once): an escape hatch while it is unverified on a GPU; gn_cuda_attention_with still forces it.
bool tc_attention_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("GPTNEO_CUDA_TC_ATTENTION");
    return v == nullptr || std::strcmp(v, "0") != 0;
  }();
  return on;
}

// The wgmma kernel serves the tensor-core kernel's steps with head_dim 64 or 128 and a cache of the
// operand type, on a device running the sm_90a image.
bool wgmma_kernel_serves(const gn_cuda_batch* b, int head_dim, const void* k, const void* v, int cache_dtype,
                         int operand_dtype) {
  return (head_dim == 64 || head_dim == 128) && cache_dtype == operand_dtype &&
         tc_kernel_serves(b, head_dim, k, v, cache_dtype, operand_dtype) && wgmma_image_loaded();
}

// GPTNEO_CUDA_WGMMA_ATTENTION (read once) lets automatic selection pick a wgmma kernel: "1" the plain
// schedule, "pipelined" the pipelined one; 0 (neither) otherwise. Opt-in until they have run on a GPU;
// gn_cuda_attention_with forces either.
int wgmma_attention_choice() {
  static const int choice = [] {
    const char* v = std::getenv("GPTNEO_CUDA_WGMMA_ATTENTION");
    if (v != nullptr && std::strcmp(v, "1") == 0) return (int)GN_ATTENTION_WGMMA;
    if (v != nullptr && std::strcmp(v, "pipelined") == 0) return (int)GN_ATTENTION_WGMMA_PIPELINED;
    return 0;
  }();
  return choice;
}

int select_kernel(const gn_cuda_batch* b, int head_dim, const void* k, const void* v, int cache_dtype,
                  int operand_dtype) {
  if (decode_kernel_serves(b, head_dim, k, v)) return GN_ATTENTION_DECODE;
  if (wgmma_attention_choice() != 0 && tc_attention_enabled() &&
      wgmma_kernel_serves(b, head_dim, k, v, cache_dtype, operand_dtype))
    return wgmma_attention_choice();
  if (tc_attention_enabled() && tc_kernel_serves(b, head_dim, k, v, cache_dtype, operand_dtype))
    return GN_ATTENTION_TENSOR_CORE;
  return GN_ATTENTION_TILED;
}

int plan_tiled(const gn_cuda_batch* b, int heads, int head_dim, Plan* plan) {
  plan->kernel = GN_ATTENTION_TILED;
  if (head_dim <= 64) plan->cfg = decode_like(b) ? kDecodeConfig64 : kPrefillConfig64;
  else plan->cfg = decode_like(b) ? kDecodeConfig128 : kPrefillConfig128;
  const int bq = plan->cfg.warps * plan->cfg.queries_per_warp;
  plan->tiles = bq == 1 ? b->tokens : ceil_div(b->tokens, bq) + b->num_seqs;
  plan->splits = 1;
  plan->split_chunk = 1 << 30;
  const int min_keys = plan->cfg.min_keys_per_split;
  if (b->max_context >= 2 * min_keys) {
    const int sms = multiprocessors();
    const long long base = (long long)plan->tiles * heads;
    const long long target = (long long)plan->cfg.blocks_per_sm * sms;
    if (base < target) {
      int want = (int)((target + base - 1) / base);
      want = min(want, ceil_div(b->max_context, min_keys));
      want = min(want, kMaxSplits);
      if (want > 1) {
        plan->splits = want;
        plan->split_chunk = ceil_div(ceil_div(b->max_context, want), kKeyTile) * kKeyTile;
        plan->splits = ceil_div(b->max_context, plan->split_chunk);
      }
    }
  }
  return GN_CUDA_OK;
}

// Blocks of one decode kernel instantiation resident per SM (the occupancy API), remembered for the last
// device asked (key and answer in one word); 0 when the runtime cannot say.
template <typename Kernel>
int resident_blocks(Kernel kernel, std::atomic<unsigned long long>& last) {
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return 0;
  const unsigned long long seen = last.load(std::memory_order_relaxed);
  if (seen != ~0ull && seen >> 8 == (unsigned long long)dev) return (int)(seen & 0xff);
  int per_sm = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kDecodeWarps * 32, 0) != cudaSuccess) {
    (void)cudaGetLastError();  // (not sticky: clear it so the next launch check does not report it; the fill plan serves)
    return 0;
  }
  per_sm = per_sm < 0 ? 0 : (per_sm > 255 ? 255 : per_sm);
  last.store((unsigned long long)dev << 8 | (unsigned)per_sm, std::memory_order_relaxed);
  return per_sm;
}

template <int DMAX, typename CT, int U>
int decode_resident_blocks_typed() {
  static std::atomic<unsigned long long> last{~0ull};
  if constexpr (sizeof(CT) == 4) return resident_blocks(decode_attention_kernel<DMAX>, last);
  else return resident_blocks(decode_attention_kernel16<DMAX, CT, U>, last);
}

// Resident blocks per SM of the decode kernel launch_decode picks for this cache and unroll.
template <int DMAX>
int decode_resident_blocks(int cache_dtype, int unroll) {
  const bool wide = unroll == kDecodeUnrollWide;
  if (cache_dtype == GN_DTYPE_BF16)
    return wide ? decode_resident_blocks_typed<DMAX, __nv_bfloat16, kDecodeUnrollWide>()
                : decode_resident_blocks_typed<DMAX, __nv_bfloat16, kDecodeUnroll>();
  if (cache_dtype == GN_DTYPE_F16)
    return wide ? decode_resident_blocks_typed<DMAX, __half, kDecodeUnrollWide>()
                : decode_resident_blocks_typed<DMAX, __half, kDecodeUnroll>();
  return decode_resident_blocks_typed<DMAX, float, kDecodeUnroll>();
}

// One block per (query, head, split), `unroll` keys per group in flight. A windowed plan never splits
// more than the windowless one, nor a plan of more keys per round (its rounds are longer) more than one
// of kDecodeUnroll, nor the wave-aware plan (resident > 0: the kernel's blocks per SM) more than the fill
// plan (resident 0), so gn_cuda_attention_workspace_bytes (windowless, kDecodeUnroll, fill) covers them all.
int plan_decode(const gn_cuda_batch* b, int heads, int head_dim, int window, Plan* plan, int unroll = kDecodeUnroll,
                int resident = 0) {
  plan->kernel = GN_ATTENTION_DECODE;
  plan->cfg = head_dim <= 64 ? kDecodeConfig64 : kDecodeConfig128;
  plan->tiles = b->tokens;
  plan->unroll = unroll;
  const int sms = multiprocessors();
  const long long base = (long long)b->tokens * heads;
  const int dmax = plan->cfg.dmax;
  const auto splits_of = [&](int span, int cap) {
    return resident > 0 ? decode_splits_waves(span, base, sms, resident, dmax, unroll, cap, &plan->split_chunk)
                        : decode_splits(span, base, sms, dmax, unroll, cap, &plan->split_chunk);
  };
  plan->splits = splits_of(b->max_context, kMaxSplits);
  if (window > 0 && window < b->max_context) plan->splits = splits_of(window, plan->splits);
  return GN_CUDA_OK;
}

// own_launch: the plan is for a launch of the decode kernel itself (not for the persistent decode layer,
// whose grid is its own), so the wave-aware split plan may serve it.
int plan_attention(int kernel, const gn_cuda_batch* b, int heads, int head_dim, int window, const void* k,
                   const void* v, int cache_dtype, int operand_dtype, Plan* plan, bool own_launch = true) {
  GN_CUDA_REQUIRE(head_dim > 0 && heads > 0, GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(head_dim <= 128, GN_CUDA_EUNSUPPORTED);
  if (kernel == GN_ATTENTION_AUTO) kernel = select_kernel(b, head_dim, k, v, cache_dtype, operand_dtype);
  if (kernel == GN_ATTENTION_TILED) return plan_tiled(b, heads, head_dim, plan);
  if (kernel == GN_ATTENTION_TENSOR_CORE || kernel == GN_ATTENTION_WGMMA || kernel == GN_ATTENTION_WGMMA_PIPELINED) {
    const bool wgmma = kernel != GN_ATTENTION_TENSOR_CORE;
    GN_CUDA_REQUIRE(wgmma ? wgmma_kernel_serves(b, head_dim, k, v, cache_dtype, operand_dtype)
                          : tc_kernel_serves(b, head_dim, k, v, cache_dtype, operand_dtype),
                    GN_CUDA_EUNSUPPORTED);
    plan->kernel = kernel;
    plan->cfg = kPrefillConfig128;  // (unused by these kernels)
    plan->tiles = wgmma ? attention_wgmma_tiles(b) : attention_tc_tiles(b);
    plan->splits = 1;
    plan->split_chunk = 1 << 30;
    return GN_CUDA_OK;
  }
  GN_CUDA_REQUIRE(kernel == GN_ATTENTION_DECODE, GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(decode_kernel_serves(b, head_dim, k, v), GN_CUDA_EUNSUPPORTED);
  const bool cache16 = cache_dtype == GN_DTYPE_BF16 || cache_dtype == GN_DTYPE_F16;
  const int unroll = cache16 ? gn_cuda_decode_keys16() : kDecodeUnroll;
  int resident = 0;
  if (own_launch && g_decode_split_waves.get() != 0)
    resident = head_dim <= 64 ? decode_resident_blocks<64>(cache_dtype, unroll)
                              : decode_resident_blocks<128>(cache_dtype, unroll);
  return plan_decode(b, heads, head_dim, window, plan, unroll, resident);
}

// A split plan's workspace: the arrival counters of append mode (kSplitCounterBytes, first: no plan's
// partials ever overwrite them), then the partials.
size_t workspace_for(const Plan& plan, const gn_cuda_batch* b, int heads, int head_dim) {
  if (plan.splits <= 1) return 0;
  return kSplitCounterBytes + (size_t)plan.splits * b->tokens * heads * (head_dim + 2) * sizeof(float);
}

template <int DMAX, int QPW>
int launch_tiled(const Plan& plan, const AttentionParams& p, cudaStream_t stream) {
  const int smem = attention_smem_bytes(plan.cfg);
  dim3 grid(plan.tiles, p.heads, plan.splits);
  return launch_dependent(attention_kernel<DMAX, QPW>, grid, dim3(plan.cfg.warps * 32), smem, stream, p);
}

template <int DMAX, typename CT, int U>
int launch_decode_typed(const Plan& plan, const AttentionParams& p, cudaStream_t stream) {
  dim3 grid(plan.tiles, p.heads, plan.splits);
  if constexpr (sizeof(CT) == 4)
    return launch_dependent(decode_attention_kernel<DMAX>, grid, dim3(kDecodeWarps * 32), 0, stream, p);
  else
    return launch_dependent(decode_attention_kernel16<DMAX, CT, U>, grid, dim3(kDecodeWarps * 32), 0, stream, p);
}

// (16-bit caches at the plan's unroll; float32 always at kDecodeUnroll: its keys take twice the registers)
template <int DMAX>
int launch_decode(const Plan& plan, const AttentionParams& p, cudaStream_t stream) {
  const bool wide = plan.unroll == kDecodeUnrollWide;
  if (p.cache_dtype == GN_DTYPE_BF16)
    return wide ? launch_decode_typed<DMAX, __nv_bfloat16, kDecodeUnrollWide>(plan, p, stream)
                : launch_decode_typed<DMAX, __nv_bfloat16, kDecodeUnroll>(plan, p, stream);
  if (p.cache_dtype == GN_DTYPE_F16)
    return wide ? launch_decode_typed<DMAX, __half, kDecodeUnrollWide>(plan, p, stream)
                : launch_decode_typed<DMAX, __half, kDecodeUnroll>(plan, p, stream);
  return launch_decode_typed<DMAX, float, kDecodeUnroll>(plan, p, stream);
}

// A call's arguments as kernel parameters (the plan's fields are filled in by run_plan).
AttentionParams call_params(const float* q, int ldq, const void* k_cache, const void* v_cache, int cache_dtype,
                            const gn_cuda_batch& b, int heads, int head_dim, int window, float scale, float* out,
                            int ldo) {
  AttentionParams p;
  p.q = q;
  p.ldq = ldq;
  p.k_cache = k_cache;
  p.v_cache = v_cache;
  p.cache_dtype = cache_dtype;
  p.b = b;
  p.heads = heads;
  p.head_dim = head_dim;
  p.window = window;
  p.scale = scale;
  p.out = out;
  p.ldo = ldo;
  return p;
}

// Launches a planned attention: the kernel, then the combine pass when the plan splits (except in
// append mode, whose decode kernel merges the splits itself). p carries the call's arguments; the
// plan's split fields, vec4 and the workspace pointers are filled in here.
// The plan's split fields, vec4 and the workspace pointers, into p; *merge_in_kernel: an append-mode
// decode plan whose kernel merges its own splits (no combine launch).
int plan_params(const Plan& plan, AttentionParams& p, void* d_workspace, size_t workspace_bytes,
                bool* merge_in_kernel) {
  const size_t need = workspace_for(plan, &p.b, p.heads, p.head_dim);
  GN_CUDA_REQUIRE(workspace_bytes >= need && (need == 0 || d_workspace != nullptr), GN_CUDA_EINVAL);
  p.splits = plan.splits;
  p.split_chunk = plan.split_chunk;
  p.vec4 = rows_vec4(p.head_dim, p.k_cache, p.v_cache);
  p.unroll = plan.unroll;
  p.part_o = need ? reinterpret_cast<float*>(static_cast<char*>(d_workspace) + kSplitCounterBytes) : nullptr;
  p.part_ml = need ? p.part_o + (size_t)plan.splits * p.b.tokens * p.heads * p.head_dim : nullptr;
  // Append mode merges in the decode kernel (its last block per (token, head)) instead of a combine launch.
  *merge_in_kernel = need && p.k_new != nullptr && plan.kernel == GN_ATTENTION_DECODE &&
                     (size_t)p.b.tokens * p.heads * sizeof(int) <= kSplitCounterBytes;
  p.split_done = *merge_in_kernel ? static_cast<int*>(d_workspace) : nullptr;
  return GN_CUDA_OK;
}

int run_plan(const Plan& plan, AttentionParams& p, int operand_dtype, void* d_workspace, size_t workspace_bytes,
             cudaStream_t s) {
  bool merge_in_kernel = false;
  const int planned = plan_params(plan, p, d_workspace, workspace_bytes, &merge_in_kernel);
  if (planned != GN_CUDA_OK) return planned;
  int st;
  if (plan.kernel == GN_ATTENTION_TENSOR_CORE) {
    st = launch_attention_tc(p, operand_dtype, s);
  } else if (plan.kernel == GN_ATTENTION_WGMMA || plan.kernel == GN_ATTENTION_WGMMA_PIPELINED) {
    st = launch_attention_wgmma(p, operand_dtype, plan.kernel == GN_ATTENTION_WGMMA_PIPELINED, s);
  } else if (plan.kernel == GN_ATTENTION_DECODE) {
    st = plan.cfg.dmax == 64 ? launch_decode<64>(plan, p, s) : launch_decode<128>(plan, p, s);
  } else if (plan.cfg.dmax == 64) {
    st = plan.cfg.queries_per_warp == 8 ? launch_tiled<64, 8>(plan, p, s) : launch_tiled<64, 1>(plan, p, s);
  } else {
    st = plan.cfg.queries_per_warp == 8 ? launch_tiled<128, 8>(plan, p, s) : launch_tiled<128, 1>(plan, p, s);
  }
  if (st != GN_CUDA_OK) return st;
  if (plan.splits > 1 && !merge_in_kernel)
    return launch_dependent(combine_kernel, dim3(p.b.tokens * p.heads), dim3(128), 0, s, p);
  return GN_CUDA_OK;
}

// The checks and plan of an append-mode call (gn_cuda_attention_append, prepare_attention_append):
// GN_CUDA_OK with *empty set when the batch has no rows; EUNSUPPORTED unless every sequence has one row
// and the decode kernel serves the step.
int plan_append(const float* d_q, int ldq, const float* d_k, const float* d_v, int ldkv, void* d_k_cache,
                void* d_v_cache, int cache_dtype, const gn_cuda_batch* batch, int heads, int head_dim, int window,
                float scale, float* d_out, int ldo, Plan* plan, AttentionParams* p, bool* empty,
                bool own_launch = true) {
  GN_CUDA_REQUIRE(batch != nullptr && window >= 0 && valid_dtype(cache_dtype), GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(batch->tokens >= 0 && batch->num_seqs >= 0 && batch->block_size > 0, GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(heads > 0 && head_dim > 0, GN_CUDA_EINVAL);
  const int width = heads * head_dim;
  GN_CUDA_REQUIRE(ldq >= width && ldo >= width && ldkv >= width, GN_CUDA_EINVAL);
  *empty = batch->tokens == 0 || batch->num_seqs == 0;
  if (*empty) return GN_CUDA_OK;
  GN_CUDA_REQUIRE(d_q && d_k && d_v && d_k_cache && d_v_cache && d_out, GN_CUDA_EINVAL);
  // One row per sequence (every sequence of a step has at least one), on the decode kernel.
  GN_CUDA_REQUIRE(batch->tokens == batch->num_seqs, GN_CUDA_EUNSUPPORTED);
  const int st = plan_attention(GN_ATTENTION_DECODE, batch, heads, head_dim, window, d_k_cache, d_v_cache,
                                cache_dtype, GN_DTYPE_F32, plan, own_launch);
  if (st != GN_CUDA_OK) return st;
  *p = call_params(d_q, ldq, d_k_cache, d_v_cache, cache_dtype, *batch, heads, head_dim, window, scale, d_out, ldo);
  p->k_new = d_k;
  p->v_new = d_v;
  p->ld_new = ldkv;
  p->k_dst = d_k_cache;
  p->v_dst = d_v_cache;
  return GN_CUDA_OK;
}

}  // namespace

int gncuda::prepare_attention_append(const float* d_q, int ldq, const float* d_k, const float* d_v, int ldkv,
                             void* d_k_cache, void* d_v_cache, int cache_dtype, const gn_cuda_batch* batch, int heads,
                             int head_dim, int window, float scale, float* d_out, int ldo, void* d_workspace,
                             size_t workspace_bytes, AttentionParams* p, int* dmax) {
  Plan plan;
  bool empty = false;
  int st = plan_append(d_q, ldq, d_k, d_v, ldkv, d_k_cache, d_v_cache, cache_dtype, batch, heads, head_dim, window,
                       scale, d_out, ldo, &plan, p, &empty, /*own_launch=*/false);  // (the layer's grid is its own)
  if (st != GN_CUDA_OK) return st;
  GN_CUDA_REQUIRE(!empty, GN_CUDA_EUNSUPPORTED);
  bool merge_in_kernel = false;
  st = plan_params(plan, *p, d_workspace, workspace_bytes, &merge_in_kernel);
  if (st != GN_CUDA_OK) return st;
  GN_CUDA_REQUIRE(plan.splits == 1 || merge_in_kernel, GN_CUDA_EUNSUPPORTED);
  *dmax = plan.cfg.dmax;
  return GN_CUDA_OK;
}

extern "C" const char* gn_cuda_attention_kernel_name(int kernel) {
  switch (kernel) {
    case GN_ATTENTION_TILED: return "tiled";
    case GN_ATTENTION_DECODE: return "decode";
    case GN_ATTENTION_TENSOR_CORE: return "tensor-core";
    case GN_ATTENTION_WGMMA: return "wgmma";
    case GN_ATTENTION_WGMMA_PIPELINED: return "wgmma-pipelined";
    default: return "auto";
  }
}

extern "C" int gn_cuda_attention_wgmma_available(void) { return wgmma_image_loaded() ? 1 : 0; }

extern "C" int gn_cuda_decode_keys16(void) { return g_decode_keys16.get(); }
extern "C" void gn_cuda_set_decode_keys16(int keys) {
  g_decode_keys16.set(keys == kDecodeUnrollWide ? kDecodeUnrollWide : kDecodeUnroll);
}

extern "C" int gn_cuda_decode_split_waves(void) { return g_decode_split_waves.get(); }
extern "C" void gn_cuda_set_decode_split_waves(int on) { g_decode_split_waves.set(on ? 1 : 0); }

extern "C" int gn_cuda_attention_wgmma_enabled(void) {
  return tc_attention_enabled() && wgmma_image_loaded() ? wgmma_attention_choice() : 0;
}

extern "C" int gn_cuda_attention_select(const gn_cuda_batch* batch, int head_dim, const void* d_k_cache,
                                        const void* d_v_cache, int cache_dtype, int operand_dtype) {
  if (batch == nullptr || !valid_dtype(cache_dtype) || !valid_dtype(operand_dtype)) return GN_CUDA_EINVAL;
  return select_kernel(batch, head_dim, d_k_cache, d_v_cache, cache_dtype, operand_dtype);
}

extern "C" size_t gn_cuda_attention_workspace_bytes(const gn_cuda_batch* batch, int heads, int head_dim) {
  if (batch == nullptr || batch->tokens <= 0) return 0;
  // Enough for either kernel, whichever the pointers' alignment selects; the windowless plan of
  // the decode kernel splits at least as much as any windowed one.
  size_t need = 0;
  Plan plan;
  if (plan_tiled(batch, heads, head_dim, &plan) == GN_CUDA_OK) need = workspace_for(plan, batch, heads, head_dim);
  if (head_dim > 0 && heads > 0 && head_dim <= 128 && plan_decode(batch, heads, head_dim, 0, &plan) == GN_CUDA_OK)
    need = std::max(need, workspace_for(plan, batch, heads, head_dim));
  return need;
}

extern "C" int gn_cuda_attention_with(int kernel, const float* d_q, int ldq, const void* d_k_cache,
                                      const void* d_v_cache, int cache_dtype, const gn_cuda_batch* batch, int heads,
                                      int head_dim, int window, float scale, int operand_dtype, float* d_out, int ldo,
                                      void* d_workspace, size_t workspace_bytes, void* stream) {
  GN_CUDA_REQUIRE(batch != nullptr && window >= 0 && valid_dtype(operand_dtype) && valid_dtype(cache_dtype),
                  GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(batch->tokens >= 0 && batch->num_seqs >= 0 && batch->block_size > 0, GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(ldq >= heads * head_dim && ldo >= heads * head_dim, GN_CUDA_EINVAL);
  GN_CUDA_REQUIRE(kernel >= GN_ATTENTION_AUTO && kernel <= GN_ATTENTION_WGMMA_PIPELINED, GN_CUDA_EINVAL);
  if (batch->tokens == 0 || batch->num_seqs == 0) return GN_CUDA_OK;
  Plan plan;
  const int st = plan_attention(kernel, batch, heads, head_dim, window, d_k_cache, d_v_cache, cache_dtype,
                                operand_dtype, &plan);
  if (st != GN_CUDA_OK) return st;
  AttentionParams p = call_params(d_q, ldq, d_k_cache, d_v_cache, cache_dtype, *batch, heads, head_dim, window, scale,
                                  d_out, ldo);
  return run_plan(plan, p, operand_dtype, d_workspace, workspace_bytes, as_stream(stream));
}

extern "C" int gn_cuda_attention_append(const float* d_q, int ldq, const float* d_k, const float* d_v, int ldkv,
                                        void* d_k_cache, void* d_v_cache, int cache_dtype,
                                        const gn_cuda_batch* batch, int heads, int head_dim, int window, float scale,
                                        float* d_out, int ldo, void* d_workspace, size_t workspace_bytes,
                                        void* stream) {
  Plan plan;
  AttentionParams p;
  bool empty = false;
  const int st = plan_append(d_q, ldq, d_k, d_v, ldkv, d_k_cache, d_v_cache, cache_dtype, batch, heads, head_dim,
                             window, scale, d_out, ldo, &plan, &p, &empty);
  if (st != GN_CUDA_OK || empty) return st;
  return run_plan(plan, p, GN_DTYPE_F32, d_workspace, workspace_bytes, as_stream(stream));
}

extern "C" int gn_cuda_attention(const float* d_q, int ldq, const void* d_k_cache, const void* d_v_cache,
                                 int cache_dtype, const gn_cuda_batch* batch, int heads, int head_dim, int window,
                                 float scale, int operand_dtype, float* d_out, int ldo, void* d_workspace,
                                 size_t workspace_bytes, void* stream) {
  return gn_cuda_attention_with(GN_ATTENTION_AUTO, d_q, ldq, d_k_cache, d_v_cache, cache_dtype, batch, heads, head_dim,
                                window, scale, operand_dtype, d_out, ldo, d_workspace, workspace_bytes, stream);
}
