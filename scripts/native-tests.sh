#!/usr/bin/env bash
# The native test executables without Node (npm run test:native): CPU kernels against their scalar
# oracles at every SIMD level, the CUDA backend (ops, and the whole model with recorded decode steps)
# over a host mock of the launcher API, and — when the build has CUDA and a GPU is present — the CUDA
# ops against the CPU oracles and the model on the GPU against the CPU (they print SKIP otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-native -DCMAKE_BUILD_TYPE=Release "${@}" >/dev/null
targets=(test_cpu_ops test_cuda_ops_mock test_model_graph_mock)
grep -q "test_cuda_ops:" build-native/Makefile 2>/dev/null && targets+=(test_cuda_ops test_model_graph)
cmake --build build-native -j "${JOBS:-2}" --target "${targets[@]}"
for t in "${targets[@]}"; do
  echo "== $t"
  "./build-native/$t" | tail -n 1
done
