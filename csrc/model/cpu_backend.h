// CpuBackend: the Backend interface over the SIMD CPU kernels in csrc/cpu, running on a
// thread pool owned by this backend (hence by one model).
#pragma once
#include <memory>

#include "cpu/simd.h"
#include "model/backend.h"

namespace gptneo {

// threads: total parallelism (>= 1). level: the SIMD path (already capped to the CPU's).
std::unique_ptr<Backend> create_cpu_backend(int threads, cpu::SimdLevel level);

}  // namespace gptneo
