"""ReLU / LeakyReLU / PReLU / ELU / Softmax layers, Rescaling / Identity / Lambda / Permute /
RepeatVector / SpatialDropout2D / Normalization, RandomContrast / RandomBrightness: forward vs
float64 NumPy (and PyTorch where it has the op), backward by float64 finite differences of the
references, Keras defaults and shapes, training inside a Sequential, bad arguments."""
import numpy as np
import pytest

import fusednet
from fusednet import _C, layers as L
from conftest import requires_torch
from test_conv import close, fd_close
from test_image_layers import fd_grad, fit_few_steps, rand, run_layer


def relu_ref(x, max_value=None, negative_slope=0.0, threshold=0.0):
    x = np.asarray(x, np.float64)
    a = np.where(x > threshold, x, 0.0)
    if max_value is not None:
        a = np.clip(a, 0.0, max_value)
    return a - negative_slope * np.maximum(threshold - x, 0.0)


def away_from_kinks(x, kinks, gap=1e-3):
    """Move entries within gap of a kink (where finite differences are meaningless) away from it."""
    x = np.array(x, np.float32)
    for k in kinks:
        near = np.abs(x - k) < gap
        x[near] = k + 4 * gap
    return x


# ---------------------------------------------------------------- ReLU family
@pytest.mark.parametrize("kwargs", [{}, {"max_value": 6.0}, {"negative_slope": 0.1},
                                    {"max_value": 1.5, "negative_slope": 0.2, "threshold": 0.5},
                                    {"threshold": 1.0}, {"max_value": 0.0}])
def test_relu_layer_vs_reference_and_fd(rng, kwargs):
    layer = L.ReLU(**kwargs)
    kinks = [0.0, kwargs.get("threshold", 0.0)] + ([kwargs["max_value"]] if "max_value" in kwargs else [])
    x = away_from_kinks(rand(rng, 3, 7, 5) * 3, kinks)
    dy = rng.standard_normal(x.shape)
    y, dx, grads = run_layer(layer, x, dy)
    close(y, relu_ref(x, **kwargs), "pointwise")
    x64 = x.astype(np.float64)
    fd_close(dx, fd_grad(lambda: float((relu_ref(x64, **kwargs) * dy).sum()), x64))
    assert grads == []


def test_relu_defaults_and_errors():
    r = L.ReLU()
    assert (r.max_value, r.negative_slope, r.threshold) == (None, 0.0, 0.0)
    assert L.LeakyReLU().negative_slope == 0.3           # Keras 3 layer default
    assert L.LeakyReLU(alpha=0.1).negative_slope == 0.1  # legacy keyword
    assert L.ELU().alpha == 1.0
    for kw in ({"max_value": -1.0}, {"negative_slope": -0.1}, {"threshold": -1.0}, {"threshold": None}):
        with pytest.raises(ValueError, match="ReLU layer"):
            L.ReLU(**kw)
    with pytest.raises(ValueError, match="negative_slope"):
        L.LeakyReLU(-0.5)
    with pytest.raises(ValueError, match="alpha"):
        L.ELU(float("nan"))
    with pytest.raises(ValueError, match="relu_ext_forward"):
        _C.relu_ext_forward(_C.asarray(np.zeros(3, np.float32)), float("inf"))


@pytest.mark.parametrize("layer, ref, kinks", [
    (L.LeakyReLU(), lambda x: np.where(x > 0, x, 0.3 * x), [0.0]),
    (L.LeakyReLU(negative_slope=0.05), lambda x: np.where(x > 0, x, 0.05 * x), [0.0]),
    (L.ELU(), lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))), [0.0]),
    (L.ELU(alpha=0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(np.minimum(x, 0))), [0.0]),
])
def test_leaky_relu_and_elu_vs_reference_and_fd(rng, layer, ref, kinks):
    x = away_from_kinks(rand(rng, 2, 11, 3) * 2, kinks)
    dy = rng.standard_normal(x.shape)
    y, dx, _ = run_layer(layer, x, dy)
    close(y, ref(x.astype(np.float64)), "pointwise")
    x64 = x.astype(np.float64)
    fd_close(dx, fd_grad(lambda: float((ref(x64) * dy).sum()), x64))


# ---------------------------------------------------------------- PReLU
def prelu_ref(x, alpha):
    x = np.asarray(x, np.float64)
    return np.where(x > 0, x, np.asarray(alpha, np.float64) * x)


@pytest.mark.parametrize("shape, shared", [((3, 5), None), ((2, 5, 7, 3), [1, 2]), ((2, 4, 6, 3), [3]),
                                           ((2, 3, 1, 4), [1]), ((1, 1), None), ((2, 5, 3), [1, 2]),
                                           ((2, 3, 4, 5, 2), [2, 4])])
def test_prelu_vs_reference_and_fd(rng, shape, shared):
    layer = L.PReLU(alpha_initializer="glorot_uniform", shared_axes=shared)
    x = away_from_kinks(rand(rng, *shape), [0.0])
    layer._maybe_build(x.shape)
    (alpha,) = layer.get_weights()
    want = [1 if (shared and i + 1 in shared) else s for i, s in enumerate(shape[1:])]
    assert alpha.shape == tuple(want) and layer.weights[0].name.endswith("alpha")
    dy = rng.standard_normal(x.shape)
    y, dx, (da,) = run_layer(layer, x, dy)
    close(y, prelu_ref(x, alpha), "pointwise")
    x64, a64 = x.astype(np.float64), alpha.astype(np.float64)
    loss = lambda: float((prelu_ref(x64, a64) * dy).sum())  # noqa: E731
    fd_close(dx, fd_grad(loss, x64))
    fd_close(da, fd_grad(loss, a64))


@requires_torch
def test_prelu_vs_torch(rng):
    import torch
    x = rand(rng, 4, 6, 5, 7)
    layer = L.PReLU(alpha_initializer="glorot_uniform", shared_axes=[1, 2])
    layer._maybe_build(x.shape)
    (alpha,) = layer.get_weights()
    dy = rand(rng, *x.shape)
    y, dx, (da,) = run_layer(layer, x, dy)
    m = torch.nn.PReLU(num_parameters=7)
    with torch.no_grad():
        m.weight.copy_(torch.tensor(alpha.reshape(7)))
    xt = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_()
    yt = m(xt).permute(0, 2, 3, 1)
    (yt * torch.tensor(dy)).sum().backward()
    close(y, yt.detach().numpy(), "torch")
    close(dx, xt.grad.permute(0, 2, 3, 1).numpy(), "torch")
    close(da.reshape(7), m.weight.grad.numpy(), "torch")


def test_prelu_defaults_errors_and_training(rng):
    layer = L.PReLU()
    layer._maybe_build((None, 4))
    np.testing.assert_array_equal(layer.get_weights()[0], np.zeros(4, np.float32))   # Keras: zeros
    with pytest.raises(ValueError, match="shared_axes"):
        L.PReLU(shared_axes=[3])._maybe_build((None, 4, 5))
    with pytest.raises(ValueError, match="known size"):
        L.PReLU()._maybe_build((None, None, 5))
    with pytest.raises(ValueError, match="incompatible"):
        p = L.PReLU()
        p(rand(rng, 2, 4))
        p(rand(rng, 2, 5))
    with pytest.raises(ValueError, match="prelu_forward.*broadcast"):
        _C.prelu_forward(_C.asarray(rand(rng, 2, 4)), _C.asarray(rand(rng, 3)))
    frozen = L.PReLU(trainable=False)
    _, _, g = run_layer(frozen, rand(rng, 2, 3), rand(rng, 2, 3))
    assert g == []
    fit_few_steps([L.Conv2D(3, 2), L.PReLU(shared_axes=[1, 2], alpha_initializer=fusednet.initializers.Constant(0.2)),
                   L.LeakyReLU(), L.ELU(), L.ReLU(max_value=6.0, negative_slope=0.1)], (5, 5, 2), rng)


# ---------------------------------------------------------------- Softmax
def softmax_ref(x, axis):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("shape, axis", [((3, 5), -1), ((2, 4, 3), 1), ((2, 3, 4, 5), -3), ((1, 1), -1),
                                         ((2, 3, 7), 0)])
def test_softmax_layer_vs_reference_and_fd(rng, shape, axis):
    x = rand(rng, *shape)
    dy = rng.standard_normal(shape)
    y, dx, _ = run_layer(L.Softmax(axis=axis), x, dy)
    close(y, softmax_ref(x, axis), "pointwise")
    x64 = x.astype(np.float64)
    fd_close(dx, fd_grad(lambda: float((softmax_ref(x64, axis) * dy).sum()), x64))


def test_softmax_output_fuses_with_crossentropy_and_errors(rng):
    model = fusednet.Sequential([L.Input((4,)), L.Dense(3), L.Softmax()])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    x = rng.random((16, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 16)]
    hist = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))
    p = model.predict(x, verbose=0)
    close(p.sum(1), np.ones(16), "pointwise")
    assert L.Softmax()._output_activation() == "softmax" and L.Softmax(axis=1)._output_activation() is None
    with pytest.raises(ValueError, match="out of range"):
        L.Softmax(axis=3)(rand(rng, 2, 3))
    with pytest.raises(ValueError, match="axis"):
        L.Softmax(axis=(1, 2))


# ---------------------------------------------------------------- core extras
@pytest.mark.parametrize("scale, offset", [(1 / 255.0, 0.0), (1 / 127.5, -1.0), ([0.5, 2.0, -1.0], [1.0, 0.0, 3.0]),
                                           (2.0, [0.1, 0.2, 0.3])])
def test_rescaling_vs_reference(rng, scale, offset):
    x = rand(rng, 2, 4, 3) * 100
    dy = rng.standard_normal(x.shape)
    y, dx, _ = run_layer(L.Rescaling(scale, offset), x, dy)
    s64, o64 = np.asarray(scale, np.float64), np.asarray(offset, np.float64)
    close(y, x.astype(np.float64) * s64 + o64, "pointwise")
    close(dx, dy * s64, "pointwise")
    with pytest.raises(ValueError, match="Rescaling"):
        L.Rescaling("a")


def test_identity_permute_repeatvector(rng):
    x = rand(rng, 2, 3, 5)
    y, dx, _ = run_layer(L.Identity(), x, x)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(dx, x)
    dy = rand(rng, 2, 5, 3)
    y, dx, _ = run_layer(L.Permute((2, 1)), x, dy)
    np.testing.assert_array_equal(y, x.transpose(0, 2, 1))
    np.testing.assert_array_equal(dx, dy.transpose(0, 2, 1))
    x4 = rand(rng, 2, 3, 4, 5)
    dy4 = rand(rng, 2, 5, 3, 4)
    y, dx, _ = run_layer(L.Permute((3, 1, 2)), x4, dy4)
    np.testing.assert_array_equal(y, x4.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(dx, dy4.transpose(0, 2, 3, 1))
    assert L.Permute((3, 1, 2))(L.Input((3, 4, 5))).shape == (None, 5, 3, 4)
    v = rand(rng, 4, 7)
    dyr = rng.standard_normal((4, 3, 7))
    y, dx, _ = run_layer(L.RepeatVector(3), v, dyr)
    np.testing.assert_array_equal(y, np.repeat(v[:, None], 3, axis=1))
    close(dx, dyr.sum(1), "reduce")
    assert L.RepeatVector(3)(L.Input((7,))).shape == (None, 3, 7)
    with pytest.raises(ValueError, match="Permute"):
        L.Permute((1, 3))
    with pytest.raises(ValueError, match="rank"):
        L.Permute((2, 1))(rand(rng, 2, 3, 4, 5))
    with pytest.raises(ValueError, match="RepeatVector"):
        L.RepeatVector(0)
    with pytest.raises(ValueError, match="ndim=2"):
        L.RepeatVector(2)(rand(rng, 2, 3, 4))


def test_lambda_layer(rng):
    lam = L.Lambda(lambda t: fusednet.activations.relu(t) * 2.0 + 1.0)
    x = rand(rng, 3, 4)
    y = lam(x)
    close(y.numpy(), np.maximum(x, 0) * 2 + 1, "pointwise")
    inp = L.Input((4,))
    assert lam(inp).shape == (None, 4)
    assert L.Lambda(lambda t: t[:, :2])(inp).shape == (None, 2)
    assert L.Lambda(lambda t: t, output_shape=(4,))(inp).shape == (None, 4)
    assert L.Lambda(lambda t, k: t * k, arguments={"k": 3.0})(x).numpy()[0, 0] == pytest.approx(3 * x[0, 0])
    # gradients reach the function's inputs on the tape
    xt = fusednet.Tensor(x, requires_grad=True)
    (lam(xt) * 1.0).sum().backward()
    close(xt.grad.numpy(), np.where(x > 0, 2.0, 0.0), "pointwise")
    model = fusednet.Sequential([L.Input((4,)), L.Dense(3), L.Lambda(lambda t: t * 0.5, name="half"), L.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()
    model.fit(x, rng.random((3, 2)).astype(np.float32), epochs=2, verbose=0)
    assert model._get_plan().tape_layers == ["half"]   # the Lambda node runs on the tape, the rest compiled
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    with pytest.raises(TypeError, match="callable"):
        L.Lambda(3)
    with pytest.raises(TypeError, match="Tensor"):
        L.Lambda(lambda t: 3)(x)


def test_spatial_dropout2d(rng):
    x = rng.random((4, 5, 6, 32)).astype(np.float32) + 1.0
    layer = L.SpatialDropout2D(0.5, seed=3)
    y, dx, _ = run_layer(layer, x, np.ones_like(x), training=True)
    ratio = y / x
    per_map = ratio.reshape(4, 30, 32)
    assert np.all(per_map.min(1) == per_map.max(1))   # whole maps kept or dropped
    assert set(np.unique(np.round(per_map[:, 0], 5))) <= {0.0, 2.0}
    assert 0.2 < (per_map[:, 0] == 0).mean() < 0.8
    close(dx, ratio, "pointwise")
    y_inf, _, _ = run_layer(L.SpatialDropout2D(0.5), x)
    np.testing.assert_array_equal(y_inf, x)
    a = run_layer(L.SpatialDropout2D(0.5, seed=9), x, training=True)[0]
    b = run_layer(L.SpatialDropout2D(0.5, seed=9), x, training=True)[0]
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="rate"):
        L.SpatialDropout2D(1.0)
    fit_few_steps([L.Conv2D(4, 2), L.SpatialDropout2D(0.25, seed=1)], (4, 4, 2), rng)


@pytest.mark.parametrize("shape, axis", [((50, 4), -1), ((30, 3, 5), (1, 2)), ((40, 3, 4), 1), ((20, 6), None)])
def test_normalization_adapt_and_forward(rng, shape, axis):
    data = (rng.random(shape) * 10 + 3).astype(np.float32)
    norm = L.Normalization(axis=axis)
    norm.adapt(data)
    nd = len(shape)
    keep = [] if axis is None else [a % nd for a in ((axis,) if isinstance(axis, int) else axis)]
    red = tuple(a for a in range(nd) if a not in keep)
    d64 = data.astype(np.float64)
    mean, var = d64.mean(red, keepdims=True), d64.var(red, keepdims=True)
    close(norm.mean.numpy().reshape(mean.shape) if keep else norm.mean.numpy().reshape(()), mean.reshape(
        mean.shape if keep else ()), "reduce")
    close(norm.variance.numpy().reshape(var.shape) if keep else norm.variance.numpy().reshape(()),
          var.reshape(var.shape if keep else ()), "reduce")
    x = rand(rng, *((3,) + shape[1:]))
    dy = rng.standard_normal(x.shape)
    y, dx, g = run_layer(norm, x, dy)
    std = np.maximum(np.sqrt(var), 1e-7)
    close(y, (x - mean) / std, "norm")
    close(dx, dy / std, "norm")
    assert g == [] and len(norm.non_trainable_weights) == 2
    inv = L.Normalization(axis=axis, invert=True)
    inv.adapt(data)
    close(run_layer(inv, y.astype(np.float32))[0], x, "norm")


def test_normalization_fixed_stats_and_errors(rng):
    norm = L.Normalization(mean=[1.0, 2.0], variance=[4.0, 0.0])
    y, _, _ = run_layer(norm, np.array([[3.0, 2.0]], np.float32))
    close(y, [[1.0, 0.0]], "norm")
    assert norm.weights == []
    with pytest.raises(ValueError, match="both"):
        L.Normalization(mean=[1.0])
    with pytest.raises(ValueError, match="adapt"):
        norm.adapt(np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match="out of range"):
        L.Normalization(axis=0)._maybe_build((None, 3))
    n2 = L.Normalization()
    n2.adapt(rng.random((20, 3)).astype(np.float32) * 5)
    fit_few_steps([n2, L.Dense(4)], (3,), rng)


# ---------------------------------------------------------------- colour augmentation
def test_random_contrast(rng):
    x = (rng.random((6, 5, 7, 3)) * 255).astype(np.float32)
    layer = L.RandomContrast(0.4, seed=11)
    y = layer(x, training=True).numpy()
    u = np.asarray(_C.random_uniform([6, 4], 11, 0, 0.6, 1.4))[:, 0].astype(np.float64)
    x64 = x.astype(np.float64)
    mean = x64.mean((1, 2), keepdims=True)
    ref = np.clip((x64 - mean) * u[:, None, None, None] + mean, 0, 255)
    close(y, ref, "norm")
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    y2 = L.RandomContrast(0.4, seed=11)(x, training=True).numpy()
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(layer(x, training=True).numpy(), y)   # next call, next offset
    small = L.RandomContrast((0.1, 0.2), value_range=(0, 1), seed=1)
    out = small(x / 255.0, training=True).numpy()
    assert out.min() >= 0 and out.max() <= 1
    for bad in (-0.1, 1.5, (0.2,), "x"):
        with pytest.raises(ValueError, match="factor"):
            L.RandomContrast(bad)
    with pytest.raises(ValueError, match="value_range"):
        L.RandomContrast(0.1, value_range=(1, 0))


def test_random_brightness(rng):
    x = (rng.random((5, 4, 6, 3))).astype(np.float32)
    layer = L.RandomBrightness((-0.2, 0.3), value_range=(0, 1), seed=5)
    y = layer(x, training=True).numpy()
    u = np.asarray(_C.random_uniform([5, 4], 5, 0, -0.2, 0.3))[:, 0].astype(np.float64)
    close(y, np.clip(x.astype(np.float64) + u[:, None, None, None], 0, 1), "norm")
    np.testing.assert_array_equal(layer(x).numpy(), x)
    sym = L.RandomBrightness(0.5, seed=2)
    assert (sym.lower, sym.upper) == (-0.5, 0.5)
    for bad in (1.5, (-2.0, 0.1), None):
        with pytest.raises(ValueError, match="factor"):
            L.RandomBrightness(bad)
    with pytest.raises(ValueError, match="4-D"):
        L.RandomBrightness(0.1)(rand(rng, 2, 3, 3), training=True)


def test_color_augmentation_in_fit_and_no_grad(rng):
    model = fit_few_steps([L.RandomContrast(0.2, value_range=(0, 1), seed=1),
                           L.RandomBrightness(0.1, value_range=(0, 1), seed=2), L.Conv2D(2, 3)], (6, 6, 3), rng)
    assert model.predict(rng.random((2, 6, 6, 3)).astype(np.float32), verbose=0).shape == (2, 2)
    xt = fusednet.Tensor(rng.random((2, 4, 4, 3)).astype(np.float32), requires_grad=True)
    with pytest.raises(ValueError, match="backpropagate"):
        L.RandomContrast(0.2)(xt, training=True)


def test_new_kernels_thread_count_invariant(rng):
    """upsample2d (gather backward) and prelu (reduce of dAlpha) give the same bits on 1 and 2+ threads."""
    x = rand(rng, 3, 23, 29, 17)
    dyu = rand(rng, 3, 46, 87, 17)
    xp = rand(rng, 4, 37, 41, 13)
    dyp = rand(rng, 4, 37, 41, 13)
    alpha = rand(rng, 1, 41, 13)

    def run():
        out = []
        for interp in ("nearest", "bilinear"):
            out.append(_C.upsample2d_forward(_C.asarray(x), (2, 3), interp).numpy().copy())
            out.append(_C.upsample2d_backward(_C.asarray(dyu), list(x.shape), (2, 3), interp).numpy().copy())
        dxp, da = _C.prelu_backward(_C.asarray(dyp), _C.asarray(xp), _C.asarray(alpha))
        out += [_C.prelu_forward(_C.asarray(xp), _C.asarray(alpha)).numpy().copy(), dxp.numpy().copy(),
                da.numpy().copy()]
        out.append(_C.relu_ext_backward(_C.asarray(dyp), _C.asarray(xp), 0.1, 2.0, 0.3).numpy().copy())
        return out

    n0 = _C.get_num_threads()
    try:
        _C.set_num_threads(1)
        a = run()
        _C.set_num_threads(max(2, n0))
        b = run()
    finally:
        _C.set_num_threads(n0)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def test_zero_padding1d_and_cropping1d(rng):
    x = rand(rng, 2, 5, 3)
    dy = rand(rng, 2, 8, 3)
    y, dx, _ = run_layer(L.ZeroPadding1D((1, 2)), x, dy)
    np.testing.assert_array_equal(y, np.pad(x, ((0, 0), (1, 2), (0, 0))))
    np.testing.assert_array_equal(dx, dy[:, 1:6])
    dyc = rand(rng, 2, 2, 3)
    y, dx, _ = run_layer(L.Cropping1D((1, 2)), x, dyc)
    np.testing.assert_array_equal(y, x[:, 1:3])
    np.testing.assert_array_equal(dx, np.pad(dyc, ((0, 0), (1, 2), (0, 0))))
    assert L.ZeroPadding1D(2)(L.Input((5, 3))).shape == (None, 9, 3)
    assert L.Cropping1D(1)(L.Input((5, 3))).shape == (None, 3, 3)
    with pytest.raises(ValueError, match="leaves nothing"):
        L.Cropping1D((3, 2))(x)
    with pytest.raises(ValueError, match="padding"):
        L.ZeroPadding1D(-1)
    with pytest.raises(ValueError, match="ndim=3"):
        L.ZeroPadding1D()(rand(rng, 2, 3))
    fit_few_steps([L.ZeroPadding1D(1), L.Conv1D(3, 3), L.Cropping1D((0, 1))], (6, 2), rng)


def test_gaussian_noise_and_dropout(rng):
    x = np.ones((64, 200), np.float32)
    y, dx, _ = run_layer(L.GaussianNoise(0.5, seed=3), x, x, training=True)
    noise = y.astype(np.float64) - 1.0
    assert abs(noise.mean()) < 0.01 and abs(noise.std() - 0.5) < 0.01
    np.testing.assert_array_equal(dx, x)
    ref = np.asarray(_C.random_normal([64, 200], 3, 0, 0.0, 0.5)).astype(np.float64)
    close(y, 1.0 + ref, "pointwise")
    y, dx, _ = run_layer(L.GaussianDropout(0.2, seed=4), x * 2, x, training=True)
    m = y.astype(np.float64) / 2
    assert abs(m.mean() - 1.0) < 0.01 and abs(m.std() - np.sqrt(0.25)) < 0.01
    close(dx, m, "pointwise")
    for layer in (L.GaussianNoise(0.5), L.GaussianDropout(0.5)):
        np.testing.assert_array_equal(run_layer(layer, x)[0], x)   # identity at inference
    with pytest.raises(ValueError, match="stddev"):
        L.GaussianNoise(-1.0)
    with pytest.raises(ValueError, match="rate"):
        L.GaussianDropout(1.0)
    fit_few_steps([L.Dense(4), L.GaussianNoise(0.1), L.GaussianDropout(0.3)], (3,), rng)
