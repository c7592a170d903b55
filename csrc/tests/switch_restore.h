// Puts a process-wide CUDA switch (a get/set pair of cuda/api.h) back as it found it when it goes, so that
// a test or benchmark that flips it for some cases leaves the rest of the process as configured, on every
// return path. The saved value is `was` (to reset it by hand between cases).
#pragma once
#include "cuda/api.h"

namespace gptneo::testing {

template <int (*Get)(void), void (*Set)(int)>
struct SwitchRestore {
  const int was = Get();
  ~SwitchRestore() { Set(was); }
};

using RowStageRestore = SwitchRestore<gn_cuda_row_stage_enabled, gn_cuda_set_row_stage>;
using DecodeKeys16Restore = SwitchRestore<gn_cuda_decode_keys16, gn_cuda_set_decode_keys16>;
using DecodeSplitWavesRestore = SwitchRestore<gn_cuda_decode_split_waves, gn_cuda_set_decode_split_waves>;

}  // namespace gptneo::testing
