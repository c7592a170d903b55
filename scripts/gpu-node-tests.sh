#!/usr/bin/env bash
# Called by scripts/gpu-check.sh on the GPU machine with NODE set: runs the Node-level CUDA checks
# (model vs fixtures on the GPU, embeddings, end-to-end decode benchmark) with the carried addon.
# Expects .gpu/fixtures (copied fixtures) and the carried dist/, build/Release/gptneo.node and
# node_modules/node-gyp-build (see scripts/gpu-bundle.sh).
set -u
cd "$(dirname "$0")/.."
export GPTNEO_FIXTURES="$PWD/.gpu/fixtures"
# The random 125M/1.3B checkpoints, written once for every process below (gpu-node-check.mjs).
GN_CHECKPOINT_CACHE="$(mktemp -d)"
export GN_CHECKPOINT_CACHE
trap 'rm -rf "$GN_CHECKPOINT_CACHE"' EXIT
"${NODE:-node}" scripts/gpu-node-check.mjs
status=$?
# Prefill with the wgmma attention (each schedule; a process-wide choice, so a process each), once
# gpu-check's stage for its tests passed.
if [ "${GN_BENCH_WGMMA_ATTENTION:-0}" = 1 ]; then
  for choice in 1 pipelined; do
    GPTNEO_CUDA_WGMMA_ATTENTION=$choice "${NODE:-node}" scripts/gpu-node-check.mjs --prefill-only || status=1
  done
fi
# Many-stream decode with the clustered decode GEMM (GPTNEO_CUDA_DECODE_TC=cluster, process-wide), once
# gpu-check's stage for its tests passed: the bf16 fixture checks and the 8/32-stream rows again.
if [ "${GN_BENCH_DECODE_TC_CLUSTER:-0}" = 1 ]; then
  GPTNEO_CUDA_DECODE_TC=cluster "${NODE:-node}" scripts/gpu-node-check.mjs --batched-only || status=1
fi
# Prefill with 16-bit activations between the wgmma GEMMs (GPTNEO_CUDA_X16=1, read when the model loads;
# the x16 group of test_cuda_ops checks that it equals the default bit for bit).
GPTNEO_CUDA_X16=1 "${NODE:-node}" scripts/gpu-node-check.mjs --prefill-only || status=1
exit $status
