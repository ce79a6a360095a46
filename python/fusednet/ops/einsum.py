"""``einsum``: Einstein summation as dispatch over existing differentiable ops.

No element loops: each pair of operands becomes transposes + reshapes around one (batched)
GEMM — the index letters shared by both operands and the output are the batch axes of
``_C.bmm``, the ones shared by both but not kept are the GEMM's K, the ones of one operand only
are its M or N — and a letter that appears in one operand only and not in the output is summed
first. More than two operands are contracted left to right. ``...`` stands for the leading
broadcast axes (NumPy rules). Not supported (ValueError): a letter repeated within one operand
(diagonals/traces, e.g. ``"ii->i"``).
"""
import string

from ..tensor import Tensor
from .core import float_tensor
from .gemm import matmul
from .layout import broadcast_to, reshape, transpose
from .reduce import sum as _sum

__all__ = ["einsum"]


def _parse(subscripts, ops_):
    s = subscripts.replace(" ", "")
    if "->" in s:
        lhs, out = s.split("->")
    else:
        lhs, out = s, None
    terms = lhs.split(",")
    if len(terms) != len(ops_):
        raise ValueError(f"einsum: '{subscripts}' names {len(terms)} operand(s), got {len(ops_)}")
    used = set(c for c in s if c.isalpha())
    free = [c for c in string.ascii_letters if c not in used]
    ell = max((t.ndim - (len(term) - 3) for term, t in zip(terms, ops_) if "..." in term), default=0)
    ell_letters = "".join(free[:ell])
    fixed = []
    for term, t in zip(terms, ops_):
        if term.count("...") > 1 or any(not (c.isalpha() or c == ".") for c in term):
            raise ValueError(f"einsum: bad subscripts '{subscripts}'")
        if "..." in term:
            n = t.ndim - (len(term) - 3)
            if n < 0:
                raise ValueError(f"einsum: operand of shape {t.shape} has fewer axes than '{term}'")
            term = term.replace("...", ell_letters[ell - n:])
        if len(term) != t.ndim:
            raise ValueError(f"einsum: '{term}' has {len(term)} letters for an operand of shape {t.shape}")
        if len(set(term)) != len(term):
            raise ValueError(f"einsum: repeated index within one operand ('{term}') is not supported")
        fixed.append(term)
    if out is None:  # implicit mode: letters seen once, alphabetical, after the ellipsis axes
        counts = {}
        for term in fixed:
            for c in term:
                counts[c] = counts.get(c, 0) + 1
        out = ell_letters + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell_letters))
    else:
        out = out.replace("...", ell_letters)
        if len(set(out)) != len(out) or any(c not in "".join(fixed) for c in out):
            raise ValueError(f"einsum: bad output subscripts in '{subscripts}'")
    return fixed, out


def _sizes(terms, ts, subscripts):
    size = {}
    for term, t in zip(terms, ts):
        for c, d in zip(term, t.shape):
            if size.get(c, 1) not in (1, d) and d != 1:
                raise ValueError(f"einsum: index '{c}' has sizes {size[c]} and {d} in '{subscripts}' "
                                 f"(shapes {[tuple(x.shape) for x in ts]})")
            size[c] = max(size.get(c, 1), d) if d != 0 else 0
    return size


def _sum_only(t, term, keep):
    """Sum the axes of t whose letters are not in ``keep``."""
    axes = [i for i, c in enumerate(term) if c not in keep]
    if not axes:
        return t, term
    return _sum(t, axis=tuple(axes)), "".join(c for c in term if c in keep)


def _permute(t, term, order):
    if term == order:
        return t
    return transpose(t, tuple(term.index(c) for c in order))


def _pair(a, ta, b, tb, keep, size):
    """Contract a (letters ta) with b (letters tb), keeping the letters in ``keep``."""
    batch = [c for c in ta if c in tb and c in keep]
    contr = [c for c in ta if c in tb and c not in keep]
    left = [c for c in ta if c not in tb]
    right = [c for c in tb if c not in ta]
    a = _permute(a, ta, "".join(batch + left + contr))
    b = _permute(b, tb, "".join(batch + contr + right))

    def prod(cs, t, off):
        n = 1
        for i in range(len(cs)):
            n *= t.shape[off + i]
        return n
    nb = len(batch)
    bsa = tuple(a.shape[:nb])
    bsb = tuple(b.shape[:nb])
    m, k = prod(left, a, nb), prod(contr, a, nb + len(left))
    kb, n = prod(contr, b, nb), prod(right, b, nb + len(contr))
    if k != kb:  # a contracted size-1 axis broadcasting against n: expand the 1 explicitly
        ksz = tuple(size[c] for c in contr)
        a = broadcast_to(a, bsa + tuple(a.shape[nb:nb + len(left)]) + ksz)
        b = broadcast_to(b, bsb + ksz + tuple(b.shape[nb + len(contr):]))
        k = kb = 1
        for v in ksz:
            k *= v
    a2 = reshape(a, bsa + (m, k))
    b2 = reshape(b, bsb + (k, n))
    c = matmul(a2, b2)  # nb == 0: one GEMM; else the batched GEMM over the (broadcast) batch axes
    bs = tuple(c.shape[:nb])
    c = reshape(c, bs + tuple(a.shape[nb:nb + len(left)]) + tuple(b.shape[nb + len(contr):]))
    return c, "".join(batch + left + right)


def einsum(subscripts, *operands):
    """Einstein summation over the operands, e.g. ``einsum("bij,bjk->bik", a, b)``.

    Args:
        subscripts: NumPy-style subscripts (explicit ``->`` or implicit mode, ``...`` allowed).
        *operands: tensor-likes.

    Returns:
        float32 Tensor; differentiable in every operand (its backward is the GEMMs', sums' and
        transposes' native backward kernels).

    Example:
        >>> ops.einsum("ij,jk->ik", ops.ones((2, 3)), ops.ones((3, 4))).shape
        (2, 4)
    """
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: subscripts must be a str, got {type(subscripts).__name__}")
    if not operands:
        raise ValueError("einsum: needs at least one operand")
    ts = [float_tensor(x, "einsum") for x in operands]
    terms, out = _parse(subscripts, ts)
    size = _sizes(terms, ts, subscripts)
    # letters still needed after operand i: by the output or by a later operand
    cur, ct = ts[0], terms[0]
    later = "".join(terms[1:]) + out
    cur, ct = _sum_only(cur, ct, later)
    for i in range(1, len(ts)):
        rest = "".join(terms[i + 1:]) + out
        b, tb = _sum_only(ts[i], terms[i], ct + rest)
        cur, ct = _pair(cur, ct, b, tb, rest, size)
    cur, ct = _sum_only(cur, ct, out)
    if ct != out:
        cur = _permute(cur, ct, out)
    want = tuple(size[c] for c in out)
    if tuple(cur.shape) != want:  # a size-1 axis that only the output keeps at full size
        cur = broadcast_to(cur, want)
    return cur if isinstance(cur, Tensor) else Tensor._wrap(cur)
