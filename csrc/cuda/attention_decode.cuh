// Decode attention: one query per block (grid = tokens x heads x splits), K/V streamed straight
// from the paged cache into registers, 4 elements per load (16 bytes of float32, 8 of bf16/f16; no shared-memory staging, no
// per-tile barriers). Groups of L = DMAX/8 lanes score one key each: lane g of a group owns
// dims [4g, 4g+4) and [4L+4g, 4L+4g+4), so each load instruction of a group covers a
// contiguous stretch of the key's row. Each group keeps its own online softmax (m, l, o) over
// the keys it took; the groups are merged through shared memory at the end. With splits > 1
// the block writes its unnormalised partial (o, m, l) for combine_kernel (attention.cu).
// Requires head_dim % 4 == 0, head_dim <= DMAX and 16-byte aligned caches (checked by the
// launcher); q may have any stride.
// Append mode (p.k_new set; gn_cuda_attention_append): one row per sequence whose K/V are not in
// the cache yet. The block whose split holds the row's own position reads the cache up to it,
// then takes that key from the fp32 rows (requested at entry, rounded to CT as the cache stores
// it) into group 0's running softmax, and writes the rounded rows to the cache slot — what
// kv_write would have written, one launch fewer per layer.
#pragma once
#include <math.h>

#include "cuda/attention_combine.cuh"
#include "cuda/attention_traits.cuh"
#include "cuda/decode_split.h"
#include "cuda/paged.cuh"

namespace gncuda {

// The block's shared memory: slot numbers of a key tile, then the groups' partial results for the merge.
// G = kDecodeWarps * 32 / (DMAX / 8) groups of DMAX dims: the same bytes for every DMAX (64 x 32, 128 x 16).
template <int DMAX>
struct DecodeAttentionSmem {
  static constexpr int kGroups = kDecodeWarps * (32 / (DMAX / 8));
  int slot_s[kDecodeSlotTile];
  __align__(16) float o_s[kGroups][DMAX];
  float m_s[kGroups], l_s[kGroups], w_s[kGroups];
  bool last;
};

// How a lane holds 4 cache elements between their load and their use: float32 as the float4 loaded,
// 16-bit as the 8 bytes loaded (uint2: half the registers, so twice the keys fit in flight), widened to
// float32 when used (exactly: every bf16/f16 value is a float32 value).
template <typename CT>  // __nv_bfloat16, __half
struct DecodeLoad {
  using Raw = uint2;
  static __device__ __forceinline__ Raw zero() { return make_uint2(0u, 0u); }
  static __device__ __forceinline__ Raw load(const CT* p) { return __ldg(reinterpret_cast<const uint2*>(p)); }
  static __device__ __forceinline__ float4 unpack(Raw r) {
    const CT* v = reinterpret_cast<const CT*>(&r);
    return make_float4(to_f32(v[0]), to_f32(v[1]), to_f32(v[2]), to_f32(v[3]));
  }
};
template <>
struct DecodeLoad<float> {
  using Raw = float4;
  static __device__ __forceinline__ Raw zero() { return make_float4(0.f, 0.f, 0.f, 0.f); }
  static __device__ __forceinline__ Raw load(const float* p) { return __ldg(reinterpret_cast<const float4*>(p)); }
  static __device__ __forceinline__ float4 unpack(Raw r) { return r; }
};

// One block's work: query row t, head h, split `split` (the kernel's blockIdx; the persistent decode
// layer, decode_layer.cu, hands a block several). Every thread of the block calls it; kDecodeWarps warps.
// U: keys per group loaded before the first is used (kDecodeUnroll; kDecodeUnrollWide for 16-bit caches
// with gn_cuda_decode_keys16's switch, planned as AttentionParams::unroll).
template <int DMAX, typename CT, int U = kDecodeUnroll>  // CT: the cache's element type (float, __nv_bfloat16, __half)
__device__ __forceinline__ void decode_attention_block(const AttentionParams& p, int t, int h, int split,
                                                       DecodeAttentionSmem<DMAX>& sm) {
  using Load = DecodeLoad<CT>;
  constexpr int L = DMAX / 8;        // lanes per key
  constexpr int GPW = 32 / L;        // groups per warp
  constexpr int G = kDecodeWarps * GPW;
  static_assert(G == DecodeAttentionSmem<DMAX>::kGroups, "one group layout");
  constexpr int ST = kDecodeSlotTile;
  int* slot_s = sm.slot_s;
  float(*o_s)[DMAX] = sm.o_s;
  float* m_s = sm.m_s;
  float* l_s = sm.l_s;
  float* w_s = sm.w_s;

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = warp * GPW + lane / L;  // this lane's group
  const int gl = lane % L;              // lane within the group
  const int da = 4 * gl, db = 4 * L + 4 * gl;  // first dims of the lane's two float4
  const int D = p.head_dim;
  const bool has_a = da < D, has_b = db < D;
  const int pos = p.b.d_positions[t];  // independent of the sequence lookup: both in flight
  const int s = seq_of_row_decode(p.b.d_seq_starts, p.b.num_seqs, t);
  // This split's keys; in append mode exactly one block of (t, h) owns key pos and reads the
  // cache only up to it (decode_split.h).
  const DecodeKeyRange range = decode_key_range(pos, p.window, split, p.splits, p.split_chunk, p.k_new != nullptr);
  const int kb = range.begin;
  const bool own = range.own;
  const int kce = range.cache_end;  // keys read from the cache: [kb, kce)
  // Only warp 0 (which holds group 0, the group that takes the own key) reads it.
  const bool own_warp = own && warp == 0;
  float own_k[8], own_v[8];  // own key's dims [da, da + 4) and [db, db + 4), rounded to CT
  if (own_warp) {
    const float* kr = p.k_new + (size_t)t * p.ld_new + (size_t)h * D;
    const float* vr = p.v_new + (size_t)t * p.ld_new + (size_t)h * D;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      own_k[i] = has_a ? to_f32(from_f32<CT>(kr[da + i])) : 0.f;
      own_v[i] = has_a ? to_f32(from_f32<CT>(vr[da + i])) : 0.f;
      own_k[4 + i] = has_b ? to_f32(from_f32<CT>(kr[db + i])) : 0.f;
      own_v[4 + i] = has_b ? to_f32(from_f32<CT>(vr[db + i])) : 0.f;
    }
  }

  float q[8], acc[8];
  const float* qrow = p.q + (size_t)t * p.ldq + (size_t)h * D;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    q[i] = has_a ? qrow[da + i] * p.scale : 0.f;
    q[4 + i] = has_b ? qrow[db + i] * p.scale : 0.f;
    acc[i] = acc[4 + i] = 0.f;
  }
  float m = -INFINITY, l = 0.f;

  const size_t slot_stride = (size_t)p.heads * D;
  const CT* kh = static_cast<const CT*>(p.k_cache) + (size_t)h * D;  // [slots, heads * D], head h
  const CT* vh = static_cast<const CT*>(p.v_cache) + (size_t)h * D;
  for (int c0 = kb; c0 < kce; c0 += ST) {
    const int cn = min(ST, kce - c0);
    __syncthreads();  // the previous slot tile is consumed
    for (int i = threadIdx.x; i < cn; i += blockDim.x)
      slot_s[i] = (int)cache_slot(p.b.d_block_tables, p.b.max_blocks, p.b.block_size, s, c0 + i);
    __syncthreads();
    for (int j0 = 0; j0 < cn; j0 += G * U) {
      typename Load::Raw ka[U], kb4[U], va[U], vb[U];
      bool in[U];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int jj = j0 + u * G + g;
        in[u] = jj < cn;
        const int slot = in[u] ? slot_s[jj] : -1;
        ka[u] = kb4[u] = va[u] = vb[u] = Load::zero();
        if (slot >= 0) {  // a slot past the block table reads as zeros (as the tiled kernel)
          const size_t at = (size_t)slot * slot_stride;
          if (has_a) {
            ka[u] = Load::load(kh + at + da);
            va[u] = Load::load(vh + at + da);
          }
          if (has_b) {
            kb4[u] = Load::load(kh + at + db);
            vb[u] = Load::load(vh + at + db);
          }
        }
      }
      float sc[U];
      float mt = -INFINITY;
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const float4 k0 = Load::unpack(ka[u]), k1 = Load::unpack(kb4[u]);
        float d = q[0] * k0.x + q[1] * k0.y + q[2] * k0.z + q[3] * k0.w;
        d += q[4] * k1.x + q[5] * k1.y + q[6] * k1.z + q[7] * k1.w;
#pragma unroll
        for (int off = L / 2; off > 0; off >>= 1) d += __shfl_xor_sync(0xffffffffu, d, off);
        sc[u] = in[u] ? d : -INFINITY;
        mt = fmaxf(mt, sc[u]);
      }
      if (mt != -INFINITY) {  // uniform within the group
        const float mn = fmaxf(m, mt);
        const float corr = expf(m - mn);  // 0 while m is -inf
        l *= corr;
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[i] *= corr;
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const float pu = in[u] ? expf(sc[u] - mn) : 0.f;
          const float4 v0 = Load::unpack(va[u]), v1 = Load::unpack(vb[u]);
          l += pu;
          acc[0] += pu * v0.x;
          acc[1] += pu * v0.y;
          acc[2] += pu * v0.z;
          acc[3] += pu * v0.w;
          acc[4] += pu * v1.x;
          acc[5] += pu * v1.y;
          acc[6] += pu * v1.z;
          acc[7] += pu * v1.w;
        }
        m = mn;
      }
    }
  }

  if (own_warp) {  // warp-uniform: every lane of warp 0 takes part in the shuffles, group 0 keeps the result
    float d = q[0] * own_k[0] + q[1] * own_k[1] + q[2] * own_k[2] + q[3] * own_k[3];
    d += q[4] * own_k[4] + q[5] * own_k[5] + q[6] * own_k[6] + q[7] * own_k[7];
#pragma unroll
    for (int off = L / 2; off > 0; off >>= 1) d += __shfl_xor_sync(0xffffffffu, d, off);
    if (g == 0) {
      const float mn = fmaxf(m, d);
      const float corr = expf(m - mn), pu = expf(d - mn);  // corr 0 while m is -inf
      l = l * corr + pu;
#pragma unroll
      for (int i = 0; i < 8; ++i) acc[i] = acc[i] * corr + pu * own_v[i];
      m = mn;
      const long long slot = cache_slot(p.b.d_block_tables, p.b.max_blocks, p.b.block_size, s, pos);
      if (slot >= 0) {  // (the host validates positions against the block tables)
        CT* kd = static_cast<CT*>(p.k_dst) + (size_t)slot * slot_stride + (size_t)h * D;
        CT* vd = static_cast<CT*>(p.v_dst) + (size_t)slot * slot_stride + (size_t)h * D;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          if (has_a) {
            kd[da + i] = from_f32<CT>(own_k[i]);  // exact: own_k is already a CT value
            vd[da + i] = from_f32<CT>(own_v[i]);
          }
          if (has_b) {
            kd[db + i] = from_f32<CT>(own_k[4 + i]);
            vd[db + i] = from_f32<CT>(own_v[4 + i]);
          }
        }
      }
    }
  }

  // Merge the groups: o = sum_g o_g * exp(m_g - M), l = sum_g l_g * exp(m_g - M).
  *reinterpret_cast<float4*>(&o_s[g][da]) = make_float4(acc[0], acc[1], acc[2], acc[3]);
  *reinterpret_cast<float4*>(&o_s[g][db]) = make_float4(acc[4], acc[5], acc[6], acc[7]);
  if (gl == 0) {
    m_s[g] = m;
    l_s[g] = l;
  }
  __syncthreads();
  float mx = -INFINITY;
#pragma unroll 8
  for (int i = 0; i < G; ++i) mx = fmaxf(mx, m_s[i]);
  if (threadIdx.x < G) w_s[threadIdx.x] = m_s[threadIdx.x] == -INFINITY ? 0.f : expf(m_s[threadIdx.x] - mx);
  __syncthreads();
  float total = 0.f;
#pragma unroll 8
  for (int i = 0; i < G; ++i) total += l_s[i] * w_s[i];
  if (p.splits == 1) {
    const float inv = 1.f / total;
    float* o = p.out + (size_t)t * p.ldo + (size_t)h * D;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
      float v = 0.f;
#pragma unroll 8
      for (int i = 0; i < G; ++i) v += o_s[i][d] * w_s[i];
      o[d] = v * inv;
    }
  } else {
    const size_t row = ((size_t)split * p.b.tokens + t) * p.heads + h;
    float* o = p.part_o + row * D;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
      float v = 0.f;
#pragma unroll 8
      for (int i = 0; i < G; ++i) v += o_s[i][d] * w_s[i];
      o[d] = v;
    }
    if (threadIdx.x == 0) {
      p.part_ml[row * 2] = mx;
      p.part_ml[row * 2 + 1] = total;
    }
    if (p.split_done != nullptr) {  // append mode: the last of the (t, h) splits to finish merges them
      bool& last = sm.last;
      __threadfence();  // this block's partials are visible device-wide before its arrival counts
      __syncthreads();
      if (threadIdx.x == 0) {
        int* done = p.split_done + (size_t)t * p.heads + h;
        last = atomicAdd(done, 1) == p.splits - 1;
        if (last) *done = 0;  // every split has arrived: ready for the next launch
      }
      __syncthreads();
      if (last) {
        __threadfence();  // the other splits' partials, seen after their arrivals
        combine_splits(p, t, h);
      }
    }
  }
}

// float32 caches (kDecodeUnroll keys in flight).
template <int DMAX>
__global__ void __launch_bounds__(kDecodeWarps * 32) decode_attention_kernel(AttentionParams p) {
  dependent_kernel_prologue();  // launched by launch_dependent()
  __shared__ DecodeAttentionSmem<DMAX> sm;
  decode_attention_block<DMAX, float>(p, blockIdx.x, blockIdx.y, blockIdx.z, sm);
}

// bf16/f16 caches, U keys in flight. Held as loaded, 4 keys fit 80 registers: 3 blocks per SM, which
// ptxas reaches without spilling only when asked (without a bound it picks 80 with spills on sm_80); 8
// keys take 114-128 registers at 2 blocks per SM.
template <int DMAX, typename CT, int U>
__global__ void __launch_bounds__(kDecodeWarps * 32, U == kDecodeUnroll ? 3 : 2) decode_attention_kernel16(AttentionParams p) {
  dependent_kernel_prologue();  // launched by launch_dependent()
  __shared__ DecodeAttentionSmem<DMAX> sm;
  decode_attention_block<DMAX, CT, U>(p, blockIdx.x, blockIdx.y, blockIdx.z, sm);
}

}  // namespace gncuda
