// The CUDA sampling kernels' row staging (cuda/row_stage_layout.h, used by cuda/row_stage.cuh), checked
// on the host: for every alignment of a row's start (4-byte steps within 16) and lengths from 1 up to
// GPT-2's vocabulary, the head, float4 body and tail copy every element exactly once to its place, the
// body's float4 loads are 16-byte aligned in global memory and its stores in shared memory, and nothing
// lands past staged_row_floats(cols).
#include <vector>

#include "cuda/row_stage_layout.h"
#include "tests/cpu/harness.h"
#include "tests/report.h"

namespace gptneo::cputest {

void test_row_stage_layout() {
  int cases = 0, bad = 0;
  std::string first_bad;
  std::vector<int> cols_list;
  for (int c = 1; c <= 70; ++c) cols_list.push_back(c);
  for (int c : {1000, 13000, 50257, 60000}) cols_list.push_back(c);
  for (uintptr_t misalign : {0u, 4u, 8u, 12u})
    for (int cols : cols_list) {
      const uintptr_t address = 0x7f0000001000u + misalign;  // a row's start: 4-byte aligned
      const gncuda::StagedRowLayout lay = gncuda::staged_row_layout(address, cols);
      const size_t room = gncuda::staged_row_floats(cols);
      std::vector<int> written(room, 0);
      bool ok = lay.offset >= 0 && lay.offset <= 3 && lay.head >= 0 && lay.head <= 3 && lay.head <= cols &&
                lay.body >= 0 && lay.tail_begin == lay.head + 4 * lay.body && cols - lay.tail_begin < 4 &&
                cols - lay.tail_begin >= 0;
      auto put = [&](int c) {  // element c to shared float offset + c
        const size_t at = static_cast<size_t>(lay.offset) + c;
        if (c < 0 || c >= cols || at >= room) ok = false;
        else ++written[at];
      };
      for (int c = 0; ok && c < lay.head; ++c) put(c);
      for (int q = 0; ok && q < lay.body; ++q) {
        const int c = lay.head + 4 * q;
        if ((address + 4u * static_cast<uintptr_t>(c)) % 16 != 0) ok = false;  // float4 load
        if ((lay.offset + c) % 4 != 0) ok = false;                              // float4 store
        for (int e = 0; e < 4; ++e) put(c + e);
      }
      for (int c = lay.tail_begin; ok && c < cols; ++c) put(c);
      for (int c = 0; ok && c < cols; ++c) ok = written[static_cast<size_t>(lay.offset) + c] == 1;
      ++cases;
      if (!ok && bad++ == 0)
        first_bad = gptneo::testing::fmt("misalign %u, cols %d: offset %d head %d body %d tail %d", (unsigned)misalign,
                                         cols, lay.offset, lay.head, lay.body, lay.tail_begin);
    }
  report(bad == 0, gptneo::testing::fmt("row_stage_layout: %d rows staged whole, once, aligned, in bounds", cases),
         bad ? gptneo::testing::fmt("%d bad, first: %s", bad, first_bad.c_str()) : "");
}

}  // namespace gptneo::cputest
