#!/usr/bin/env bash
# Cross-builds fusednet._C for aarch64 (Debian's g++-aarch64-linux-gnu, CPU backend only) and runs
# tests/smoke/isa_smoke.py on it under qemu-aarch64, then compares with the native run (issue 16:
# on non-x86 hosts the x86 ISA files are skipped and the portable kernels must build and work).
#
#   tools/cross_aarch64.sh             sysroot (cached) + cross build + aarch64 smoke + comparison
#   tools/cross_aarch64.sh --sysroot   only fetch/unpack the aarch64 sysroot
#   tools/cross_aarch64.sh --build     sysroot + cross build, no qemu run
#   tools/cross_aarch64.sh --no-native skip the native run and the comparison
#
# Sysroot: Debian bookworm arm64 .debs of Python 3.11 (interpreter, stdlib, headers), NumPy and the
# C/C++/OpenMP runtimes, fetched with a private apt state (no dpkg --add-architecture, nothing
# installed on the host) and unpacked with dpkg-deb -x into build/aarch64-sysroot; a stamp holding
# the package list makes reruns skip it. The compiler and linker use the cross toolchain's own
# glibc (libc6-dev-arm64-cross, the same 2.36 as the sysroot's); only Python's headers and the
# interpreter come from the sysroot. pybind11 is the host's (header-only).
#
# Environment: JOBS (build jobs, default 1), PYTHON (native interpreter, default python3),
# FN_AARCH64_SYSROOT, FN_NATIVE_PYTHONPATH (where the native fusednet is; default python/ when it
# holds a built module, else the installed package). The last stdout line is the aarch64 JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
MODE=all
case "${1:-}" in
  "") ;;
  --sysroot) MODE=sysroot ;;
  --build) MODE=build ;;
  --no-native) MODE=no-native ;;
  *) echo "usage: $0 [--sysroot|--build|--no-native]" >&2; exit 2 ;;
esac
SYSROOT=${FN_AARCH64_SYSROOT:-$ROOT/build/aarch64-sysroot}
BUILD=$ROOT/build/cross-aarch64
PYTHON=${PYTHON:-python3}
log() { echo "cross_aarch64: $*" >&2; }
need() { command -v "$1" >/dev/null || { log "missing $1 ($2)"; exit 3; }; }

# --------------------------------------------------------------------------- sysroot
# numpy needs libblas.so.3/liblapack.so.3 (reference BLAS: an alternatives symlink set up below);
# the stdlib modules the smoke run does not import (sqlite3, curses, dbm, readline) are left out.
PKGS="libc6 libgcc-s1 libstdc++6 libgomp1 gcc-12-base zlib1g libexpat1 libssl3 libffi8 libbz2-1.0
liblzma5 libcrypt1 libuuid1 python3.11-minimal libpython3.11-minimal libpython3.11-stdlib
libpython3.11-dev python3-numpy libblas3 liblapack3 libgfortran5"
STAMP="bookworm arm64: $(echo $PKGS)"

setup_sysroot() {
  if [ -f "$SYSROOT/.fusednet-sysroot" ] && [ "$(cat "$SYSROOT/.fusednet-sysroot")" = "$STAMP" ]; then
    return
  fi
  need apt-get "Debian apt"; need dpkg-deb "Debian dpkg"
  local t0=$SECONDS apt=$ROOT/build/aarch64-apt
  log "fetching the arm64 sysroot into $SYSROOT"
  rm -rf "$apt" "$SYSROOT.tmp"
  mkdir -p "$apt/state/lists/partial" "$apt/cache/archives/partial" "$apt/debs" "$SYSROOT.tmp"
  : > "$apt/state/status"
  # The host's sources.list, but a separate state: the host's package database is never touched.
  cat > "$apt/apt.conf" <<EOF
Dir::State "$apt/state";
Dir::State::status "$apt/state/status";
Dir::Cache "$apt/cache";
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
Debug::NoLocking "true";
APT::Sandbox::User "root";
EOF
  APT_CONFIG=$apt/apt.conf apt-get -qq update >&2
  (cd "$apt/debs" && APT_CONFIG=$apt/apt.conf apt-get -qq download $PKGS >&2)
  for deb in "$apt"/debs/*.deb; do dpkg-deb -x "$deb" "$SYSROOT.tmp"; done
  local lib=$SYSROOT.tmp/usr/lib/aarch64-linux-gnu
  ln -sf blas/libblas.so.3 "$lib/libblas.so.3"
  ln -sf lapack/liblapack.so.3 "$lib/liblapack.so.3"
  test -x "$SYSROOT.tmp/usr/bin/python3.11" && test -f "$SYSROOT.tmp/usr/include/python3.11/Python.h"
  rm -rf "$SYSROOT" && mv "$SYSROOT.tmp" "$SYSROOT" && rm -rf "$apt"
  echo "$STAMP" > "$SYSROOT/.fusednet-sysroot"
  log "sysroot ready in $((SECONDS - t0)) s ($(du -sh "$SYSROOT" | cut -f1))"
}

need aarch64-linux-gnu-g++ "Debian package g++-aarch64-linux-gnu"
need cmake "pip install cmake"
setup_sysroot
[ "$MODE" = sysroot ] && exit 0
need qemu-aarch64 "Debian package qemu-user"

# --------------------------------------------------------------------------- cross build
# FindPython runs the aarch64 interpreter through the emulator (CMP0190 NEW), so the include
# directory and the module suffix (cpython-311-aarch64-linux-gnu) are the target's, not the host's.
t0=$SECONDS
mkdir -p "$BUILD"
cat > "$BUILD/toolchain.cmake" <<EOF
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;$SYSROOT)
# Debian's pyconfig.h includes <aarch64-linux-gnu/python3.11/pyconfig.h>; searched after the
# toolchain's own headers, so nothing else of the sysroot can shadow them.
set(CMAKE_CXX_FLAGS_INIT "-idirafter $SYSROOT/usr/include")
EOF
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S "$ROOT" -B "$BUILD" "${GEN[@]}" -DCMAKE_TOOLCHAIN_FILE="$BUILD/toolchain.cmake" \
    -DCMAKE_POLICY_DEFAULT_CMP0190=NEW -DPYBIND11_USE_CROSSCOMPILING=ON -DCMAKE_BUILD_TYPE=Release -DFUSEDNET_CUDA=OFF \
    -Dpybind11_DIR="$("$PYTHON" -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
    -DPython_EXECUTABLE="$SYSROOT/usr/bin/python3.11" >&2
fi
cmake --build "$BUILD" -j "${JOBS:-1}" >&2
SO=$(ls "$BUILD"/_C.cpython-*-aarch64-linux-gnu.so)
# The module must be aarch64 code and must not have been built from any x86 ISA file.
file -b "$SO" | grep -q "ARM aarch64" || { log "$SO is not an aarch64 module: $(file -b "$SO")"; exit 1; }
if grep -qE '_avx(2|512)\.cpp' "$BUILD"/CMakeFiles/_C.dir/*.make "$BUILD"/build.ninja 2>/dev/null; then
  log "an x86 ISA file is part of the aarch64 build"; exit 1
fi
log "cross build done in $((SECONDS - t0)) s: $SO"
PKG=$BUILD/pkg
rm -rf "$PKG" && mkdir -p "$PKG"
cp -r "$ROOT/python/fusednet" "$PKG/"
find "$PKG" \( -name '_C*.so' -o -name __pycache__ \) -prune -exec rm -rf {} +
cp "$SO" "$PKG/fusednet/"
[ "$MODE" = build ] && exit 0

# --------------------------------------------------------------------------- smoke runs
# Only the sysroot's site-packages (NumPy 1.24) and the copied package are on the aarch64 path.
arm_python() {
  env -u PYTHONHOME -u FUSEDNET_ISA PYTHONPATH="$PKG" PYTHONNOUSERSITE=1 PYTHONDONTWRITEBYTECODE=1 \
    OMP_NUM_THREADS=2 qemu-aarch64 -L "$SYSROOT" "$SYSROOT/usr/bin/python3.11" "$@"
}
t0=$SECONDS
arm_python "$ROOT/tests/smoke/isa_smoke.py" > "$BUILD/smoke-aarch64.out"
tail -n 1 "$BUILD/smoke-aarch64.out" > "$BUILD/smoke-aarch64.json"
log "aarch64 smoke (qemu) in $((SECONDS - t0)) s: $(cat "$BUILD/smoke-aarch64.json")"
# FPCR.FZ (ftz_scope.h): the GEMM flushes a denormal operand to zero as on x86 (DAZ), and the
# Python thread's FPCR is restored afterwards, so NumPy still produces denormals.
arm_python - <<'EOF'
import numpy as np, fusednet
a = np.full((8, 8), 1e-39, np.float32)
c = np.asarray(fusednet.ops.matmul(a, np.eye(8, dtype=np.float32)))
d = np.float32(1e-39) * np.float32(1.0)
assert np.all(c == 0), f"kernel kept denormals (FPCR.FZ not set): {c.max()}"
assert d != 0, "NumPy flushes denormals after a kernel (caller's FPCR not restored)"
EOF
log "aarch64 FTZ check passed (kernel flushes denormals, caller's FPCR restored)"

if [ "$MODE" != no-native ]; then
  NATIVE_PP=${FN_NATIVE_PYTHONPATH:-}
  if [ -z "$NATIVE_PP" ] && ls "$ROOT"/python/fusednet/_C.*"$(uname -m)"*.so >/dev/null 2>&1; then
    NATIVE_PP=$ROOT/python
  fi
  env -u FUSEDNET_ISA PYTHONPATH="$NATIVE_PP" OMP_NUM_THREADS=2 "$PYTHON" "$ROOT/tests/smoke/isa_smoke.py" \
    | tail -n 1 > "$BUILD/smoke-native.json"
  PYTHONPATH="$NATIVE_PP" OMP_NUM_THREADS=2 FUSEDNET_ISA=portable "$PYTHON" "$ROOT/tests/smoke/isa_smoke.py" \
    | tail -n 1 > "$BUILD/smoke-native-portable.json"
  log "native smoke: $(cat "$BUILD/smoke-native.json")"
  # Two checks. (1) Against the native run (its best ISA) at 1e-4 relative, as for the emulated
  # x86 CPUs in tests/test_isa.py. (2) Bitwise against the native FUSEDNET_ISA=portable run: non-x86
  # builds use -ffp-contract=off (CMakeLists.txt), so they perform exactly the IEEE operations of
  # x86's portable path. With GCC's default contraction the MLP loss differed by 1 ulp (8.5e-8).
  "$PYTHON" - "$BUILD/smoke-native.json" "$BUILD/smoke-aarch64.json" "$BUILD/smoke-native-portable.json" <<'EOF'
import json, sys
nat, arm, port = (json.load(open(p)) for p in sys.argv[1:4])
bad = []
if arm["isa"] != "portable":
    bad.append(f"isa {arm['isa']!r}, expected 'portable'")
if not arm["matmul_rel_err"] < 1e-5:
    bad.append(f"matmul_rel_err {arm['matmul_rel_err']} (float64 reference) >= 1e-5")
for key in ("cnn_loss", "mlp_loss", "cnn_pred"):
    a, b = arm[key], nat[key]
    a, b = (a, b) if isinstance(a, list) else ([a], [b])
    if len(a) != len(b) or any(not abs(x - y) <= 1e-4 * abs(y) for x, y in zip(a, b)):
        bad.append(f"{key}: aarch64 {a} vs native {b} (tolerance 1e-4 relative)")
    if arm[key] != port[key]:
        bad.append(f"{key}: aarch64 {arm[key]} != native FUSEDNET_ISA=portable {port[key]} (bitwise)")
if arm["matmul_rel_err"] != port["matmul_rel_err"]:
    bad.append(f"matmul_rel_err: aarch64 {arm['matmul_rel_err']} != native portable {port['matmul_rel_err']}")
rel = max(abs(x - y) / abs(y) for k in ("cnn_loss", "mlp_loss")
          for x, y in zip(arm[k], nat[k]))
print(f"cross_aarch64: largest relative loss difference aarch64 vs native: {rel:.2e}", file=sys.stderr)
if bad:
    sys.exit("cross_aarch64: FAILED\n  " + "\n  ".join(bad))
EOF
fi
cat "$BUILD/smoke-aarch64.json"
