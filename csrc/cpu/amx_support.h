// Intel AMX (Advanced Matrix Extensions) availability. Linux only lets a process use the AMX tile
// registers after it asks for them (arch_prctl ARCH_REQ_XCOMP_PERM), since their 8 KiB of state
// enlarges every context switch and signal frame. amx_bf16_usable() checks CPUID (AMX-TILE and
// AMX-BF16), XCR0 (the OS manages tile state) and makes that request once per process; it is
// false where any of them is missing or refused, and the callers then use the AVX-512 kernels.
#pragma once

namespace gptneo::cpu {

bool amx_bf16_usable();

}  // namespace gptneo::cpu
