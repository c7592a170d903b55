// See amx_support.h.
#include "cpu/amx_support.h"

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#define GN_AMX_POSSIBLE 1
#endif

namespace gptneo::cpu {

namespace {

#if defined(GN_AMX_POSSIBLE)
constexpr long kArchReqXcompPerm = 0x1023;  // arch_prctl code (asm/prctl.h)
constexpr long kXfeatureXtiledata = 18;     // XSAVE feature number of the tile data

bool detect() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  if (!__get_cpuid_count(1, 0, &eax, &ebx, &ecx, &edx) || !((ecx >> 27) & 1u)) return false;  // OSXSAVE
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  const bool amx_bf16 = (edx >> 22) & 1u, amx_tile = (edx >> 24) & 1u;
  if (!amx_bf16 || !amx_tile) return false;
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  const unsigned long long xcr0 = (static_cast<unsigned long long>(hi) << 32) | lo;
  return ((xcr0 >> 17) & 3u) == 3u;  // XTILECFG and XTILEDATA enabled by the OS
}
#endif

}  // namespace

bool amx_bf16_supported() {
#if defined(GN_AMX_POSSIBLE)
  static const bool supported = detect();
  return supported;
#else
  return false;
#endif
}

bool amx_bf16_usable() {
#if defined(GN_AMX_POSSIBLE)
  static const bool usable = amx_bf16_supported() && syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  return usable;
#else
  return false;
#endif
}

}  // namespace gptneo::cpu
