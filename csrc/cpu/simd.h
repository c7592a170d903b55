// Run-time choice of the CPU code path. detect_simd() reads CPUID (and the OS's XSAVE state);
// the environment variable GPTNEO_SIMD=portable|avx2|avx512|avx512bf16|amx forces a lower path.
#pragma once

namespace gptneo::cpu {

enum class SimdLevel : int {
  kPortable = 0,    // plain C++ (the compiler may auto-vectorise for the baseline ISA)
  kAvx2 = 1,        // AVX2 + FMA + F16C
  kAvx512 = 2,      // AVX-512 F/BW/VL/DQ
  kAvx512Bf16 = 3,  // + AVX512_BF16 dot products
  kAmx = 4,         // + AMX-TILE/AMX-BF16 granted by the OS: bf16-weight GEMMs with many rows on tiles
};

// Best level this CPU and OS support.
SimdLevel detect_simd();
// detect_simd() capped by GPTNEO_SIMD when set (an unknown value is ignored); 'amx' only when Linux
// grants the tiles (asked here, once per process, and only when that path would be chosen).
SimdLevel select_simd();
const char* simd_name(SimdLevel level);

}  // namespace gptneo::cpu
