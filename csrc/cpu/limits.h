// The machine's own ceilings, measured on the model's thread pool: the FMA rate (GFLOP/s, two
// flops per fused multiply-add) and the read bandwidth of a buffer much larger than the caches.
// Benchmarks print every figure beside the bound these give (decode ≤ bandwidth ÷ weight bytes,
// prefill ≤ FMA rate ÷ 2·params).
#pragma once
#include <cstddef>

#include "core/thread_pool.h"
#include "cpu/simd.h"

namespace gptneo::cpu {

struct MachineLimits {
  double fma_gflops = 0;   // all pool threads together
  double read_gbs = 0;     // all pool threads together
  double amx_bf16_gflops = 0;  // AMX tile bf16 rate, all threads (0 below SimdLevel::kAmx)
};

// Takes about a second. read_bytes: size of the buffer streamed (>= 256 MiB recommended).
MachineLimits measure_machine_limits(ThreadPool& pool, SimdLevel level, size_t read_bytes);

}  // namespace gptneo::cpu
