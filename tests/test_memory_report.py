"""The plan's activation-memory report (fusednet.inspect.memory_report / GraphPlan.memory_report)
against an independent liveness computation on small DAGs (residual add, concat, a shared
layer), freeing on a deep chain (peak far below the sum of all activations), the training
plan's saved activations, and that reporting leaves the model's state untouched."""
import numpy as np
import pytest

import fusednet as fn
from fusednet import inspect, layers

B = 6  # batch rows; every value below is float32 [B, features]


def expected_peak(spec, in_features, outputs):
    """Independent liveness: spec = [(name, input names, features)] in execution order. A value
    lives from its step through its last consumer (graph outputs and the input: to the end);
    the peak is the largest per-step sum of live bytes."""
    produced = {"x": -1}
    last = {"x": len(spec)}
    feats = {"x": in_features}
    for i, (name, ins, f) in enumerate(spec):
        produced[name], feats[name] = i, f
        for v in ins:
            last[v] = max(last.get(v, -1), i)
    for o in outputs:
        last[o] = len(spec)
    peak = 0
    for i in range(len(spec)):
        live = sum(feats[v] for v in feats if produced[v] <= i <= last.get(v, produced[v]))
        peak = max(peak, live * B * 4)
    total = (in_features + sum(f for _, _, f in spec)) * B * 4
    return peak, total


def residual_concat_shared():
    x = fn.Input((5,))
    d1 = layers.Dense(7, name="d1")(x)
    d2 = layers.Dense(7, name="d2")(d1)
    r = layers.Add(name="add")([d1, d2])
    shared = layers.Dense(3, name="shared")
    s1, s2 = shared(r), shared(d2)
    c = layers.Concatenate(name="cat")([s1, s2, r])
    out = layers.Dense(2, name="head")(c)
    spec = [("d1", ["x"], 7), ("d2", ["d1"], 7), ("add", ["d1", "d2"], 7), ("s1", ["add"], 3),
            ("s2", ["d2"], 3), ("cat", ["s1", "s2", "add"], 13), ("head", ["cat"], 2)]
    return fn.Model(x, out), spec, 5, ["head"]


def two_outputs():
    x = fn.Input((4,))
    a = layers.Dense(9, name="a")(x)
    b = layers.Dense(6, name="b")(a)
    c = layers.Dense(5, name="c")(x)
    o2 = layers.Add(name="o2")([layers.Dense(5, name="bc")(b), c])
    # (the plan orders nodes depth-first from the outputs: bc runs before c)
    spec = [("a", ["x"], 9), ("b", ["a"], 6), ("bc", ["b"], 5), ("c", ["x"], 5), ("o2", ["bc", "c"], 5)]
    return fn.Model(x, [b, o2]), spec, 4, ["b", "o2"]


@pytest.mark.parametrize("build", [residual_concat_shared, two_outputs])
def test_inference_peak_matches_independent_liveness(build, rng):
    model, spec, nin, outs = build()
    x = rng.standard_normal((B, nin)).astype(np.float32)
    rep = inspect.memory_report(model, x, training=False)["inference"]
    peak, total = expected_peak(spec, nin, outs)
    assert [s["name"] for s in rep["steps"]] == [n if n not in ("s1", "s2") else "shared" for n, _, _ in spec]
    assert rep["peak_bytes"] == peak
    assert rep["total_bytes"] == total
    assert rep["input_bytes"] == B * nin * 4
    assert rep["saved_bytes"] == 0
    # observing a forward does not change it: the same outputs, bit for bit, as predict's plan
    plan = model._infer_plan()
    seen = []
    plain = plan.forward([fn.asarray(x)], False, record=False)[0]
    watched = plan.forward([fn.asarray(x)], False, record=False, observe=lambda i, v, c: seen.append(i))[0]
    assert seen == list(range(len(spec)))
    for a, b in zip(plain, watched):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_deep_chain_frees_activations(rng):
    x = fn.Input((16,))
    h = x
    for _ in range(20):
        h = layers.Dense(32, activation="relu")(h)
    model = fn.Model(x, layers.Dense(4)(h))
    rep = inspect.memory_report(model, rng.standard_normal((B, 16)).astype(np.float32))
    inf, tr = rep["inference"], rep["training"]
    spec = [(f"l{i}", [f"l{i - 1}" if i else "x"], 32) for i in range(20)] + [("out", ["l19"], 4)]
    peak, total = expected_peak(spec, 16, ["out"])
    assert inf["peak_bytes"] == peak == (16 + 32 + 32) * B * 4   # input + one layer's in and out
    assert inf["total_bytes"] == total
    assert inf["peak_bytes"] < total / 5
    # training: every Dense keeps its input and its (relu) output for backward, so nothing can
    # be freed before backward: the peak is every activation
    assert tr["saved_bytes"] == total
    assert tr["peak_bytes"] == total == tr["total_bytes"] > inf["peak_bytes"]
    assert all(a["saved_bytes"] <= b["saved_bytes"] for a, b in zip(tr["steps"], tr["steps"][1:]))


def test_report_leaves_model_state_untouched(rng):
    x = fn.Input((6,))
    h = layers.BatchNormalization()(layers.Dense(8)(x))
    h = layers.Dropout(0.5)(h)
    model = fn.Model(x, layers.Dense(2)(h))
    model.compile(optimizer="sgd", loss="mse")
    xs = rng.standard_normal((B, 6)).astype(np.float32)
    before = [w.numpy().copy() for w in model.weights]
    key = fn.random.next_key()
    rep = inspect.memory_report(model, xs)
    assert rep["training"]["peak_bytes"] >= rep["inference"]["peak_bytes"] > 0
    # BN and Dropout save more than their inputs/outputs (normalised x, mask): counted in the total
    assert rep["training"]["total_bytes"] >= rep["training"]["peak_bytes"] > rep["inference"]["total_bytes"]
    for w, b in zip(model.weights, before):
        np.testing.assert_array_equal(w.numpy(), b)
    assert fn.random.next_key()[1] == key[1] + 1   # the report drew nothing from the stream


def test_plan_memory_report_direct_and_errors(rng):
    model, spec, nin, outs = residual_concat_shared()
    x = rng.standard_normal((B, nin)).astype(np.float32)
    model.predict(x, verbose=0)
    plan = model._get_plan()
    rep = plan.memory_report([fn.asarray(x)], training=True, weights=model.weights)
    assert rep["peak_bytes"] >= expected_peak(spec, nin, outs)[0]
    assert model.memory_report(x, training=True)["training"]["peak_bytes"] == rep["peak_bytes"]
    assert set(model.memory_report(x)) == {"inference", "training"}
    with pytest.raises(ValueError, match="memory_report"):
        inspect.memory_report(model, np.zeros((B, nin + 1), np.float32))
