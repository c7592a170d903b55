// The keys one block of the decode attention kernel (attention_decode.cuh) takes: query at absolute
// position pos, local window `window` (0: none), split `split` of `splits`, `chunk` keys per split.
// The splits partition the query's keys [first, pos]; the last split runs to pos even where the
// plan's context understated it. In append mode (the query's own k/v not cached yet) the split holding
// pos reads the cache up to it and takes key pos from registers. Host and device alike, so that
// tests/cpu/decode_split.cpp checks the partition without a GPU.
#pragma once
#include "cuda/host_device.h"

namespace gncuda {

struct DecodeKeyRange {
  int begin;        // first key of this split
  int end;          // one past its last key (end <= begin: none)
  bool own;         // append mode and pos is in [begin, end): this block takes key pos from registers
  int cache_end;    // keys read from the cache: [begin, cache_end)
};

GN_HD DecodeKeyRange decode_key_range(int pos, int window, int split, int splits, int chunk, bool append) {
  const int first = window > 0 ? (pos - window + 1 > 0 ? pos - window + 1 : 0) : 0;
  const int begin = first + split * chunk;
  const int end = split == splits - 1 ? pos + 1 : (pos + 1 < begin + chunk ? pos + 1 : begin + chunk);
  const bool own = append && begin <= pos && pos < end;
  return DecodeKeyRange{begin, end, own, own ? pos : end};
}

}  // namespace gncuda
