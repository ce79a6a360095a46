"""Conv2DTranspose, Conv1D (+ 1-D pooling), SeparableConv2D, UpSampling1D/2D: native kernels and
layers vs float64 NumPy references and PyTorch CPU (layout-converted weights), float64 finite
differences of the references vs the native backward, Keras shapes / weight names, symbolic
shapes, training inside a Sequential, bad arguments."""
import math

import numpy as np
import pytest

import fusednet
from fusednet import _C, layers as L
from fusednet.layers.base import Context
from fusednet.layers.conv_transpose import conv_transpose_geometry
from conftest import requires_torch
from test_conv import ACTS, close, conv_ref, fd_close
from tolerances import TOL


def rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def fd_grad(loss, arr):
    assert arr.flags.c_contiguous
    """Central differences of loss() w.r.t. every entry of the float64 array ``arr`` (in place)."""
    eps = TOL["fd_eps"]
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
    return fd


def run_layer(layer, x, dy=None, training=False):
    """forward / backward of the protocol on native arrays -> (y, dx, grads) as NumPy."""
    layer._maybe_build(x.shape)
    ctx = Context()
    y = layer.forward(ctx, _C.asarray(x), training)
    if dy is None:
        return np.asarray(y), None, None
    dx, grads = layer.backward(ctx, _C.asarray(np.ascontiguousarray(dy, np.float32)), True)
    return np.asarray(y), np.asarray(dx), [np.asarray(g) for g in grads]


def fit_few_steps(layers, xshape, rng, loss="mse"):
    model = fusednet.Sequential([L.Input(xshape)] + layers + [L.Flatten(), L.Dense(2)])
    model.compile(optimizer="adam", loss=loss)
    x = rng.random((12,) + xshape).astype(np.float32)
    y = rng.random((12, 2)).astype(np.float32)
    before = [np.array(w.numpy(), copy=True) for w in model.trainable_weights]
    hist = model.fit(x, y, epochs=3, batch_size=4, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))
    assert model._get_plan().tape_layers == []
    changed = [not np.array_equal(a, w.numpy()) for a, w in zip(before, model.trainable_weights)]
    assert all(changed), changed
    return model


# ---------------------------------------------------------------- Conv2DTranspose
def convT_ref(x, w, b, s, padding, d, op, act="none"):
    """float64 scatter reference: every input pixel adds w-weighted copies to a strided grid."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    N, h, wd, _ = x.shape
    kh, kw, F, _ = w.shape
    (L_, pt), (Lw, pl) = (conv_transpose_geometry(h, kh, s[0], d[0], padding, op[0]),
                          conv_transpose_geometry(wd, kw, s[1], d[1], padding, op[1]))
    full = np.zeros((N, (h - 1) * s[0] + (kh - 1) * d[0] + 1 + L_, (wd - 1) * s[1] + (kw - 1) * d[1] + 1 + Lw, F))
    for a in range(kh):
        for c in range(kw):
            full[:, a * d[0]:a * d[0] + (h - 1) * s[0] + 1:s[0], c * d[1]:c * d[1] + (wd - 1) * s[1] + 1:s[1]] += \
                np.einsum("nhwc,fc->nhwf", x, w[a, c])
    y = full[:, pt:pt + L_, pl:pl + Lw]
    if b is not None:
        y = y + np.asarray(b, np.float64)
    return ACTS[act](y)


CT_CASES = [
    # N, h, w, Cin, filters, k, strides, padding, output_padding, dilation, act
    (1, 1, 1, 1, 1, (1, 1), (1, 1), "valid", None, (1, 1), "none"),
    (2, 5, 7, 3, 4, (3, 3), (2, 2), "same", None, (1, 1), "relu"),
    (3, 4, 3, 5, 2, (2, 2), (2, 2), "valid", None, (1, 1), "none"),
    (2, 3, 3, 2, 3, (4, 4), (2, 2), "same", (1, 1), (1, 1), "sigmoid"),
    (2, 4, 5, 3, 2, (4, 3), (2, 3), "same", (0, 2), (1, 1), "tanh"),
    (1, 5, 5, 2, 2, (3, 3), (3, 3), "valid", (2, 1), (1, 1), "none"),
    (2, 5, 6, 3, 4, (3, 3), (1, 1), "same", None, (2, 2), "none"),
    (2, 3, 4, 3, 2, (2, 2), (3, 3), "valid", None, (1, 1), "relu"),
    (2, 6, 5, 16, 16, (3, 3), (1, 1), "same", None, (1, 1), "none"),   # direct (C % 16) path
    (2, 7, 7, 32, 16, (3, 3), (2, 2), "same", None, (1, 1), "relu"),
    (2, 5, 4, 16, 16, (4, 4), (2, 2), "same", (1, 1), (1, 1), "none"),  # direct path, odd pads
    (1, 3, 5, 16, 32, (4, 2), (2, 2), "same", (0, 1), (1, 1), "relu"),
    (2, 7, 11, 17, 5, (1, 1), (1, 1), "valid", None, (1, 1), "none"),  # pointwise
    (2, 3, 4, 3, 2, (5, 5), (2, 2), "same", None, (1, 1), "none"),
]


def _ct_layer(case, use_bias=True):
    N, h, w, cin, f, k, s, pad, op, d, act = case
    return L.Conv2DTranspose(f, k, strides=s, padding=pad, output_padding=op, dilation_rate=d, activation=None if act == "none" else act,
                             use_bias=use_bias, bias_initializer="glorot_uniform")


@pytest.mark.parametrize("case", CT_CASES)
def test_conv_transpose_forward_backward_vs_reference(rng, case):
    N, h, w, cin, f, k, s, pad, op, d, act = case
    layer = _ct_layer(case)
    x = rand(rng, N, h, w, cin)
    layer._maybe_build(x.shape)
    kern, bias = layer.get_weights()
    assert kern.shape == k + (f, cin) and bias.shape == (f,)
    ref = convT_ref(x, kern, bias, s, pad, d, op or (None, None), act)
    assert layer.compute_output_shape((None, h, w, cin)) == (None,) + ref.shape[1:]
    dy = rng.standard_normal(ref.shape)
    y, dx, (dw, db) = run_layer(layer, x, dy)
    close(y, ref, "conv")
    x64, w64, b64 = x.astype(np.float64), kern.astype(np.float64), bias.astype(np.float64)
    if x.size + kern.size <= 600:   # float64 central differences of the reference
        loss = lambda: float((convT_ref(x64, w64, b64, s, pad, d, op or (None, None), act) * dy).sum())  # noqa: E731
        for arr, g in ((x64, dx), (w64, dw), (b64, db)):
            fd_close(g, fd_grad(loss, arr))
    else:   # the large cases' dX / dW are checked against PyTorch below
        dz = dy * {"none": lambda r: 1.0, "relu": lambda r: r > 0, "sigmoid": lambda r: r * (1 - r),
                   "tanh": lambda r: 1 - r * r}[act](ref)
        close(db, dz.sum((0, 1, 2)), "reduce")


@requires_torch
@pytest.mark.parametrize("case", CT_CASES)
def test_conv_transpose_vs_torch(rng, case):
    import torch
    N, h, w, cin, f, k, s, pad, op, d, act = case
    layer = _ct_layer(case)
    x = rand(rng, N, h, w, cin)
    layer._maybe_build(x.shape)
    kern, bias = layer.get_weights()
    y_shape = layer.compute_output_shape(x.shape)
    dy = rand(rng, *y_shape)
    y, dx, (dw, db) = run_layer(layer, x, dy)
    (Lh, pt), (Lw, pl) = (conv_transpose_geometry(h, k[0], s[0], d[0], pad, (op or (None, None))[0]),
                          conv_transpose_geometry(w, k[1], s[1], d[1], pad, (op or (None, None))[1]))
    xt = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_()
    wt = torch.tensor(kern).permute(3, 2, 0, 1).contiguous().requires_grad_()   # [Cin, filters, kh, kw]
    bt = torch.tensor(bias).requires_grad_()
    full = torch.nn.functional.conv_transpose2d(xt, wt, None, stride=s, dilation=d)
    full = torch.nn.functional.pad(full, (0, max(0, Lw + pl - full.shape[3]), 0, max(0, Lh + pt - full.shape[2])))
    z = full[:, :, pt:pt + Lh, pl:pl + Lw] + bt[:, None, None]
    yt = {"none": z, "relu": torch.relu(z), "sigmoid": torch.sigmoid(z), "tanh": torch.tanh(z)}[act]
    yt = yt.permute(0, 2, 3, 1)
    (yt * torch.tensor(dy)).sum().backward()
    close(y, yt.detach().numpy(), "torch")
    close(dx, xt.grad.permute(0, 2, 3, 1).numpy(), "torch")
    close(dw, wt.grad.permute(2, 3, 1, 0).numpy(), "torch")
    close(db, bt.grad.numpy(), "torch")


def test_conv_transpose_keras_shapes_and_layer_api(rng):
    layer = L.Conv2DTranspose(8, 3, strides=2, padding="same")
    inp = L.Input((7, 9, 4))
    out = layer(inp)
    assert out.shape == (None, 14, 18, 8)
    assert [w.name.split("/")[-1] for w in layer.weights] == ["kernel", "bias"]
    assert tuple(layer.kernel.shape) == (3, 3, 8, 4)
    assert L.Conv2DTranspose(2, 3, strides=2).compute_output_shape((None, 5, 5, 1)) == (None, 11, 11, 2)
    assert L.Conv2DTranspose(2, 2, strides=3).compute_output_shape((None, 5, 5, 1)) == (None, 15, 15, 2)
    assert L.Conv2DTranspose(2, 3, strides=2, output_padding=1).compute_output_shape((None, 5, 5, 1)) == \
        (None, 12, 12, 2)
    assert L.Conv2DTranspose(2, 3, padding="same", output_padding=0, strides=2).compute_output_shape(
        (None, 5, 5, 1)) == (None, 9, 9, 2)
    cfg = layer.get_config()
    again = L.Conv2DTranspose.from_config(cfg)
    assert again.filters == 8 and again.strides == (2, 2) and again.padding == "same"
    # initializer fans as Keras: shape [kh, kw, filters, Cin] -> fan_in = 9·8, fan_out = 9·4
    big = L.Conv2DTranspose(64, 3)
    big._maybe_build((None, 5, 5, 32))
    limit = np.sqrt(6.0 / (9 * 64 + 9 * 32))
    kv = big.get_weights()[0]
    assert np.abs(kv).max() <= limit and np.abs(kv).max() > 0.9 * limit
    # eager call (tape) == protocol; autograd reaches the kernel
    x = fusednet.Tensor(rand(rng, 2, 7, 9, 4), requires_grad=True)
    y = layer(x)
    y.sum().backward()
    assert x.grad.shape == (2, 7, 9, 4) and layer.kernel.grad is not None


def test_conv_transpose_trains_in_sequential(rng):
    fit_few_steps([L.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu"),
                   L.Conv2DTranspose(2, 2, strides=2, activation="gelu")], (3, 5, 2), rng)


@pytest.mark.parametrize("kwargs, match", [
    (dict(filters=0, kernel_size=3), "filters"),
    (dict(filters=2, kernel_size=3, padding="causal"), "padding"),
    (dict(filters=2, kernel_size=3, strides=2, output_padding=2), "output padding"),
    (dict(filters=2, kernel_size=3, strides=2, dilation_rate=2), "dilation"),
    (dict(filters=2, kernel_size=(3, 3, 3)), "kernel_size"),
    (dict(filters=2, kernel_size=3, data_format="channels_first"), "channels_last"),
])
def test_conv_transpose_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        L.Conv2DTranspose(**kwargs)


def test_conv_transpose_native_errors(rng):
    x, w = _C.asarray(rand(rng, 1, 4, 4, 3)), _C.asarray(rand(rng, 3, 3, 2, 3))
    with pytest.raises(ValueError, match="conv2d_transpose_forward.*channels mismatch"):
        _C.conv2d_transpose_forward(x, _C.asarray(rand(rng, 3, 3, 2, 5)), None, (6, 6))
    with pytest.raises(ValueError, match="conv2d_transpose_forward.*padding"):
        _C.conv2d_transpose_forward(x, w, None, (6, 6), (1, 1), (3, 0))
    with pytest.raises(ValueError, match="too small"):
        _C.conv2d_transpose_forward(x, w, None, (2, 2), (2, 2))
    with pytest.raises(ValueError, match="bias"):
        _C.conv2d_transpose_forward(x, w, _C.asarray(rand(rng, 3)), (6, 6))
    with pytest.raises(ValueError, match="conv2d_transpose_backward.*dY"):
        _C.conv2d_transpose_backward(_C.asarray(rand(rng, 1, 6, 6)), x, w)
    with pytest.raises(ValueError, match="incompatible"):
        layer = L.Conv2DTranspose(2, 3)
        layer(rand(rng, 1, 4, 4, 3))
        layer(rand(rng, 1, 4, 4, 5))


def test_conv_transpose_thread_invariant(rng):
    layer = L.Conv2DTranspose(16, 3, strides=2, padding="same")
    x = rand(rng, 4, 9, 9, 16)
    dy = rand(rng, 4, 18, 18, 16)
    n0 = _C.get_num_threads()
    try:
        _C.set_num_threads(1)
        a = run_layer(layer, x, dy)
        _C.set_num_threads(max(2, n0))
        b = run_layer(layer, x, dy)
    finally:
        _C.set_num_threads(n0)
    for u, v in zip([a[0], a[1]] + a[2], [b[0], b[1]] + b[2]):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("case", [(1, 1, 1, 1, 1, 1, "valid", None, 1, "none"), (2, 7, 3, 4, 3, 2, "same", None, 1, "relu"),
                                  (3, 5, 2, 3, 4, 3, "valid", 2, 1, "tanh"), (2, 6, 3, 2, 3, 1, "same", None, 2, "none")])
def test_conv1d_transpose_vs_2d_reference_and_fd(rng, case):
    N, steps, cin, f, k, s, pad, op, d, act = case
    layer = L.Conv1DTranspose(f, k, strides=s, padding=pad, output_padding=op, dilation_rate=d,
                              activation=None if act == "none" else act, bias_initializer="glorot_uniform")
    x = rand(rng, N, steps, cin)
    layer._maybe_build(x.shape)
    kern, bias = layer.get_weights()
    assert kern.shape == (k, f, cin)
    ref4 = lambda xx, ww, bb: convT_ref(xx[:, None], ww[None], bb, (1, s), pad, (1, d),  # noqa: E731
                                        (None if op is None else 0, op), act)[:, 0]
    ref = ref4(x, kern, bias)
    assert layer.compute_output_shape((None, steps, cin)) == (None,) + ref.shape[1:]
    assert layer(L.Input((steps, cin))).shape == (None,) + ref.shape[1:]
    dy = rng.standard_normal(ref.shape)
    y, dx, (dw, db) = run_layer(layer, x, dy)
    close(y, ref, "conv")
    x64, w64, b64 = x.astype(np.float64), kern.astype(np.float64), bias.astype(np.float64)
    loss = lambda: float((ref4(x64, w64, b64) * dy).sum())  # noqa: E731
    for arr, g in ((x64, dx), (w64, dw), (b64, db)):
        fd_close(g, fd_grad(loss, arr))
    again = L.Conv1DTranspose.from_config(layer.get_config())
    assert (again.kernel_size, again.strides, again.output_padding) == ((k,), (s,), None if op is None else (op,))


def test_conv1d_transpose_trains_and_errors(rng):
    fit_few_steps([L.Conv1DTranspose(3, 3, strides=2, padding="same", activation="relu"),
                   L.Conv1DTranspose(2, 2, strides=2)], (5, 2), rng)
    with pytest.raises(ValueError, match="output padding"):
        L.Conv1DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="kernel_size"):
        L.Conv1DTranspose(2, (3, 3))
    with pytest.raises(ValueError, match="ndim=3"):
        layer = L.Conv1DTranspose(2, 3)
        layer(rand(rng, 2, 5, 1))
        layer(rand(rng, 2, 5, 1, 1))


# ---------------------------------------------------------------- Conv1D and 1-D pooling
C1_CASES = [
    # N, L, Cin, filters, k, stride, padding, dilation, act
    (1, 1, 1, 1, 1, 1, "valid", 1, "none"),
    (2, 11, 3, 4, 3, 1, "causal", 1, "relu"),
    (3, 13, 2, 5, 3, 2, "same", 1, "tanh"),
    (2, 17, 4, 3, 2, 1, "causal", 3, "none"),
    (2, 9, 5, 7, 4, 3, "valid", 1, "sigmoid"),
    (1, 7, 16, 16, 3, 1, "same", 2, "gelu"),
]


def conv1d_ref(x, w, b, s, padding, d, act):
    x = np.asarray(x, np.float64)
    if padding == "causal":
        x = np.pad(x, ((0, 0), ((w.shape[0] - 1) * d, 0), (0, 0)))
        padding = "valid"
    if act == "gelu":
        z = conv_ref(x[:, None], np.asarray(w, np.float64)[None], b, (1, s), padding, (1, d), "none")[:, 0]
        return 0.5 * z * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))
    return conv_ref(x[:, None], np.asarray(w, np.float64)[None], b, (1, s), padding, (1, d), act)[:, 0]


@pytest.mark.parametrize("case", C1_CASES)
def test_conv1d_vs_reference_and_fd(rng, case):
    N, Ln, cin, f, k, s, pad, d, act = case
    layer = L.Conv1D(f, k, strides=s, padding=pad, dilation_rate=d, activation=None if act == "none" else act,
                     bias_initializer="glorot_uniform")
    x = rand(rng, N, Ln, cin)
    layer._maybe_build(x.shape)
    kern, bias = layer.get_weights()
    assert kern.shape == (k, cin, f)
    ref = conv1d_ref(x, kern, bias, s, pad, d, act)
    assert layer.compute_output_shape((None, Ln, cin)) == (None,) + ref.shape[1:]
    dy = rng.standard_normal(ref.shape)
    y, dx, (dw, db) = run_layer(layer, x, dy)
    close(y, ref, "conv")
    x64, w64, b64 = x.astype(np.float64), kern.astype(np.float64), bias.astype(np.float64)
    loss = lambda: float((conv1d_ref(x64, w64, b64, s, pad, d, act) * dy).sum())  # noqa: E731
    for arr, g in ((x64, dx), (w64, dw), (b64, db)):
        fd_close(g, fd_grad(loss, arr))


@requires_torch
@pytest.mark.parametrize("case", C1_CASES)
def test_conv1d_vs_torch(rng, case):
    import torch
    N, Ln, cin, f, k, s, pad, d, act = case
    layer = L.Conv1D(f, k, strides=s, padding=pad, dilation_rate=d, activation=None if act == "none" else act,
                     bias_initializer="glorot_uniform")
    x = rand(rng, N, Ln, cin)
    layer._maybe_build(x.shape)
    kern, bias = layer.get_weights()
    dy = rand(rng, *layer.compute_output_shape(x.shape))
    y, dx, (dw, db) = run_layer(layer, x, dy)
    xt = torch.tensor(x).permute(0, 2, 1).requires_grad_()
    wt = torch.tensor(kern).permute(2, 1, 0).contiguous().requires_grad_()
    bt = torch.tensor(bias).requires_grad_()
    keff = (k - 1) * d + 1
    if pad == "causal":
        xp = torch.nn.functional.pad(xt, (keff - 1, 0))
    elif pad == "same":
        out = -(-Ln // s)
        tot = max((out - 1) * s + keff - Ln, 0)
        xp = torch.nn.functional.pad(xt, (tot // 2, tot - tot // 2))
    else:
        xp = xt
    z = torch.nn.functional.conv1d(xp, wt, bt, stride=s, dilation=d)
    yt = {"none": z, "relu": torch.relu(z), "tanh": torch.tanh(z), "sigmoid": torch.sigmoid(z),
          "gelu": torch.nn.functional.gelu(z)}[act].permute(0, 2, 1)
    (yt * torch.tensor(dy)).sum().backward()
    close(y, yt.detach().numpy(), "torch")
    close(dx, xt.grad.permute(0, 2, 1).numpy(), "torch")
    close(dw, wt.grad.permute(2, 1, 0).numpy(), "torch")
    close(db, bt.grad.numpy(), "torch")


@pytest.mark.parametrize("cls, p, s, pad", [(L.MaxPooling1D, 2, None, "valid"), (L.MaxPooling1D, 3, 2, "same"),
                                            (L.AveragePooling1D, 3, 1, "valid"), (L.AveragePooling1D, 2, 2, "same")])
def test_pool1d_vs_reference(rng, cls, p, s, pad):
    x = rand(rng, 2, 11, 3)
    layer = cls(p, strides=s, padding=pad)
    st = p if s is None else s
    out = layer.compute_output_shape((None, 11, 3))[1]
    x64 = x.astype(np.float64)
    pt = max((out - 1) * st + p - 11, 0) // 2 if pad == "same" else 0
    ref = np.zeros((2, out, 3))
    for o in range(out):
        lo, hi = max(o * st - pt, 0), min(o * st - pt + p, 11)
        win = x64[:, lo:hi]
        ref[:, o] = win.max(1) if cls is L.MaxPooling1D else win.mean(1)
    dy = rng.standard_normal(ref.shape)
    y, dx, _ = run_layer(layer, x, dy)
    close(y, ref, "conv")
    if cls is L.AveragePooling1D:
        def loss():
            r = np.zeros((2, out, 3))
            for o in range(out):
                lo, hi = max(o * st - pt, 0), min(o * st - pt + p, 11)
                r[:, o] = x64[:, lo:hi].mean(1)
            return float((r * dy).sum())
        fd_close(dx, fd_grad(loss, x64))
    else:
        assert np.isclose(dx.sum(), dy.sum(), rtol=1e-4)


def test_global_pool1d_and_shapes(rng):
    x = rand(rng, 3, 7, 5)
    for cls, red in ((L.GlobalAveragePooling1D, np.mean), (L.GlobalMaxPooling1D, np.max)):
        y, dx, _ = run_layer(cls(), x, np.ones((3, 5)))
        close(y, red(x.astype(np.float64), axis=1), "reduce")
        assert dx.shape == x.shape
        assert cls(keepdims=True).compute_output_shape((None, 7, 5)) == (None, 1, 5)
        yk, _, _ = run_layer(cls(keepdims=True), x)
        assert yk.shape == (3, 1, 5)
    assert L.Conv1D(4, 3, padding="causal")(L.Input((10, 2))).shape == (None, 10, 4)
    assert L.Conv1D(4, 3, strides=2)(L.Input((10, 2))).shape == (None, 4, 4)
    assert L.MaxPooling1D()(L.Input((9, 2))).shape == (None, 4, 2)


def test_conv1d_trains_in_sequential(rng):
    fit_few_steps([L.Conv1D(4, 3, padding="causal", activation="relu"), L.MaxPooling1D(2),
                   L.Conv1D(3, 2, dilation_rate=2, activation="elu"), L.AveragePooling1D(2, strides=1)],
                  (13, 2), rng)
    fit_few_steps([L.Conv1D(4, 3, padding="same"), L.GlobalMaxPooling1D()], (7, 3), rng)


@pytest.mark.parametrize("make, match", [
    (lambda: L.Conv1D(2, 3, padding="full"), "padding"),
    (lambda: L.Conv1D(2, 3, strides=2, dilation_rate=2), "dilation"),
    (lambda: L.Conv1D(2, 0), "kernel_size"),
    (lambda: L.Conv1D(2, 3, groups=2), "groups"),
    (lambda: L.MaxPooling1D(0), "pool_size"),
])
def test_conv1d_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_conv1d_bad_inputs(rng):
    with pytest.raises(ValueError, match="3-D input"):
        L.Conv1D(2, 3)(rand(rng, 2, 5, 5, 1))
    with pytest.raises(ValueError, match="larger than the input"):
        L.Conv1D(2, 5)(rand(rng, 2, 3, 1))
    with pytest.raises(ValueError, match="ndim=3"):
        L.GlobalAveragePooling1D()(rand(rng, 2, 3))


# ---------------------------------------------------------------- SeparableConv2D
SEP_CASES = [
    # N, H, W, C, filters, k, strides, padding, dm, dilation, act
    (1, 1, 1, 1, 1, (1, 1), (1, 1), "valid", 1, (1, 1), "none"),
    (2, 6, 5, 3, 4, (3, 3), (1, 1), "same", 2, (1, 1), "relu"),
    (2, 7, 7, 2, 3, (3, 2), (2, 2), "valid", 1, (1, 1), "tanh"),
    (1, 9, 8, 4, 5, (3, 3), (1, 1), "same", 3, (2, 2), "none"),
]


def sep_ref(x, dk, pk, b, s, pad, d, act):
    from test_depthwise import dw_ref
    z = dw_ref(x, dk, None, s, pad, d)
    return ACTS[act](np.einsum("nhwc,cf->nhwf", z, np.asarray(pk, np.float64)[0, 0]) + np.asarray(b, np.float64))


@pytest.mark.parametrize("case", SEP_CASES)
def test_separable_conv_vs_reference_and_fd(rng, case):
    N, H, W, C, f, k, s, pad, dm, d, act = case
    layer = L.SeparableConv2D(f, k, strides=s, padding=pad, depth_multiplier=dm, dilation_rate=d, activation=None if act == "none" else act,
                              bias_initializer="glorot_uniform")
    x = rand(rng, N, H, W, C)
    layer._maybe_build(x.shape)
    assert [w.name.split("/")[-1] for w in layer.weights] == ["depthwise_kernel", "pointwise_kernel", "bias"]
    dk, pk, b = layer.get_weights()
    assert dk.shape == k + (C, dm) and pk.shape == (1, 1, C * dm, f) and b.shape == (f,)
    ref = sep_ref(x, dk, pk, b, s, pad, d, act)
    assert layer.compute_output_shape((None, H, W, C)) == (None,) + ref.shape[1:]
    dy = rng.standard_normal(ref.shape)
    y, dx, (gdk, gpk, gb) = run_layer(layer, x, dy)
    close(y, ref, "conv")
    arrs = [a.astype(np.float64) for a in (x, dk, pk, b)]
    loss = lambda: float((sep_ref(*arrs, s, pad, d, act) * dy).sum())  # noqa: E731
    for arr, g in zip(arrs, (dx, gdk, gpk, gb)):
        fd_close(g, fd_grad(loss, arr))


def test_separable_conv_trains_and_errors(rng):
    fit_few_steps([L.SeparableConv2D(4, 3, padding="same", depth_multiplier=2, activation="relu"),
                   L.SeparableConv2D(2, 2, strides=2, use_bias=False)], (6, 6, 3), rng)
    with pytest.raises(ValueError, match="depth_multiplier"):
        L.SeparableConv2D(2, 3, depth_multiplier=0)
    with pytest.raises(ValueError, match="dilation"):
        L.SeparableConv2D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="larger than the input"):
        L.SeparableConv2D(2, 5)(rand(rng, 1, 3, 3, 2))


# ---------------------------------------------------------------- UpSampling
def up_ref(x, sh, sw, interp):
    x = np.asarray(x, np.float64)
    if interp == "nearest":
        return x.repeat(sh, axis=1).repeat(sw, axis=2)

    def taps(Lo, s, Ln):
        src = np.maximum((np.arange(Lo * s) + 0.5) / s - 0.5, 0.0)
        lo = np.minimum(np.floor(src).astype(int), Ln - 1)
        hi = np.minimum(lo + 1, Ln - 1)
        return lo, hi, src - lo

    ly, hy, fy = taps(x.shape[1], sh, x.shape[1])
    lx, hx, fx = taps(x.shape[2], sw, x.shape[2])
    fy, fx = fy[None, :, None, None], fx[None, None, :, None]
    r0, r1 = x[:, ly], x[:, hy]
    return (1 - fy) * ((1 - fx) * r0[:, :, lx] + fx * r0[:, :, hx]) + fy * ((1 - fx) * r1[:, :, lx] + fx * r1[:, :, hx])


UP_CASES = [(1, 1, 1, 1, (1, 1)), (2, 3, 5, 2, (2, 2)), (1, 7, 4, 3, (3, 2)), (2, 5, 5, 17, (1, 4))]


@pytest.mark.parametrize("interp", ["nearest", "bilinear"])
@pytest.mark.parametrize("case", UP_CASES)
def test_upsampling2d_vs_reference_fd_and_torch(rng, case, interp):
    N, H, W, C, size = case
    x = rand(rng, N, H, W, C)
    layer = L.UpSampling2D(size, interpolation=interp)
    ref = up_ref(x, *size, interp)
    assert layer.compute_output_shape((None, H, W, C)) == (None,) + ref.shape[1:]
    dy = rng.standard_normal(ref.shape)
    y, dx, _ = run_layer(layer, x, dy)
    close(y, ref, "conv")
    x64 = np.ascontiguousarray(x.astype(np.float64)[:1, :, :, :2])
    dy1 = dy[:1, :, :, :2]
    _, dx1, _ = run_layer(L.UpSampling2D(size, interpolation=interp), np.ascontiguousarray(x[:1, :, :, :2]), dy1)
    fd_close(dx1, fd_grad(lambda: float((up_ref(x64, *size, interp) * dy1).sum()), x64))
    try:
        import torch
    except ImportError:
        return
    xt = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_()
    yt = torch.nn.functional.interpolate(xt, scale_factor=size, mode=interp,
                                         **({} if interp == "nearest" else {"align_corners": False}))
    yt = yt.permute(0, 2, 3, 1)
    (yt * torch.tensor(dy, dtype=torch.float32)).sum().backward()
    close(y, yt.detach().numpy(), "torch")
    close(dx, xt.grad.permute(0, 2, 3, 1).numpy(), "torch")


def test_upsampling_layers_shapes_train_and_errors(rng):
    assert L.UpSampling2D((2, 3))(L.Input((4, 5, 2))).shape == (None, 8, 15, 2)
    assert L.UpSampling1D(3)(L.Input((4, 2))).shape == (None, 12, 2)
    x = rand(rng, 2, 4, 3)
    dy = rand(rng, 2, 8, 3)
    y, dx, _ = run_layer(L.UpSampling1D(2), x, dy)
    np.testing.assert_array_equal(y, x.repeat(2, axis=1))
    close(dx, dy.astype(np.float64).reshape(2, 4, 2, 3).sum(2), "reduce")
    fit_few_steps([L.Conv2D(2, 2), L.UpSampling2D(2), L.UpSampling2D((1, 2), interpolation="bilinear")],
                  (4, 4, 1), rng)
    fit_few_steps([L.Conv1D(2, 2), L.UpSampling1D(2)], (5, 2), rng)
    with pytest.raises(ValueError, match="interpolation"):
        L.UpSampling2D(interpolation="bicubic")
    with pytest.raises(ValueError, match="size"):
        L.UpSampling2D(0)
    with pytest.raises(ValueError, match="ndim=4"):
        L.UpSampling2D()(rand(rng, 2, 3, 3))
    with pytest.raises(ValueError, match="upsample2d_backward.*dY"):
        _C.upsample2d_backward(_C.asarray(rand(rng, 1, 4, 4, 1)), [1, 3, 2, 1], (2, 2))
    with pytest.raises(ValueError, match="upsample2d_forward.*4-D"):
        _C.upsample2d_forward(_C.asarray(rand(rng, 4, 4)), (2, 2))
