"""DepthwiseConv2D: NHWC kernels (forward / backward) vs a float64 NumPy reference and PyTorch CPU
(conv2d with groups=C, layout-converted), float64 finite differences through the autograd Function,
thread-count invariance, errors; the Keras-shaped layer (shapes, names, initializer fans, tape vs
compiled step, config / save / load) and a small Sequential that trains."""
import numpy as np
import pytest

import fusednet
from fusednet import _C, functional as F, layers as L
from fusednet.layers.base import Context
from fusednet.tensor import Tensor
from conftest import requires_torch
from test_conv import ACTS, close, fd_close, out_and_pad
from tolerances import TOL


def rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _taps(x, kh, kw, s, padding, d):
    """Yields (i, j, slice tuple into the padded x, padded x, (Ho, Wo), (pt, pl))."""
    N, H, W, C = x.shape
    Ho, pt, pb = out_and_pad(H, kh, s[0], d[0], padding)
    Wo, pl, pr = out_and_pad(W, kw, s[1], d[1], padding)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    for i in range(kh):
        for j in range(kw):
            sl = (slice(None), slice(i * d[0], i * d[0] + (Ho - 1) * s[0] + 1, s[0]),
                  slice(j * d[1], j * d[1] + (Wo - 1) * s[1] + 1, s[1]), slice(None))
            yield i, j, sl, xp, (Ho, Wo), (pt, pl)


def dw_ref(x, w, b, s, padding, d, act="none"):
    """float64 reference: y[..., c*dm + m] = act(Σ_ij x[tap, c] · w[i, j, c, m] + b), x NHWC."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    N, H, W, C = x.shape
    kh, kw, _, dm = w.shape
    Ho, _, _ = out_and_pad(H, kh, s[0], d[0], padding)
    Wo, _, _ = out_and_pad(W, kw, s[1], d[1], padding)
    z = np.zeros((N, Ho, Wo, C, dm))
    for i, j, sl, xp, _, _ in _taps(x, kh, kw, s, padding, d):
        z += xp[sl][..., None] * w[i, j]
    z = z.reshape(N, Ho, Wo, C * dm)
    if b is not None:
        z = z + np.asarray(b, np.float64)
    return ACTS[act](z)


def dw_grad_ref(x, w, dz, s, padding, d):
    """float64 dX, dW, db for dZ (the gradient w.r.t. the pre-activation)."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    N, H, W, C = x.shape
    kh, kw, _, dm = w.shape
    dz5 = np.asarray(dz, np.float64).reshape(dz.shape[:3] + (C, dm))
    dw = np.zeros_like(w)
    dxp = None
    for i, j, sl, xp, _, (pt, pl) in _taps(x, kh, kw, s, padding, d):
        if dxp is None:
            dxp = np.zeros_like(xp)
        dw[i, j] = np.einsum("nhwc,nhwcm->cm", xp[sl], dz5)
        dxp[sl] += np.einsum("nhwcm,cm->nhwc", dz5, w[i, j])
    dx = dxp[:, pt:pt + H, pl:pl + W, :]
    return dx, dw, dz5.reshape(dz.shape).sum(axis=(0, 1, 2))


def fwd(x, w, b=None, s=(1, 1), padding="valid", d=(1, 1), act="none"):
    return np.asarray(_C.depthwise_conv2d_forward(_C.asarray(x), _C.asarray(w), None if b is None else _C.asarray(b),
                                                  strides=s, padding=padding, dilation=d, activation=act))


def bwd(dy, x, w, y, s, padding, d, act, need_dX=True, has_bias=True):
    dX, dW, db = _C.depthwise_conv2d_backward(_C.asarray(np.ascontiguousarray(dy)), _C.asarray(x), _C.asarray(w),
                                              None if y is None else _C.asarray(y), act, s, padding, d,
                                              need_dX, has_bias)
    return (None if dX is None else np.asarray(dX), np.asarray(dW), None if db is None else np.asarray(db))


def dz_of(dy, y, act):
    y64 = y.astype(np.float64)
    return dy * {"none": 1.0, "relu": (y64 > 0), "sigmoid": y64 * (1 - y64), "tanh": 1 - y64 ** 2}[act]


CASES = [
    # N, H, W, C, kh, kw, dm, strides, padding, dilation, act
    (1, 1, 1, 1, 1, 1, 1, (1, 1), "valid", (1, 1), "none"),     # everything size 1
    (1, 1, 1, 3, 3, 3, 2, (1, 1), "same", (1, 1), "relu"),      # 1x1 image, 3x3 'same': centre tap only
    (2, 7, 5, 1, 3, 3, 1, (1, 1), "valid", (1, 1), "tanh"),     # C = 1, primes
    (3, 11, 13, 3, 3, 3, 2, (2, 2), "same", (1, 1), "sigmoid"),  # C = 3, dm 2, stride 2, asymmetric pad
    (2, 13, 7, 3, 3, 2, 1, (1, 1), "same", (2, 2), "relu"),     # dilation 2, even kernel width
    (1, 9, 11, 1, 5, 3, 2, (2, 1), "valid", (1, 1), "none"),    # C = 1, dm 2, mixed strides
    (2, 5, 7, 3, 5, 7, 1, (1, 1), "valid", (1, 1), "tanh"),     # kernel == input
    (2, 4, 3, 3, 5, 5, 2, (1, 1), "same", (1, 1), "none"),      # kernel larger than the image, 'same'
    (2, 17, 19, 16, 3, 3, 1, (1, 1), "same", (1, 1), "relu"),   # wide channel vector (simd body + tail)
    (1, 10, 9, 5, 3, 3, 3, (2, 2), "valid", (1, 1), "sigmoid"),  # dm 3
]


@pytest.mark.parametrize("case", CASES)
def test_forward_vs_reference(rng, case):
    N, H, W, C, kh, kw, dm, s, pad, d, act = case
    x, w, b = rand(rng, N, H, W, C), rand(rng, kh, kw, C, dm), rand(rng, C * dm)
    y = fwd(x, w, b, s, pad, d, act)
    ref = dw_ref(x, w, b, s, pad, d, act)
    assert y.shape == ref.shape
    close(y, ref, "conv")
    close(fwd(x, w, None, s, pad, d, act), dw_ref(x, w, None, s, pad, d, act), "conv")


@pytest.mark.parametrize("case", CASES)
def test_backward_vs_reference(rng, case):
    N, H, W, C, kh, kw, dm, s, pad, d, act = case
    x, w, b = rand(rng, N, H, W, C), rand(rng, kh, kw, C, dm), rand(rng, C * dm)
    y = fwd(x, w, b, s, pad, d, act)
    dy = rand(rng, *y.shape)
    dX, dW, db = bwd(dy, x, w, y, s, pad, d, act)
    rdx, rdw, rdb = dw_grad_ref(x, w, dz_of(dy, y, act), s, pad, d)
    close(dX, rdx, "conv")
    close(dW, rdw, "conv")
    close(db, rdb, "conv")
    # optional outputs
    dX2, dW2, db2 = bwd(dy, x, w, y, s, pad, d, act, need_dX=False, has_bias=False)
    assert dX2 is None and db2 is None
    np.testing.assert_array_equal(dW2, dW)


def torch_depthwise(x, w, b, s, pad, d, act):
    import torch
    import torch.nn.functional as TF
    kh, kw, C, dm = w.shape
    xt = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_(True)
    wt = torch.tensor(w).requires_grad_(True)
    bt = torch.tensor(b).requires_grad_(True)
    _, pt, pb = out_and_pad(x.shape[1], kh, s[0], d[0], pad)
    _, pl, pr = out_and_pad(x.shape[2], kw, s[1], d[1], pad)
    # torch grouped weight [C*dm, 1, kh, kw]: row c*dm + m is w[:, :, c, m]
    wg = wt.reshape(kh, kw, C * dm).permute(2, 0, 1).unsqueeze(1)
    z = TF.conv2d(TF.pad(xt, (pl, pr, pt, pb)), wg, bt, stride=s, dilation=d, groups=C)
    y = {"none": lambda t: t, "relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}[act](z)
    return xt, wt, bt, y.permute(0, 2, 3, 1)


@requires_torch
@pytest.mark.parametrize("case", CASES + [
    (4, 28, 28, 32, 3, 3, 1, (1, 1), "same", (1, 1), "relu"),   # MobileNet-like block
    (3, 15, 16, 8, 3, 3, 4, (2, 2), "same", (1, 1), "tanh"),
])
def test_vs_torch(rng, case):
    import torch
    N, H, W, C, kh, kw, dm, s, pad, d, act = case
    x, w, b = rand(rng, N, H, W, C), rand(rng, kh, kw, C, dm) * 0.5, rand(rng, C * dm)
    xt, wt, bt, yt = torch_depthwise(x, w, b, s, pad, d, act)
    y = fwd(x, w, b, s, pad, d, act)
    close(y, yt.detach().numpy(), "torch")
    dy = rand(rng, *y.shape)
    yt.backward(torch.tensor(dy))
    dX, dW, db = bwd(dy, x, w, y, s, pad, d, act)
    close(dX, xt.grad.permute(0, 2, 3, 1).numpy(), "torch")
    close(dW, wt.grad.numpy(), "torch")
    close(db, bt.grad.numpy(), "torch")


@pytest.mark.parametrize("case", [CASES[1], CASES[3], CASES[4], CASES[5], CASES[7],
                                  (1, 5, 6, 2, 2, 3, 2, (1, 2), "same", (1, 1), "tanh")])
def test_autograd_finite_differences(rng, case):
    """dX, dW, db from the autograd Function vs central differences of the float64 reference."""
    N, H, W, C, kh, kw, dm, s, pad, d, act = case
    N = 1
    x, w, b = rand(rng, N, H, W, C), rand(rng, kh, kw, C, dm) * 0.5, rand(rng, C * dm)
    xt, wt, bt = (Tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.depthwise_conv2d(xt, wt, bt, s, pad, d, None if act == "none" else act)
    R = rng.standard_normal(y.shape)
    y.backward(R.astype(np.float32))
    x64, w64, b64 = x.astype(np.float64), w.astype(np.float64), b.astype(np.float64)
    eps = TOL["fd_eps"]

    def loss():
        return float((dw_ref(x64, w64, b64, s, pad, d, act) * R).sum())

    for arr, t in ((x64, xt), (w64, wt), (b64, bt)):
        fd = np.zeros_like(arr)
        flat = arr.reshape(-1)
        for k in range(flat.size):
            old = flat[k]
            flat[k] = old + eps
            lp = loss()
            flat[k] = old - eps
            lm = loss()
            flat[k] = old
            fd.reshape(-1)[k] = (lp - lm) / (2 * eps)
        fd_close(t.grad.numpy(), fd)


def test_functional_without_bias_and_unfused_activation(rng):
    x, w = rand(rng, 2, 6, 5, 3), rand(rng, 3, 3, 3, 2)
    xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    y = F.depthwise_conv2d(xt, wt, None, 1, "same", 1, "gelu")   # gelu: kernel, then activation op
    z = dw_ref(x, w, None, (1, 1), "same", (1, 1))
    from math import erf
    close(y.numpy(), z * 0.5 * (1 + np.vectorize(erf)(z / np.sqrt(2))), "conv")
    y.sum().backward()
    assert xt.grad.shape == x.shape and wt.grad.shape == w.shape
    with fusednet.no_grad():
        assert not F.depthwise_conv2d(xt, wt).requires_grad


def test_thread_count_independent(rng):
    x, w, b = rand(rng, 6, 15, 13, 24), rand(rng, 3, 3, 24, 2) * 0.3, rand(rng, 48)
    n0 = fusednet.get_num_threads()
    res = []
    try:
        for nt in (1, 2, 3):
            fusednet.set_num_threads(nt)
            for act, pad in (("relu", "same"), ("tanh", "valid")):
                y = fwd(x, w, b, (1, 1), pad, (1, 1), act)
                dy = np.ascontiguousarray(np.ones_like(y) * 0.5 + (y > 0.5)).astype(np.float32)
                res.append((nt, (y,) + bwd(dy, x, w, y, (1, 1), pad, (1, 1), act)))
    finally:
        fusednet.set_num_threads(n0)
    first = [r for nt, r in res if nt == 1]
    for k, (nt, r) in enumerate(res):
        for a, b_ in zip(first[k % 2], r):
            np.testing.assert_array_equal(a, b_)


def test_empty_batch_and_out(rng):
    x, w = np.zeros((0, 5, 5, 2), np.float32), rand(rng, 3, 3, 2, 2)
    y = fwd(x, w)
    assert y.shape == (0, 3, 3, 4)
    dX, dW, db = bwd(y, x, w, None, (1, 1), "valid", (1, 1), "none")
    assert dX.shape == x.shape and not dW.any() and not db.any()
    x = rand(rng, 2, 6, 6, 3)
    w = rand(rng, 3, 3, 3, 1)
    out = np.empty((2, 3, 3, 3), np.float32)
    r = _C.depthwise_conv2d_forward(_C.asarray(x), _C.asarray(w), None, 2, "SAME", 1, "linear", out=_C.asarray(out))
    close(out, dw_ref(x, w, None, (2, 2), "same", (1, 1)), "conv")
    assert np.shares_memory(np.asarray(r), out)


@pytest.mark.parametrize("kwargs, match", [
    (dict(x=(5, 5, 3), w=(3, 3, 3, 1)), r"x must be 4-D.*\(5, 5, 3\)"),
    (dict(x=(2, 5, 5, 3), w=(3, 3, 3)), r"kernel must be 4-D.*\(3, 3, 3\)"),
    (dict(x=(2, 5, 5, 3), w=(3, 3, 2, 1)), r"channels mismatch.*\(2, 5, 5, 3\).*\(3, 3, 2, 1\)"),
    (dict(x=(2, 5, 5, 3), w=(3, 3, 3, 0)), r"depth_multiplier.*\(3, 3, 3, 0\)"),
    (dict(x=(2, 5, 5, 3), w=(6, 3, 3, 1)), r"larger than the input.*\(2, 5, 5, 3\)"),
    (dict(x=(2, 5, 5, 3), w=(3, 3, 3, 1), d=(3, 1)), "larger than the input"),
    (dict(x=(2, 5, 5, 3), w=(3, 3, 3, 1), s=(0, 1)), "strides"),
    (dict(x=(2, 5, 5, 3), w=(3, 3, 3, 1), s=(1, 2, 3)), "strides"),
    (dict(x=(2, 5, 5, 3), w=(3, 3, 3, 1), d=(1, -2)), "dilation"),
    (dict(x=(2, 5, 5, 3), w=(3, 3, 3, 1), pad="full"), "padding"),
    (dict(x=(2, 5, 5, 3), w=(3, 3, 3, 1), act="gelu"), "activation"),
    (dict(x=(2, 5, 5, 3), w=(3, 3, 3, 2), b=(3,)), r"bias.*\(6,\)"),
])
def test_errors(kwargs, match):
    x = np.zeros(kwargs["x"], np.float32)
    w = np.zeros(kwargs["w"], np.float32)
    b = np.zeros(kwargs["b"], np.float32) if "b" in kwargs else None
    with pytest.raises(ValueError, match=match) as ei:
        fwd(x, w, b, kwargs.get("s", (1, 1)), kwargs.get("pad", "valid"), kwargs.get("d", (1, 1)),
            kwargs.get("act", "none"))
    assert str(ei.value).startswith("depthwise_conv2d_forward")


def test_backward_errors(rng):
    x, w = rand(rng, 2, 5, 5, 3), rand(rng, 3, 3, 3, 2)
    with pytest.raises(ValueError, match="depthwise_conv2d_backward: dY must have shape"):
        bwd(np.zeros((2, 3, 3, 3), np.float32), x, w, None, (1, 1), "valid", (1, 1), "none")
    with pytest.raises(ValueError, match="saved forward output"):
        bwd(np.zeros((2, 3, 3, 6), np.float32), x, w, None, (1, 1), "valid", (1, 1), "relu")
    with pytest.raises(ValueError, match="depthwise_conv2d_backward: channels mismatch"):
        bwd(np.zeros((2, 3, 3, 6), np.float32), x, rand(rng, 3, 3, 2, 3), None, (1, 1), "valid", (1, 1), "none")
    with pytest.raises(TypeError):
        _C.depthwise_conv2d_forward(_C.asarray(x.astype(np.int32)), _C.asarray(w))


# ------------------------------------------------------------------------------------- layer
def test_layer_shapes_names_params():
    fusednet.clear_session()
    layer = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")
    assert layer.name == "depthwise_conv2d"
    y = layer(np.zeros((4, 9, 7, 5), np.float32))
    assert y.shape == (4, 9, 7, 10)
    assert layer.compute_output_shape((None, 9, 7, 5)) == (None, 9, 7, 10)
    assert [w.name for w in layer.weights] == ["depthwise_conv2d/kernel", "depthwise_conv2d/bias"]
    assert [w.shape for w in layer.get_weights()] == [(3, 3, 5, 2), (10,)]
    assert layer.count_params() == 3 * 3 * 5 * 2 + 10
    assert L.DepthwiseConv2D(3).name == "depthwise_conv2d_1"
    nb = L.DepthwiseConv2D((2, 3), strides=2, use_bias=False)
    assert nb(np.zeros((1, 7, 7, 3), np.float32)).shape == (1, 3, 3, 3)
    assert nb.count_params() == 2 * 3 * 3


def test_glorot_fans_follow_keras(rng):
    """Keras initialises the depthwise kernel from its 4-D shape (kh, kw, C, dm):
    fan_in = kh*kw*C, fan_out = kh*kw*dm (not PyTorch's per-group fan_in = kh*kw)."""
    fusednet.random.seed(3)
    layer = L.DepthwiseConv2D(3, depth_multiplier=2)
    layer(np.zeros((1, 5, 5, 64), np.float32))
    k = layer.get_weights()[0]
    limit = np.sqrt(6.0 / (3 * 3 * 64 + 3 * 3 * 2))
    assert np.abs(k).max() <= limit
    assert np.abs(k).max() > 0.95 * limit            # 1152 uniform draws fill the interval
    assert fusednet.initializers.compute_fans((3, 3, 64, 2)) == (576, 18)


@pytest.mark.parametrize("make, shape", [
    (lambda: L.DepthwiseConv2D(3, activation="relu"), (2, 9, 8, 3)),
    (lambda: L.DepthwiseConv2D((2, 3), strides=2, padding="same", depth_multiplier=2, activation="tanh"),
     (3, 7, 9, 2)),
    (lambda: L.DepthwiseConv2D(3, dilation_rate=2, padding="same", activation="gelu", use_bias=False), (2, 8, 8, 1)),
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=3, activation="sigmoid"), (2, 6, 5, 4)),
])
def test_tape_matches_fast_path(rng, make, shape):
    """The autograd tape and the compiled fit step run the same kernels: identical bits."""
    x = rand(rng, *shape)
    a, b = make(), make()
    a._maybe_build(shape)
    b._maybe_build(shape)
    b.set_weights(a.get_weights())
    dy = rand(rng, *a.compute_output_shape(shape))
    xt = Tensor(x, requires_grad=True)
    y1 = a(xt, training=True)
    y1.backward(dy)
    ctx = Context()
    y2 = b.forward(ctx, _C.asarray(x), True)
    dx2, gbuf = b.backward(ctx, _C.asarray(dy), True)
    rtol, atol = TOL["exact"]
    np.testing.assert_allclose(y1.numpy(), np.asarray(y2), rtol=rtol, atol=atol)
    np.testing.assert_allclose(xt.grad.numpy(), np.asarray(dx2), rtol=rtol, atol=atol)
    for w, g in zip(a.trainable_weights, gbuf):
        np.testing.assert_allclose(w.grad.numpy(), np.asarray(g), rtol=rtol, atol=atol)


@requires_torch
def test_layer_vs_torch(rng):
    import torch
    layer = L.DepthwiseConv2D(3, strides=(2, 1), depth_multiplier=2, activation="sigmoid")
    x = rand(rng, 3, 11, 10, 4)
    xt = Tensor(x, requires_grad=True)
    y = layer(xt, training=True)
    dy = rand(rng, *y.shape)
    y.backward(dy)
    w, b = layer.get_weights()
    txt, twt, tbt, ty = torch_depthwise(x, w, b, (2, 1), "valid", (1, 1), "sigmoid")
    ty.backward(torch.tensor(dy))
    close(y.numpy(), ty.detach().numpy(), "torch")
    close(xt.grad.numpy(), txt.grad.permute(0, 2, 3, 1).numpy(), "torch")
    close(layer.kernel.grad.numpy(), twt.grad.numpy(), "torch")
    close(layer.bias.grad.numpy(), tbt.grad.numpy(), "torch")


@pytest.mark.parametrize("kwargs, match", [
    (dict(kernel_size=3, depth_multiplier=0), "depth_multiplier"),
    (dict(kernel_size=3, depth_multiplier=-1), "depth_multiplier"),
    (dict(kernel_size=3, depth_multiplier=1.5), "depth_multiplier"),
    (dict(kernel_size=3, depth_multiplier=True), "depth_multiplier"),
    (dict(kernel_size=0), "kernel_size"),
    (dict(kernel_size=3, strides=0), "strides"),
    (dict(kernel_size=3, strides=2, dilation_rate=2), "dilation_rate"),
    (dict(kernel_size=3, padding="causal"), "padding"),
    (dict(kernel_size=3, data_format="channels_first"), "channels_last"),
    (dict(kernel_size=3, activity_regularizer="l2"), "not supported"),
])
def test_layer_arg_errors(kwargs, match):
    with pytest.raises(ValueError, match=match) as ei:
        L.DepthwiseConv2D(**kwargs)
    assert "DepthwiseConv2D" in str(ei.value)


def test_layer_input_errors():
    layer = L.DepthwiseConv2D(3)
    with pytest.raises(ValueError, match="DepthwiseConv2D.*4-D input"):
        layer(np.zeros((2, 8, 3), np.float32))
    layer(np.zeros((1, 5, 5, 3), np.float32))
    with pytest.raises(ValueError, match="axis -1"):
        layer(np.zeros((1, 5, 5, 4), np.float32))
    with pytest.raises(ValueError, match="larger than the input"):
        layer(np.zeros((1, 2, 5, 3), np.float32))


def _small_model(reg=None):
    return fusednet.Sequential([
        L.Input(shape=(10, 10, 3)),
        L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu", depthwise_regularizer=reg),
        L.DepthwiseConv2D(3, strides=2, activation="tanh"),
        L.Flatten(),
        L.Dense(3, activation="softmax"),
    ])


def _blobs(rng, n=96):
    y = rng.integers(0, 3, n)
    x = rng.standard_normal((n, 10, 10, 3)).astype(np.float32) * 0.5
    x[np.arange(n), :, :, y] += 1.0          # the class lights up one channel
    return x, y.astype(np.int64)


def test_sequential_trains_and_round_trips(rng, tmp_path):
    fusednet.random.seed(0)
    model = _small_model(reg="l2")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = _blobs(rng)
    hist = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    loss = hist.history["loss"]
    assert not model._get_plan().tape_layers
    assert loss[-1] < 0.5 * loss[0], loss
    assert model.evaluate(x, y, verbose=0)[1] > 0.85
    # config / weights / whole-model round trips
    p = model.predict(x[:8], verbose=0)
    path = str(tmp_path / "dw.fnet")
    from fusednet import io
    io.save_model(model, path)
    loaded = io.load_model(path)
    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers]
    assert loaded.layers[0].get_config() == model.layers[0].get_config()
    rtol, atol = TOL["exact"]
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    np.testing.assert_allclose(loaded.predict(x[:8], verbose=0), p, rtol=rtol, atol=atol)
    clone = L.DepthwiseConv2D.from_config(model.layers[1].get_config())
    assert clone.depth_multiplier == 1 and clone.strides == (2, 2) and clone.activation == "tanh"


def test_fast_plan_matches_tape_plan(rng):
    """Two epochs through the compiled step and through the generic tape (forced by a custom
    identity layer): same losses and weights, depthwise regularizer included."""
    x, y = _blobs(rng, 32)

    class Wrap(L.Layer):
        def call(self, x, training=None):
            return x

    w0, results = None, []
    for custom in (False, True):
        fusednet.clear_session()
        fusednet.random.seed(1)
        model = _small_model(reg="l2")
        if custom:
            model = fusednet.Sequential([L.Input(shape=(10, 10, 3)), Wrap()] + model.layers)
        if w0 is None:
            w0 = model.get_weights()
        else:
            model.set_weights(w0)
        model.compile(optimizer=fusednet.optimizers.SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy")
        assert bool(model._get_plan().tape_layers) == bool(custom)
        h = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        results.append((h.history["loss"], model.get_weights()))
    (l1, w1), (l2, w2) = results
    close(l1, l2, "conv")
    for a, b in zip(w1, w2):
        close(a, b, "conv")
