// AVX-512 GEMM microkernels: up to 8 rows x 2 panels (32 columns, two zmm) per tile, 16
// accumulators. f16 widens with vcvtph2ps; bf16 pairs widen with a shift and a mask; int8
// sign-extends (vpmovsxbd) and converts (vcvtdq2ps), scaled per column after the K loop.
// GCC 12 warns spuriously inside its own AVX-512 intrinsics (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstdint>

#include "cpu/gemm_layout.h"
#include "cpu/kernels.h"
#include "cpu/vec_math_avx512.h"

namespace gptneo::cpu::avx512 {

namespace {

constexpr int kMr = 8;
constexpr int kNp = 2;

template <int R, int P>
inline void store_tile(__m512 (&acc)[R][P], const GemmTileArgs& a) {
#pragma GCC unroll 2
  for (int p = 0; p < P; ++p) {
    int valid = a.cols - p * kPanelCols;
    if (valid <= 0) break;
    __mmask16 m = valid >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << valid) - 1);
    __m512 b = _mm512_setzero_ps();
    if (a.flags & kTileBias) b = _mm512_maskz_loadu_ps(m, a.bias + p * kPanelCols);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      float* y = a.y + r * a.ldy + p * kPanelCols;
      __m512 v = acc[r][p];
      if (a.flags & kTileLoadY) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, y));
      if (a.flags & kTileBias) v = _mm512_add_ps(v, b);
      if (a.flags & kTileGelu) v = gelu_new_ps(v);
      _mm512_mask_storeu_ps(y, m, v);
    }
  }
}

template <int R, int P>
inline void fma_rows(__m512 (&acc)[R][P], const float* x, size_t ldx, int kk, const __m512 (&w)[P]) {
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    __m512 xv = _mm512_set1_ps(x[r * ldx + kk]);
#pragma GCC unroll 2
    for (int p = 0; p < P; ++p) acc[r][p] = _mm512_fmadd_ps(xv, w[p], acc[r][p]);
  }
}

template <int R, int P>
inline void zero(__m512 (&acc)[R][P]) {
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) acc[r][p] = _mm512_setzero_ps();
}

// Few rows (decode): a second accumulator set for odd k doubles the independent FMA chains,
// so the loop runs at load speed instead of FMA latency.
template <int R, int P>
constexpr bool kSplitK = R * P <= 4;

template <int R, int P>
inline void merge(__m512 (&acc)[R][P], const __m512 (&acc2)[R][P]) {
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) acc[r][p] = _mm512_add_ps(acc[r][p], acc2[r][p]);
}

// Decode (few rows): the int8 tile does ~3 vector ops per 16 weights, enough compute that the
// hardware prefetcher alone left the GEMV stalling on memory and computing in turns (125M decode
// at ~64% of the bandwidth bound); a software prefetch 1 KiB ahead in each panel stream overlaps
// the two (~81%; 2 KiB measured the same within noise). The bf16 and f32 decode tiles do the same.
constexpr int kDecodePrefetchBytes = 1024;

template <int R, int P>
void tile_f32(const GemmTileArgs& a) {
  __m512 acc[R][P], acc2[R][P];
  zero(acc);
  zero(acc2);
  const float* x = a.x;
  const float* w = static_cast<const float*>(a.w);
  int kk = 0;
  if constexpr (kSplitK<R, P>) {
    for (; kk + 2 <= a.k; kk += 2) {
      __m512 w0[P], w1[P];
      for (int p = 0; p < P; ++p) {  // two new lines per panel: fetched kDecodePrefetchBytes ahead
        const char* line = reinterpret_cast<const char*>(w + p * a.panel_stride + kk * 16) + kDecodePrefetchBytes;
        _mm_prefetch(line, _MM_HINT_T0);
        _mm_prefetch(line + 64, _MM_HINT_T0);
      }
      for (int p = 0; p < P; ++p) {
        w0[p] = _mm512_loadu_ps(w + p * a.panel_stride + kk * 16);
        w1[p] = _mm512_loadu_ps(w + p * a.panel_stride + kk * 16 + 16);
      }
      fma_rows<R, P>(acc, x, a.ldx, kk, w0);
      fma_rows<R, P>(acc2, x, a.ldx, kk + 1, w1);
    }
  }
  for (; kk < a.k; ++kk) {
    __m512 wv[P];
    for (int p = 0; p < P; ++p) wv[p] = _mm512_loadu_ps(w + p * a.panel_stride + kk * 16);
    fma_rows<R, P>(acc, x, a.ldx, kk, wv);
  }
  if constexpr (kSplitK<R, P>) merge(acc, acc2);
  store_tile<R, P>(acc, a);
}

template <int R, int P>
void tile_f16(const GemmTileArgs& a) {
  __m512 acc[R][P];
  zero(acc);
  const float* x = a.x;
  const uint16_t* w = static_cast<const uint16_t*>(a.w);
  for (int kk = 0; kk < a.k; ++kk) {
    __m512 wv[P];
    for (int p = 0; p < P; ++p)
      wv[p] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + p * a.panel_stride + kk * 16)));
    fma_rows<R, P>(acc, x, a.ldx, kk, wv);
  }
  store_tile<R, P>(acc, a);
}


template <int R, int P>
void tile_bf16(const GemmTileArgs& a) {
  __m512 acc[R][P], acc2[R][P];
  zero(acc);
  zero(acc2);
  const float* x = a.x;
  const uint16_t* w = static_cast<const uint16_t*>(a.w);
  const __m512i hi_mask = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
  const int pairs = a.k / 2;
  for (int kp = 0; kp < pairs; ++kp) {
    __m512 ev[P], ov[P];
    if constexpr (kSplitK<R, P>)  // decode: one new line per panel per pair, fetched 1 KiB ahead (as for int8)
      for (int p = 0; p < P; ++p)
        _mm_prefetch(reinterpret_cast<const char*>(w + p * a.panel_stride + kp * 32) + kDecodePrefetchBytes, _MM_HINT_T0);
    for (int p = 0; p < P; ++p) {
      __m512i v = _mm512_loadu_si512(w + p * a.panel_stride + kp * 32);
      ev[p] = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
      ov[p] = _mm512_castsi512_ps(_mm512_and_si512(v, hi_mask));
    }
    fma_rows<R, P>(acc, x, a.ldx, 2 * kp, ev);
    if constexpr (kSplitK<R, P>) fma_rows<R, P>(acc2, x, a.ldx, 2 * kp + 1, ov);
    else fma_rows<R, P>(acc, x, a.ldx, 2 * kp + 1, ov);
  }
  if (a.k & 1) {  // last k alone: its pair partner is padding
    __m512 ev[P];
    for (int p = 0; p < P; ++p)
      ev[p] = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_loadu_si512(w + p * a.panel_stride + pairs * 32), 16));
    fma_rows<R, P>(acc, x, a.ldx, 2 * pairs, ev);
  }
  if constexpr (kSplitK<R, P>) merge(acc, acc2);
  store_tile<R, P>(acc, a);
}


// 16 int8 weights at p as floats.
inline __m512 widen16_i8(const int8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}

template <int R, int P>
void tile_i8(const GemmTileArgs& a) {
  __m512 acc[R][P], acc2[R][P];
  zero(acc);
  zero(acc2);
  const float* x = a.x;
  const int8_t* w = static_cast<const int8_t*>(a.w);  // per panel: [k][16] int8
  int kk = 0;
  if constexpr (kSplitK<R, P>) {
    for (; kk + 2 <= a.k; kk += 2) {
      __m512 w0[P], w1[P];
      if ((kk & 3) == 0)  // a new cache line per panel every 4 k: fetch kDecodePrefetchBytes ahead
        for (int p = 0; p < P; ++p) _mm_prefetch(reinterpret_cast<const char*>(w + p * a.panel_stride + kk * 16 + kDecodePrefetchBytes), _MM_HINT_T0);
      for (int p = 0; p < P; ++p) {
        w0[p] = widen16_i8(w + p * a.panel_stride + kk * 16);
        w1[p] = widen16_i8(w + p * a.panel_stride + kk * 16 + 16);
      }
      fma_rows<R, P>(acc, x, a.ldx, kk, w0);
      fma_rows<R, P>(acc2, x, a.ldx, kk + 1, w1);
    }
  }
  for (; kk < a.k; ++kk) {
    __m512 wv[P];
    for (int p = 0; p < P; ++p) wv[p] = widen16_i8(w + p * a.panel_stride + kk * 16);
    fma_rows<R, P>(acc, x, a.ldx, kk, wv);
  }
  if constexpr (kSplitK<R, P>) merge(acc, acc2);
  for (int p = 0; p < P; ++p) {
    const __m512 s = _mm512_loadu_ps(a.scale + p * kPanelCols);  // scales: padded to whole panels
    for (int r = 0; r < R; ++r) acc[r][p] = _mm512_mul_ps(acc[r][p], s);
  }
  store_tile<R, P>(acc, a);
}

#define GN_AVX512_DISPATCH(name)                                   \
  template <int P>                                                 \
  void name##_r(const GemmTileArgs& a) {                           \
    switch (a.rows) {                                              \
      case 1: name<1, P>(a); break;                                \
      case 2: name<2, P>(a); break;                                \
      case 3: name<3, P>(a); break;                                \
      case 4: name<4, P>(a); break;                                \
      case 5: name<5, P>(a); break;                                \
      case 6: name<6, P>(a); break;                                \
      case 7: name<7, P>(a); break;                                \
      default: name<8, P>(a); break;                               \
    }                                                              \
  }                                                                \
  void name##_rp(const GemmTileArgs& a) {                          \
    if (a.panels == 1) name##_r<1>(a);                             \
    else name##_r<2>(a);                                           \
  }
GN_AVX512_DISPATCH(tile_f32)
GN_AVX512_DISPATCH(tile_f16)
GN_AVX512_DISPATCH(tile_bf16)
GN_AVX512_DISPATCH(tile_i8)
#undef GN_AVX512_DISPATCH

void widen_bf16(const uint16_t* src, size_t src_stride, int panels, int k, float* dst, size_t dst_stride) {
  const __m512i hi_mask = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
  for (int p = 0; p < panels; ++p) {
    const uint16_t* s = src + p * src_stride;
    float* d = dst + p * dst_stride;
    for (int kp = 0; kp < (k + 1) / 2; ++kp) {
      __m512i v = _mm512_loadu_si512(s + kp * 32);
      _mm512_storeu_ps(d + kp * 32, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
      _mm512_storeu_ps(d + kp * 32 + 16, _mm512_castsi512_ps(_mm512_and_si512(v, hi_mask)));
    }
  }
}

void widen_i8(const int8_t* src, size_t src_stride, int panels, int k, const float* scale, float* dst,
              size_t dst_stride) {
  for (int p = 0; p < panels; ++p) {
    const int8_t* s = src + p * src_stride;  // [k][16] int8
    float* d = dst + p * dst_stride;         // [k][16] f32
    const __m512 sv = _mm512_loadu_ps(scale + p * kPanelCols);
    for (int kk = 0; kk < k; ++kk) _mm512_storeu_ps(d + kk * 16, _mm512_mul_ps(widen16_i8(s + kk * 16), sv));
  }
}

}  // namespace

GemmKernelSet gemm_kernels() {
  GemmKernelSet s;
  s.mr = kMr;
  s.np = kNp;
  s.f32 = tile_f32_rp;
  s.f16 = tile_f16_rp;
  s.bf16 = tile_bf16_rp;
  s.widen_bf16 = widen_bf16;
  s.i8 = tile_i8_rp;
  s.widen_i8 = widen_i8;
  return s;
}

}  // namespace gptneo::cpu::avx512
