"""A multi-output functional model nested as a layer (``a, b = sub(x)``): forward, training on
the compiled plan with gradients from both outputs (and from several consumers of one output),
bitwise against the same layers wired flat into one model; a dict-output sub-model; an unused
output; the eager Tensor path; save/load; and the model's layer listing."""
import numpy as np
import pytest

import fusednet as fn
from fusednet import layers, ops
from tolerances import TOL

N = 16


def _layers():
    fn.random.seed(7)
    return dict(sh=layers.Dense(6, activation="tanh", name="sh"), sa=layers.Dense(3, name="sa"),
                sb=layers.Dense(4, activation="relu", name="sb"), mix=layers.Dense(5, name="mix"),
                head=layers.Dense(1, name="head"))


def _nested(L, dict_out=False):
    i = fn.Input((5,))
    h = L["sh"](i)
    outs = {"pa": L["sa"](h), "pb": L["sb"](h)} if dict_out else [L["sa"](h), L["sb"](h)]
    sub = fn.Model(i, outs, name="sub")
    x = fn.Input((5,))
    r = sub(x)
    a, b = (r["pa"], r["pb"]) if dict_out else r
    m = L["mix"](layers.Concatenate()([a, b]))
    c = layers.Add()([m, layers.Concatenate()([b, layers.Dense(1, name="one")(a)])])   # a, b used twice
    return fn.Model(x, [L["head"](c), a])


def _flat(L, one):
    x = fn.Input((5,))
    h = L["sh"](x)
    a, b = L["sa"](h), L["sb"](h)
    m = L["mix"](layers.Concatenate()([a, b]))
    c = layers.Add()([m, layers.Concatenate()([b, one(a)])])
    return fn.Model(x, [L["head"](c), a])


def _data(rng):
    x = rng.standard_normal((N, 5)).astype(np.float32)
    return x, [rng.standard_normal((N, 1)).astype(np.float32), rng.standard_normal((N, 3)).astype(np.float32)]


@pytest.mark.parametrize("dict_out", [False, True])
def test_nested_multi_output_trains_bitwise_like_the_flat_model(dict_out, rng):
    L = _layers()
    nested = _nested(L, dict_out)
    flat = _flat(L, nested.get_layer("one"))   # the very same layer objects: shared weights
    x, y = _data(rng)
    for a, b in zip(nested.predict(x, verbose=0), flat.predict(x, verbose=0)):
        np.testing.assert_array_equal(a, b)
    w0 = [w.numpy().copy() for w in nested.trainable_weights]
    assert len(w0) == 12 and {id(w) for w in nested.trainable_weights} == {id(w) for w in flat.trainable_weights}
    nested.compile(optimizer=fn.optimizers.SGD(0.05), loss=["mse", "mse"], loss_weights=[1.0, 0.3])
    hn = nested.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    wn = [w.numpy().copy() for w in nested.trainable_weights]
    for w, v in zip(nested.trainable_weights, w0):   # rewind the shared weights
        w.assign(v)
    flat.compile(optimizer=fn.optimizers.SGD(0.05), loss=["mse", "mse"], loss_weights=[1.0, 0.3])
    hf = flat.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    assert hn["loss"] == hf["loss"]
    for a, b, c in zip(wn, [w.numpy() for w in flat.trainable_weights], w0):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)   # every weight (sub-model's included) was trained


def test_gradients_from_both_outputs_reach_the_sub_model(rng):
    L = _layers()
    nested = _nested(L)
    x, y = _data(rng)
    nested.compile(optimizer=fn.optimizers.SGD(0.05), loss=["mse", None])   # only the head is trained
    sb_kernel = L["sb"].kernel.numpy().copy()
    nested.fit(x, y, batch_size=N, epochs=1, verbose=0)
    # sb feeds the head only through the sub-model's second output
    assert not np.array_equal(sb_kernel, L["sb"].kernel.numpy())


def test_unused_output_and_eager_tensor_path(rng):
    L = _layers()
    i = fn.Input((5,))
    h = L["sh"](i)
    sub = fn.Model(i, [L["sa"](h), L["sb"](h)], name="sub")
    x = fn.Input((5,))
    a, _ = sub(x)          # the second output is never used
    m = fn.Model(x, L["head"](a))
    xs, _ = _data(rng)
    m.compile(optimizer="sgd", loss="mse")
    m.fit(xs, np.ones((N, 1), np.float32), epochs=1, verbose=0)
    want = L["head"](L["sa"](L["sh"](fn.Tensor(xs)))).numpy()
    np.testing.assert_array_equal(m.predict(xs, verbose=0), want)
    t = fn.Tensor(xs, requires_grad=True)
    out = m(t)               # eager: the sub-model returns a list, the select picks entry 0
    ops.sum(out).backward()
    assert t.grad is not None and t.grad.shape == xs.shape
    np.testing.assert_allclose(out.numpy(), want, *TOL["train_step"])   # eager tape vs compiled plan


def test_save_load_and_layer_listing(tmp_path, rng):
    L = _layers()
    nested = _nested(L)
    names = [l.name for l in nested.layers]
    assert "sub" in names and not any(n.startswith("sub_") for n in names)
    lines = []
    nested.summary(print_fn=lines.append)
    assert any("sub (Model)" in ln and "[(None, 3), (None, 4)]" in ln for ln in lines)
    p = tmp_path / "m.fnet"
    nested.save(p)
    back = fn.models.load_model(p)
    x, _ = _data(rng)
    for a, b in zip(nested.predict(x, verbose=0), back.predict(x, verbose=0)):
        np.testing.assert_array_equal(a, b)


def test_wrong_number_of_inputs_raises():
    i1, i2 = fn.Input((3,)), fn.Input((2,))
    sub = fn.Model([i1, i2], [layers.Dense(2)(i1), layers.Dense(2)(i2)], name="two_in")
    with pytest.raises(ValueError, match="two_in.*2 input"):
        sub(fn.Input((3,)))


def test_onnx_export_inlines_the_multi_output_sub_model(tmp_path, rng):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    L = _layers()
    nested = _nested(L)
    p = tmp_path / "m.onnx"
    from fusednet.io.onnx import export_onnx
    export_onnx(nested, str(p))
    x, _ = _data(rng)
    sess = ort.InferenceSession(str(p))
    got = sess.run(None, {sess.get_inputs()[0].name: x})
    want = nested.predict(x, verbose=0)
    assert len(got) == 2
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, *TOL["onnx"])
