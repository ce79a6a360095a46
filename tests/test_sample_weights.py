"""Per-output sample weights (dict by output name, list in output order) and class_weight rules,
against real Keras 3 (torch backend) on the same weights: evaluate's total and per-output losses,
and the weights after a weighted fit step; plus the error paths and the bitwise equivalence of a
shared array given once or per output."""
import os

import numpy as np
import pytest

import fusednet as fn
from fusednet import layers
from tolerances import TOL

N = 12


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("real Keras is loaded with a non-torch backend")
    return keras


def _build(mod):
    x = mod.Input((5,), name="x")
    h = mod.layers.Dense(4, activation="relu", name="h")(x)
    a = mod.layers.Dense(3, activation="softmax", name="out_a")(h)
    b = mod.layers.Dense(1, name="out_b")(h)
    return mod.Model(x, [a, b])


def _pair(rng, lr=0.1):
    keras = _keras()
    km, fm = _build(keras), _build(fn)
    for nm in ("h", "out_a", "out_b"):
        w = [rng.standard_normal(v.shape).astype(np.float32) * 0.5 for v in km.get_layer(nm).get_weights()]
        km.get_layer(nm).set_weights(w)
        fm.get_layer(nm).set_weights(w)
    cfg = dict(loss={"out_a": "sparse_categorical_crossentropy", "out_b": "mse"},
               loss_weights={"out_a": 1.0, "out_b": 0.5})
    km.compile(optimizer=keras.optimizers.SGD(lr), **cfg)
    fm.compile(optimizer=fn.optimizers.SGD(lr), **cfg)
    return km, fm


def _data(rng):
    x = rng.standard_normal((N, 5)).astype(np.float32)
    ya = rng.integers(0, 3, N)
    yb = rng.standard_normal((N, 1)).astype(np.float32)
    wa = rng.uniform(0.1, 2.0, N).astype(np.float32)
    wb = rng.uniform(0.1, 2.0, N).astype(np.float32)
    return x, {"out_a": ya, "out_b": yb}, wa, wb


@pytest.mark.parametrize("form", ["dict", "list", "dict_partial"])
def test_per_output_sample_weights_evaluate_matches_keras(form, rng):
    km, fm = _pair(rng)
    x, y, wa, wb = _data(rng)
    sw = {"dict": {"out_a": wa, "out_b": wb}, "list": [wa, wb], "dict_partial": {"out_b": wb}}[form]
    # Keras wants y and sample_weight in the same structure as its (list) outputs
    ksw = [wa if form != "dict_partial" else np.ones(N, np.float32), wb]
    kr = km.evaluate(x, [y["out_a"], y["out_b"]], sample_weight=ksw, batch_size=N, verbose=0, return_dict=True)
    fr = fm.evaluate(x, y, sample_weight=sw, batch_size=N, verbose=0, return_dict=True)
    np.testing.assert_allclose(fr["loss"], kr["loss"], *TOL["loss"])
    for k in ("out_a_loss", "out_b_loss"):
        if k in kr:
            np.testing.assert_allclose(fr[k], kr[k], *TOL["loss"])
    # and the weights matter: unweighted gives a different loss
    plain = fm.evaluate(x, y, batch_size=N, verbose=0, return_dict=True)["loss"]
    assert abs(plain - fr["loss"]) > 1e-3


def test_per_output_sample_weights_fit_step_matches_keras(rng):
    km, fm = _pair(rng)
    x, y, wa, wb = _data(rng)
    sw = {"out_a": wa, "out_b": wb}
    km.fit(x, [y["out_a"], y["out_b"]], sample_weight=[wa, wb], batch_size=N, epochs=3, shuffle=False, verbose=0)
    fm.fit(x, y, sample_weight=sw, batch_size=N, epochs=3, shuffle=False, verbose=0)
    for kw, fw in zip(km.get_weights(), fm.get_weights()):
        np.testing.assert_allclose(fw, kw, *TOL["optimizer"])


def test_one_array_equals_the_same_array_per_output_bitwise(rng):
    _, fm = _pair(rng)
    x, y, wa, _ = _data(rng)
    w0 = fm.get_weights()
    fn.random.seed(3)
    fm.fit(x, y, sample_weight=wa, batch_size=5, epochs=2, shuffle=True, verbose=0)
    w1 = fm.get_weights()
    fm.set_weights(w0)
    fn.random.seed(3)   # the same shuffles
    fm.fit(x, y, sample_weight=[wa, wa], batch_size=5, epochs=2, shuffle=True, verbose=0)
    for a, b, c in zip(w1, fm.get_weights(), w0):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
    # evaluate (deterministic): identical
    e1 = fm.evaluate(x, y, sample_weight=wa, batch_size=5, verbose=0, return_dict=True)
    e2 = fm.evaluate(x, y, sample_weight={"out_a": wa, "out_b": wa}, batch_size=5, verbose=0, return_dict=True)
    assert e1 == e2


def test_validation_split_slices_per_output_weights(rng):
    _, fm = _pair(rng)
    x, y, wa, wb = _data(rng)
    h = fm.fit(x, y, sample_weight={"out_a": wa, "out_b": wb}, validation_split=0.25, batch_size=4, epochs=1,
               verbose=0, shuffle=False)
    assert np.isfinite(h.history["loss"][0]) and np.isfinite(h.history["val_loss"][0])


def test_sample_weight_errors(rng):
    _, fm = _pair(rng)
    x, y, wa, wb = _data(rng)
    with pytest.raises(ValueError, match=r"sample_weight has keys \['nope'\]"):
        fm.fit(x, y, sample_weight={"nope": wa}, verbose=0)
    with pytest.raises(ValueError, match="list of 3 entries"):
        fm.fit(x, y, sample_weight=[wa, wb, wb], verbose=0)
    with pytest.raises(ValueError, match=r"sample_weight\['out_b'\] has 5 entries"):
        fm.evaluate(x, y, sample_weight={"out_b": wb[:5]}, verbose=0)
    with pytest.raises(ValueError, match="class_weight is only supported for single-output"):
        fm.fit(x, y, class_weight={0: 1.0}, verbose=0)


@pytest.mark.parametrize("target", ["sparse", "onehot", "binary_col", "float_labels"])
def test_class_weight_rules_match_keras(target, rng):
    keras = _keras()
    from keras.src.trainers.data_adapters.data_adapter_utils import class_weight_to_sample_weights
    labels = rng.integers(0, 3, N)
    y = {"sparse": labels, "onehot": np.eye(3, dtype=np.float32)[labels],
         "binary_col": (labels % 2).astype(np.float32).reshape(-1, 1),
         "float_labels": labels.astype(np.float32) + rng.uniform(-0.4, 0.4, N).astype(np.float32)}[target]
    cw = {0: 0.5, 1: 2.0, 7: 9.0}   # class 2 absent: weight 1.0
    from fusednet.trainers.sample_weights import class_weighted
    got = class_weighted(None, [y], cw, "fit")
    want = class_weight_to_sample_weights(keras.ops.convert_to_tensor(y), cw)
    np.testing.assert_array_equal(got, np.asarray(want, np.float32))
    sw = rng.uniform(0.5, 1.5, N).astype(np.float32)
    np.testing.assert_array_equal(class_weighted(sw, [y], cw, "fit"), sw * np.asarray(want, np.float32))


def test_class_weight_fit_matches_keras(rng):
    keras = _keras()
    x = rng.standard_normal((N, 5)).astype(np.float32)
    y = rng.integers(0, 3, N)

    def build(mod):
        i = mod.Input((5,))
        return mod.Model(i, mod.layers.Dense(3, activation="softmax", name="d")(i))
    km, fm = build(keras), build(fn)
    w = [rng.standard_normal(v.shape).astype(np.float32) for v in km.get_layer("d").get_weights()]
    km.get_layer("d").set_weights(w)
    fm.get_layer("d").set_weights(w)
    km.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    fm.compile(optimizer=fn.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    cw = {0: 0.3, 1: 3.0}
    km.fit(x, y, class_weight=cw, batch_size=N, epochs=2, shuffle=False, verbose=0)
    fm.fit(x, y, class_weight=cw, batch_size=N, epochs=2, shuffle=False, verbose=0)
    for kw, fw in zip(km.get_weights(), fm.get_weights()):
        np.testing.assert_allclose(fw, kw, *TOL["optimizer"])


class _WeightedIdiom(fn.Model):
    """keras.io 'Supporting sample_weight & class_weight' train_step (data is a 2- or 3-tuple)."""

    def train_step(self, data):
        x, y, sample_weight = data if len(data) == 3 else (*data, None)
        with fn.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss}


def test_per_output_weights_reach_a_custom_train_step_like_the_compiled_plan(rng):
    def build(cls):
        fn.random.seed(11)
        x = fn.Input((5,), name="x")
        h = layers.Dense(4, activation="relu", name="h")(x)
        m = cls(x, [layers.Dense(3, activation="softmax", name="out_a")(h), layers.Dense(1, name="out_b")(h)])
        m.compile(optimizer=fn.optimizers.SGD(0.1), loss={"out_a": "sparse_categorical_crossentropy", "out_b": "mse"},
                  loss_weights={"out_a": 1.0, "out_b": 0.5})
        return m
    x, y, wa, wb = _data(rng)
    ref, m = build(fn.Model), build(_WeightedIdiom)
    for sw in ({"out_a": wa, "out_b": wb}, [wa, wb]):
        ref.fit(x, y, sample_weight=sw, batch_size=4, epochs=1, shuffle=False, verbose=0)
        m.fit(x, y, sample_weight=sw, batch_size=4, epochs=1, shuffle=False, verbose=0)
        for a, b in zip(m.get_weights(), ref.get_weights()):
            np.testing.assert_allclose(a, b, *TOL["train_step"])
