"""The ISA rule (csrc/cpu/isa.h): AVX2/AVX-512 code is reachable only through CPUID dispatch.

Two checks, both of which fail on the module that crashed with SIGILL on Zen 3 (issue 16):
1. Static: every function of the built module that holds VEX/EVEX instructions carries an ISA
   name (tools/isa_check.py); a shared template instantiated under AVX-512 does not.
2. Dynamic: the smoke suite (tests/smoke/isa_smoke.py) runs under qemu-x86_64 emulating CPUs
   without AVX-512 (Zen 3, Haswell) and without AVX (Nehalem); it must exit cleanly, pick the
   expected kernels and give the same numbers as the native run.
3. Non-x86 (issue 16, item 3): tools/cross_aarch64.sh cross-builds the module for aarch64, where
   the ISA files are left out, and the same smoke suite runs on it under qemu-aarch64.
"""
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fusednet

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "tests" / "smoke" / "isa_smoke.py"
sys.path.insert(0, str(ROOT / "tools"))
import isa_check  # noqa: E402

x86 = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 ISA check")
QEMU = shutil.which("qemu-x86_64")
CROSS = ROOT / "tools" / "cross_aarch64.sh"
AARCH64_SYSROOT = Path(os.environ.get("FN_AARCH64_SYSROOT", ROOT / "build" / "aarch64-sysroot"))


def _run_smoke(prefix=(), isa=None, timeout=600):
    env = dict(os.environ)
    env.pop("FUSEDNET_ISA", None)
    if isa:
        env["FUSEDNET_ISA"] = isa
    pkg_root = str(Path(fusednet.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([pkg_root] + [p for p in sys.path if p])
    env["OMP_NUM_THREADS"] = "2"
    proc = subprocess.run([*prefix, sys.executable, str(SMOKE)], env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"smoke suite under {' '.join(prefix) or 'the host CPU'} exited {proc.returncode} "
        f"(132 = SIGILL)\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


@x86
def test_module_obeys_isa_rule():
    found = isa_check.scan(fusednet._C.__file__)
    assert any("avx2" in f.lower() for f in found), "no AVX2 kernels found: checker is blind"
    bad = isa_check.violations(found)
    assert not bad, "ISA-specific code outside ISA-named functions:\n" + "\n".join(bad[:40])


@x86
def test_checker_flags_leaked_instantiation():
    # The very symbol that crashed: a shared STL constructor holding EVEX code.
    leaked = {"std::vector<long, std::allocator<long> >::vector(unsigned long)": {"evex", "vex"},
              "fusednet::cpu::gemm_detail::ukernel_avx2(int)": {"evex"},
              "fusednet::cpu::avx512::(anonymous namespace)::tile<2>()": {"evex"},
              "fusednet::cpu::avx2::act_fwd(float*)": {"vex"}}
    bad = isa_check.violations(leaked)
    assert len(bad) == 2
    assert any("std::vector" in b for b in bad) and any("ukernel_avx2" in b for b in bad)
    assert isa_check.classify(["62", "f1", "7c", "48", "58", "c1"]) == "evex"   # vaddps zmm
    assert isa_check.classify(["c5", "fc", "58", "c1"]) == "vex"                # vaddps ymm
    assert isa_check.classify(["0f", "58", "c1"]) == ""                         # addps xmm
    assert isa_check.classify(["67", "62", "f1"]) == "evex"


@pytest.fixture(scope="module")
def native_smoke():
    return _run_smoke()


def test_smoke_native(native_smoke):
    assert native_smoke["matmul_rel_err"] < 1e-5
    assert all(v == v and 0 < v < 10 for v in native_smoke["cnn_loss"] + native_smoke["mlp_loss"])


def _assert_matches_native(res, native, where):
    assert res["matmul_rel_err"] < 1e-5, (where, res)
    for key in ("cnn_loss", "mlp_loss"):
        assert len(res[key]) == len(native[key]), (where, key)
        for a, b in zip(res[key], native[key]):
            assert abs(a - b) <= 1e-4 * abs(b), (where, key, res[key], native[key])
    assert abs(res["cnn_pred"] - native["cnn_pred"]) <= 1e-4 * abs(native["cnn_pred"]), (where, res)


@x86
@pytest.mark.skipif(QEMU is None, reason="qemu-x86_64 not installed (Debian package qemu-user)")
@pytest.mark.parametrize("cpu,isa", [("EPYC-Milan", "avx2"), ("Haswell", "avx2"),
                                     ("Nehalem", "portable")])
def test_smoke_under_emulated_cpu(native_smoke, cpu, isa):
    res = _run_smoke(prefix=(QEMU, "-cpu", cpu))
    assert res["isa"] == isa
    _assert_matches_native(res, native_smoke, cpu)


def _cross_missing():
    tools = {"aarch64-linux-gnu-g++": "Debian package g++-aarch64-linux-gnu",
             "qemu-aarch64": "Debian package qemu-user", "cmake": "pip install cmake"}
    missing = [f"{t} ({how})" for t, how in tools.items() if shutil.which(t) is None]
    if shutil.which("ninja") is None and shutil.which("make") is None:
        missing.append("ninja or make")
    if importlib.util.find_spec("pybind11") is None:
        missing.append("pybind11 (pip install pybind11: its headers and CMake config)")
    if not (AARCH64_SYSROOT / ".fusednet-sysroot").is_file():
        missing.append(f"the aarch64 sysroot {AARCH64_SYSROOT} (`tools/cross_aarch64.sh --sysroot`)")
    return missing


@pytest.mark.skipif(bool(_cross_missing()), reason="aarch64 cross check needs " + "; ".join(_cross_missing()))
def test_aarch64_cross_build_and_smoke(native_smoke):
    # Builds from this checkout's csrc/ (incremental in build/cross-aarch64; JOBS build jobs,
    # default 1), so an x86 intrinsic leaking into a generic file fails here as a compile error,
    # and a kernel that computes differently on aarch64 fails the comparison with the native run.
    # Non-x86 builds use -ffp-contract=off (CMakeLists.txt), so the aarch64 module performs the
    # same IEEE operations as x86's portable path: its numbers must be the same bits.
    env = dict(os.environ, JOBS=os.environ.get("JOBS", "1"), PYTHON=sys.executable,
               FN_AARCH64_SYSROOT=str(AARCH64_SYSROOT))
    proc = subprocess.run(["bash", str(CROSS), "--no-native"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"tools/cross_aarch64.sh exited {proc.returncode}\n{proc.stderr[-6000:]}"
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["isa"] == "portable"
    _assert_matches_native(res, native_smoke, "aarch64 (qemu)")
    portable = _run_smoke(isa="portable")
    for key in ("matmul_rel_err", "cnn_loss", "cnn_pred", "mlp_loss"):
        assert res[key] == portable[key], (
            f"{key}: aarch64 {res[key]} != x86 FUSEDNET_ISA=portable {portable[key]} (not bitwise: "
            "FMA contraction back on, or a kernel whose maths depends on the architecture or libm)")
