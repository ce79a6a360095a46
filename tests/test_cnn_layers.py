"""CNN layers: Conv2D, pooling, BatchNormalization, LayerNormalization — forward / gradients vs
PyTorch, tape path vs compiled fast path, Keras semantics (names, moving statistics, frozen BN),
config round trips, save/load, errors, and a small end-to-end training run."""
import numpy as np
import pytest

import fusednet
from fusednet import _C, layers as L
from fusednet.layers.base import Context
from fusednet.tensor import Tensor
from conftest import requires_torch
from tolerances import TOL
from test_conv import close


def rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def tape_grads(layer, x, dy):
    """(y, dx, [dW...]) through the autograd tape."""
    xt = Tensor(x, requires_grad=True)
    y = layer(xt, training=True)
    y.backward(dy)
    return y.numpy(), xt.grad.numpy(), [w.grad.numpy() for w in layer.trainable_weights]


def fast_grads(layer, x, dy):
    ctx = Context()
    y = layer.forward(ctx, _C.asarray(x), True)
    dx, grads = layer.backward(ctx, _C.asarray(np.ascontiguousarray(dy)), True)
    return np.asarray(y), np.asarray(dx), [np.asarray(g) for g in grads]


@pytest.mark.parametrize("make, shape", [
    (lambda: L.Conv2D(5, 3, activation="relu"), (2, 9, 8, 3)),
    (lambda: L.Conv2D(4, (2, 3), strides=2, padding="same", activation="tanh"), (3, 7, 9, 2)),
    (lambda: L.Conv2D(3, 3, dilation_rate=2, padding="same", activation="gelu", use_bias=False), (2, 8, 8, 1)),
    (lambda: L.MaxPooling2D(), (2, 9, 8, 3)),
    (lambda: L.MaxPooling2D(3, 2, padding="same"), (2, 9, 8, 3)),
    (lambda: L.AveragePooling2D(2, padding="same"), (2, 7, 7, 3)),
    (lambda: L.GlobalAveragePooling2D(), (2, 5, 4, 3)),
    (lambda: L.GlobalMaxPooling2D(keepdims=True), (2, 5, 4, 3)),
    (lambda: L.BatchNormalization(), (4, 5, 5, 3)),
    (lambda: L.BatchNormalization(center=False), (16, 6)),
    (lambda: L.LayerNormalization(), (4, 6, 7)),
])
def test_tape_matches_fast_path(rng, make, shape):
    x = rand(rng, *shape)
    a, b = make(), make()
    a._maybe_build(shape)
    b._maybe_build(shape)
    b.set_weights(a.get_weights())
    dy = rand(rng, *a.compute_output_shape(shape))
    y1, dx1, g1 = tape_grads(a, x, dy)
    y2, dx2, g2 = fast_grads(b, x, dy)
    np.testing.assert_allclose(y1, y2, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dx1, dx2, rtol=1e-5, atol=1e-6)
    assert len(g1) == len(g2)
    for p, q in zip(g1, g2):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)
    for p, q in zip(a.get_weights(), b.get_weights()):  # same moving-statistics update
        np.testing.assert_allclose(p, q, rtol=1e-6, atol=1e-7)


@requires_torch
def test_conv_layer_vs_torch(rng):
    import torch
    import torch.nn.functional as F
    layer = L.Conv2D(6, 3, strides=(2, 1), padding="valid", activation="sigmoid")
    x = rand(rng, 3, 11, 10, 4)
    y, dx, (dw, db) = tape_grads(layer, x, dy := rand(rng, 3, 5, 8, 6))
    w, b = layer.get_weights()
    xt = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_(True)
    wt, bt = torch.tensor(w).requires_grad_(True), torch.tensor(b).requires_grad_(True)
    yt = torch.sigmoid(F.conv2d(xt, wt.permute(3, 2, 0, 1), bt, stride=(2, 1))).permute(0, 2, 3, 1)
    yt.backward(torch.tensor(dy))
    close(y, yt.detach().numpy(), "torch")
    close(dx, xt.grad.permute(0, 2, 3, 1).numpy(), "torch")
    close(dw, wt.grad.numpy(), "torch")
    close(db, bt.grad.numpy(), "torch")


def test_names_shapes_params():
    fusednet.clear_session()
    m = fusednet.Sequential([L.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(),
                             L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(), L.BatchNormalization(),
                             L.GlobalAveragePooling2D(), L.Dense(10)])
    names = [l.name for l in m.layers]
    assert names[:6] == ["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1", "batch_normalization",
                         "global_average_pooling2d"]
    assert m.layers[2].compute_output_shape((None, 13, 13, 32)) == (None, 11, 11, 64)
    assert m.count_params() == 320 + 18496 + 4 * 64 + 650
    bn = m.layers[4]
    assert [w.name.split("/")[-1] for w in bn.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert len(bn.trainable_weights) == 2
    assert L.Conv2D(3, 5, strides=2, padding="same").compute_output_shape((None, 9, 10, 3)) == (None, 5, 5, 3)


def test_default_names_from_base_layer():
    """Conv2D / pooling layers take their Keras default names from Layer (to_snake_case of the
    class name) rather than per-class overrides: the names must stay exactly Keras'."""
    fusednet.clear_session()
    got = [L.Conv2D(4, 3).name, L.Conv2D(4, 3).name, L.MaxPooling2D().name, L.MaxPool2D().name,
           L.AveragePooling2D().name, L.AvgPool2D().name, L.GlobalAveragePooling2D().name,
           L.GlobalMaxPooling2D().name, L.GlobalMaxPooling2D().name, L.Conv2D(4, 3, name="mine").name,
           L.MaxPooling2D(name="p").name]
    assert got == ["conv2d", "conv2d_1", "max_pooling2d", "max_pooling2d_1", "average_pooling2d",
                   "average_pooling2d_1", "global_average_pooling2d", "global_max_pooling2d",
                   "global_max_pooling2d_1", "mine", "p"]


def test_batchnorm_semantics(rng):
    x = rand(rng, 64, 3) * 2 + 1
    bn = L.BatchNormalization(momentum=0.9)
    y = bn(x, training=True).numpy()
    mean, var = x.astype(np.float64).mean(0), x.astype(np.float64).var(0)
    close(y, (x - mean) / np.sqrt(var + 1e-3), "norm")
    g, b, mm, mv = bn.get_weights()
    close(mm, 0.1 * mean, "norm")
    close(mv, 0.9 + 0.1 * var, "norm")
    # inference uses the moving statistics and does not update them
    y2 = bn(x, training=False).numpy()
    close(y2, (x - mm) / np.sqrt(mv.astype(np.float64) + 1e-3), "norm")
    np.testing.assert_array_equal(bn.get_weights()[2], mm)
    # frozen layer: inference mode even with training=True (Keras 3)
    bn.trainable = False
    close(bn(x, training=True).numpy(), y2, "norm")
    np.testing.assert_array_equal(bn.get_weights()[2], mm)


def test_config_roundtrip_and_save(tmp_path, rng):
    m = fusednet.Sequential([L.Input((12, 12, 2)), L.Conv2D(4, 3, padding="same", activation="relu"),
                             L.BatchNormalization(), L.AveragePooling2D(), L.Conv2D(3, 2, dilation_rate=2),
                             L.LayerNormalization(), L.GlobalMaxPooling2D(), L.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = rand(rng, 8, 12, 12, 2)
    m.fit(x, rng.integers(0, 3, 8), epochs=1, batch_size=4, verbose=0)
    for layer in m.layers:
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == {**layer.get_config(), "name": clone.name}
        assert L.deserialize(L.serialize(layer)).get_config()["name"] == layer.name
    path = str(tmp_path / "cnn.fnet")
    from fusednet import io
    io.save_model(m, path)
    m2 = io.load_model(path)
    np.testing.assert_allclose(m2.predict(x, verbose=0), m.predict(x, verbose=0), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("make, shape, match", [
    (lambda: L.Conv2D(4, 3), (2, 8, 8), "4-D input"),
    (lambda: L.Conv2D(4, 9), (2, 8, 8, 1), "larger than the input"),
    (lambda: L.MaxPooling2D(3), (2, 2, 2, 1), "larger than the input"),
    (lambda: L.GlobalAveragePooling2D(), (2, 8, 3), "ndim=4"),
])
def test_layer_input_errors(make, shape, match):
    with pytest.raises(ValueError, match=match):
        make()(np.zeros(shape, np.float32))


def test_layer_arg_errors():
    with pytest.raises(ValueError, match="filters"):
        L.Conv2D(0, 3)
    with pytest.raises(ValueError, match="dilation_rate"):
        L.Conv2D(4, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="padding"):
        L.Conv2D(4, 3, padding="causal")
    with pytest.raises(ValueError, match="pool_size"):
        L.MaxPooling2D(0)
    with pytest.raises(ValueError, match="strides"):
        L.AveragePooling2D(2, strides=0)
    with pytest.raises(ValueError, match="channels_last"):
        L.Conv2D(4, 3, data_format="channels_first")
    c = L.Conv2D(4, 3)
    c(np.zeros((1, 5, 5, 2), np.float32))
    with pytest.raises(ValueError, match="incompatible"):
        c(np.zeros((1, 5, 5, 3), np.float32))
    with pytest.raises(ValueError, match="last axis"):
        L.BatchNormalization(axis=1)(np.zeros((2, 3, 4), np.float32))


def test_seed_cnn_learns(rng):
    """conv32-pool-conv64-pool-dense: learns a synthetic 2-class image task on the fast path."""
    fusednet.random.set_random_seed(0)
    n = 256
    y = rng.integers(0, 2, n)
    x = rng.random((n, 16, 16, 1), dtype=np.float32) * 0.5
    x[y == 1, 4:12, 6:10, 0] += 1.5  # class 1 has a bright vertical bar
    m = fusednet.Sequential([L.Input((16, 16, 1)), L.Conv2D(8, 3, activation="relu"), L.MaxPooling2D(),
                             L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(),
                             L.Dense(16, activation="relu"), L.Dense(2, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h = m.fit(x, y, epochs=6, batch_size=32, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert h.history["accuracy"][-1] > 0.9


@pytest.mark.parametrize("pool,strides,padding", [((2, 2), None, "valid"), ((3, 3), (2, 2), "same"),
                                                  ((2, 2), None, "same"), ((3, 2), (1, 2), "valid")])
def test_max_pool_backward_relu_y_is_the_fused_relu_mask(rng, pool, strides, padding):
    """max_pool2d_backward(..., relu_y=pooled) == relu'(z) ⊙ max_pool2d_backward(...) where the pooled
    input is relu(z): bitwise, including +0 where the mask drops a contribution."""
    z = rand(rng, 3, 9, 11, 19)
    z[0, :3] = -1.0                                  # whole windows of non-positive inputs
    y = np.maximum(z, 0.0)
    p, idx = _C.max_pool2d_forward(_C.asarray(y), pool, strides, padding)
    dp = rand(rng, *p.shape)
    dp[0, 0, 0, :4] = -0.0
    plain = np.asarray(_C.max_pool2d_backward(_C.asarray(dp), idx, list(y.shape), pool, strides, padding))
    ref = np.where(y > 0, plain, np.float32(0.0))
    got = np.asarray(_C.max_pool2d_backward(_C.asarray(dp), idx, list(y.shape), pool, strides, padding, p))
    assert np.array_equal(got, ref) and np.array_equal(np.signbit(got), np.signbit(ref))
    with pytest.raises(ValueError, match="max_pool2d_backward.*relu_y"):
        _C.max_pool2d_backward(_C.asarray(dp), idx, list(y.shape), pool, strides, padding, _C.asarray(y))


def test_conv_relu_maxpool_fusion_is_bitwise_the_unfused_step(rng):
    """The plan runs Conv2D(relu) -> MaxPooling2D as one conv2d_maxpool step (the pool applies the
    conv's ReLU derivative); training with and without fusion gives identical weights."""
    import contextlib
    from fusednet.trainers import fusion
    x = rng.random((96, 12, 12, 1)).astype(np.float32)
    y = rng.integers(0, 4, 96)
    results = []
    for fused in (True, False):
        L.clear_session()
        fusednet.random.seed(3)
        m = fusednet.Sequential([L.Input((12, 12, 1)), L.Conv2D(8, 3, activation="relu"), L.MaxPooling2D(),
                           L.Conv2D(8, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(),
                           L.Dense(4, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        with contextlib.nullcontext() if fused else fusion.disabled():
            plan = m._get_plan()
            assert not plan.tape_layers
            # both Conv2D(relu) -> MaxPooling2D pairs run as one conv2d_maxpool step each when fused
            n_fused = sum(type(st.fwd.__self__).__name__ == "ConvPoolStep" for st in plan.steps)
            assert n_fused == (2 if fused else 0)
            m.fit(x, y, epochs=2, batch_size=16, verbose=0)
        results.append(m.get_weights())
    for a, b in zip(*results):
        assert np.array_equal(a, b)

