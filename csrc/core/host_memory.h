// Host allocations for weights, activations and the KV pool. Blocks of 2 MiB or more are
// aligned to 2 MiB and marked for transparent huge pages (Linux madvise MADV_HUGEPAGE; the
// common THP setting "madvise" uses huge pages only where asked): 512x fewer page faults when
// the packed weights are first written at load, and fewer TLB misses when they are streamed.
// Smaller blocks are 64-byte aligned. Free with host_free(). Contents are uninitialised.
#pragma once
#include <cstddef>

namespace gptneo {

void* host_alloc(size_t bytes);  // nullptr when out of memory
void host_free(void* p);

}  // namespace gptneo
