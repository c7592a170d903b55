// pack_weight: repacks a [n, k] Linear weight into 16-column panels (see gemm_layout.h).
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "cpu/gemm_layout.h"
#include "cpu/ops.h"

namespace gptneo::cpu {

namespace {

bool valid_dtype(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }

// Writes one converted element.
void put(void* dst, DType t, size_t i, float v) {
  switch (t) {
    case DType::kF32: static_cast<float*>(dst)[i] = v; break;
    case DType::kF16: static_cast<uint16_t*>(dst)[i] = f32_to_f16(v); break;
    case DType::kBF16: static_cast<uint16_t*>(dst)[i] = f32_to_bf16(v); break;
  }
}

// Element offset of W[n, kk] in the packed buffer.
size_t packed_offset(DType t, int n, int kk, int k) {
  size_t base = static_cast<size_t>(n / kPanelCols) * panel_stride(k);
  int c = n % kPanelCols;
  if (t == DType::kBF16) return base + static_cast<size_t>(kk / 2) * (2 * kPanelCols) + c * 2 + (kk % 2);
  return base + static_cast<size_t>(kk) * kPanelCols + c;
}

}  // namespace

Status pack_weight(const void* src, DType src_dtype, int n, int k, DType store_dtype, PackedWeight* out) {
  GN_CHECK_ARG(out != nullptr, "pack_weight: out is null");
  GN_CHECK_ARG(src != nullptr, "pack_weight: src is null");
  GN_CHECK_ARG(n > 0 && k > 0, "pack_weight: expected positive n and k but received n=" + std::to_string(n) +
                                   ", k=" + std::to_string(k));
  GN_CHECK_ARG(valid_dtype(src_dtype) && valid_dtype(store_dtype), "pack_weight: unknown dtype");
  size_t elems = static_cast<size_t>(panel_count(n)) * panel_stride(k);
  size_t bytes = elems * dtype_size(store_dtype);
  bytes = (bytes + 63) & ~static_cast<size_t>(63);
  void* mem = std::aligned_alloc(64, bytes);
  if (mem == nullptr) return OutOfMemory("pack_weight: cannot allocate " + std::to_string(bytes) + " bytes");
  std::memset(mem, 0, bytes);  // padding columns and the padded k are zero weights
  for (int row = 0; row < n; ++row) {
    size_t src_row = static_cast<size_t>(row) * k;
    for (int kk = 0; kk < k; ++kk) {
      put(mem, store_dtype, packed_offset(store_dtype, row, kk, k), load_as_f32(src, src_dtype, src_row + kk));
    }
  }
  out->n = n;
  out->k = k;
  out->dtype = store_dtype;
  out->data = std::shared_ptr<void>(mem, [](void* p) { std::free(p); });
  out->bytes = bytes;
  return Status::Ok();
}

}  // namespace gptneo::cpu
