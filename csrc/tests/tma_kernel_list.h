// Which of the TMA-fed wgmma GEMM kernels a list in an environment variable names, for the CUDA test
// (GN_TEST_WGMMA_TMA) and benchmark (GN_BENCH_WGMMA_TMA): "1" all three, "0" none, else a
// comma-separated list of "tma", "persistent", "cluster" (gpu-check runs and times each alone when
// the three together fail, so that one kernel's trap cannot hide the others' results).
#pragma once
#include <cstdlib>
#include <cstring>
#include <string>

#include "cuda/api.h"

namespace gptneo {
namespace testing {

// `kernel` one of GN_GEMM_WGMMA_TMA, _PERSISTENT, _CLUSTER; an unset or empty variable means
// `unset_means_all`.
inline bool tma_kernel_listed(const char* variable, int kernel, bool unset_means_all) {
  const char* v = std::getenv(variable);
  if (v == nullptr || *v == '\0') return unset_means_all;
  if (!std::strcmp(v, "1")) return true;
  const char* name = kernel == GN_GEMM_WGMMA_TMA ? "tma" : kernel == GN_GEMM_WGMMA_TMA_PERSISTENT ? "persistent" : "cluster";
  const std::string list = std::string(",") + v + ",";
  return list.find(std::string(",") + name + ",") != std::string::npos;
}

}  // namespace testing
}  // namespace gptneo
