"""fusednet.losses through the Python API: Keras values, gradients, fusion, strings, errors."""
import numpy as np
import pytest

import fusednet as fn
from fusednet import Tensor, losses
from tolerances import TOL

RT, AT = TOL["loss"]


def _sm(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _grad(loss, yt, yp):
    t = Tensor(yp, requires_grad=True)
    v = loss(yt, t)
    v.backward()
    return float(v.item()), t.grad.numpy()


def test_sparse_cce_from_logits_value_and_grad(rng):
    z = rng.standard_normal((6, 4)).astype(np.float32)
    y = np.array([0, 3, 1, 2, 2, 0])
    v, g = _grad(losses.SparseCategoricalCrossentropy(from_logits=True), y, z)
    p = _sm(z.astype(np.float64))
    np.testing.assert_allclose(v, -np.log(p[np.arange(6), y]).mean(), rtol=RT)
    np.testing.assert_allclose(g, (p - np.eye(4)[y]) / 6, rtol=RT, atol=AT)


def test_cce_probs_label_smoothing(rng):
    p = _sm(rng.standard_normal((5, 3)))
    y = np.eye(3)[[0, 1, 2, 1, 0]]
    v = losses.CategoricalCrossentropy(label_smoothing=0.1)(y, p.astype(np.float32)).item()
    ys = y * 0.9 + 0.1 / 3
    np.testing.assert_allclose(v, -(ys * np.log(np.clip(p, 1e-7, 1 - 1e-7))).sum(-1).mean(), rtol=1e-5)


def test_bce_mse_mae_huber_values(rng):
    p = rng.uniform(0.05, 0.95, (4, 3)).astype(np.float32)
    t = (rng.uniform(size=(4, 3)) > 0.5).astype(np.float32)
    pd, td = p.astype(np.float64), t.astype(np.float64)
    np.testing.assert_allclose(losses.BinaryCrossentropy()(t, p).item(),
                               (-(td * np.log(pd) + (1 - td) * np.log(1 - pd))).mean(), rtol=1e-5)
    np.testing.assert_allclose(losses.MeanSquaredError()(t, p).item(), ((pd - td) ** 2).mean(), rtol=1e-5)
    np.testing.assert_allclose(losses.MeanAbsoluteError()(t, p).item(), np.abs(pd - td).mean(), rtol=1e-5)
    e = np.abs(3 * pd - td)
    np.testing.assert_allclose(losses.Huber(delta=0.5)(t, 3 * p).item(),
                               np.where(e <= 0.5, 0.5 * e * e, 0.5 * e - 0.125).mean(), rtol=1e-5)


def test_reductions_and_sample_weight(rng):
    p = rng.standard_normal((4, 2)).astype(np.float32)
    t = rng.standard_normal((4, 2)).astype(np.float32)
    per = ((p.astype(np.float64) - t) ** 2).mean(-1)
    np.testing.assert_allclose(losses.MeanSquaredError(reduction="none")(t, p).numpy(), per, rtol=1e-5)
    np.testing.assert_allclose(losses.MeanSquaredError(reduction="sum")(t, p).item(), per.sum(), rtol=1e-5)
    w = np.array([1, 0, 2, 0.5], np.float32)
    np.testing.assert_allclose(losses.MeanSquaredError()(t, p, sample_weight=w).item(), (per * w).sum() / 4, rtol=1e-5)


def test_extreme_logits_finite():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], np.float32)
    v, g = _grad(losses.SparseCategoricalCrossentropy(from_logits=True), np.array([1, 0]), z)
    assert np.isfinite(v) and np.isfinite(g).all()
    np.testing.assert_allclose(v, 2e4 / 2 * 2, rtol=1e-4)
    v2, g2 = _grad(losses.BinaryCrossentropy(from_logits=True), np.array([[1.0], [0.0]], np.float32),
                   np.array([[-1e4], [1e4]], np.float32))
    assert np.isfinite(v2) and np.isfinite(g2).all()


def test_get_strings():
    assert isinstance(losses.get("sparse_categorical_crossentropy"), losses.SparseCategoricalCrossentropy)
    assert isinstance(losses.get("mse"), losses.MeanSquaredError)
    assert isinstance(losses.get("MeanAbsoluteError"), losses.MeanAbsoluteError)
    assert isinstance(losses.get("huber"), losses.Huber)
    with pytest.raises(ValueError, match="valid names:.*sparse_categorical_crossentropy"):
        losses.get("cross_entropy_please")


def test_label_shape_errors():
    z = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="SparseCategoricalCrossentropy.*class ids"):
        losses.SparseCategoricalCrossentropy()(np.array([0, 1, 5, 2]), z)
    with pytest.raises(ValueError, match="categorical_crossentropy"):
        losses.SparseCategoricalCrossentropy()(np.eye(3)[[0, 1, 2, 0]], z)
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        losses.CategoricalCrossentropy()(np.array([0, 1, 2, 0]), z)
    with pytest.raises(ValueError, match="MeanSquaredError.*shape"):
        losses.MeanSquaredError()(np.zeros((4, 2)), z)


def test_fusion_rule():
    assert losses.SparseCategoricalCrossentropy().fused_kernel_for("softmax")
    assert not losses.SparseCategoricalCrossentropy(from_logits=True).fused_kernel_for("softmax")
    assert losses.BinaryCrossentropy().fused_kernel_for("sigmoid")
    assert not losses.MeanSquaredError().fused_kernel_for("softmax")
