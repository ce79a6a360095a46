"""Whole-model int8 inference (issue 13, speed): the fused QuantizedConv2D + MaxPooling2D kernel
(``_C.qconv2d_maxpool``) bitwise against the unfused qconv2d + max_pool2d_forward on every ISA
path and against a NumPy max-pool of the unfused conv, its inference-plan rule (fused predict ==
unfused predict, bit for bit), its argument errors, and fit / train_on_batch refusing quantized
layers with a ValueError naming the layer."""
import numpy as np
import pytest

import fusednet as fn
from fusednet import _C, layers as L, quantization as Q
from fusednet.quantization.fusion import QConvPoolStep
from fusednet.trainers import fusion as plan_fusion

ISAS = ["portable", "avx2", "avx512-vnni"]

# (N, H, W, C, O, kernel, conv strides, conv padding, pool size, pool strides, pool padding)
# sizes 1 and primes; O 200 > 128 takes the wide (materialized im2col) path; the kernel pools
# groups of whole images of ~128 KB of conv output: 15x15 -> 13x13x80 holds two images per group
# (three groups, the last partial), 30x30 -> 28x28x64 one (five groups)
CASES = [
    (1, 1, 1, 1, 1, 1, 1, "valid", 1, None, "valid"),
    (1, 7, 7, 3, 17, 3, 1, "same", 3, 2, "same"),
    (2, 13, 13, 32, 64, 3, 1, "valid", 2, None, "valid"),
    (3, 11, 9, 5, 200, 3, 1, "same", 2, None, "valid"),
    (5, 15, 15, 3, 80, 3, 1, "valid", 2, None, "valid"),
    (5, 30, 30, 3, 64, 3, 1, "valid", 2, None, "valid"),
    (3, 29, 31, 2, 13, 5, 2, "same", 3, 1, "same"),
    (7, 28, 28, 1, 32, 3, 1, "valid", 2, 1, "same"),
]


def _weights(rng, k, C, O):
    w = rng.standard_normal((k, k, C, O)).astype(np.float32) * 0.1
    wq, ws = Q.quantize_weights(w)
    return _C.QWeight(wq.reshape(-1, O)), fn.asarray(ws), fn.asarray(rng.standard_normal(O).astype(np.float32))


def _np_maxpool(y, p, s, padding):
    """float64-free NumPy max pool (NHWC, Keras padding rule; padded cells never win)."""
    N, H, W, C = y.shape
    s = p if s is None else s
    if padding == "valid":
        Ho, Wo, pt, pl = (H - p) // s + 1, (W - p) // s + 1, 0, 0
    else:
        Ho, Wo = -(-H // s), -(-W // s)
        pt = max((Ho - 1) * s + p - H, 0) // 2
        pl = max((Wo - 1) * s + p - W, 0) // 2
    out = np.full((N, Ho, Wo, C), -np.inf, np.float32)
    for i in range(p):
        for j in range(p):
            for oh in range(Ho):
                h = oh * s - pt + i
                if not 0 <= h < H:
                    continue
                for ow in range(Wo):
                    w = ow * s - pl + j
                    if 0 <= w < W:
                        out[:, oh, ow] = np.maximum(out[:, oh, ow], y[:, h, w])
    return out


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("mode", ["dynamic", "static"])
@pytest.mark.parametrize("act", ["relu", "none"])
def test_qconv2d_maxpool_bitwise_vs_unfused_every_isa(case, mode, act):
    N, H, W, C, O, k, cs, cpad, p, ps, ppad = case
    rng = np.random.default_rng(N * 100 + H + O)
    x = fn.asarray(rng.standard_normal((N, H, W, C)).astype(np.float32))
    Wq, ws, b = _weights(rng, k, C, O)
    scale = None if mode == "dynamic" else 0.02
    ref = None
    for isa in ISAS:
        y = _C.qconv2d(x, Wq, k, ws, b, cs, cpad, 1, scale, 117, act, isa)
        unfused = _C.max_pool2d_forward(y, p, ps, ppad)[0].numpy()
        got = _C.qconv2d_maxpool(x, Wq, k, ws, b, cs, cpad, 1, scale, 117, act, p, ps, ppad, isa).numpy()
        assert got.shape == unfused.shape
        np.testing.assert_array_equal(got.view(np.int32), unfused.view(np.int32), err_msg=isa)
        if ref is None:
            ref = got
            np.testing.assert_array_equal(got, _np_maxpool(y.numpy(), p, ps, ppad))
        np.testing.assert_array_equal(got.view(np.int32), ref.view(np.int32), err_msg=isa)


def test_qconv2d_maxpool_errors_name_op_and_shapes():
    rng = np.random.default_rng(1)
    x = fn.asarray(rng.standard_normal((2, 5, 5, 3)).astype(np.float32))
    Wq, ws, b = _weights(rng, 3, 3, 4)
    with pytest.raises(ValueError, match=r"qconv2d_maxpool.*\(2, 3, 3, 4\)|qconv2d_maxpool.*conv output"):
        _C.qconv2d_maxpool(x, Wq, 3, ws, b, 1, "valid", 1, None, 0, "relu", 4)     # window > 3x3 output
    with pytest.raises(ValueError, match="qconv2d_maxpool: activation must be 'none' or 'relu'"):
        _C.qconv2d_maxpool(x, Wq, 3, ws, b, 1, "valid", 1, None, 0, "tanh", 2)
    with pytest.raises(ValueError, match=r"qconv2d_maxpool: kernel .*\(2, 5, 5, 3\)"):
        _C.qconv2d_maxpool(x, Wq, 2, ws, b, 1, "valid", 1, None, 0, "relu", 2)
    with pytest.raises(ValueError, match="qconv2d_maxpool.*pool_size"):
        _C.qconv2d_maxpool(x, Wq, 3, ws, b, 1, "valid", 1, None, 0, "relu", 0)
    with pytest.raises(ValueError, match="qconv2d_maxpool: x must be 4-D"):
        _C.qconv2d_maxpool(fn.asarray(np.zeros((5, 5, 3), np.float32)), Wq, 3, ws, b)


@pytest.mark.parametrize("M,K,N", [(1, 1, 1), (1, 784, 10), (64, 128, 10), (67, 31, 257)])
@pytest.mark.parametrize("scale", [None, 0.05])
def test_qdense_softmax_in_call_equals_two_calls(M, K, N, scale):
    rng = np.random.default_rng(M + K + N)
    x = fn.asarray(rng.standard_normal((M, K)).astype(np.float32))
    wq, ws = Q.quantize_weights(rng.standard_normal((K, N)).astype(np.float32))
    W, WS, b = _C.QWeight(wq), fn.asarray(ws), fn.asarray(rng.standard_normal(N).astype(np.float32))
    for isa in ISAS:
        two = _C.softmax_forward(_C.qdense(x, W, WS, b, scale, 101, "none", isa)).numpy()
        one = _C.qdense(x, W, WS, b, scale, 101, "softmax", isa).numpy()
        np.testing.assert_array_equal(one.view(np.int32), two.view(np.int32), err_msg=isa)
    np.testing.assert_allclose(one.sum(1), np.ones(M), rtol=1e-6)
    with pytest.raises(ValueError, match="qdense"):
        _C.qdense(x, W, WS, b, scale, 101, "softplus_typo")


def _seed_cnn(seed=0, act="relu"):
    fn.random.set_random_seed(seed)
    return fn.Sequential([L.Input(shape=(16, 16, 3)), L.Conv2D(8, 3, activation="relu"), L.MaxPooling2D(),
                          L.Conv2D(19, 3, activation=act, padding="same"), L.MaxPooling2D(3, 2, "same"),
                          L.Flatten(), L.Dense(10, activation="softmax")])


def _step_kinds(model):
    return [type(getattr(s.fwd, "__self__", None)).__name__ for s in model._infer_plan().steps]


@pytest.mark.parametrize("mode", ["dynamic", "static"])
@pytest.mark.parametrize("n", [1, 67])
def test_quantized_cnn_predict_fused_equals_unfused(mode, n):
    m = _seed_cnn()
    rng = np.random.default_rng(n)
    calib = rng.uniform(0, 1, (32, 16, 16, 3)).astype(np.float32)
    q = Q.quantize(m, calib if mode == "static" else None, mode=mode)
    x = rng.uniform(0, 1, (n, 16, 16, 3)).astype(np.float32)
    fused = q.predict(x, batch_size=64, verbose=0)
    assert "QConvPoolStep" in _step_kinds(q)
    with plan_fusion.disabled():
        unfused = q.predict(x, batch_size=64, verbose=0)
        assert "QConvPoolStep" not in _step_kinds(q)
    np.testing.assert_array_equal(fused.view(np.int32), unfused.view(np.int32))
    for isa in ISAS:            # every ISA path through the fused plan gives the same bits
        for l in q.layers:
            if hasattr(l, "isa"):
                l.isa = isa
        np.testing.assert_array_equal(q.predict(x, batch_size=64, verbose=0), fused, err_msg=isa)


def test_rule_leaves_non_fusable_pairs_alone():
    # tanh epilogue: not fused; a conv output read twice (functional): not fused
    q = Q.quantize(_seed_cnn(act="tanh"))
    q.predict(np.zeros((2, 16, 16, 3), np.float32), verbose=0)
    # the first conv (relu) fuses; the tanh one stays two steps
    assert _step_kinds(q) == ["QConvPoolStep", "QuantizedConv2D", "MaxPooling2D", "Flatten", "QuantizedDense"]
    fn.random.set_random_seed(3)
    inp = L.Input(shape=(9, 9, 4))
    c = L.Conv2D(6, 3, activation="relu")(inp)
    out = L.Concatenate()([L.Flatten()(L.MaxPooling2D()(c)), L.Flatten()(c)])
    g = fn.Model(inp, out)
    qg = Q.quantize(g)
    x = np.random.default_rng(0).uniform(0, 1, (3, 9, 9, 4)).astype(np.float32)
    y = qg.predict(x, verbose=0)
    assert "QConvPoolStep" not in _step_kinds(qg)
    assert y.shape == (3, 6 * 9 + 6 * 49)
    assert QConvPoolStep(qg.layers[1], None).layers[0] is qg.layers[1]


def test_fit_and_train_on_batch_refuse_quantized_layers():
    fn.random.set_random_seed(4)
    m = fn.Sequential([L.Input((20,)), L.Dense(16, activation="relu"), L.Dense(3)])
    q = Q.quantize(m)
    q.compile("adam", "mse")
    x, y = np.ones((4, 20), np.float32), np.zeros((4, 3), np.float32)
    name = q.layers[0].name
    before = [w.copy() for w in q.get_weights()]
    with pytest.raises(ValueError, match=f"fit: layer '{name}' \\(QuantizedDense\\): quantized layers are "
                                         "inference-only"):
        q.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="quantized layers are inference-only"):
        q.train_on_batch(x, y)
    for a, b in zip(before, q.get_weights()):
        np.testing.assert_array_equal(a, b)
    # nested: a quantized model used as a layer of a float model
    outer = fn.Sequential([L.Input((20,)), q, L.Dense(2)])
    outer.compile("sgd", "mse")
    with pytest.raises(ValueError, match=f"layer '{name}'.*inference-only"):
        outer.fit(x, np.zeros((4, 2), np.float32), verbose=0)
    # inference still works, and evaluate is allowed (no training)
    assert q.predict(x, verbose=0).shape == (4, 3)
    assert np.isfinite(q.evaluate(x, y, verbose=0))
    # a float model trains as before
    m.compile("sgd", "mse")
    m.fit(x, y, verbose=0)


@pytest.mark.skipif(not fn.cuda.is_available(), reason="no CUDA device")
def test_fused_step_on_cuda_matches_cpu():
    q = Q.quantize(_seed_cnn())
    x = np.random.default_rng(2).uniform(0, 1, (5, 16, 16, 3)).astype(np.float32)
    cpu = q.predict(x, verbose=0)
    q.to("cuda")
    dev = q.predict(x, verbose=0)
    from tolerances import TOL
    np.testing.assert_allclose(dev, cpu, *TOL["cuda_vs_cpu"])


def test_predict_plan_looked_up_once_but_batch_callbacks_still_see_new_weights():
    fn.random.set_random_seed(7)
    m = fn.Sequential([L.Input((6,)), L.Dense(5, activation="relu"), L.Dense(3)])
    x = np.random.default_rng(0).standard_normal((8, 6)).astype(np.float32)
    w0 = [w.copy() for w in m.get_weights()]
    w1 = [w * 2 for w in w0]

    class Swap(fn.callbacks.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            if batch == 0:
                self.model.set_weights(w1)

    y = m.predict(x, batch_size=4, verbose=0, callbacks=[Swap()])
    m.set_weights(w0)
    first = m.predict(x[:4], verbose=0)
    m.set_weights(w1)
    second = m.predict(x[4:], verbose=0)
    np.testing.assert_array_equal(y[:4], first)
    np.testing.assert_array_equal(y[4:], second)
    # without callbacks: one plan for all batches, same values as batch-by-batch calls
    np.testing.assert_array_equal(m.predict(x, batch_size=3, verbose=0),
                                  np.concatenate([m.predict(x[i:i + 3], verbose=0) for i in (0, 3, 6)]))
