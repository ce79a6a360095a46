"""Conv2D + BatchNormalization (+ ReLU) folding at inference (layers/fusion.py): same predictions
and evaluate results as the unfused path (within TOL["conv"]), folding actually used, cache
refreshed after training / set_weights."""
import numpy as np
import pytest

import fusednet as fn
from fusednet import layers as L
from fusednet.layers import fusion
from tolerances import TOL


def _model(seed=0, act_layer=True):
    fn.random.seed(seed)
    L.clear_session()
    mid = [L.Activation("relu")] if act_layer else []
    return fn.Sequential([
        L.Input((12, 12, 2)),
        L.Conv2D(6, 3, padding="same"), L.BatchNormalization(), *mid,
        L.Conv2D(5, 3, strides=2, use_bias=False), L.BatchNormalization(center=False),
        L.MaxPooling2D(), L.Flatten(), L.Dense(4, activation="softmax")])


def _data(n=48):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, 12, 12, 2)).astype(np.float32)
    y = (x[..., 0].mean(axis=(1, 2)) > 0).astype(np.int64) + 2 * (x[..., 1].mean(axis=(1, 2)) > 0)
    return x, y


def _randomize_bn(model, rng):
    for l in model.layers:
        if isinstance(l, L.BatchNormalization):
            c = l.moving_mean.shape[0]
            w = [rng.uniform(0.5, 2, c), rng.normal(0, 1, c)] if l.center else [rng.uniform(0.5, 2, c)]
            l.set_weights(w + [rng.normal(0, 0.5, c), rng.uniform(0.3, 3, c)])


@pytest.mark.parametrize("act_layer", [True, False])
def test_folded_predict_matches_unfolded(act_layer):
    x, y = _data()
    m = _model(act_layer=act_layer)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    _randomize_bn(m, np.random.default_rng(0))
    with fusion.disabled():
        ref = m.predict(x, verbose=0)
        ref_eval = m.evaluate(x, y, verbose=0)
        assert fusion.inference_plan(m) is None
    got = m.predict(x, verbose=0)
    plan = fusion.inference_plan(m)
    assert plan is not None and len(plan.groups) == 2
    assert plan.groups[0] == (("conv2d", "batch_normalization", "activation") if act_layer else
                              ("conv2d", "batch_normalization"))
    assert plan.fused_calls == 2 * 2          # two batches of 32 rows x two folded groups
    np.testing.assert_allclose(got, ref, *TOL["conv"])
    ev = m.evaluate(x, y, verbose=0)
    assert fusion.inference_plan(m).fused_calls == 2 * 2   # evaluate re-folded and used the plan
    np.testing.assert_allclose(ev, ref_eval, *TOL["conv"])


def test_fold_cache_follows_training_and_set_weights():
    x, y = _data()
    m = _model()
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    m.predict(x, verbose=0)
    m.fit(x, y, epochs=1, batch_size=16, verbose=0)        # moves weights and BN statistics
    with fusion.disabled():
        ref = m.predict(x, verbose=0)
    np.testing.assert_allclose(m.predict(x, verbose=0), ref, *TOL["conv"])
    # a direct set_weights (same Arrays, new values) is picked up by the next predict
    _randomize_bn(m, np.random.default_rng(7))
    with fusion.disabled():
        ref = m.predict(x, verbose=0)
    np.testing.assert_allclose(m.predict(x, verbose=0), ref, *TOL["conv"])
    np.testing.assert_allclose(m.predict_on_batch(x[:5]), ref[:5], *TOL["conv"])


def test_no_fold_for_activated_conv_or_uncompiled_models():
    fn.random.seed(0)
    m = fn.Sequential([L.Input((8, 8, 1)), L.Conv2D(3, 3, activation="relu"), L.BatchNormalization(),
                       L.Flatten(), L.Dense(2)])
    m.predict(np.zeros((2, 8, 8, 1), np.float32), verbose=0)
    assert fusion.inference_plan(m) is None           # BN after a relu is not foldable
    m2 = _model()
    x, _ = _data(4)
    with fusion.disabled():
        ref = m2.predict(x, verbose=0)                   # uncompiled models fold too
    np.testing.assert_allclose(m2.predict(x, verbose=0), ref, *TOL["conv"])
    assert fusion.inference_plan(m2).fused_calls == 2


def _residual_bn_model(seed=0):
    import fusednet as fnn
    from fusednet import layers as L
    fnn.random.seed(seed)
    x = fnn.Input((9, 7, 3))
    h = L.Conv2D(5, 3, padding="same", use_bias=False)(x)
    h = L.Activation("relu")(L.BatchNormalization()(h))
    y = L.BatchNormalization()(L.Conv2D(5, 3, padding="same")(h))
    h = L.Activation("relu")(L.add([h, y]))
    out = L.Dense(4, activation="softmax")(L.GlobalAveragePooling2D()(h))
    m = fnn.Model(x, out)
    rng = np.random.default_rng(seed)
    for l in m.layers:
        if isinstance(l, L.BatchNormalization):
            g, b, mm, v = l.get_weights()
            l.set_weights([rng.uniform(.5, 1.5, g.shape), rng.normal(0, .1, b.shape),
                           rng.normal(0, .1, mm.shape), rng.uniform(.5, 2, v.shape)])
    return m


def test_dag_inference_folds_conv_bn_and_tracks_weight_changes():
    """A residual (non-chain) model: predict folds Conv+BN(+relu) in its DAG plan, matches the
    unfolded plan within TOL["conv"], and refolds after fit / set_weights / assign."""
    from fusednet.trainers import fusion as tf
    m = _residual_bn_model()
    x = np.random.default_rng(1).normal(size=(6, 9, 7, 3)).astype(np.float32)
    rtol, atol = TOL["conv"]

    def check():
        y = m.predict(x, verbose=0)
        with tf.disabled():
            ref = m.predict(x, verbose=0)
        np.testing.assert_allclose(y, ref, rtol=rtol, atol=atol)
        return y
    y0 = check()
    folded = [s for s in m._infer_plan().steps if isinstance(getattr(s.fwd, "__self__", None), tf.FoldedConvStep)]
    assert len(folded) == 2
    m.compile("sgd", "sparse_categorical_crossentropy")
    m.fit(x, np.arange(6) % 4, epochs=1, batch_size=3, verbose=0)
    y1 = check()
    assert not np.allclose(y0, y1)
    bn = [l for l in m.layers if type(l).__name__ == "BatchNormalization"][0]
    bn.set_weights([w * 1.5 for w in bn.get_weights()])
    check()
    bn.gamma.assign(bn.gamma.numpy() * 0.5)
    check()
