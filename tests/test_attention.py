"""Fused attention kernel (_C.attention_forward / attention_backward) vs a float64 NumPy softmax
reference, float64 finite differences and torch scaled_dot_product_attention; masks, dropout,
layouts, thread-count determinism, O(T) memory at T = 4096, errors, the CUDA twin. The layers
built on it are tested in tests/test_attention_layers.py."""
import os
import subprocess
import sys

import numpy as np
import pytest

import fusednet
from fusednet import _C
from conftest import requires_torch
from tolerances import TOL

A = _C.asarray


def close(got, want, key):
    r, a = TOL[key]
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64), rtol=r, atol=a)


def attn_ref(q, k, v, causal=False, scale=None, mask=None, drop=None):
    """float64 reference on [B, H, T, D]: (O, LSE, P). mask [B|1, Tq|1, Tk|1] (keep where > 0.5, else
    score -1e9 as Keras); drop: [B, H, Tq, Tk] keep/(1-rate) factors."""
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = np.einsum("bhid,bhjd->bhij", q, k) * scale
    Tq, Tk = s.shape[-2:]
    if mask is not None:
        s = np.where(np.asarray(mask)[:, None] > 0.5, s, -1e9)
    if causal:
        s = np.where(np.tril(np.ones((Tq, Tk), bool)), s, -np.inf)
    m = s.max(-1, keepdims=True)
    e = np.exp(s - m)
    lse = (m + np.log(e.sum(-1, keepdims=True)))[..., 0]
    p = e / e.sum(-1, keepdims=True)
    pd = p if drop is None else p * drop
    return np.einsum("bhij,bhjd->bhid", pd, v), lse, p


def qkv(rng, B, H, Tq, Tk, D, Dv, spread=1.0):
    q = (rng.standard_normal((B, H, Tq, D)) * spread).astype(np.float32)
    k = (rng.standard_normal((B, H, Tk, D)) * spread).astype(np.float32)
    v = rng.standard_normal((B, H, Tk, Dv)).astype(np.float32)
    return q, k, v


# (B, H, Tq, Tk, D, Dv): 1s, primes, sizes that are not multiples of the 32-row / 64-key blocks
SIZES = [(1, 1, 1, 1, 1, 1), (2, 3, 7, 13, 5, 3), (1, 2, 65, 129, 16, 16), (1, 1, 97, 31, 8, 11),
         (3, 1, 33, 64, 32, 32), (1, 1, 1, 200, 4, 4)]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("causal", [False, True])
def test_forward_vs_float64(rng, size, causal):
    q, k, v = qkv(rng, *size, spread=1.5)
    o, lse = _C.attention_forward(A(q), A(k), A(v), causal)
    o_ref, lse_ref, _ = attn_ref(q, k, v, causal)
    close(o, o_ref, "attention")
    close(lse, lse_ref, "attention")


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("causal", [False, True])
def test_backward_vs_float64_reference(rng, size, causal):
    """The kernel's gradients vs the analytic float64 gradient of the reference."""
    q, k, v = qkv(rng, *size)
    dO = rng.standard_normal(q.shape[:3] + (v.shape[-1],)).astype(np.float32)
    o, lse = _C.attention_forward(A(q), A(k), A(v), causal)
    dq, dk, dv = _C.attention_backward(A(dO), A(q), A(k), A(v), o, lse, causal)
    scale = 1.0 / np.sqrt(q.shape[-1])
    O, _, P = attn_ref(q, k, v, causal)
    g = dO.astype(np.float64)
    dV = np.einsum("bhij,bhid->bhjd", P, g)
    dP = np.einsum("bhid,bhjd->bhij", g, v.astype(np.float64))
    dS = P * (dP - (dP * P).sum(-1, keepdims=True))
    dQ = np.einsum("bhij,bhjd->bhid", dS, k.astype(np.float64)) * scale
    dK = np.einsum("bhij,bhid->bhjd", dS, q.astype(np.float64)) * scale
    close(dq, dQ, "attention")
    close(dk, dK, "attention")
    close(dv, dV, "attention")


def numgrad(f, arr):
    eps, g = TOL["fd_eps"], np.zeros_like(arr)
    flat = arr.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        lp = f()
        flat[i] = old - eps
        lm = f()
        flat[i] = old
        g.reshape(-1)[i] = (lp - lm) / (2 * eps)
    return g


@pytest.mark.parametrize("causal,masked", [(False, False), (True, False), (False, True), (True, True)])
def test_backward_finite_differences(rng, causal, masked):
    """Central differences of the float64 reference loss sum(O * dO) vs the kernel's gradients."""
    B, H, Tq, Tk, D, Dv = 1, 2, 5, 7, 3, 2
    q, k, v = qkv(rng, B, H, Tq, Tk, D, Dv)
    mask = (rng.random((B, Tq, Tk)) > 0.3).astype(np.float32) if masked else None
    dO = rng.standard_normal((B, H, Tq, Dv))
    q64, k64, v64 = (x.astype(np.float64) for x in (q, k, v))

    def loss():
        return float((attn_ref(q64, k64, v64, causal, mask=mask)[0] * dO).sum())

    grads = [numgrad(loss, x) for x in (q64, k64, v64)]
    o, lse = _C.attention_forward(A(q), A(k), A(v), causal, None, None if mask is None else A(mask))
    got = _C.attention_backward(A(dO.astype(np.float32)), A(q), A(k), A(v), o, lse, causal, None,
                                None if mask is None else A(mask))
    r, a = TOL["gradcheck_f32"]
    for g_fd, g in zip(grads, got):
        scale = max(np.abs(g_fd).max(), 1e-3)
        np.testing.assert_allclose(np.asarray(g) / scale, g_fd / scale, rtol=r, atol=a)


@requires_torch
@pytest.mark.parametrize("size", [(2, 3, 7, 13, 5, 3), (1, 2, 65, 129, 16, 16), (2, 2, 100, 100, 32, 32),
                                  (1, 1, 1, 1, 1, 1)])
@pytest.mark.parametrize("causal", [False, True])
def test_vs_torch_sdpa(rng, size, causal):
    import torch
    import torch.nn.functional as F
    q, k, v = qkv(rng, *size)
    dO = rng.standard_normal(q.shape[:3] + (v.shape[-1],)).astype(np.float32)
    tq, tk, tv = (torch.tensor(x, requires_grad=True) for x in (q, k, v))
    ot = F.scaled_dot_product_attention(tq, tk, tv, is_causal=causal)
    ot.backward(torch.tensor(dO))
    o, lse = _C.attention_forward(A(q), A(k), A(v), causal)
    dq, dk, dv = _C.attention_backward(A(dO), A(q), A(k), A(v), o, lse, causal)
    close(o, ot.detach().numpy(), "torch_attention")
    for got, t in ((dq, tq), (dk, tk), (dv, tv)):
        close(got, t.grad.numpy(), "torch_attention")


@requires_torch
def test_vs_torch_sdpa_mask_and_scale(rng):
    import torch
    import torch.nn.functional as F
    q, k, v = qkv(rng, 2, 2, 9, 70, 8, 8)
    mask = rng.random((2, 9, 70)) > 0.4
    mask[:, :, 0] = True  # no fully masked row (torch gives NaN there, Keras a uniform average)
    tq, tk, tv = (torch.tensor(x, requires_grad=True) for x in (q, k, v))
    ot = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=torch.tensor(mask)[:, None], scale=0.3)
    dO = rng.standard_normal(ot.shape).astype(np.float32)
    ot.backward(torch.tensor(dO))
    m = A(mask.astype(np.float32))
    o, lse = _C.attention_forward(A(q), A(k), A(v), False, 0.3, m)
    grads = _C.attention_backward(A(dO), A(q), A(k), A(v), o, lse, False, 0.3, m)
    close(o, ot.detach().numpy(), "torch_attention")
    for got, t in zip(grads, (tq, tk, tv)):
        close(got, t.grad.numpy(), "torch_attention")


@pytest.mark.parametrize("mshape", [(2, 6, 11), (2, 1, 11), (1, 6, 11), (6, 11), (1, 1, 1)])
def test_mask_broadcast(rng, mshape):
    q, k, v = qkv(rng, 2, 3, 6, 11, 4, 5)
    mask = (rng.random(mshape) > 0.3).astype(np.float32)
    m3 = mask.reshape((1,) * (3 - mask.ndim) + mask.shape)
    o, lse = _C.attention_forward(A(q), A(k), A(v), False, None, A(mask))
    o_ref, lse_ref, _ = attn_ref(q, k, v, mask=m3)
    close(o, o_ref, "attention")
    close(lse, lse_ref, "attention")


def test_fully_masked_row_is_uniform_like_keras(rng):
    """Keras's masked softmax replaces masked scores by -1e9: a row with no visible key averages V."""
    q, k, v = qkv(rng, 1, 1, 3, 5, 4, 2)
    mask = np.ones((1, 3, 5), np.float32)
    mask[0, 1] = 0.0
    o, _ = _C.attention_forward(A(q), A(k), A(v), False, None, A(mask))
    close(np.asarray(o)[0, 0, 1], v[0, 0].astype(np.float64).mean(0), "attention")
    assert np.all(np.isfinite(np.asarray(o)))


@pytest.mark.parametrize("causal", [False, True])
def test_layout_bthd_matches_bhtd(rng, causal):
    q, k, v = qkv(rng, 2, 3, 37, 70, 8, 5)
    dO = rng.standard_normal((2, 3, 37, 5)).astype(np.float32)
    o, lse = _C.attention_forward(A(q), A(k), A(v), causal)
    g = _C.attention_backward(A(dO), A(q), A(k), A(v), o, lse, causal)
    t = lambda x: np.ascontiguousarray(x.transpose(0, 2, 1, 3))  # noqa: E731
    o2, lse2 = _C.attention_forward(A(t(q)), A(t(k)), A(t(v)), causal, None, None, 0.0, 0, 0, "bthd")
    g2 = _C.attention_backward(A(t(dO)), A(t(q)), A(t(k)), A(t(v)), o2, lse2, causal, None, None, 0.0, 0, 0,
                               "bthd")
    np.testing.assert_array_equal(t(np.asarray(o)), np.asarray(o2))
    np.testing.assert_array_equal(np.asarray(lse), np.asarray(lse2))
    for a, b in zip(g, g2):
        np.testing.assert_array_equal(t(np.asarray(a)), np.asarray(b))


@requires_torch
@pytest.mark.parametrize("causal", [False, True])
def test_dropout_matches_explicit_mask(rng, causal):
    """Dropout decisions are Philox element ((b*H+h)*Tq+i)*Tk+j of (seed, offset) with dropout_forward's
    rule, so _C.dropout_forward on ones gives the same mask; forward and backward vs torch autograd."""
    import torch
    B, H, Tq, Tk, D = 2, 2, 19, 70, 8
    q, k, v = qkv(rng, B, H, Tq, Tk, D, D)
    rate, seed, off = 0.3, 1234, 7
    _, keep = _C.dropout_forward(A(np.ones((B, H, Tq, Tk), np.float32)), rate, seed, off)
    keep = np.asarray(keep)
    o, lse = _C.attention_forward(A(q), A(k), A(v), causal, None, None, rate, seed, off)
    o_ref, lse_ref, _ = attn_ref(q, k, v, causal, drop=keep)
    close(o, o_ref, "attention")
    close(lse, lse_ref, "attention")   # the log-sum-exp is of the undropped scores
    tq, tk, tv = (torch.tensor(x, requires_grad=True) for x in (q, k, v))
    s = tq @ tk.transpose(-1, -2) / np.sqrt(D)
    if causal:
        s = s.masked_fill(~torch.ones(Tq, Tk, dtype=torch.bool).tril(), float("-inf"))
    ot = (torch.softmax(s, -1) * torch.tensor(keep)) @ tv
    dO = rng.standard_normal(ot.shape).astype(np.float32)
    ot.backward(torch.tensor(dO))
    grads = _C.attention_backward(A(dO), A(q), A(k), A(v), o, lse, causal, None, None, rate, seed, off)
    for got, t in zip(grads, (tq, tk, tv)):
        close(got, t.grad.numpy(), "torch_attention")
    o_again, _ = _C.attention_forward(A(q), A(k), A(v), causal, None, None, rate, seed, off)
    np.testing.assert_array_equal(np.asarray(o), np.asarray(o_again))
    o_other, _ = _C.attention_forward(A(q), A(k), A(v), causal, None, None, rate, seed, off + 1)
    assert not np.array_equal(np.asarray(o), np.asarray(o_other))


@pytest.mark.parametrize("causal", [False, True])
def test_thread_count_bitwise(rng, causal):
    q, k, v = qkv(rng, 2, 3, 150, 170, 16, 16)
    dO = rng.standard_normal((2, 3, 150, 16)).astype(np.float32)
    mask = A((rng.random((2, 150, 170)) > 0.2).astype(np.float32))
    n0, res = fusednet.get_num_threads(), []
    try:
        for nt in (1, 2, 3):
            fusednet.set_num_threads(nt)
            o, lse = _C.attention_forward(A(q), A(k), A(v), causal, None, mask, 0.1, 5, 0)
            g = _C.attention_backward(A(dO), A(q), A(k), A(v), o, lse, causal, None, mask, 0.1, 5, 0)
            res.append([np.asarray(x) for x in (o, lse, *g)])
    finally:
        fusednet.set_num_threads(n0)
    for other in res[1:]:
        for a, b in zip(res[0], other):
            np.testing.assert_array_equal(a, b)


def test_causal_ignores_future_keys(rng):
    """Causal: changing keys/values after position 70 leaves rows < 70 bitwise unchanged (masked
    scores give exact zeros), and NaN keys/values beyond the first 64-row query tile never reach
    its rows: key blocks above the diagonal are not read at all."""
    q, k, v = qkv(rng, 1, 2, 200, 200, 8, 8)
    dO = rng.standard_normal((1, 2, 200, 8)).astype(np.float32)
    o, lse = _C.attention_forward(A(q), A(k), A(v), True)
    dq, _, _ = _C.attention_backward(A(dO), A(q), A(k), A(v), o, lse, True)
    k2, v2 = k.copy(), v.copy()
    k2[:, :, 70:] = 1e4
    v2[:, :, 70:] = -3e4
    o2, lse2 = _C.attention_forward(A(q), A(k2), A(v2), True)
    dq2, _, _ = _C.attention_backward(A(dO), A(q), A(k2), A(v2), o2, lse2, True)
    np.testing.assert_array_equal(np.asarray(o)[:, :, :70], np.asarray(o2)[:, :, :70])
    np.testing.assert_array_equal(np.asarray(dq)[:, :, :70], np.asarray(dq2)[:, :, :70])
    k2[:, :, 64:] = np.nan
    v2[:, :, 64:] = np.nan
    o3, _ = _C.attention_forward(A(q), A(k2), A(v2), True)
    np.testing.assert_array_equal(np.asarray(o)[:, :, :64], np.asarray(o3)[:, :, :64])


def test_empty_and_degenerate_sizes(rng):
    q, k, v = qkv(rng, 0, 2, 4, 5, 3, 3)
    o, lse = _C.attention_forward(A(q), A(k), A(v))
    assert tuple(o.shape) == (0, 2, 4, 3) and tuple(lse.shape) == (0, 2, 4)
    q, k, v = qkv(rng, 1, 1, 0, 5, 3, 3)
    o, lse = _C.attention_forward(A(q), A(k), A(v))
    dq, dk, dv = _C.attention_backward(A(np.zeros((1, 1, 0, 3), np.float32)), A(q), A(k), A(v), o, lse)
    assert tuple(dq.shape) == (1, 1, 0, 3)
    np.testing.assert_array_equal(np.asarray(dk), 0)
    np.testing.assert_array_equal(np.asarray(dv), 0)


@pytest.mark.parametrize("args,msg", [
    (((2, 2, 4, 8), (2, 2, 5, 7), (2, 2, 5, 8)), "same last dimension"),
    (((2, 2, 4, 8), (2, 2, 5, 8), (2, 2, 6, 8)), "same number of keys"),
    (((2, 2, 4, 8), (2, 3, 5, 8), (2, 3, 5, 8)), "batch and heads"),
    (((2, 4, 8), (2, 5, 8), (2, 5, 8)), "rank 4"),
    (((1, 1, 3, 2), (1, 1, 0, 2), (1, 1, 0, 2)), "zero keys"),
    (((1, 1, 3, 0), (1, 1, 4, 0), (1, 1, 4, 2)), "head sizes"),
])
def test_errors_name_op_and_shapes(args, msg):
    q, k, v = (A(np.zeros(s, np.float32)) for s in args)
    with pytest.raises(ValueError, match=msg) as e:
        _C.attention_forward(q, k, v)
    assert "attention_forward" in str(e.value)


def test_errors_mask_dropout_layout_dtype():
    q = A(np.zeros((2, 2, 4, 8), np.float32))
    with pytest.raises(ValueError, match=r"attention_forward: mask \(2, 3, 5\) does not broadcast"):
        _C.attention_forward(q, q, q, False, None, A(np.ones((2, 3, 5), np.float32)))
    with pytest.raises(ValueError, match="dropout rate"):
        _C.attention_forward(q, q, q, False, None, None, 1.0)
    with pytest.raises(ValueError, match="layout"):
        _C.attention_forward(q, q, q, False, None, None, 0.0, 0, 0, "tbhd")
    with pytest.raises(TypeError):
        _C.attention_forward(A(np.zeros((2, 2, 4, 8), np.int64)), q, q)
    o, lse = _C.attention_forward(q, q, q)
    with pytest.raises(ValueError, match="attention_backward: lse"):
        _C.attention_backward(o, q, q, q, o, A(np.zeros((2, 2, 5), np.float32)))


_MEM_SCRIPT = r"""
import resource, sys, numpy as np
import fusednet
from fusednet import _C
B, H, T, D = 1, 4, 4096, 32
rng = np.random.default_rng(0)
q, k, v, dO = (_C.asarray(rng.standard_normal((B, H, T, D)).astype(np.float32)) for _ in range(4))
s = [_C.asarray(np.ascontiguousarray(np.asarray(x)[:, :, :64])) for x in (q, k, v, dO)]
o, lse = _C.attention_forward(s[0], s[1], s[2])      # warm up (code pages, pool threads) at T = 64
_C.attention_backward(s[3], s[0], s[1], s[2], o, lse)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
o, lse = _C.attention_forward(q, k, v, False)
g = _C.attention_backward(dO, q, k, v, o, lse, False)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(peak - base, float(np.asarray(g[0]).std()))
"""


def test_memory_is_linear_in_T_at_4096():
    """Forward + backward at T = 4096 (B=1, H=4, D=32, not causal) in a fresh process: the peak RSS
    grows by the outputs (o, lse, dq, dk, dv: ~8 MiB) and per-task scratch, far less than one
    T x T float32 score matrix (64 MiB per head, 256 MiB for the four)."""
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(fusednet.__file__)))
    out = subprocess.run([sys.executable, "-c", _MEM_SCRIPT], capture_output=True, text=True, env=env,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    grown, std = out.stdout.split()
    T = 4096
    assert int(grown) < T * T * 4 // 4, f"peak RSS grew by {int(grown) / 2**20:.1f} MiB"
    assert float(std) > 0


@pytest.mark.cuda
@pytest.mark.parametrize("causal,masked,rate,layout", [(False, False, 0.0, "bhtd"), (True, False, 0.0, "bthd"),
                                                       (False, True, 0.2, "bhtd"), (True, True, 0.1, "bthd")])
def test_cuda_twin_matches_cpu(rng, causal, masked, rate, layout):
    """The CUDA kernels against the CPU ones (same mask rule, same Philox dropout decisions)."""
    B, H, Tq, Tk, D, Dv = 2, 3, 67, 131, 40, 24
    shp = (lambda T, X: (B, H, T, X)) if layout == "bhtd" else (lambda T, X: (B, T, H, X))
    q, k, v, dO = (rng.standard_normal(s).astype(np.float32)
                   for s in (shp(Tq, D), shp(Tk, D), shp(Tk, Dv), shp(Tq, Dv)))
    mask = (rng.random((B, Tq, Tk)) > 0.3).astype(np.float32) if masked else None
    args = (causal, None, None if mask is None else A(mask), rate, 9, 2, layout)
    o, lse = _C.attention_forward(A(q), A(k), A(v), *args)
    g = _C.attention_backward(A(dO), A(q), A(k), A(v), o, lse, *args)
    cu = lambda x: A(x).to("cuda")  # noqa: E731
    cargs = (causal, None, None if mask is None else cu(mask), rate, 9, 2, layout)
    oc, lsec = _C.attention_forward(cu(q), cu(k), cu(v), *cargs)
    gc = _C.attention_backward(cu(dO), cu(q), cu(k), cu(v), oc, lsec, *cargs)
    for a, b in zip((o, lse, *g), (oc, lsec, *gc)):
        close(np.asarray(b.to("cpu")), np.asarray(a), "cuda_vs_cpu")
