#!/usr/bin/env bash
# Incremental developer build: compiles _C into build/dev-<tag> and drops the .so into
# python/fusednet/ so `PYTHONPATH=python pytest` uses it. FUSEDNET_CUDA defaults to OFF here
# (fast); pass FUSEDNET_CUDA=AUTO to also compile the CUDA kernels.
set -euo pipefail
cd "$(dirname "$0")/.."
CUDA_OPT=${FUSEDNET_CUDA:-OFF}
BUILD=build/dev-$(echo "$CUDA_OPT" | tr 'A-Z' 'a-z')
PYBIND_DIR=$(python3 -c 'import pybind11; print(pybind11.get_cmake_dir())')
# ccache (when installed) makes a fresh worktree's first build a cache hit: CCACHE_BASEDIR turns
# the absolute source paths into paths relative to the build dir, identical in every checkout.
LAUNCH=()
if command -v ccache >/dev/null 2>&1; then
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(cd .. && pwd)}
  LAUNCH=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake "${LAUNCH[@]}" -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFUSEDNET_CUDA="$CUDA_OPT" \
    -Dpybind11_DIR="$PYBIND_DIR" -DPython_EXECUTABLE="$(command -v python3)" >/dev/null
fi
cmake --build "$BUILD" -j "${JOBS:-2}"
cp -f "$BUILD"/_C*.so python/fusednet/
