// gelu_new in scalar float, the portable path's definition (also the portable GEMM epilogue).
// 0.5·x·(1 + tanh(u)) == x · sigmoid(2u) == x / (1 + exp(-2u)), u = sqrt(2/pi)·(x + 0.044715·x³).
// The sigmoid form has no cancellation for negative x (where 1 + tanh(u) -> 0).
#pragma once
#include <cmath>

namespace gptneo::cpu {

constexpr float kGeluSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluCubic = 0.044715f;

inline float gelu_new_scalar(float x) {
  float u = kGeluSqrt2OverPi * (x + kGeluCubic * x * x * x);
  return x / (1.0f + std::exp(-2.0f * u));
}

}  // namespace gptneo::cpu
