// Portable GEMM microkernels (no ISA flags): rows x 16 register-array tiles the compiler may
// vectorise with the baseline SSE2. Reference-simple; the AVX paths are the fast ones.
#include "core/dtype.h"
#include "cpu/gelu_scalar.h"
#include "cpu/gemm_layout.h"
#include "cpu/kernels.h"

namespace gptneo::cpu::portable {

namespace {

constexpr int kMr = 4;

// Reads the 16 weights of packed row kk (relative to the tile's k0) as float.
template <DType T>
inline void load_row(const void* w, int kk, float* out) {
  if constexpr (T == DType::kF32) {
    const float* p = static_cast<const float*>(w) + static_cast<size_t>(kk) * kPanelCols;
    for (int c = 0; c < kPanelCols; ++c) out[c] = p[c];
  } else if constexpr (T == DType::kF16) {
    const uint16_t* p = static_cast<const uint16_t*>(w) + static_cast<size_t>(kk) * kPanelCols;
    for (int c = 0; c < kPanelCols; ++c) out[c] = f16_to_f32(p[c]);
  } else if constexpr (T == DType::kI8) {
    const int8_t* p = static_cast<const int8_t*>(w) + static_cast<size_t>(kk) * kPanelCols;
    for (int c = 0; c < kPanelCols; ++c) out[c] = static_cast<float>(p[c]);
  } else {
    const uint16_t* p = static_cast<const uint16_t*>(w) + static_cast<size_t>(kk / 2) * 2 * kPanelCols + (kk % 2);
    for (int c = 0; c < kPanelCols; ++c) out[c] = bf16_to_f32(p[2 * c]);
  }
}

template <int R, DType T>
void tile(const GemmTileArgs& a) {
  float acc[R][kPanelCols] = {};
  float wrow[kPanelCols];
  const float* x = a.x;
  for (int kk = 0; kk < a.k; ++kk) {
    load_row<T>(a.w, kk, wrow);
    for (int r = 0; r < R; ++r) {
      float xv = x[r * a.ldx + kk];
      for (int c = 0; c < kPanelCols; ++c) acc[r][c] += xv * wrow[c];
    }
  }
  for (int r = 0; r < R; ++r) {
    float* y = a.y + r * a.ldy;
    for (int c = 0; c < a.cols; ++c) {
      float v = acc[r][c];
      if constexpr (T == DType::kI8) v *= a.scale[c];
      if (a.flags & kTileLoadY) v += y[c];
      if (a.flags & kTileBias) v += a.bias[c];
      if (a.flags & kTileGelu) v = gelu_new_scalar(v);
      y[c] = v;
    }
  }
}

template <DType T>
void dispatch_rows(const GemmTileArgs& a) {
  switch (a.rows) {
    case 1: tile<1, T>(a); break;
    case 2: tile<2, T>(a); break;
    case 3: tile<3, T>(a); break;
    default: tile<4, T>(a); break;
  }
}

void widen_i8(const int8_t* src, size_t src_stride, int panels, int k, const float* scale, float* dst,
              size_t dst_stride) {
  for (int p = 0; p < panels; ++p)
    for (int kk = 0; kk < k; ++kk)
      for (int c = 0; c < kPanelCols; ++c)
        dst[p * dst_stride + static_cast<size_t>(kk) * kPanelCols + c] =
            static_cast<float>(src[p * src_stride + static_cast<size_t>(kk) * kPanelCols + c]) * scale[p * kPanelCols + c];
}

}  // namespace

GemmKernelSet gemm_kernels() {
  GemmKernelSet s;
  s.mr = kMr;
  s.np = 1;
  s.f32 = dispatch_rows<DType::kF32>;
  s.f16 = dispatch_rows<DType::kF16>;
  s.bf16 = dispatch_rows<DType::kBF16>;
  s.i8 = dispatch_rows<DType::kI8>;
  s.widen_i8 = widen_i8;
  return s;
}

}  // namespace gptneo::cpu::portable
