// Intel AMX (Advanced Matrix Extensions) availability. Linux only lets a process use the AMX tile
// registers after it asks for them (arch_prctl ARCH_REQ_XCOMP_PERM), since their 8 KiB of state
// enlarges every context switch and signal frame.
//   amx_bf16_supported(): CPUID (AMX-TILE, AMX-BF16) and XCR0 (the OS manages tile state); asks
//                         nothing, so detecting the CPU never changes the process.
//   amx_bf16_usable():    supported, and the request (made once per process, on first call) was
//                         granted. Only called when the 'amx' path is selected, so a process capped
//                         below it (GPTNEO_SIMD) never asks. False: the AVX-512 kernels are used.
#pragma once

namespace gptneo::cpu {

bool amx_bf16_supported();
bool amx_bf16_usable();

}  // namespace gptneo::cpu
