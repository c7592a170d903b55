// Result reporting shared by the CUDA-side native tests (test_cuda_ops, test_model_graph): one line
// per failure (and per pass with GN_TEST_VERBOSE set), counters for the final "N passed, N failed".
#pragma once
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace gptneo::testing {

inline int g_passed = 0, g_failed = 0;

inline void report(bool ok, const std::string& what, const std::string& detail = "") {
  (ok ? g_passed : g_failed)++;
  if (!ok || std::getenv("GN_TEST_VERBOSE")) std::printf("%s %s  %s\n", ok ? "ok  " : "FAIL", what.c_str(), detail.c_str());
}

inline std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
inline std::string fmt(const char* f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

}  // namespace gptneo::testing
