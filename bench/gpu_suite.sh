#!/usr/bin/env bash
# gpu_suite.sh — everything a session with a lent GPU runs in one call:
#   1. build + install fusednet with CUDA required (FUSEDNET_CUDA=ON, pip --no-build-isolation)
#   2. the CUDA tests (tests/test_cuda.py) and the CPU suite's CUDA-marked tests
#   3. the GPU benchmarks (bench/bench_gpu.py)
#   4. a short summary table, printed last
# Needs on the device machine: nvcc, cmake, ninja, python3 with pip, pybind11, scikit-build-core,
# numpy, pytest (torch optional: the torch comparison rows are skipped without it).
# Writes logs under ${OUT:-/tmp/fusednet_gpu_suite}. Exit status: non-zero if the build or the
# CUDA tests failed (benchmarks are informational).
set -uo pipefail
cd "$(dirname "$0")/.."
OUTDIR=${OUT:-/tmp/fusednet_gpu_suite}
mkdir -p "$OUTDIR"
JOBS=${JOBS:-$(nproc)}

echo "== nvidia-smi"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUTDIR/gpu.txt"

echo "== build (FUSEDNET_CUDA=ON)"
t0=$(date +%s)
CMAKE_BUILD_PARALLEL_LEVEL=$JOBS FUSEDNET_CUDA=ON \
  python3 -m pip install --no-build-isolation -v . \
    >"$OUTDIR/build.log" 2>&1
build_rc=$?
build_s=$(( $(date +%s) - t0 ))
tail -5 "$OUTDIR/build.log"
if [ $build_rc -ne 0 ]; then
  echo "BUILD FAILED (rc=$build_rc); see $OUTDIR/build.log"; tail -60 "$OUTDIR/build.log"; exit $build_rc
fi
# ptxas register/spill report for the GEMM kernels (informational)
grep -E "sgemm_(fp32|tf32)_kernel|registers|spill" "$OUTDIR/build.log" | head -40 >"$OUTDIR/ptxas.txt" || true

echo "== CUDA tests"
# Run from outside the source tree so the installed package (with the CUDA build) is imported.
( cd tests && python3 -c "import fusednet, sys; print('cuda available:', fusednet.cuda.is_available()); sys.exit(0 if fusednet.cuda.is_available() else 3)" )
avail_rc=$?
( cd tests && python3 -m pytest -q -rs -p no:cacheprovider test_cuda.py ) 2>&1 | tee "$OUTDIR/test_cuda.log"
test_rc=${PIPESTATUS[0]}
( cd tests && python3 -m pytest -q -p no:cacheprovider -m cuda --deselect test_cuda.py . ) >"$OUTDIR/test_cuda_marked.log" 2>&1
marked_rc=$?

echo "== GPU benchmarks"
python3 bench/bench_gpu.py --json "$OUTDIR/bench.json" 2>&1 | tee "$OUTDIR/bench.log"
bench_rc=${PIPESTATUS[0]}

echo
echo "================ fusednet GPU suite summary ================"
printf "%-28s %s\n" "build" "rc=$build_rc (${build_s}s)"
printf "%-28s %s\n" "device visible" "$([ $avail_rc -eq 0 ] && echo yes || echo NO)"
printf "%-28s %s\n" "tests/test_cuda.py" "rc=$test_rc: $(tail -1 "$OUTDIR/test_cuda.log")"
printf "%-28s %s\n" "other cuda-marked tests" "rc=$marked_rc: $(tail -1 "$OUTDIR/test_cuda_marked.log")"
printf "%-28s %s\n" "benchmarks" "rc=$bench_rc"
sed -n '/^benchmark/,$p' "$OUTDIR/bench.log"
echo "logs: $OUTDIR"
[ $test_rc -eq 0 ] || exit $test_rc
exit 0
