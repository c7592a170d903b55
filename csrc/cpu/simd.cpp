// Run-time CPU feature detection: CPUID for the instruction sets, XGETBV for the register
// state the OS saves on context switch (an ISA is only usable when both agree).
#include "cpu/simd.h"

#include "cpu/amx_support.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define GN_X86 1
#endif

namespace gptneo::cpu {

namespace {

#if defined(GN_X86)
struct CpuidRegs {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
};

CpuidRegs cpuid(unsigned leaf, unsigned subleaf) {
  CpuidRegs r;
  if (!__get_cpuid_count(leaf, subleaf, &r.eax, &r.ebx, &r.ecx, &r.edx)) return CpuidRegs{};
  return r;
}

// XCR0: which register states the OS enabled (bit 1 SSE, 2 AVX, 5-7 AVX-512 opmask/ZMM).
unsigned long long read_xcr0() {
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
}

bool bit(unsigned v, int b) { return (v >> b) & 1u; }
#endif

}  // namespace

SimdLevel detect_simd() {
#if defined(GN_X86)
  unsigned max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf < 7) return SimdLevel::kPortable;
  CpuidRegs l1 = cpuid(1, 0);
  bool osxsave = bit(l1.ecx, 27), avx = bit(l1.ecx, 28), fma = bit(l1.ecx, 12), f16c = bit(l1.ecx, 29);
  if (!(osxsave && avx && fma && f16c)) return SimdLevel::kPortable;
  unsigned long long xcr0 = read_xcr0();
  if ((xcr0 & 0x6) != 0x6) return SimdLevel::kPortable;  // SSE + YMM state
  CpuidRegs l7 = cpuid(7, 0);
  if (!bit(l7.ebx, 5)) return SimdLevel::kPortable;  // AVX2
  bool avx512 = bit(l7.ebx, 16) && bit(l7.ebx, 17) && bit(l7.ebx, 30) && bit(l7.ebx, 31);  // F DQ BW VL
  if (!avx512 || (xcr0 & 0xe0) != 0xe0) return SimdLevel::kAvx2;  // opmask + ZMM_Hi256 + Hi16_ZMM
  CpuidRegs l71 = cpuid(7, 1);
  if (l7.eax >= 1 && bit(l71.eax, 5)) return amx_bf16_supported() ? SimdLevel::kAmx : SimdLevel::kAvx512Bf16;
  return SimdLevel::kAvx512;
#else
  return SimdLevel::kPortable;
#endif
}

SimdLevel select_simd() {
  const SimdLevel best = detect_simd();
  SimdLevel want = best;
  const char* env = std::getenv("GPTNEO_SIMD");
  if (env != nullptr && *env != '\0') {
    if (std::strcmp(env, "portable") == 0) want = SimdLevel::kPortable;
    else if (std::strcmp(env, "avx2") == 0) want = SimdLevel::kAvx2;
    else if (std::strcmp(env, "avx512") == 0) want = SimdLevel::kAvx512;
    else if (std::strcmp(env, "avx512bf16") == 0) want = SimdLevel::kAvx512Bf16;
    else if (std::strcmp(env, "amx") == 0) want = SimdLevel::kAmx;
    // unknown value: ignored
  }
  SimdLevel level = static_cast<int>(want) < static_cast<int>(best) ? want : best;
  // The tiles are asked for only when the 'amx' path is chosen; if Linux refuses: AVX-512 BF16.
  if (level == SimdLevel::kAmx && !amx_bf16_usable()) level = SimdLevel::kAvx512Bf16;
  return level;
}

const char* simd_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::kPortable: return "portable";
    case SimdLevel::kAvx2: return "avx2";
    case SimdLevel::kAvx512: return "avx512";
    case SimdLevel::kAvx512Bf16: return "avx512bf16";
    case SimdLevel::kAmx: return "amx";
  }
  return "unknown";
}

}  // namespace gptneo::cpu
