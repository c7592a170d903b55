// pack_weight: repacks a [n, k] Linear weight into 16-column panels (see gemm_layout.h).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include "core/host_memory.h"
#include "cpu/gemm_layout.h"
#include "cpu/ops.h"

namespace gptneo::cpu {

namespace {

bool valid_dtype(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }
bool valid_store_dtype(DType t) { return valid_dtype(t) || t == DType::kI8; }

// Converts row `row` of the [n, k] source to float.
void load_row(const void* src, DType t, size_t row, int k, float* out) {
  const size_t base = row * static_cast<size_t>(k);
  switch (t) {
    case DType::kF32: std::memcpy(out, static_cast<const float*>(src) + base, k * sizeof(float)); return;
    case DType::kF16:
      for (int i = 0; i < k; ++i) out[i] = f16_to_f32(static_cast<const uint16_t*>(src)[base + i]);
      return;
    case DType::kBF16:
      for (int i = 0; i < k; ++i) out[i] = bf16_to_f32(static_cast<const uint16_t*>(src)[base + i]);
      return;
    case DType::kI8: return;  // never a source dtype (rejected by pack_weight)
  }
}

// max |row[i]| over k floats; *finite = false when one of them is NaN or infinite. On the bit
// patterns with the sign cleared, integer order is float order and NaN/inf are the largest
// (exponent all ones), so one integer max reduction (which the compiler vectorises) gives both.
float row_abs_max(const float* row, int k, bool* finite) {
  int32_t top = 0;
  for (int kk = 0; kk < k; ++kk) {
    int32_t bits;
    std::memcpy(&bits, row + kk, sizeof bits);
    bits &= 0x7fffffff;
    top = bits > top ? bits : top;
  }
  *finite = top < 0x7f800000;
  float amax;
  std::memcpy(&amax, &top, sizeof amax);
  return amax;
}

// q[i] = round-half-away(row[i] / s) clamped to [-127, 127], as ref::quantize_i8 computes it:
// t = trunc(x) and d = x - t are exact for |x| < 2^23, and x rounds away from t when |d| >= 0.5.
// Branch-free integer arithmetic, so the loop vectorises (a libm round per weight made the int8
// load three times slower than the float one).
void quantize_row_i8(const float* row, int k, float s, int8_t* q) {
  for (int kk = 0; kk < k; ++kk) {
    const float x = row[kk] / s;
    const int t = static_cast<int>(x);
    const float d = x - static_cast<float>(t);
    int v = t + (d >= 0.5f ? 1 : 0) - (d <= -0.5f ? 1 : 0);
    v = v > 127 ? 127 : v;
    v = v < -127 ? -127 : v;
    q[kk] = static_cast<int8_t>(v);
  }
}

// Symmetric per-channel int8 of one [nr, k] panel's rows: scale[c] = max|row c| / 127 (1 for a
// zero row), q = round-half-away(w / scale) clamped to [-127, 127], written k-major through
// `scratch` (nr * k bytes, row-major). False when a row has a non-finite weight.
bool store_panel_i8(const float* rows, int nr, int k, int8_t* panel, float* scale, int8_t* scratch) {
  for (int c = 0; c < nr; ++c) {
    const float* row = rows + static_cast<size_t>(c) * k;
    bool finite = true;
    const float amax = row_abs_max(row, k, &finite);
    if (!finite) return false;
    const float s = amax > 0.f ? amax / 127.f : 1.f;
    scale[c] = s;
    quantize_row_i8(row, k, s, scratch + static_cast<size_t>(c) * k);
  }
  for (int kk = 0; kk < k; ++kk)
    for (int c = 0; c < nr; ++c)
      panel[static_cast<size_t>(kk) * kPanelCols + c] = scratch[static_cast<size_t>(c) * k + kk];
  return true;
}

// Writes one panel (rows [r0, r0 + nr) of the source, converted to float, as `rows`
// [nr, k] row-major) in the packed layout of gemm_layout.h: k-major, 16 columns per k.
void store_panel(const float* rows, int nr, int k, DType t, void* panel) {
  switch (t) {
    case DType::kF32: {
      float* d = static_cast<float*>(panel);
      for (int kk = 0; kk < k; ++kk)
        for (int c = 0; c < nr; ++c) d[static_cast<size_t>(kk) * kPanelCols + c] = rows[static_cast<size_t>(c) * k + kk];
      return;
    }
    case DType::kF16: {
      uint16_t* d = static_cast<uint16_t*>(panel);
      for (int kk = 0; kk < k; ++kk)
        for (int c = 0; c < nr; ++c)
          d[static_cast<size_t>(kk) * kPanelCols + c] = f32_to_f16(rows[static_cast<size_t>(c) * k + kk]);
      return;
    }
    case DType::kBF16: {
      uint16_t* d = static_cast<uint16_t*>(panel);
      for (int kk = 0; kk < k; ++kk)
        for (int c = 0; c < nr; ++c)
          d[static_cast<size_t>(kk / 2) * 2 * kPanelCols + 2 * c + (kk & 1)] =
              f32_to_bf16(rows[static_cast<size_t>(c) * k + kk]);
      return;
    }
    case DType::kI8: return;  // store_panel_i8: needs the scales
  }
}

}  // namespace

Status pack_weight(const void* src, DType src_dtype, int n, int k, DType store_dtype, PackedWeight* out,
                   ThreadPool* pool) {
  GN_CHECK_ARG(out != nullptr, "pack_weight: out is null");
  GN_CHECK_ARG(src != nullptr, "pack_weight: src is null");
  GN_CHECK_ARG(n > 0 && k > 0, "pack_weight: expected positive n and k but received n=" + std::to_string(n) +
                                   ", k=" + std::to_string(k));
  GN_CHECK_ARG(valid_dtype(src_dtype) && valid_store_dtype(store_dtype), "pack_weight: unknown dtype");
  size_t elems = static_cast<size_t>(panel_count(n)) * panel_stride(k);
  size_t bytes = elems * dtype_size(store_dtype);
  bytes = (bytes + 63) & ~static_cast<size_t>(63);
  void* mem = host_alloc(bytes);
  if (mem == nullptr) return OutOfMemory("pack_weight: cannot allocate " + std::to_string(bytes) + " bytes");
  std::shared_ptr<void> data(mem, [](void* p) { host_free(p); });
  const size_t panel_bytes = panel_stride(k) * dtype_size(store_dtype);
  const int panels = panel_count(n);
  // Padding is zero weights: the last panel's missing columns (and the bytes after it), and
  // the padded k row (or the unpaired half of the last bf16 pair) of every panel when k is odd.
  const size_t last = static_cast<size_t>(panels - 1) * panel_bytes;
  std::memset(static_cast<char*>(mem) + last, 0, bytes - last);
  const size_t odd_row_bytes = (k & 1) ? kPanelCols * 2 * dtype_size(store_dtype) : 0;  // last k row (pair)
  std::shared_ptr<float> scales;
  if (store_dtype == DType::kI8) {
    const size_t count = static_cast<size_t>(panels) * kPanelCols;
    scales = std::shared_ptr<float>(new (std::nothrow) float[count], std::default_delete<float[]>());
    if (scales == nullptr) return OutOfMemory("pack_weight: cannot allocate the int8 scales");
    std::fill(scales.get(), scales.get() + count, 1.f);
    bytes += count * sizeof(float);
  }
  std::atomic<int> bad_row{-1};
  // One panel at a time: read its 16 source rows (contiguous), write the panel contiguously.
  auto pack_range = [&](int64_t p0, int64_t p1) {
    std::vector<float> rows(static_cast<size_t>(kPanelCols) * k);
    std::vector<int8_t> quantized(store_dtype == DType::kI8 ? static_cast<size_t>(kPanelCols) * k : 0);
    for (int64_t p = p0; p < p1; ++p) {
      const int r0 = static_cast<int>(p) * kPanelCols;
      const int nr = std::min(kPanelCols, n - r0);
      char* panel = static_cast<char*>(mem) + static_cast<size_t>(p) * panel_bytes;
      if (odd_row_bytes) std::memset(panel + panel_bytes - odd_row_bytes, 0, odd_row_bytes);
      for (int r = 0; r < nr; ++r) load_row(src, src_dtype, static_cast<size_t>(r0 + r), k, rows.data() + static_cast<size_t>(r) * k);
      if (store_dtype != DType::kI8) store_panel(rows.data(), nr, k, store_dtype, panel);
      else if (!store_panel_i8(rows.data(), nr, k, reinterpret_cast<int8_t*>(panel), scales.get() + r0, quantized.data()))
        bad_row = r0;
    }
  };
  if (pool != nullptr) pool->parallel_for(panels, 4, pack_range);
  else pack_range(0, panels);
  if (bad_row >= 0)
    return InvalidArgument("pack_weight: rows " + std::to_string(bad_row.load()) + ".." +
                           std::to_string(std::min(n, bad_row.load() + kPanelCols) - 1) +
                           " hold a non-finite weight, which int8 quantization cannot represent");
  out->n = n;
  out->k = k;
  out->dtype = store_dtype;
  out->data = std::move(data);
  out->scales = std::move(scales);
  out->bytes = bytes;
  return Status::Ok();
}

}  // namespace gptneo::cpu
