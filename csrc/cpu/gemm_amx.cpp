// AMX bf16 GEMM: C tiles of 16x16 f32 accumulate A tiles (16 rows x 32 bf16 of x) times B tiles
// (16 pair-rows x 16 columns of W). The bf16 panel layout of gemm_layout.h, (k/2)*32 + c*2 +
// (k%2), is exactly the B-tile layout TDPBF16PS expects, so the packed weights are used in place:
// the B tile for k0..k0+31 of a panel is its 1 KiB at element k0*16.
// int8 weights take the same tiles: their integers (|q| <= 127) are exact in bf16, so each run of
// panels is widened into that pair layout in a per-thread buffer, multiplied like bf16 weights,
// and the column scales are applied in the epilogue (y = scale * (x_bf16 . q) + bias).
//
// Register blocking: 2x2 C tiles (tmm0-3) = 32 rows x 2 panels, A tiles tmm4-5 (rows 0-15,
// 16-31), B tiles tmm6-7 (the two panels). x is converted once per call into a bf16 copy padded
// to a multiple of 32 rows (zero rows), so every A tile is full; results of padding rows are
// dropped in the epilogue. Tasks are (row block) x (run of panel pairs); a row block's bf16 rows
// and a run of panel pairs stay in L2 while every row pair of the block walks the run.
// Scalar reference: ref::gemm (bf16) or ref::gemm_i8 (int8) over the bf16-rounded x and the
// stored weights (test_cpu_ops).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "cpu/gemm_amx.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cpu/gemm_layout.h"
#include "cpu/kernels.h"
#include "cpu/vec_math_avx512.h"

namespace gptneo::cpu::amx {

namespace {

constexpr int kRowPair = 32;                 // rows per 2x2 tile block
constexpr size_t kRowBlockBytes = 1 << 20;   // bf16 rows of a task kept in L2 (2 MiB per core here)
constexpr size_t kPairRunBytes = 512 << 10;  // weight panels walked by each row pair, kept in L2

// Palette 1 tile configuration (Intel SDM, LDTILECFG): every tile 16 rows x 64 bytes.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

const TileConfig& tile_config() {
  static const TileConfig cfg = [] {
    TileConfig c;
    for (int t = 0; t < 8; ++t) {
      c.colsb[t] = 64;
      c.rows[t] = 16;
    }
    return c;
  }();
  return cfg;
}

// x: [m, k] f32 (ldx) -> xb: [mp, k] bf16 (row-major, ld k), rows m..mp-1 zero. Rounds to
// nearest even (vcvtne2ps2bf16), as f32_to_bf16.
void convert_rows(const float* x, int ldx, int m, int k, int r0, int r1, uint16_t* xb) {
  for (int r = r0; r < r1; ++r) {
    uint16_t* d = xb + static_cast<size_t>(r) * k;
    if (r >= m) {
      std::fill(d, d + k, uint16_t{0});
      continue;
    }
    const float* s = x + static_cast<size_t>(r) * ldx;
    for (int c = 0; c < k; c += 32) {  // k is a multiple of 32
      __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(s + c + 16), _mm512_loadu_ps(s + c));
      _mm512_storeu_si512(d + c, (__m512i)v);
    }
  }
}

// Accumulates one 32-row x NT-panel block over the whole K into c ([32][32] f32, row stride 32).
// a: bf16 [32, k] (ld lda elements); b: first panel's bf16 pair-layout data (panel_stride apart).
template <int NT>
void tile_block(const uint16_t* a, size_t lda, const uint16_t* b, size_t panel_stride, int k, float* c) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  const size_t a_stride = lda * sizeof(uint16_t);
  for (int k0 = 0; k0 < k; k0 += kAmxK) {
    _tile_loadd(4, a + k0, a_stride);
    _tile_loadd(5, a + 16 * lda + k0, a_stride);
    _tile_loadd(6, b + static_cast<size_t>(k0) * kPanelCols, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(2, 5, 6);
    if constexpr (NT == 2) {
      _tile_loadd(7, b + panel_stride + static_cast<size_t>(k0) * kPanelCols, 64);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(3, 5, 7);
    }
  }
  _tile_stored(0, c, 32 * sizeof(float));
  _tile_stored(2, c + 16 * 32, 32 * sizeof(float));
  if constexpr (NT == 2) {
    _tile_stored(1, c + 16, 32 * sizeof(float));
    _tile_stored(3, c + 16 * 32 + 16, 32 * sizeof(float));
  }
}

// Writes rows x cols of c ([32][32] f32) to y with the epilogue of tile_flags; scale (int8
// weights: the columns' scales, else null) multiplies the products first.
void epilogue(const float* c, int rows, int cols, const float* scale, const float* bias, float* y, size_t ldy,
              int flags) {
  for (int p = 0; p * kPanelCols < cols; ++p) {
    const int valid = std::min(kPanelCols, cols - p * kPanelCols);
    const __mmask16 mask = valid >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << valid) - 1);
    const __m512 b = (flags & kTileBias) ? _mm512_maskz_loadu_ps(mask, bias + p * kPanelCols) : _mm512_setzero_ps();
    const __m512 sc = scale != nullptr ? _mm512_maskz_loadu_ps(mask, scale + p * kPanelCols) : _mm512_set1_ps(1.f);
    for (int r = 0; r < rows; ++r) {
      float* yr = y + r * ldy + p * kPanelCols;
      __m512 v = _mm512_loadu_ps(c + r * 32 + p * kPanelCols);
      if (scale != nullptr) v = _mm512_mul_ps(v, sc);
      if (flags & kTileLoadY) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, yr));
      if (flags & kTileBias) v = _mm512_add_ps(v, b);
      if (flags & kTileGelu) v = avx512::gelu_new_ps(v);
      _mm512_mask_storeu_ps(yr, mask, v);
    }
  }
}

// Grows and returns this thread's bf16 staging buffer for x.
uint16_t* staging(size_t elems) {
  thread_local std::vector<uint16_t> buf;
  if (buf.size() < elems) buf.resize(elems);
  return buf.data();
}

// Grows and returns this thread's buffer for a run of int8 panels widened to bf16 pairs.
uint16_t* widened_run(size_t elems) {
  thread_local std::vector<uint16_t> buf;
  if (buf.size() < elems) buf.resize(elems);
  return buf.data();
}

// panels int8 k-major panels (16 bytes per k, panel_stride(k) apart; k even) -> the bf16 k-pair
// layout ((k/2)*32 + c*2 + k%2, same stride). An int8 value's f32 has only zeros below its top 16
// bits, so the bf16 is that top half: no rounding.
void widen_panels_i8(const int8_t* src, int panels, int k, uint16_t* dst) {
  const size_t stride = panel_stride(k);
  const __m512i top = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
  for (int p = 0; p < panels; ++p) {
    const int8_t* s = src + static_cast<size_t>(p) * stride;
    uint16_t* d = dst + static_cast<size_t>(p) * stride;
    for (int kk = 0; kk < k; kk += 2) {
      const __m512i even = _mm512_castps_si512(_mm512_cvtepi32_ps(
          _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + static_cast<size_t>(kk) * kPanelCols)))));
      const __m512i odd = _mm512_castps_si512(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + static_cast<size_t>(kk + 1) * kPanelCols)))));
      _mm512_storeu_si512(d + static_cast<size_t>(kk / 2) * 2 * kPanelCols,
                          _mm512_or_si512(_mm512_and_si512(odd, top), _mm512_srli_epi32(even, 16)));
    }
  }
}

}  // namespace

void gemm(const float* x, int m, int ldx, const PackedWeight& w, const float* bias, float* y, int ldy,
          int tile_flags, ThreadPool& pool) {
  const bool i8 = w.dtype == DType::kI8;
  const int k = w.k, n = w.n;
  const int mp = (m + kRowPair - 1) / kRowPair * kRowPair;
  uint16_t* xb = staging(static_cast<size_t>(mp) * k);
  pool.parallel_for(mp, 16, [&](int64_t r0, int64_t r1) {
    convert_rows(x, ldx, m, k, static_cast<int>(r0), static_cast<int>(r1), xb);
  });

  const int panels = panel_count(n);
  const int pairs = (panels + 1) / 2;
  const size_t stride = panel_stride(k);
  const uint16_t* wb = i8 ? nullptr : static_cast<const uint16_t*>(w.data.get());
  const int8_t* wq = i8 ? static_cast<const int8_t*>(w.data.get()) : nullptr;
  const int block_rows = std::clamp<int>(static_cast<int>(kRowBlockBytes / (static_cast<size_t>(k) * 2)) / kRowPair * kRowPair,
                                         kRowPair, mp);
  const int m_blocks = (mp + block_rows - 1) / block_rows;
  const int chunks_wanted = std::max(1, (4 * pool.size() + m_blocks - 1) / m_blocks);
  const int pairs_per_task = std::max(1, (pairs + chunks_wanted - 1) / chunks_wanted);
  const int n_chunks = (pairs + pairs_per_task - 1) / pairs_per_task;
  const int pairs_per_run = std::max<int>(1, static_cast<int>(kPairRunBytes / (2 * stride * sizeof(uint16_t))));

  pool.run(m_blocks * n_chunks, [&](int task, int) {
    _tile_loadconfig(&tile_config());
    alignas(64) float c[32 * 32];
    const int mb = task / n_chunks, nc = task % n_chunks;
    const int rb0 = mb * block_rows, rb1 = std::min(mp, rb0 + block_rows);
    const int q0 = nc * pairs_per_task, q1 = std::min(pairs, q0 + pairs_per_task);
    // Panel pairs go in runs that fit in L2 beside the row block; each row pair walks a whole
    // run, so its 32 rows of y are written in contiguous stretches (with a 50k-wide lm_head,
    // walking rows first would touch a new page per row for every pair).
    for (int qr = q0; qr < q1; qr += pairs_per_run) {
      const int qr1 = std::min(q1, qr + pairs_per_run);
      // The run's first panel in bf16 pair layout: the packed weights, or the widened int8 run.
      const int run_panels = std::min(panels, 2 * qr1) - 2 * qr;
      const uint16_t* run = nullptr;
      if (i8) {
        uint16_t* buf = widened_run(static_cast<size_t>(run_panels) * stride);
        widen_panels_i8(wq + static_cast<size_t>(2 * qr) * stride, run_panels, k, buf);
        run = buf;
      } else {
        run = wb + static_cast<size_t>(2 * qr) * stride;
      }
      for (int r0 = rb0; r0 < rb1 && r0 < m; r0 += kRowPair) {
        const uint16_t* a = xb + static_cast<size_t>(r0) * k;
        for (int q = qr; q < qr1; ++q) {
          const int p0 = 2 * q;
          const bool two = p0 + 1 < panels;
          const int n0 = p0 * kPanelCols;
          const int cols = std::min((two ? 2 : 1) * kPanelCols, n - n0);
          const uint16_t* b = run + static_cast<size_t>(p0 - 2 * qr) * stride;
          if (two) tile_block<2>(a, k, b, stride, k, c);
          else tile_block<1>(a, k, b, stride, k, c);
          epilogue(c, std::min(kRowPair, m - r0), cols, i8 ? w.scales.get() + n0 : nullptr,
                   bias != nullptr ? bias + n0 : nullptr, y + static_cast<size_t>(r0) * ldy + n0,
                   static_cast<size_t>(ldy), tile_flags);
        }
      }
    }
    _tile_release();
  });
}

void dp_chains(long iters) {
  _tile_loadconfig(&tile_config());
  alignas(64) static const uint16_t ones[16 * 32] = {};  // zeros: only the instruction rate matters
  _tile_loadd(4, ones, 64);
  _tile_loadd(6, ones, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (long i = 0; i < iters; ++i) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 6);
    _tile_dpbf16ps(2, 4, 6);
    _tile_dpbf16ps(3, 4, 6);
  }
  _tile_release();
}

}  // namespace gptneo::cpu::amx
