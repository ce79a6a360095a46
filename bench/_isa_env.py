"""`--isa {native,avx2,avx512,portable}` for the benches: caps both libraries to one ISA.

Must run before fusednet or torch is imported (both read their ISA caps once, at load):
fusednet honours FUSEDNET_ISA (csrc/cpu/isa.h), PyTorch ATEN_CPU_CAPABILITY (its own vectorised
ops) and ONEDNN_MAX_CPU_ISA (its oneDNN conv / matmul kernels). With `--isa avx2` on an AVX-512
host both sides run their AVX2 kernels, which is an indicative side-by-side for an AVX2 machine
only (same cores, caches and clocks as the host): label such figures "<host> with --isa avx2".

Example:
    import _isa_env; ISA = _isa_env.apply()   # first line of a bench, before numpy/torch/fusednet
"""
import os
import sys

_TORCH = {"avx2": ("avx2", "AVX2"), "avx512": ("avx512", "AVX512_CORE"), "portable": ("default", "SSE41")}


def apply(argv=None):
    """Reads `--isa X` (or `--isa=X`) from argv (sys.argv by default), sets the environment, and
    returns X ("native" when absent). The option stays in argv: the bench's argparse declares it
    too, so --help lists it."""
    argv = sys.argv if argv is None else argv
    isa = "native"
    for i, a in enumerate(argv):
        if a == "--isa" and i + 1 < len(argv):
            isa = argv[i + 1]
        elif a.startswith("--isa="):
            isa = a.split("=", 1)[1]
    if isa == "native":
        return isa
    if isa not in _TORCH:
        raise SystemExit(f"--isa must be native, avx2, avx512 or portable, got {isa!r}")
    if "torch" in sys.modules or "fusednet" in sys.modules:
        raise RuntimeError("_isa_env.apply() must run before torch / fusednet are imported")
    aten, onednn = _TORCH[isa]
    os.environ["FUSEDNET_ISA"] = isa
    os.environ["ATEN_CPU_CAPABILITY"] = aten
    os.environ["ONEDNN_MAX_CPU_ISA"] = onednn
    return isa


def add_argument(ap):
    """Declares --isa on an argparse parser (the value was already applied by apply())."""
    ap.add_argument("--isa", choices=["native", "avx2", "avx512", "portable"], default="native",
                    help="cap fusednet (FUSEDNET_ISA) and torch (ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA) "
                         "to one ISA; must be set at start-up, so it is read before the imports")


def describe():
    """One line naming both libraries' ISA caps, for the bench's header."""
    import torch
    from fusednet import _C
    try:
        cap = torch.backends.cpu.get_cpu_capability()
    except Exception:  # older torch
        cap = os.environ.get("ATEN_CPU_CAPABILITY", "?")
    return (f"isa: fusednet {_C.cpu_isa()} | torch ATen {cap}, oneDNN max "
            f"{os.environ.get('ONEDNN_MAX_CPU_ISA', 'native')}")
