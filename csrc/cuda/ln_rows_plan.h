// Which thread of a block layer-norms what, in the decode GEMVs' staged layer norm
// (gemv_rows.cuh layernorm_staged_rows): the block's warps split into groups of `per` warps, one group
// per row (per = the largest power of two <= warps / m, at least 1), and a group's threads take its
// row's quads round-robin; with more rows than groups the rows go in rounds of warps / per.
// Host and device alike, so that tests/cpu/ln_rows_plan.cpp checks it without a GPU.
#pragma once
#include "cuda/host_device.h"

namespace gncuda {

struct LnGroup {
  int row;      // the row of the first round this thread works on (>= m: none that round)
  int tid;      // thread index within the row's group, 0 .. threads - 1
  int threads;  // threads per group (per * 32)
  int rows;     // rows per round (warps / per)
};

GN_HD LnGroup ln_group_of(int thread, int m, int warps) {
  int per = 1;  // warps per row
  while (per * 2 * m <= warps) per *= 2;
  const int warp = thread >> 5;
  return LnGroup{warp / per, (warp % per) * 32 + (thread & 31), per * 32, warps / per};
}

}  // namespace gncuda
