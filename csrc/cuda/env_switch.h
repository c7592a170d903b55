// A process-wide setting that starts as an environment variable says (read the first time it is asked,
// unless set() came first) and that set() changes: the opt-in CUDA switches every CUDA backend sets from
// the environment as it is created, and that tests and benchmarks flip to run both ways in one process
// (gn_cuda_row_stage_enabled, gn_cuda_decode_keys16; the CUDA mock keeps its own the same way).
// Plain C++: the runtime's .cu files and the host-only mock share it.
#pragma once
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace gncuda {

class EnvSwitch {
 public:
  // value_of(text): the setting for the variable's text (nullptr when unset).
  constexpr EnvSwitch(const char* name, int (*value_of)(const char*)) : name_(name), value_of_(value_of) {}
  int get() {
    int v = value_.load(std::memory_order_relaxed);
    if (v == kUnread) {
      value_.compare_exchange_strong(v, value_of_(std::getenv(name_)), std::memory_order_relaxed);  // (a set() wins)
      v = value_.load(std::memory_order_relaxed);
    }
    return v;
  }
  void set(int v) { value_.store(v, std::memory_order_relaxed); }

 private:
  static constexpr int kUnread = INT_MIN;
  const char* name_;
  int (*value_of_)(const char*);
  std::atomic<int> value_{kUnread};
};

// Whether an environment variable's text is exactly `want`.
inline bool env_text_is(const char* text, const char* want) { return text != nullptr && std::strcmp(text, want) == 0; }

}  // namespace gncuda
