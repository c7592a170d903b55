// AVX2 + FMA GEMM microkernels: up to 6 rows x 16 columns (one panel = two ymm) per tile,
// 12 accumulators. f16 weights widen with F16C; bf16 pairs split with a shift and a mask;
// int8 weights sign-extend (vpmovsxbd) and convert (vcvtdq2ps), scaled per column at the end.
#include <immintrin.h>

#include <cstdint>

#include "cpu/gemm_layout.h"
#include "cpu/kernels.h"
#include "cpu/vec_math_avx2.h"

namespace gptneo::cpu::avx2 {

namespace {

constexpr int kMr = 6;

// Applies the epilogue to one 8-wide vector of outputs at y (all 8 valid).
inline void finish8(__m256 v, float* y, const float* bias, int flags) {
  if (flags & kTileLoadY) v = _mm256_add_ps(v, _mm256_loadu_ps(y));
  if (flags & kTileBias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias));
  if (flags & kTileGelu) v = gelu_new_ps(v);
  _mm256_storeu_ps(y, v);
}

template <int R>
inline void store_tile(__m256 (&acc)[R][2], const GemmTileArgs& a) {
  if (a.cols == kPanelCols) {
    for (int r = 0; r < R; ++r) {
      finish8(acc[r][0], a.y + r * a.ldy, a.bias, a.flags);
      finish8(acc[r][1], a.y + r * a.ldy + 8, a.bias == nullptr ? nullptr : a.bias + 8, a.flags);
    }
    return;
  }
  // Partial panel: run the same vector epilogue on a zero-padded copy, then copy back.
  alignas(32) float yb[kPanelCols];
  alignas(32) float bb[kPanelCols] = {};
  if (a.flags & kTileBias)
    for (int c = 0; c < a.cols; ++c) bb[c] = a.bias[c];
  for (int r = 0; r < R; ++r) {
    float* y = a.y + r * a.ldy;
    for (int c = 0; c < kPanelCols; ++c) yb[c] = (c < a.cols && (a.flags & kTileLoadY)) ? y[c] : 0.0f;
    finish8(acc[r][0], yb, bb, a.flags);
    finish8(acc[r][1], yb + 8, bb + 8, a.flags);
    for (int c = 0; c < a.cols; ++c) y[c] = yb[c];
  }
}

template <int R>
inline void fma_rows(__m256 (&acc)[R][2], const float* x, size_t ldx, int kk, __m256 w0, __m256 w1) {
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    __m256 xv = _mm256_broadcast_ss(x + r * ldx + kk);
    acc[r][0] = _mm256_fmadd_ps(xv, w0, acc[r][0]);
    acc[r][1] = _mm256_fmadd_ps(xv, w1, acc[r][1]);
  }
}

template <int R>
void tile_f32(const GemmTileArgs& a) {
  __m256 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  const float* x = a.x;
  const float* w = static_cast<const float*>(a.w);
  for (int kk = 0; kk < a.k; ++kk) {
    fma_rows<R>(acc, x, a.ldx, kk, _mm256_loadu_ps(w + kk * 16), _mm256_loadu_ps(w + kk * 16 + 8));
  }
  store_tile<R>(acc, a);
}

template <int R>
void tile_f16(const GemmTileArgs& a) {
  __m256 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  const float* x = a.x;
  const uint16_t* w = static_cast<const uint16_t*>(a.w);
  for (int kk = 0; kk < a.k; ++kk) {
    __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + kk * 16));
    fma_rows<R>(acc, x, a.ldx, kk, _mm256_cvtph_ps(_mm256_castsi256_si128(h)),
                _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1)));
  }
  store_tile<R>(acc, a);
}

template <int R>
void tile_bf16(const GemmTileArgs& a) {
  __m256 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  const float* x = a.x;
  const uint16_t* w = static_cast<const uint16_t*>(a.w);
  const __m256i hi_mask = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
  const int pairs = a.k / 2;
  for (int kp = 0; kp < pairs; ++kp) {
    __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + kp * 32));
    __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + kp * 32 + 16));
    __m256 e0 = _mm256_castsi256_ps(_mm256_slli_epi32(v0, 16)), o0 = _mm256_castsi256_ps(_mm256_and_si256(v0, hi_mask));
    __m256 e1 = _mm256_castsi256_ps(_mm256_slli_epi32(v1, 16)), o1 = _mm256_castsi256_ps(_mm256_and_si256(v1, hi_mask));
    fma_rows<R>(acc, x, a.ldx, 2 * kp, e0, e1);
    fma_rows<R>(acc, x, a.ldx, 2 * kp + 1, o0, o1);
  }
  if (a.k & 1) {  // last k alone: its pair partner is padding
    __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + pairs * 32));
    __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + pairs * 32 + 16));
    fma_rows<R>(acc, x, a.ldx, 2 * pairs, _mm256_castsi256_ps(_mm256_slli_epi32(v0, 16)),
                _mm256_castsi256_ps(_mm256_slli_epi32(v1, 16)));
  }
  store_tile<R>(acc, a);
}

// Eight int8 weights (the low 8 bytes of v) as floats.
inline __m256 widen8_i8(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)); }

template <int R>
void tile_i8(const GemmTileArgs& a) {
  __m256 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  const float* x = a.x;
  const int8_t* w = static_cast<const int8_t*>(a.w);  // [k][16] int8
  for (int kk = 0; kk < a.k; ++kk) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + kk * 16));
    fma_rows<R>(acc, x, a.ldx, kk, widen8_i8(v), widen8_i8(_mm_unpackhi_epi64(v, v)));
  }
  const __m256 s0 = _mm256_loadu_ps(a.scale), s1 = _mm256_loadu_ps(a.scale + 8);  // scales: padded to 16
  for (int r = 0; r < R; ++r) {
    acc[r][0] = _mm256_mul_ps(acc[r][0], s0);
    acc[r][1] = _mm256_mul_ps(acc[r][1], s1);
  }
  store_tile<R>(acc, a);
}

#define GN_AVX2_DISPATCH(name)                   \
  void name##_rows(const GemmTileArgs& a) {      \
    switch (a.rows) {                            \
      case 1: name<1>(a); break;                 \
      case 2: name<2>(a); break;                 \
      case 3: name<3>(a); break;                 \
      case 4: name<4>(a); break;                 \
      case 5: name<5>(a); break;                 \
      default: name<6>(a); break;                \
    }                                            \
  }
GN_AVX2_DISPATCH(tile_f32)
GN_AVX2_DISPATCH(tile_f16)
GN_AVX2_DISPATCH(tile_bf16)
GN_AVX2_DISPATCH(tile_i8)
#undef GN_AVX2_DISPATCH

void widen_bf16(const uint16_t* src, size_t src_stride, int panels, int k, float* dst, size_t dst_stride) {
  const __m256i hi_mask = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
  for (int p = 0; p < panels; ++p) {
    const uint16_t* s = src + p * src_stride;
    float* d = dst + p * dst_stride;
    for (int kp = 0; kp < (k + 1) / 2; ++kp) {
      // 16 columns x (k, k+1): columns 0-7 then 8-15, each lane a pair.
      __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + kp * 32));
      __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + kp * 32 + 16));
      _mm256_storeu_ps(d + kp * 32, _mm256_castsi256_ps(_mm256_slli_epi32(v0, 16)));
      _mm256_storeu_ps(d + kp * 32 + 8, _mm256_castsi256_ps(_mm256_slli_epi32(v1, 16)));
      _mm256_storeu_ps(d + kp * 32 + 16, _mm256_castsi256_ps(_mm256_and_si256(v0, hi_mask)));
      _mm256_storeu_ps(d + kp * 32 + 24, _mm256_castsi256_ps(_mm256_and_si256(v1, hi_mask)));
    }
  }
}

void widen_i8(const int8_t* src, size_t src_stride, int panels, int k, const float* scale, float* dst,
              size_t dst_stride) {
  for (int p = 0; p < panels; ++p) {
    const int8_t* s = src + p * src_stride;  // [k][16] int8
    float* d = dst + p * dst_stride;         // [k][16] f32
    const __m256 s0 = _mm256_loadu_ps(scale + p * kPanelCols), s1 = _mm256_loadu_ps(scale + p * kPanelCols + 8);
    for (int kk = 0; kk < k; ++kk) {
      __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + kk * 16));
      _mm256_storeu_ps(d + kk * 16, _mm256_mul_ps(widen8_i8(v), s0));
      _mm256_storeu_ps(d + kk * 16 + 8, _mm256_mul_ps(widen8_i8(_mm_unpackhi_epi64(v, v)), s1));
    }
  }
}

}  // namespace

GemmKernelSet gemm_kernels() {
  GemmKernelSet s;
  s.mr = kMr;
  s.np = 1;
  s.f32 = tile_f32_rows;
  s.f16 = tile_f16_rows;
  s.bf16 = tile_bf16_rows;
  s.widen_bf16 = widen_bf16;
  s.i8 = tile_i8_rows;
  s.widen_i8 = widen_i8;
  return s;
}

}  // namespace gptneo::cpu::avx2
