#!/usr/bin/env bash
# One command for a GPU machine (H100/H200; nvcc, CMake, PyTorch, transformers; maybe no Node):
#   1. configure + build the CUDA test and bench with CMake for sm_90a only (build-gpu/; sm_90a, not
#      sm_90: the wgmma GEMM exists only in sm_90a code)
#   2. test_cuda_ops: every CUDA op against the CPU scalar oracles; test_model_graph: the model on
#      the GPU, with and without CUDA-graph decode steps, against the CPU backend
#   3. bench_cuda_ops: GEMM / attention / copy / decode-layer figures (JSON)
#   4. scripts/gpu_peers.py: cuBLAS (torch), SDPA and Hugging Face GPT-Neo decode at the same shapes
#   5. the Node checks (scripts/gpu-node-tests.sh) when .node-bin/node.xz exists, then the
#      switches' tests (mma.sync GEMM selection, 32-key attention tiles, ordinary launches)
#   6. compute-sanitizer memcheck on `test_cuda_ops --quick`, racecheck per group (when the tool exists)
# Prints a short comparison table last. Logs and JSON go to $OUT (else ./gpu-out).
# Every stage is time-boxed and the script continues past failed stages; total about 8 minutes.
#   scripts/gpu-check.sh      (env overrides: GN_ARCH=90a-real GN_TOTAL_S=480 JOBS=nproc GN_BUILD=build-gpu,
#                              GN_SKIP="bench peers node" skips those stages for a correctness-only rerun)
# The device tool returns only a few files per call: at the end every log is packed into
# $OUT/gpu-out.tgz and only it, summary.txt and the two JSON files stay beside it.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
ARCH="${GN_ARCH:-90a-real}"
TOTAL_S="${GN_TOTAL_S:-480}"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 8)}"
BUILD="${GN_BUILD:-build-gpu}"
START=$(date +%s)
SKIP=" ${GN_SKIP:-} "
export GN_TEST_WGMMA_TMA=0  # the experimental TMA GEMMs run in their own stage (test_gemm_wgmma_tma)
export GN_TEST_WGMMA_ATTENTION=0  # so does the wgmma attention, until verified (test_attention_wgmma)
export GN_TEST_DECODE_LAYER=0     # and the persistent decode layer (test_decode_layer)
export GN_TEST_DECODE_TC_CLUSTER=0  # and the clustered decode GEMM (test_decode_tc_cluster)
declare -a SUMMARY=()
# skipped NAME: true when GN_SKIP names the stage (and records that in the summary).
skipped() {
  case "$SKIP" in *" $1 "*) SUMMARY+=("$1|skipped (GN_SKIP)"); return 0 ;; esac
  return 1
}

log() { echo "[gpu-check $(($(date +%s) - START))s] $*"; }
# Seconds left before the overall deadline, capped at $1.
budget() {
  local left=$((TOTAL_S - ($(date +%s) - START)))
  [ "$left" -lt "$1" ] && echo "$left" || echo "$1"
}
# run_stage NAME MAX_SECONDS CMD... : runs CMD under timeout with its log in $OUT/NAME.log.
run_stage() {
  local name="$1" max="$2"
  shift 2
  local t
  t=$(budget "$max")
  if [ "$t" -lt 10 ]; then
    SUMMARY+=("$name|skipped (out of time)")
    log "$name: skipped, out of time"
    return 99
  fi
  log "$name: start (timeout ${t}s)"
  local s0=$(date +%s)
  timeout -k 5 "$t" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  local dt=$(($(date +%s) - s0))
  local status="ok"
  [ $rc -ne 0 ] && status="FAILED rc=$rc"
  [ $rc -eq 124 ] && status="TIMEOUT after ${t}s"
  SUMMARY+=("$name|$status (${dt}s)")
  log "$name: $status (${dt}s)"
  tail -n 3 "$OUT/$name.log" | sed 's/^/    /'
  return $rc
}

{
  echo "date: $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv 2>&1
  nvcc --version 2>&1 | tail -n 2
  cmake --version 2>&1 | head -n 1
  python3 -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__)" 2>&1
} >"$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"
GPU_NAME="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)"

# --- 1. build ---------------------------------------------------------------------------------
gen=()
command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
built=0
if run_stage configure 120 cmake -S . -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DGPTNEO_CUDA=ON \
  -DGPTNEO_CUDA_PTXAS_VERBOSE=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH"; then
  run_stage build 300 cmake --build "$BUILD" -j "$JOBS" --target test_cuda_ops bench_cuda_ops test_model_graph && built=1
fi
grep -E "registers|spill" "$OUT/build.log" >"$OUT/ptxas.txt" 2>/dev/null
# The wgmma GEMMs and attention must be HGMMA instructions in the sm_90a SASS (the build machines have no
# disassembler): count them per kernel, and local-memory traffic (LDL/STL) in the same kernels (and in the
# persistent decode layer, whose ptxas report shows ~100 bytes of spills at 2 blocks per SM).
CUOBJDUMP="$(command -v cuobjdump || ls /usr/local/cuda*/bin/cuobjdump 2>/dev/null | head -n 1)"
if [ $built -eq 1 ] && [ -n "$CUOBJDUMP" ]; then
  "$CUOBJDUMP" -sass "$BUILD/test_cuda_ops" 2>/dev/null | awk '
    /Function :/ { fn = $3; wg = (fn ~ /gemm_wgmma_(ss|tma)_kernel|attention_wgmma_kernel|decode_layer_kernel/) }
    wg && /HGMMA/ { h[fn]++ }  wg && /LDL|STL/ { l[fn]++ }  wg && /Function :/ { h[fn] += 0; l[fn] += 0 }
    END { for (f in h) printf "%s HGMMA=%d LDL/STL=%d\n", f, h[f], l[f] }' >"$OUT/sass_wgmma.txt"
  SUMMARY+=("sass_wgmma|$(awk '{print $2, $3}' "$OUT/sass_wgmma.txt" | sort | uniq -c | tr '\n' ';')")
fi

# --- 2. correctness -------------------------------------------------------------------------------
if [ $built -eq 1 ]; then
  GN_TEST_VERBOSE=1 run_stage test_cuda_ops 150 "$BUILD/test_cuda_ops"
  grep -E "FAIL" "$OUT/test_cuda_ops.log" | head -n 20
  # The persistent decode layer (one cooperative launch per layer, grid barriers between its phases;
  # unverified so far, and a barrier bug ends in a trap): its group against the chain of calls it
  # replaces, bit for bit. The bench times it and the Node checks run it only if this passed.
  # Once it passed, the later stages (test_model_graph's fused-layer model, the Node checks' switches, the
  # no-PDL quick run) include it too; until then they leave it out.
  GN_TEST_DECODE_LAYER=1 GN_TEST_VERBOSE=1 run_stage test_decode_layer 60 "$BUILD/test_cuda_ops" --only decode_layer &&
    export GN_BENCH_DECODE_LAYER=1 GN_TEST_DECODE_LAYER=1
  grep -E "FAIL|skip" "$OUT/test_decode_layer.log" | head -n 20
  # Two models' persistent layers at once, each on its own programmatic stream: each grid may start partly
  # while the other still holds SMs (a deadlock would end in the barrier's trap, ~20 s). Its own stage, once
  # decode_layer passed; if it fails, the persistent layer must not serve two models at once.
  [ "${GN_BENCH_DECODE_LAYER:-0}" = 1 ] && GN_TEST_VERBOSE=1 run_stage test_decode_layer_streams 60 \
    "$BUILD/test_cuda_ops" --only decode_layer_streams
  # The whole model on the GPU with and without recorded decode steps (CUDA graphs) vs the CPU.
  run_stage test_model_graph 90 "$BUILD/test_model_graph"
  grep -E "FAIL" "$OUT/test_model_graph.log" | head -n 20
  # The TMA-fed wgmma GEMMs (experimental; every other stage runs with GN_TEST_WGMMA_TMA=0, so that a
  # pipeline bug, which their kernel turns into a trap after ~2^26 polls, cannot take their results
  # with it): the gemm group with all three (a block per tile, persistent, clusters of two) forced on
  # every case and the first chosen by the dispatcher. The bench times those that passed.
  if GN_TEST_WGMMA_TMA=1 GPTNEO_CUDA_WGMMA=tma GN_TEST_VERBOSE=1 run_stage test_gemm_wgmma_tma 60 \
    "$BUILD/test_cuda_ops" --only gemm; then
    export GN_BENCH_WGMMA_TMA=1
  else
    grep -E "FAIL" "$OUT/test_gemm_wgmma_tma.log" | head -n 20
    # One of them failed (a trapped kernel ends the process): each alone, so that the others are still
    # verified and timed; GN_BENCH_WGMMA_TMA lists those that passed.
    passed=""
    for kind in tma persistent cluster; do
      GN_TEST_WGMMA_TMA=$kind GPTNEO_CUDA_WGMMA=$kind GN_TEST_VERBOSE=1 run_stage "test_gemm_wgmma_alone_$kind" 60 \
        "$BUILD/test_cuda_ops" --only gemm && passed="$passed,$kind"
    done
    [ -n "$passed" ] && export GN_BENCH_WGMMA_TMA="${passed#,}"
  fi
  # 16-bit activations handed between the TMA-fed kernels too (the main stage ran the x16 group on the
  # cp.async wgmma kernel), once their own stage passed.
  [ "${GN_BENCH_WGMMA_TMA:-0}" != 0 ] && GN_TEST_WGMMA_TMA=$GN_BENCH_WGMMA_TMA GN_TEST_VERBOSE=1 run_stage test_x16_tma 60 \
    "$BUILD/test_cuda_ops" --only x16
  # The wgmma prefill attention (unverified so far; left out of the stages above the same way): the
  # attention group with both its schedules forced on every case within its reach and the plain one in
  # automatic selection (GPTNEO_CUDA_WGMMA_ATTENTION=1). The bench times them only if this passed.
  GN_TEST_WGMMA_ATTENTION=1 GPTNEO_CUDA_WGMMA_ATTENTION=1 GN_TEST_VERBOSE=1 run_stage test_attention_wgmma 60 \
    "$BUILD/test_cuda_ops" --only attention && export GN_BENCH_WGMMA_ATTENTION=1
  grep -E "FAIL" "$OUT/test_attention_wgmma.log" | head -n 20
  # The clustered decode GEMM (unverified so far; a stage of its own, as above): the gemm group with it
  # forced on every decode-tc case and chosen by the dispatcher (GPTNEO_CUDA_DECODE_TC=cluster). The
  # bench, the decode-layer bench with the switch, the model test and the Node rows with it run only if
  # this passed.
  GN_TEST_DECODE_TC_CLUSTER=1 GPTNEO_CUDA_DECODE_TC=cluster GN_TEST_VERBOSE=1 run_stage test_decode_tc_cluster 60 \
    "$BUILD/test_cuda_ops" --only gemm && export GN_BENCH_DECODE_TC_CLUSTER=1 GN_TEST_DECODE_TC_CLUSTER=1
  grep -E "FAIL" "$OUT/test_decode_tc_cluster.log" | head -n 20
fi

if [ $built -eq 1 ]; then
  # --- 3. benchmark -------------------------------------------------------------------------------
  skipped bench || run_stage bench_cuda_ops 150 "$BUILD/bench_cuda_ops" --json "$OUT/bench_cuda_ops.json"
  # The decode GEMMs and layers again with the clustered decode GEMM chosen (a process-wide switch).
  [ "${GN_BENCH_DECODE_TC_CLUSTER:-0}" = 1 ] && ! skipped bench &&
    GPTNEO_CUDA_DECODE_TC=cluster run_stage bench_decode_tc_cluster 60 "$BUILD/bench_cuda_ops" --decode-only \
      --json "$OUT/bench_decode_tc_cluster.json"
else
  SUMMARY+=("test_cuda_ops|not run (build failed)" "bench_cuda_ops|not run (build failed)")
fi

# --- 4. peers (PyTorch / transformers) ------------------------------------------------------------
if skipped peers; then
  :
elif python3 -c "import torch" >/dev/null 2>&1; then
  run_stage gpu_peers 200 python3 scripts/gpu_peers.py --json "$OUT/peers.json"
else
  SUMMARY+=("gpu_peers|skipped (no PyTorch)")
fi

# --- 4b. Node checks -------------------------------------------------------------------------------
# Node hook: when .node-bin/node.xz is present: unpack node and, if scripts/gpu-node-tests.sh exists, run it
# with NODE set to the unpacked binary (Node-level CUDA checks with the carried addon).
if [ -f .node-bin/node.xz ] && ! skipped node; then
  NODE_DIR="$(mktemp -d)"
  if xz -dc .node-bin/node.xz >"$NODE_DIR/node" && chmod +x "$NODE_DIR/node"; then
    log "node: $("$NODE_DIR/node" --version 2>&1)"
    if [ -f scripts/gpu-node-tests.sh ]; then
      NODE="$NODE_DIR/node" PATH="$NODE_DIR:$PATH" run_stage node_tests 240 bash scripts/gpu-node-tests.sh
    else
      SUMMARY+=("node_tests|skipped (no scripts/gpu-node-tests.sh hook yet)")
    fi
  else
    SUMMARY+=("node_tests|FAILED to unpack .node-bin/node.xz")
  fi
fi

# --- 5. the switches' tests (after the measurements and the Node checks, which matter
# more if time runs short; the bench above already times each switch) ---------------------------------
if [ $built -eq 1 ]; then
  # The gemm group with the mma.sync tiles as the dispatcher's choice (GPTNEO_CUDA_WGMMA=0; wgmma is the
  # default on Hopper): the selection expectations switch back to them.
  GPTNEO_CUDA_WGMMA=0 GN_TEST_VERBOSE=1 run_stage test_gemm_mma_sync 60 "$BUILD/test_cuda_ops" --only gemm
  grep -E "FAIL" "$OUT/test_gemm_mma_sync.log" | head -n 20
  # The tensor-core prefill attention with 32-key tiles (what GPUs with less shared memory than
  # Hopper and A100 run): the attention group again.
  GPTNEO_CUDA_TC_ATTENTION_KEYS=32 GN_TEST_VERBOSE=1 run_stage test_attention_keys32 60 "$BUILD/test_cuda_ops" --only attention
  grep -E "FAIL" "$OUT/test_attention_keys32.log" | head -n 20
  # Every op through the backend on a stream not marked for programmatic dependent launch
  # (GPTNEO_CUDA_PDL=0; the run above had the default, marked, on sm_90+).
  GPTNEO_CUDA_PDL=0 GN_TEST_VERBOSE=1 run_stage test_cuda_ops_nopdl 90 "$BUILD/test_cuda_ops" --quick
  grep -E "FAIL" "$OUT/test_cuda_ops_nopdl.log" | head -n 20
  # The whole model with the clustered decode GEMM for its many-sequence decode steps, against the CPU.
  if [ "${GN_BENCH_DECODE_TC_CLUSTER:-0}" = 1 ]; then
    GPTNEO_CUDA_DECODE_TC=cluster run_stage test_model_graph_dtc_cluster 90 "$BUILD/test_model_graph"
    grep -E "FAIL" "$OUT/test_model_graph_dtc_cluster.log" | head -n 20
  fi
fi

# --- 6. compute-sanitizer on the quick test ---------------------------------------------------------
SAN=""
for c in compute-sanitizer "${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer" /usr/local/cuda*/bin/compute-sanitizer \
  /usr/local/cuda*/extras/compute-sanitizer/compute-sanitizer; do
  if command -v "$c" >/dev/null 2>&1; then SAN="$(command -v "$c")"; break; fi
done
if [ $built -eq 1 ] && [ -n "$SAN" ]; then
  run_stage sanitizer_memcheck 150 "$SAN" --tool memcheck --error-exitcode 3 "$BUILD/test_cuda_ops" --quick
  # racecheck is slow: one group per stage, the kernels that share memory between threads. (The gemm
  # group never finished inside 90 s under it, runs 2-4: gemm_few runs every GEMM kernel on a few shapes.)
  for g in ${GN_RACECHECK_GROUPS:-attention candidates draw layernorm gemv_stream gemm_few}; do
    run_stage "racecheck_$g" 90 "$SAN" --tool racecheck --error-exitcode 3 "$BUILD/test_cuda_ops" --quick --only "$g"
  done
  # memcheck and racecheck of the wgmma attention's forced cases, once its test stage passed.
  if [ "${GN_BENCH_WGMMA_ATTENTION:-0}" = 1 ]; then
    GN_TEST_WGMMA_ATTENTION=1 run_stage sanitizer_memcheck_wgmma_attention 60 "$SAN" --tool memcheck --error-exitcode 3 \
      "$BUILD/test_cuda_ops" --quick --only attention
    GN_TEST_WGMMA_ATTENTION=1 run_stage racecheck_wgmma_attention 90 "$SAN" --tool racecheck --error-exitcode 3 \
      "$BUILD/test_cuda_ops" --quick --only attention
  fi
  # memcheck of the clustered decode GEMM's forced cases (distributed shared memory), once its stage passed.
  [ "${GN_BENCH_DECODE_TC_CLUSTER:-0}" = 1 ] && run_stage sanitizer_memcheck_dtc_cluster 60 "$SAN" --tool memcheck \
    --error-exitcode 3 "$BUILD/test_cuda_ops" --quick --only gemm
  # memcheck of the TMA GEMM's forced cases, once its test stage passed.
  [ "${GN_BENCH_WGMMA_TMA:-0}" != 0 ] && GN_TEST_WGMMA_TMA=$GN_BENCH_WGMMA_TMA run_stage sanitizer_memcheck_tma 60 "$SAN" --tool memcheck \
    --error-exitcode 3 "$BUILD/test_cuda_ops" --quick --only gemm
elif [ $built -eq 1 ]; then
  SUMMARY+=("sanitizer_memcheck|skipped (compute-sanitizer not found)")
fi

# --- summary (last) ---------------------------------------------------------------------------------
{
  echo
  echo "================ gpu-check summary (${GPU_NAME:-no nvidia-smi}, arch $ARCH build) ================"
  for row in "${SUMMARY[@]}"; do printf "  %-20s %s\n" "${row%%|*}" "${row#*|}"; done
  for t in test_cuda_ops test_model_graph test_gemm_wgmma_tma test_gemm_wgmma_alone_tma test_gemm_wgmma_alone_persistent \
    test_gemm_wgmma_alone_cluster test_x16_tma test_gemm_mma_sync test_attention_keys32 \
    test_attention_wgmma test_decode_layer test_decode_layer_streams test_decode_tc_cluster test_model_graph_dtc_cluster test_cuda_ops_nopdl; do
    [ -f "$OUT/$t.log" ] && printf "  %-22s %s\n" "$t:" "$(tail -n 1 "$OUT/$t.log")"
  done
  [ -f "$OUT/sanitizer_memcheck.log" ] && echo "  memcheck: $(grep -E 'ERROR SUMMARY' "$OUT/sanitizer_memcheck.log" | tail -n 1)"
  [ -f "$OUT/sanitizer_memcheck_tma.log" ] && echo "  memcheck (TMA GEMM): $(grep -E 'ERROR SUMMARY' "$OUT/sanitizer_memcheck_tma.log" | tail -n 1)"
  [ -f "$OUT/sanitizer_memcheck_dtc_cluster.log" ] &&
    echo "  memcheck (clustered decode GEMM): $(grep -E 'ERROR SUMMARY' "$OUT/sanitizer_memcheck_dtc_cluster.log" | tail -n 1)"
  [ -f "$OUT/sanitizer_memcheck_wgmma_attention.log" ] &&
    echo "  memcheck (wgmma attention): $(grep -E 'ERROR SUMMARY' "$OUT/sanitizer_memcheck_wgmma_attention.log" | tail -n 1)"
  for f in "$OUT"/racecheck_*.log; do
    [ -f "$f" ] && echo "  $(basename "$f" .log): $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$f" | tail -n 1)"
  done
  python3 scripts/gpu_summary.py "$OUT" 2>&1 || echo "  (no comparison table: gpu_summary.py failed)"
  # End-to-end figures through Node (decode with and without run-ahead, prefill, time to first token)
  # and the Node checks' verdicts.
  if [ -f "$OUT/node_tests.log" ]; then
    grep -E "^BENCH .*(decode streams|prefill|first token)" "$OUT/node_tests.log" | sed 's/^BENCH /  node: /'
    grep -E "^(FAIL|[0-9]+ passed)" "$OUT/node_tests.log" | sed 's/^/  node: /'
  fi
  echo "  logs and JSON: $OUT   total $(($(date +%s) - START))s"
} | tee "$OUT/summary.txt"
# Pack every log into one archive (the device tool brings back only a few files per call).
PACK="$(mktemp -d)"
tar czf "$PACK/gpu-out.tgz" -C "$OUT" . && mv "$PACK/gpu-out.tgz" "$OUT/" &&
  find "$OUT" -mindepth 1 -maxdepth 1 ! -name gpu-out.tgz ! -name summary.txt ! -name '*.json' -exec rm -rf {} +
rmdir "$PACK" 2>/dev/null
