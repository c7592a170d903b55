// See host_memory.h.
#include "core/host_memory.h"

#include <cstdlib>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace gptneo {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}

void* host_alloc(size_t bytes) {
  if (bytes < kHugePage) return std::aligned_alloc(64, ((bytes == 0 ? 1 : bytes) + 63) / 64 * 64);
  const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* p = std::aligned_alloc(kHugePage, rounded);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (p != nullptr) madvise(p, rounded, MADV_HUGEPAGE);  // advice only: failure changes nothing
#endif
  return p;
}

void host_free(void* p) { std::free(p); }

}  // namespace gptneo
