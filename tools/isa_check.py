"""Checks the ISA rule of csrc/cpu/isa.h on a built fusednet module (x86-64 only).

Disassembles the module with objdump and classifies every instruction by its encoding: a VEX
prefix (c4/c5) means AVX/AVX2/FMA, an EVEX prefix (62) means AVX-512 (in 64-bit mode these bytes
have no other meaning). A function that holds either must carry its ISA in its (demangled) name:
an `avx2` / `avx512` namespace or suffix, as isa.h prescribes; AVX2 functions must hold no EVEX.
A shared inline function or template instantiated under AVX-512 (the SIGILL of issue 16:
std::vector<long>::vector compiled with -mavx512f and kept for the whole module) breaks the rule.

    python3 tools/isa_check.py [path/to/_C*.so]     exit 1 and a list when the rule is broken
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

_FUNC = re.compile(r"^[0-9a-f]+ <(.+)>:$")
_PREFIXES = {"26", "2e", "36", "3e", "64", "65", "67", "f0"}


def classify(hex_bytes: list[str]) -> str:
    """'evex', 'vex' or '' for one instruction given as hex byte strings."""
    i = 0
    while i < len(hex_bytes) and hex_bytes[i] in _PREFIXES:
        i += 1
    if i >= len(hex_bytes):
        return ""
    b = hex_bytes[i]
    if b == "62":
        return "evex"
    if b in ("c4", "c5"):
        return "vex"
    return ""


def scan(so_path: str) -> dict[str, set[str]]:
    """Function name -> set of wide encodings ('vex', 'evex') it contains."""
    objdump = shutil.which("objdump")
    if objdump is None:
        raise RuntimeError("objdump not found (Debian package binutils)")
    raw = subprocess.run([objdump, "-d", "-C", "-w", so_path], capture_output=True, text=True,
                         check=True).stdout
    found: dict[str, set[str]] = {}
    func = None
    for line in raw.splitlines():
        m = _FUNC.match(line)
        if m:
            func = m.group(1)
            continue
        if func is None or "\t" not in line:
            continue
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        kind = classify(parts[1].split())
        if kind:
            found.setdefault(func, set()).add(kind)
    if not found or any("@@Base" in f for f in found):
        raise RuntimeError(f"{so_path}: no symbol table to check (stripped module?)")
    return found


def violations(found: dict[str, set[str]]) -> list[str]:
    bad = []
    for func, kinds in sorted(found.items()):
        low = func.lower()
        if "avx512" in low:
            continue
        if "avx2" in low:
            if "evex" in kinds:
                bad.append(f"AVX-512 (EVEX) code in an AVX2 function: {func}")
            continue
        bad.append(f"{'/'.join(sorted(kinds)).upper()} code outside any ISA-named function: {func}")
    return bad


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        so = argv[1]
    else:
        import fusednet._C as C
        so = C.__file__
    found = scan(so)
    bad = violations(found)
    print(f"{so}: {len(found)} functions hold VEX/EVEX code, {len(bad)} break the ISA rule")
    for b in bad:
        print("  " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
