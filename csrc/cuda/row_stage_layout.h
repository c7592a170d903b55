// Where cuda/row_stage.cuh's stage_row puts a row of fp32 values in shared memory, and how it copies
// it: host and device alike, so that tests/cpu/row_stage_layout.cpp checks the index math without a GPU.
//
// A row starting at a 4-byte-aligned global address: `head` scalars up to its first 16-byte boundary,
// then `body` float4 loads (16-byte aligned in global memory), then the scalar tail [tail_begin, cols).
// In shared memory the row starts `offset` floats past the block's 16-byte-aligned buffer, chosen so
// that the body's float4 stores land on 16-byte boundaries too; the buffer holds staged_row_floats(cols).
#pragma once
#include <cstddef>
#include <cstdint>

#include "cuda/host_device.h"

namespace gncuda {

struct StagedRowLayout {
  int offset;      // floats between the shared buffer's start and the row's element 0 (0..3)
  int head;        // scalar copies before the body (0..3, at most cols)
  int body;        // float4 copies
  int tail_begin;  // first element of the scalar tail: head + 4 * body
};

// Floats of shared memory a staged row of `cols` takes.
GN_HD_CONSTEXPR size_t staged_row_floats(int cols) { return static_cast<size_t>(cols) + 3; }

GN_HD StagedRowLayout staged_row_layout(uintptr_t row_address, int cols) {
  const int to_boundary = static_cast<int>(((16u - (row_address & 15u)) & 15u) >> 2);
  const int head = to_boundary < cols ? to_boundary : cols;
  const int body = (cols - head) >> 2;
  return StagedRowLayout{(4 - head) & 3, head, body, head + 4 * body};
}

}  // namespace gncuda
