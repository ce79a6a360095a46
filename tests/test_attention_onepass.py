"""The one-pass attention backward (csrc/cpu/attention.cpp backward_one_pass: one task per (b, h),
every tile recomputed once for dQ, dK and dV; taken when B*H >= 8 and Tk*(D+Dv) <= 65536) vs
the float64 reference, float64 finite differences, torch autograd (masks, dropout), the two-pass
path on the same heads, and across thread counts. The two-pass path is tested in
tests/test_attention.py (all of its sizes have B*H < 8)."""
import numpy as np
import pytest

import fusednet
from fusednet import _C
from conftest import requires_torch
from test_attention import attn_ref, close, numgrad, qkv
from tolerances import TOL

A = _C.asarray

# (B, H, Tq, Tk, D, Dv), all with B*H >= 8: 1s, primes, T not a multiple of the 64-row / 128-key
# tiles, several key blocks (Tk > 128), GPT-mini's head (T 128, D 32), Tq != Tk both ways.
SIZES = [(8, 1, 1, 1, 1, 1), (3, 3, 7, 13, 5, 3), (2, 4, 65, 129, 16, 16), (1, 11, 97, 31, 8, 11),
         (4, 2, 131, 131, 32, 32), (2, 4, 128, 128, 32, 32), (1, 8, 200, 67, 4, 4), (2, 5, 1, 300, 8, 8)]


def ref_grads(q, k, v, dO, causal, mask=None, drop=None):
    """Analytic float64 gradients of sum(O * dO) through the reference."""
    scale = 1.0 / np.sqrt(q.shape[-1])
    _, _, P = attn_ref(q, k, v, causal, mask=mask)
    Pd = P if drop is None else P * drop
    g = dO.astype(np.float64)
    dV = np.einsum("bhij,bhid->bhjd", Pd, g)
    dP = np.einsum("bhid,bhjd->bhij", g, v.astype(np.float64))
    if drop is not None:
        dP = dP * drop
    dS = P * (dP - (dP * P).sum(-1, keepdims=True))
    dQ = np.einsum("bhij,bhjd->bhid", dS, k.astype(np.float64)) * scale
    dK = np.einsum("bhij,bhid->bhjd", dS, q.astype(np.float64)) * scale
    return dQ, dK, dV


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("causal", [False, True])
def test_one_pass_vs_float64(rng, size, causal):
    q, k, v = qkv(rng, *size)
    dO = rng.standard_normal(q.shape[:3] + (v.shape[-1],)).astype(np.float32)
    o, lse = _C.attention_forward(A(q), A(k), A(v), causal)
    got = _C.attention_backward(A(dO), A(q), A(k), A(v), o, lse, causal)
    for g, want in zip(got, ref_grads(q, k, v, dO, causal)):
        close(g, want, "attention")


@pytest.mark.parametrize("causal,masked", [(False, False), (True, False), (False, True), (True, True)])
def test_one_pass_finite_differences(rng, causal, masked):
    B, H, Tq, Tk, D, Dv = 2, 4, 5, 7, 3, 2
    q, k, v = qkv(rng, B, H, Tq, Tk, D, Dv)
    mask = (rng.random((B, Tq, Tk)) > 0.3).astype(np.float32) if masked else None
    dO = rng.standard_normal((B, H, Tq, Dv))
    q64, k64, v64 = (x.astype(np.float64) for x in (q, k, v))

    def loss():
        return float((attn_ref(q64, k64, v64, causal, mask=mask)[0] * dO).sum())

    grads = [numgrad(loss, x) for x in (q64, k64, v64)]
    m = None if mask is None else A(mask)
    o, lse = _C.attention_forward(A(q), A(k), A(v), causal, None, m)
    got = _C.attention_backward(A(dO.astype(np.float32)), A(q), A(k), A(v), o, lse, causal, None, m)
    r, a = TOL["gradcheck_f32"]
    for g_fd, g in zip(grads, got):
        s = max(np.abs(g_fd).max(), 1e-3)
        np.testing.assert_allclose(np.asarray(g) / s, g_fd / s, rtol=r, atol=a)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("layout", ["bhtd", "bthd"])
def test_one_pass_matches_two_pass(rng, causal, layout):
    """Each (b, h) alone (B = H = 1: the two-pass path) against the batched one-pass call."""
    B, H, Tq, Tk, D = 2, 4, 150, 140, 16
    q, k, v = qkv(rng, B, H, Tq, Tk, D, D)
    dO = rng.standard_normal((B, H, Tq, D)).astype(np.float32)
    mask = (rng.random((B, Tq, Tk)) > 0.2).astype(np.float32)
    tr = (lambda x: np.ascontiguousarray(x.transpose(0, 2, 1, 3))) if layout == "bthd" else (lambda x: x)
    o, lse = _C.attention_forward(A(tr(q)), A(tr(k)), A(tr(v)), causal, None, A(mask), 0.0, 0, 0, layout)
    got = [np.asarray(g) for g in _C.attention_backward(A(tr(dO)), A(tr(q)), A(tr(k)), A(tr(v)), o, lse, causal,
                                                          None, A(mask), 0.0, 0, 0, layout)]
    if layout == "bthd":
        got = [g.transpose(0, 2, 1, 3) for g in got]
    for b in range(B):
        for h in range(H):
            sl = (slice(b, b + 1), slice(h, h + 1))
            qs, ks, vs, ds = (np.ascontiguousarray(x[sl]) for x in (q, k, v, dO))
            o1, l1 = _C.attention_forward(A(qs), A(ks), A(vs), causal, None, A(mask[b:b + 1]))
            one = _C.attention_backward(A(ds), A(qs), A(ks), A(vs), o1, l1, causal, None, A(mask[b:b + 1]))
            for g, w in zip(got, one):
                close(g[sl], w, "attention_paths")


@requires_torch
@pytest.mark.parametrize("causal", [False, True])
def test_one_pass_dropout_and_mask_vs_torch(rng, causal):
    import torch
    B, H, Tq, Tk, D = 2, 4, 37, 70, 8
    q, k, v = qkv(rng, B, H, Tq, Tk, D, D)
    mask = (rng.random((B, 1, Tk)) > 0.25).astype(np.float32)
    rate, seed, off = 0.2, 99, 3
    _, keep = _C.dropout_forward(A(np.ones((B, H, Tq, Tk), np.float32)), rate, seed, off)
    keep = np.asarray(keep)
    o, lse = _C.attention_forward(A(q), A(k), A(v), causal, None, A(mask), rate, seed, off)
    tq, tk, tv = (torch.tensor(x, requires_grad=True) for x in (q, k, v))
    s = (tq @ tk.transpose(-1, -2) / np.sqrt(D)).masked_fill(torch.tensor(mask[:, None] <= 0.5), -1e9)
    if causal:
        s = s.masked_fill(~torch.ones(Tq, Tk, dtype=torch.bool).tril(), float("-inf"))
    ot = (torch.softmax(s, -1) * torch.tensor(keep)) @ tv
    close(o, ot.detach().numpy(), "torch_attention")
    dO = rng.standard_normal(ot.shape).astype(np.float32)
    ot.backward(torch.tensor(dO))
    got = _C.attention_backward(A(dO), A(q), A(k), A(v), o, lse, causal, None, A(mask), rate, seed, off)
    for g, t in zip(got, (tq, tk, tv)):
        close(g, t.grad.numpy(), "torch_attention")


@pytest.mark.parametrize("causal", [False, True])
def test_one_pass_thread_count_bitwise(rng, causal):
    q, k, v = qkv(rng, 3, 4, 150, 170, 16, 16)
    dO = rng.standard_normal((3, 4, 150, 16)).astype(np.float32)
    mask = A((rng.random((3, 150, 170)) > 0.2).astype(np.float32))
    n0, res = fusednet.get_num_threads(), []
    try:
        for nt in (1, 2, 3):
            fusednet.set_num_threads(nt)
            o, lse = _C.attention_forward(A(q), A(k), A(v), causal, None, mask, 0.1, 5, 0)
            res.append([np.asarray(x) for x in
                        _C.attention_backward(A(dO), A(q), A(k), A(v), o, lse, causal, None, mask, 0.1, 5, 0)])
    finally:
        fusednet.set_num_threads(n0)
    for other in res[1:]:
        for a, b in zip(res[0], other):
            np.testing.assert_array_equal(a, b)


def test_one_pass_causal_unreached_keys_are_zero(rng):
    """Causal with Tk > Tq: keys j >= Tq are seen by no query, their dK, dV are exact zeros."""
    q, k, v = qkv(rng, 2, 4, 40, 100, 8, 8)
    dO = rng.standard_normal((2, 4, 40, 8)).astype(np.float32)
    o, lse = _C.attention_forward(A(q), A(k), A(v), True)
    dq, dk, dv = (np.asarray(g) for g in _C.attention_backward(A(dO), A(q), A(k), A(v), o, lse, True))
    assert not dk[:, :, 40:].any() and not dv[:, :, 40:].any()
    assert np.abs(dk[:, :, :40]).max() > 0 and np.abs(dv[:, :, :40]).max() > 0
