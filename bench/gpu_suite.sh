#!/usr/bin/env bash
# gpu_suite.sh — everything a session with a lent GPU runs in one call:
#   1. build + install fusednet with CUDA required (FUSEDNET_CUDA=ON, pip --no-build-isolation)
#   2. ptxas register / spill report of every CUDA kernel (nvcc -Xptxas -v, sm_90)
#   3. the CUDA tests (tests/test_cuda.py, tests/test_cuda_model.py) and the other cuda-marked tests
#   4. the GPU benchmarks (bench/bench_gpu.py: sgemm, pointwise, adam, conv layers, MLP training
#      vs PyTorch eager)
#   5. a summary table, printed last
# Needs on the device machine: nvcc, cmake, ninja, python3 with pip, pybind11, scikit-build-core,
# numpy, pytest (torch optional: the torch comparison rows are skipped without it).
# Logs go under ${OUT:-/tmp/fusednet_gpu_suite}; with OUT set the whole console output is also
# tee'd to $OUT/log. Exit status: non-zero if the build or the CUDA tests failed (benchmarks are
# informational). Every step runs even when an earlier one fails, so the summary is always complete.
set -euo pipefail
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."
OUTDIR=${OUT:-/tmp/fusednet_gpu_suite}
mkdir -p "$OUTDIR"
if [ -n "${OUT:-}" ]; then
  exec > >(tee -a "$OUT/log") 2>&1
fi
JOBS=${JOBS:-$(nproc)}
SKIP_BENCH=${SKIP_BENCH:-0}

# run NAME CMD... : runs CMD, stores its exit status in rc_NAME and never stops the script
run() {
  local name=$1
  shift
  local rc=0
  "$@" || rc=$?
  printf -v "rc_$name" '%s' "$rc"
}
last_line() { [ -f "$1" ] && tail -1 "$1" || echo "(no log)"; }

echo "== nvidia-smi"
run smi bash -c "set -o pipefail; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee '$OUTDIR/gpu.txt'"

echo "== build (FUSEDNET_CUDA=ON)"
t0=$(date +%s)
run build env CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" FUSEDNET_CUDA=ON \
  bash -c "python3 -m pip install --no-build-isolation -v . >'$OUTDIR/build.log' 2>&1"
build_s=$(( $(date +%s) - t0 ))
tail -5 "$OUTDIR/build.log" || true
if [ "$rc_build" -ne 0 ]; then
  echo "BUILD FAILED (rc=$rc_build); see $OUTDIR/build.log"
  tail -60 "$OUTDIR/build.log" || true
  exit "$rc_build"
fi

echo "== ptxas report (sm_90)"
ptxas_one() {
  nvcc -std=c++17 -arch=sm_90 --expt-relaxed-constexpr -Icsrc -Xptxas -v -c "$1" -o /dev/null 2>&1 |
    awk -v f="$(basename "$1")" '/Compiling entry/ {k=$0; sub(/.*entry function .\x27?/, "", k); sub(/\x27.*/, "", k)}
         /registers/ {print f, k, $0} /spill/ && !/ 0 bytes spill stores, 0 bytes spill loads/ {print f, k, "SPILL", $0}'
}
: >"$OUTDIR/ptxas.txt"
for f in csrc/cuda/*.cu; do
  run ptxas_one ptxas_one "$f" >>"$OUTDIR/ptxas.txt"
done
echo "kernels: $(grep -c registers "$OUTDIR/ptxas.txt" || true), with spills: $(grep -c SPILL "$OUTDIR/ptxas.txt" || true)"

echo "== CUDA tests"
# Run from outside the source tree so the installed package (with the CUDA build) is imported.
run avail bash -c "cd tests && python3 -c \"import fusednet, sys; print('cuda available:', fusednet.cuda.is_available()); sys.exit(0 if fusednet.cuda.is_available() else 3)\""
run test bash -c "set -o pipefail; cd tests && python3 -m pytest -q -rs -p no:cacheprovider test_cuda.py 2>&1 | tee '$OUTDIR/test_cuda.log'"
run model bash -c "set -o pipefail; cd tests && python3 -m pytest -q -rs -p no:cacheprovider test_cuda_model.py 2>&1 | tee '$OUTDIR/test_cuda_model.log'"
run marked bash -c "cd tests && python3 -m pytest -q -p no:cacheprovider -m cuda --deselect test_cuda.py --deselect test_cuda_model.py . >'$OUTDIR/test_cuda_marked.log' 2>&1"

rc_bench=skipped
if [ "$SKIP_BENCH" != 1 ]; then
  echo "== GPU benchmarks"
  run bench bash -c "set -o pipefail; python3 bench/bench_gpu.py --json '$OUTDIR/bench.json' 2>&1 | tee '$OUTDIR/bench.log'"
fi

echo
echo "================ fusednet GPU suite summary ================"
printf "%-28s %s\n" "device" "$(tail -1 "$OUTDIR/gpu.txt" 2>/dev/null || echo '?')"
printf "%-28s %s\n" "build" "rc=$rc_build (${build_s}s)"
printf "%-28s %s\n" "ptxas" "$(grep -c registers "$OUTDIR/ptxas.txt" || true) kernels, $(grep -c SPILL "$OUTDIR/ptxas.txt" || true) with spills"
printf "%-28s %s\n" "device visible" "$([ "$rc_avail" -eq 0 ] && echo yes || echo NO)"
printf "%-28s %s\n" "tests/test_cuda.py" "rc=$rc_test: $(last_line "$OUTDIR/test_cuda.log")"
printf "%-28s %s\n" "tests/test_cuda_model.py" "rc=$rc_model: $(last_line "$OUTDIR/test_cuda_model.log")"
printf "%-28s %s\n" "other cuda-marked tests" "rc=$rc_marked: $(last_line "$OUTDIR/test_cuda_marked.log")"
printf "%-28s %s\n" "benchmarks" "rc=$rc_bench"
if [ -f "$OUTDIR/bench.log" ]; then sed -n '/^benchmark/,$p' "$OUTDIR/bench.log"; fi
echo "logs: $OUTDIR"
[ "$rc_test" -eq 0 ] || exit "$rc_test"
[ "$rc_model" -eq 0 ] || exit "$rc_model"
exit 0
