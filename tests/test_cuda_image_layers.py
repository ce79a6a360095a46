"""CUDA twins of the image-layer kernels (conv2d_transpose, upsample2d, prelu, relu_ext) vs the
CPU, through the Python API, and one model with the new layers on the device. Marked ``cuda``:
skips itself without a device (conftest.py)."""
import numpy as np
import pytest

import fusednet as fn
from fusednet import _C, layers as L
from fusednet.layers.conv_transpose import conv_transpose_geometry
from tolerances import TOL

pytestmark = pytest.mark.cuda

RT, AT = TOL["cuda_vs_cpu"]


def dev(a):
    return _C.asarray(np.ascontiguousarray(a)).to("cuda")


def host(a):
    return np.array(a.to("cpu").numpy(), copy=True)


def cpu(a):
    return _C.asarray(np.ascontiguousarray(a))


def close(got, want):
    np.testing.assert_allclose(got, np.asarray(want), rtol=RT, atol=AT)


@pytest.mark.parametrize("case", [(2, 5, 7, 3, 4, 3, 2, "same", None, "relu"), (1, 1, 1, 1, 1, 1, 1, "valid", None, "none"),
                                  (3, 4, 3, 17, 5, 2, 2, "valid", 1, "sigmoid"), (2, 6, 5, 16, 16, 3, 1, "same", None,
                                                                                  "tanh"),
                                  (2, 7, 11, 9, 3, 1, 1, "valid", None, "none")])
def test_conv2d_transpose_cuda_vs_cpu(rng, case):
    N, h, w, cin, f, k, s, pad, op, act = case
    x = rng.standard_normal((N, h, w, cin)).astype(np.float32)
    W = rng.standard_normal((k, k, f, cin)).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    (H, pt), (Wd, pl) = conv_transpose_geometry(h, k, s, 1, pad, op), conv_transpose_geometry(w, k, s, 1, pad, op)
    args = ((H, Wd), (s, s), (pt, pl), (1, 1), act)
    y_c = _C.conv2d_transpose_forward(cpu(x), cpu(W), cpu(b), *args)
    y_g = _C.conv2d_transpose_forward(dev(x), dev(W), dev(b), *args)
    close(host(y_g), y_c.numpy())
    dy = rng.standard_normal(y_c.shape).astype(np.float32)
    yy = None if act == "none" else y_c
    gc = _C.conv2d_transpose_backward(cpu(dy), cpu(x), cpu(W), yy, act, (s, s), (pt, pl), (1, 1), True, True)
    gg = _C.conv2d_transpose_backward(dev(dy), dev(x), dev(W), None if yy is None else yy.to("cuda"), act, (s, s),
                                      (pt, pl), (1, 1), True, True)
    for a, c in zip(gg, gc):
        close(host(a), c.numpy())


@pytest.mark.parametrize("interp", ["nearest", "bilinear"])
@pytest.mark.parametrize("shape, size", [((1, 1, 1, 1), (1, 1)), ((2, 3, 5, 7), (2, 3)), ((3, 7, 4, 33), (3, 1))])
def test_upsample2d_cuda_vs_cpu(rng, shape, size, interp):
    x = rng.standard_normal(shape).astype(np.float32)
    y = _C.upsample2d_forward(cpu(x), size, interp)
    close(host(_C.upsample2d_forward(dev(x), size, interp)), y.numpy())
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = _C.upsample2d_backward(cpu(dy), list(shape), size, interp)
    close(host(_C.upsample2d_backward(dev(dy), list(shape), size, interp)), dx.numpy())


@pytest.mark.parametrize("shape, ashape", [((5, 7), (7,)), ((2, 5, 6, 3), (1, 1, 3)), ((3, 4, 5), (4, 1)),
                                           ((1, 1), (1,))])
def test_prelu_and_relu_ext_cuda_vs_cpu(rng, shape, ashape):
    x = rng.standard_normal(shape).astype(np.float32)
    a = rng.standard_normal(ashape).astype(np.float32)
    close(host(_C.prelu_forward(dev(x), dev(a))), _C.prelu_forward(cpu(x), cpu(a)).numpy())
    dy = rng.standard_normal(shape).astype(np.float32)
    for g, c in zip(_C.prelu_backward(dev(dy), dev(x), dev(a)), _C.prelu_backward(cpu(dy), cpu(x), cpu(a))):
        close(host(g), c.numpy())
    kw = dict(threshold=0.3, max_value=1.2, negative_slope=0.1)
    close(host(_C.relu_ext_forward(dev(x), **kw)), _C.relu_ext_forward(cpu(x), **kw).numpy())
    close(host(_C.relu_ext_backward(dev(dy), dev(x), **kw)), _C.relu_ext_backward(cpu(dy), cpu(x), **kw).numpy())


def test_new_layers_train_on_cuda(rng):
    fn.clear_session()
    fn.random.seed(0)
    m = fn.Sequential([L.Input((6, 6, 3)), L.SeparableConv2D(4, 3, padding="same"), L.PReLU(shared_axes=[1, 2]),
                       L.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu"),
                       L.UpSampling2D(interpolation="bilinear"), L.ReLU(max_value=6.0), L.Flatten(), L.Dense(2)])
    x = rng.random((16, 6, 6, 3)).astype(np.float32)
    y = rng.random((16, 2)).astype(np.float32)
    m.compile(optimizer="adam", loss="mse")
    ref = m.predict(x, verbose=0)
    m.to("cuda")
    np.testing.assert_allclose(m.predict(x, verbose=0), ref, rtol=RT, atol=AT)
    hist = m.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))
