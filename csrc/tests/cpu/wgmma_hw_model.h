// How the hardware reads a wgmma shared-memory operand through its matrix descriptor, written from the
// PTX ISA's description ("Asynchronous Warpgroup Level Matrix Multiply-Accumulate Instructions":
// "Shared Memory Matrix Layout", "Matrix Descriptor Format"), not from the kernels' headers, so that
// the host tests (wgmma_layout.cpp, attention_wgmma_layout.cpp) check those headers against it.
#pragma once
#include <stdint.h>

namespace gptneo::cputest {

struct Desc {
  uint32_t start, lbo, sbo, base_offset, swizzle;
};
inline Desc decode(uint64_t d) {
  return {static_cast<uint32_t>(d & 0x3FFF) << 4, static_cast<uint32_t>((d >> 16) & 0x3FFF) << 4,
          static_cast<uint32_t>((d >> 32) & 0x3FFF) << 4, static_cast<uint32_t>((d >> 49) & 7),
          static_cast<uint32_t>(d >> 62)};
}
// The 128-byte swizzle: within each 1024-byte pattern (anchored at 1024-byte boundaries: base offset
// 0), address bits [4,7) (the 16-byte unit within a 128-byte row) are XORed with bits [7,10) (the row
// within the 8-row pattern).
inline uint32_t swizzle128(uint32_t plain) { return plain ^ (((plain >> 7) & 7u) << 4); }

// Shared-memory byte address of element (n, k), k < 16, of a K-major 16-bit operand described by
// `d` with the 128-byte swizzle: 8-row groups are `sbo` apart, the rows of a group 128 bytes apart,
// k runs along the row (2 bytes per element). (A operands: n is the row m.)
inline uint32_t hw_b_address(const Desc& d, int n, int k) {
  return swizzle128(d.start + static_cast<uint32_t>(n / 8) * d.sbo + static_cast<uint32_t>(n % 8) * 128u +
                    static_cast<uint32_t>(k) * 2u);
}

// Same for an MN-major ("transposed") 16-bit B operand with the 128-byte swizzle: n runs along a
// 128-byte row (64 elements), consecutive k are consecutive rows; 8-row (k) groups are `sbo` apart
// and 64-element blocks of n are `lbo` apart (the canonical MN-major layout
// ((64, n/64), (8, k/8)) : ((2 bytes, lbo), (128 bytes, sbo)) before the swizzle).
inline uint32_t hw_b_address_mn(const Desc& d, int k, int n) {
  return swizzle128(d.start + static_cast<uint32_t>(n / 64) * d.lbo + static_cast<uint32_t>(k / 8) * d.sbo +
                    static_cast<uint32_t>(k % 8) * 128u + static_cast<uint32_t>(n % 64) * 2u);
}

}  // namespace gptneo::cputest
