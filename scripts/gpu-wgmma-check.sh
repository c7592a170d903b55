#!/usr/bin/env bash
# Short device check of the Hopper wgmma GEMM (issue #8; csrc/cuda/NOTES.md rounds 4, 7, 8), for a lease too
# short for scripts/gpu-check.sh (about 3-4 minutes on an H100/H200 with 16 cores):
#   1. build test_cuda_ops and bench_cuda_ops for sm_90a only (build-wgmma/)
#   2. SASS: HGMMA count and LDL/STL of the wgmma kernel (cuobjdump, when present)
#   3. test_cuda_ops --only gemm: every GEMM path incl. the forced wgmma kernels (cp.async- and TMA-fed)
#      against the CPU oracle
#      (the dispatcher picks wgmma by default), then again with GPTNEO_CUDA_WGMMA=0 (mma.sync)
#   4. compute-sanitizer memcheck on the quick gemm group
#   5. bench_cuda_ops --gemm-only and the torch GEMM peers; the comparison table last
# Logs and JSON go to $OUT (else ./gpu-out).   env: JOBS, GN_BUILD=build-wgmma
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
BUILD="${GN_BUILD:-build-wgmma}"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 8)}"
START=$(date +%s)
log() { echo "[wgmma-check $(($(date +%s) - START))s] $*"; }
# stage NAME TIMEOUT CMD...: runs CMD with its log in $OUT/NAME.log, prints the last lines.
stage() {
  local name="$1" t="$2"
  shift 2
  log "$name: start"
  timeout -k 5 "$t" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  log "$name: rc=$rc"
  tail -n 3 "$OUT/$name.log" | sed 's/^/    /'
  return $rc
}

{ nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm --format=csv,noheader 2>&1; nvcc --version 2>&1 | tail -n 1; } | tee "$OUT/machine.txt"
gen=()
command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
stage configure 120 cmake -S . -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DGPTNEO_CUDA=ON \
  -DGPTNEO_CUDA_PTXAS_VERBOSE=ON -DCMAKE_CUDA_ARCHITECTURES=90a-real || exit 1
stage build 300 cmake --build "$BUILD" -j "$JOBS" --target test_cuda_ops bench_cuda_ops || exit 1
grep -A3 -E "gemm_wgmma_(ss|tma)_kernel" "$OUT/build.log" | grep -E "registers|spill" | sort | uniq -c >"$OUT/ptxas_wgmma.txt"
cat "$OUT/ptxas_wgmma.txt"

CUOBJDUMP="$(command -v cuobjdump || ls /usr/local/cuda*/bin/cuobjdump 2>/dev/null | head -n 1)"
if [ -n "$CUOBJDUMP" ]; then
  "$CUOBJDUMP" -sass "$BUILD/test_cuda_ops" 2>/dev/null | awk '
    /Function :/ { fn = $3; wg = (fn ~ /gemm_wgmma_(ss|tma)_kernel/); if (wg) { h[fn] += 0; l[fn] += 0 } }
    wg && /HGMMA/ { h[fn]++ }  wg && /LDL|STL/ { l[fn]++ }
    END { for (f in h) printf "%s HGMMA=%d LDL/STL=%d\n", f, h[f], l[f] }' | tee "$OUT/sass_wgmma.txt"
else
  log "no cuobjdump: SASS not checked"
fi

# (the forced cases include the experimental TMA-fed kernels; the bench times them if they all pass)
GN_TEST_VERBOSE=1 stage test_gemm 120 "$BUILD/test_cuda_ops" --only gemm && export GN_BENCH_WGMMA_TMA=1
grep -E "^FAIL|wgmma" "$OUT/test_gemm.log" | grep -E "FAIL|runs on|refused" | head -n 20
GPTNEO_CUDA_WGMMA=0 GN_TEST_VERBOSE=1 stage test_gemm_mma_sync 120 "$BUILD/test_cuda_ops" --only gemm
grep -E "^FAIL" "$OUT/test_gemm_mma_sync.log" | head -n 20

SAN="$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -n 1)"
[ -n "$SAN" ] && stage memcheck_gemm 120 "$SAN" --tool memcheck --error-exitcode 3 "$BUILD/test_cuda_ops" --quick --only gemm

stage bench_gemm 120 "$BUILD/bench_cuda_ops" --gemm-only --json "$OUT/bench_cuda_ops.json"
grep -E "wgmma|tensor-core" "$OUT/bench_gemm.log" | grep "m=2048" | head -n 20
if python3 -c "import torch" >/dev/null 2>&1; then
  stage gpu_peers 150 python3 scripts/gpu_peers.py --gemm-only --json "$OUT/peers.json"
fi
echo
echo "================ wgmma check ($(head -n 1 "$OUT/machine.txt")) ================"
tail -n 1 "$OUT/test_gemm.log" | sed 's/^/  test (forced kernels): /'
tail -n 1 "$OUT/test_gemm_mma_sync.log" | sed 's/^/  test (GPTNEO_CUDA_WGMMA=0): /'
[ -f "$OUT/memcheck_gemm.log" ] && grep -E "ERROR SUMMARY" "$OUT/memcheck_gemm.log" | tail -n 1 | sed 's/^/  memcheck: /'
python3 scripts/gpu_summary.py "$OUT" 2>&1 | grep -E "device|key|wgmma/|^  gemm/" || true
log "done"
