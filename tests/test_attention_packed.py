"""Packed self-attention: _C.attention_forward_packed / attention_backward_packed read q, k, v in
place from one [B, T, 3, H, D] buffer (the fused QKV projection's output) and write dq, dk, dv into
one such gradient; MultiHeadAttention takes that path when query, value (and key) are one array.
Checked against the float64 reference, finite differences, the separate-array kernel (both backward
paths), real Keras 3 with copied weights, the unpacked layer path, and plan == tape."""
import os

import numpy as np
import pytest

import fusednet
from fusednet import _C
from test_attention import attn_ref, close, numgrad
from test_attention_onepass import ref_grads
from tolerances import TOL

A = _C.asarray

# (B, T, H, D): 1s, primes, T not a multiple of the tiles, B*H < 8 (two-pass backward) and >= 8
SIZES = [(1, 1, 1, 1), (2, 7, 3, 5), (1, 65, 2, 16), (3, 97, 1, 8), (2, 131, 4, 32), (16, 128, 4, 32)]


def split(qkv):
    """[B, T, 3, H, D] -> q, k, v as [B, H, T, D] float arrays (the reference's layout)."""
    return [np.ascontiguousarray(qkv[:, :, i].transpose(0, 2, 1, 3)) for i in range(3)]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("causal", [False, True])
def test_packed_vs_float64_and_separate(rng, size, causal):
    B, T, H, D = size
    qkv = rng.standard_normal((B, T, 3, H, D)).astype(np.float32)
    q, k, v = split(qkv)
    dO = rng.standard_normal((B, T, H, D)).astype(np.float32)
    o, lse = _C.attention_forward_packed(A(qkv), causal)
    o_ref, lse_ref, _ = attn_ref(q, k, v, causal)
    close(np.asarray(o).transpose(0, 2, 1, 3), o_ref, "attention")
    close(lse, lse_ref, "attention")
    g = np.asarray(_C.attention_backward_packed(A(dO), A(qkv), o, lse, causal))
    assert g.shape == qkv.shape
    want = ref_grads(q, k, v, dO.transpose(0, 2, 1, 3), causal)
    for i in range(3):
        close(g[:, :, i].transpose(0, 2, 1, 3), want[i], "attention")
    # the separate-array kernel on the same thirds ('bthd'): same values
    sep = [np.ascontiguousarray(qkv[:, :, i]) for i in range(3)]
    o2, l2 = _C.attention_forward(*map(A, sep), causal, None, None, 0.0, 0, 0, "bthd")
    close(o, o2, "attention_paths")
    g2 = _C.attention_backward(A(dO), *map(A, sep), o2, l2, causal, None, None, 0.0, 0, 0, "bthd")
    for i in range(3):
        close(g[:, :, i], g2[i], "attention_paths")


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("B,H", [(1, 2), (2, 4)])
def test_packed_finite_differences(rng, causal, B, H):
    T, D = 6, 3
    qkv = rng.standard_normal((B, T, 3, H, D))
    dO = rng.standard_normal((B, H, T, D))

    def loss():
        q, k, v = split(qkv)
        return float((attn_ref(q, k, v, causal)[0] * dO).sum())

    g_fd = numgrad(loss, qkv)
    q32 = qkv.astype(np.float32)
    o, lse = _C.attention_forward_packed(A(q32), causal)
    g = _C.attention_backward_packed(A(np.ascontiguousarray(dO.transpose(0, 2, 1, 3)).astype(np.float32)),
                                     A(q32), o, lse, causal)
    r, a = TOL["gradcheck_f32"]
    s = max(np.abs(g_fd).max(), 1e-3)
    np.testing.assert_allclose(np.asarray(g) / s, g_fd / s, rtol=r, atol=a)


def test_packed_mask_and_dropout_match_separate(rng):
    B, T, H, D = 2, 37, 4, 8
    qkv = rng.standard_normal((B, T, 3, H, D)).astype(np.float32)
    mask = A((rng.random((B, T, T)) > 0.3).astype(np.float32))
    dO = A(rng.standard_normal((B, T, H, D)).astype(np.float32))
    args = (None, mask, 0.25, 11, 4)
    o, lse = _C.attention_forward_packed(A(qkv), True, *args)
    g = np.asarray(_C.attention_backward_packed(dO, A(qkv), o, lse, True, *args))
    sep = [A(np.ascontiguousarray(qkv[:, :, i])) for i in range(3)]
    o2, l2 = _C.attention_forward(*sep, True, *args, "bthd")
    g2 = _C.attention_backward(dO, *sep, o2, l2, True, *args, "bthd")
    close(o, o2, "attention_paths")
    for i in range(3):
        close(g[:, :, i], g2[i], "attention_paths")


def test_packed_errors_name_op_and_shapes(rng):
    with pytest.raises(ValueError, match=r"attention_forward_packed: qkv must be \[B, T, 3, H, D\].*\(2, 5, 2, 1, 4\)"):
        _C.attention_forward_packed(A(np.zeros((2, 5, 2, 1, 4), np.float32)))
    with pytest.raises(ValueError, match="attention_forward_packed"):
        _C.attention_forward_packed(A(np.zeros((2, 5, 12), np.float32)))
    qkv = A(rng.standard_normal((2, 5, 3, 2, 4)).astype(np.float32))
    o, lse = _C.attention_forward_packed(qkv)
    with pytest.raises(ValueError, match="attention_backward_packed.*dO"):
        _C.attention_backward_packed(A(np.zeros((2, 5, 2, 3), np.float32)), qkv, o, lse)
    with pytest.raises(ValueError, match="attention_forward_packed.*mask"):
        _C.attention_forward_packed(qkv, False, None, A(np.ones((3, 5, 5), np.float32)))
    with pytest.raises(ValueError, match="attention_forward_packed.*dropout rate"):
        _C.attention_forward_packed(qkv, False, None, None, 1.0)


# ---------------------------------------------------------------------------------------------
# The layer
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("cfg", [dict(num_heads=3, key_dim=4), dict(num_heads=2, key_dim=8, use_bias=False),
                                 dict(num_heads=4, key_dim=8, output_shape=5)])
def test_mha_self_attention_packed_equals_unpacked(rng, causal, cfg):
    """mha(x, x) (one array: packed) vs mha(x, copy of x) (two arrays: three projections)."""
    x = rng.standard_normal((3, 11, 12)).astype(np.float32)
    m = fusednet.layers.MultiHeadAttention(**cfg)
    m(x, x)
    dy = fusednet.Tensor(fusednet.asarray(rng.standard_normal((3, 11, m._output_dim or 12)).astype(np.float32)))
    res = []
    for same in (True, False):
        xa = fusednet.Tensor(fusednet.asarray(x), requires_grad=True)
        xb = xa if same else fusednet.Tensor(fusednet.asarray(x.copy()), requires_grad=True)
        out = m(xa, xb, use_causal_mask=causal)
        (out * dy).sum().backward()
        gx = xa.grad.numpy() + (0 if same else xb.grad.numpy())
        res.append([out.numpy(), gx] + [w.grad.numpy().copy() for w in m.trainable_weights])
        for w in m.trainable_weights:
            w.grad = None
    for a, b in zip(*res):
        close(a, b, "attention_paths_layer")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_mha_packed_vs_keras(rng):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("real Keras is loaded with a non-torch backend")
    import torch
    x = rng.standard_normal((2, 19, 16)).astype(np.float32)
    km = keras.layers.MultiHeadAttention(num_heads=4, key_dim=4)
    km(x, x)
    fm = fusednet.layers.MultiHeadAttention(num_heads=4, key_dim=4)
    fm(x, x)
    fm.set_weights([np.asarray(w) for w in km.get_weights()])
    xt = torch.tensor(x, requires_grad=True)
    ko = km(xt, xt, use_causal_mask=True)
    dy = rng.standard_normal(tuple(ko.shape)).astype(np.float32)
    (ko * torch.tensor(dy)).sum().backward()
    fx = fusednet.Tensor(fusednet.asarray(x), requires_grad=True)
    fo = fm(fx, fx, use_causal_mask=True)
    close(fo.numpy(), ko.detach().numpy(), "keras_layer")
    (fo * fusednet.Tensor(fusednet.asarray(dy))).sum().backward()
    close(fx.grad.numpy(), xt.grad.numpy(), "keras_layer")
    for fw, kw_ in zip(fm.trainable_weights, km.trainable_weights):
        close(fw.grad.numpy(), kw_.value.grad.numpy(), "keras_layer")


def test_mha_packed_plan_equals_tape(rng):
    """A GPT-style block on the compiled plan (packed path): one SGD step moves the weights as the
    eager tape's gradients say, and the attention scores path still works eagerly."""
    from fusednet.layers import Add, Dense, Input, LayerNormalization, MultiHeadAttention
    fusednet.random.seed(3)
    T, d = 13, 16
    inp = Input((T, d))
    a = LayerNormalization()(inp)
    h = Add()([inp, MultiHeadAttention(4, 4, name="mha")(a, a, use_causal_mask=True)])
    model = fusednet.Model(inp, Dense(1)(h))
    x = rng.standard_normal((8, T, d)).astype(np.float32)
    y = rng.standard_normal((8, T, 1)).astype(np.float32)
    w0 = [w.numpy().copy() for w in model.trainable_weights]
    out = model(fusednet.Tensor(fusednet.asarray(x)), training=True)
    ((out - fusednet.Tensor(fusednet.asarray(y))) ** 2).mean().backward()
    g = [w.grad.numpy().copy() for w in model.trainable_weights]
    model.compile(optimizer=fusednet.optimizers.SGD(0.1), loss="mse")
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    assert model._get_plan().tape_layers == []
    for a0, w, gw in zip(w0, model.trainable_weights, g):
        np.testing.assert_allclose(w.numpy(), a0 - 0.1 * gw, rtol=1e-4, atol=1e-6)
    mha = model.get_layer("mha")
    xs = fusednet.asarray(x[:2, :, :])
    o, s = mha(xs, xs, use_causal_mask=True, return_attention_scores=True)
    s = s.numpy()
    assert s.shape == (2, 4, T, T)
    np.testing.assert_allclose(s.sum(-1), 1.0, rtol=1e-5)
    assert not np.triu(s, 1).any()


@pytest.mark.cuda
@pytest.mark.parametrize("causal,rate", [(False, 0.0), (True, 0.15)])
def test_packed_cuda_twin_matches_cpu(rng, causal, rate):
    """The CUDA kernels read the packed buffer with the same strides (Dims::ld) as the CPU ones."""
    B, T, H, D = 3, 67, 4, 24
    qkv = rng.standard_normal((B, T, 3, H, D)).astype(np.float32)
    dO = rng.standard_normal((B, T, H, D)).astype(np.float32)
    mask = (rng.random((B, T, T)) > 0.3).astype(np.float32)
    o, lse = _C.attention_forward_packed(A(qkv), causal, None, A(mask), rate, 5, 1)
    g = _C.attention_backward_packed(A(dO), A(qkv), o, lse, causal, None, A(mask), rate, 5, 1)
    cu = lambda x: A(x).to("cuda")  # noqa: E731
    oc, lsec = _C.attention_forward_packed(cu(qkv), causal, None, cu(mask), rate, 5, 1)
    gc = _C.attention_backward_packed(cu(dO), cu(qkv), oc, lsec, causal, None, cu(mask), rate, 5, 1)
    for a, b in zip((o, lse, g), (oc, lsec, gc)):
        close(np.asarray(b.to("cpu")), np.asarray(a), "cuda_vs_cpu")
