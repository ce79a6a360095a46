#!/usr/bin/env bash
# Every CPU benchmark in one go, as recorded in bench/RESULTS.md. Run on an otherwise idle machine
# from the repository root after building (pip install . or tools/dev_build.sh); each script
# interleaves fusednet with NumPy/PyTorch in one process and prints medians and ratios.
#   bash bench/run_cpu.sh [OUTDIR]      (logs go to OUTDIR, default bench/logs)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/logs}
mkdir -p "$out"
# the in-tree build (tools/dev_build.sh) when there is one, else the installed package
if [ -z "${PYTHONPATH:-}" ] && ls python/fusednet/_C*.so >/dev/null 2>&1; then export PYTHONPATH=python; fi
run() { local name=$1; shift; echo "== $name: $* (load: $(cut -d' ' -f1-3 /proc/loadavg))"; "$@" 2>&1 | tee "$out/$name.txt"; }
run matmul    python3 bench/bench_matmul.py --repeats 9
run train     python3 bench/bench_train.py --samples 60000 --repeats 3
run conv      python3 bench/bench_conv.py
run optimizer python3 bench/bench_optimizer.py
run pointwise python3 bench/bench_pointwise.py
