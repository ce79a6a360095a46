"""fusednet.pruning: tfmot schedule formulas, the magnitude mask rule (exact k, ties), masks kept
through fit for every optimizer, the all-ones-mask bitwise check, strip_pruning, error paths and a
short accuracy-at-sparsity check."""
import glob
import os

import numpy as np
import pytest

import fusednet as fn
from fusednet import layers, pruning
from tolerances import TOL

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- schedules
def _ref_should(step, begin, end, freq):
    return step >= begin and (step <= end or end < 0) and (step - begin) % freq == 0


def _ref_poly(step, s0, s1, begin, end, power):
    p = min(1.0, max(0.0, (step - begin) / (end - begin)))
    return (s0 - s1) * (1.0 - p) ** power + s1


@pytest.mark.parametrize("s0,s1,begin,end,power,freq", [(0.0, 0.8, 0, 1000, 3, 100), (0.2, 0.9, 37, 401, 2, 7),
                                                          (0.5, 0.5, 5, 6, 1, 1)])
def test_polynomial_decay_matches_tfmot_formula(s0, s1, begin, end, power, freq):
    sch = pruning.PolynomialDecay(s0, s1, begin, end, power=power, frequency=freq)
    for step in [0, 1, begin - 1, begin, begin + 1, begin + freq, (begin + end) // 2, end - 1, end, end + 1,
                 end + freq, 10 * end + 3]:
        should, sp = sch(step)
        assert should == _ref_should(step, begin, end, freq), step
        np.testing.assert_allclose(sp, _ref_poly(step, s0, s1, begin, end, power), *TOL["pruning_schedule"])
        assert sp == float(np.float32(sp))          # a float32 value, as tfmot's


def test_constant_sparsity_matches_tfmot_formula():
    for begin, end, freq in [(0, -1, 100), (13, 200, 7), (5, 5, 1)]:
        sch = pruning.ConstantSparsity(0.75, begin, end, frequency=freq)
        for step in range(0, 420):
            should, sp = sch(step)
            assert should == _ref_should(step, begin, end, freq)
            assert sp == 0.75
    assert pruning.ConstantSparsity(0.3, 0)(10 ** 7)[0]       # end_step=-1: prunes forever


@pytest.mark.parametrize("make", [
    lambda: pruning.PolynomialDecay(0.0, 1.0, 0, 10), lambda: pruning.PolynomialDecay(-0.1, 0.5, 0, 10),
    lambda: pruning.PolynomialDecay(0.0, 0.5, 0, -1), lambda: pruning.PolynomialDecay(0.0, 0.5, 10, 5),
    lambda: pruning.PolynomialDecay(0.0, 0.5, -1, 5), lambda: pruning.PolynomialDecay(0.0, 0.5, 0, 5, frequency=0),
    lambda: pruning.ConstantSparsity(1.0, 0), lambda: pruning.ConstantSparsity(0.5, 0, end_step=-2),
    lambda: pruning.ConstantSparsity(0.5, 3, end_step=2)])
def test_schedule_bad_values_raise(make):
    with pytest.raises(ValueError, match="Sparsity|Decay"):
        make()


def test_schedule_bad_types_raise():
    with pytest.raises(TypeError, match="begin_step"):
        pruning.ConstantSparsity(0.5, 1.5)


def test_schedule_config_round_trip():
    from fusednet.pruning.schedules import deserialize
    for sch in [pruning.PolynomialDecay(0.1, 0.7, 3, 300, power=2, frequency=9),
                pruning.ConstantSparsity(0.6, 4, 99, frequency=3)]:
        cfg = sch.get_config()
        back = deserialize(cfg)
        assert type(back) is type(sch) and back.get_config() == cfg
        assert [back(s) for s in range(0, 320, 7)] == [sch(s) for s in range(0, 320, 7)]
    cb = pruning.UpdatePruningStep.from_config(pruning.UpdatePruningStep().get_config())
    assert isinstance(cb, pruning.UpdatePruningStep)


# ---------------------------------------------------------------- mask rule
def _ref_mask(w, sparsity):
    a = np.abs(w.astype(np.float64)).ravel()
    n = a.size
    k = int(max(np.round(np.float32(n) * (np.float32(1) - np.float32(sparsity))), 1))
    thr = np.sort(a)[::-1][k - 1]
    return (np.abs(w.astype(np.float64)) >= thr).astype(np.float32), k


def _dense(units, in_dim, seed):
    l = layers.Dense(units)
    l.build((None, in_dim))
    rng = np.random.default_rng(seed)
    l.set_weights([rng.normal(size=(in_dim, units)).astype(np.float32), np.ones(units, np.float32)])
    return l


@pytest.mark.parametrize("in_dim,units", [(1, 1), (7, 1), (13, 17), (64, 31)])
@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.5, 0.8, 0.97])
def test_mask_exact_sparsity_vs_numpy(in_dim, units, sparsity):
    l = _dense(units, in_dim, seed=in_dim * 100 + units)
    st = pruning.prune_low_magnitude(l, pruning.ConstantSparsity(sparsity, 0))._pruning
    w = l.kernel.numpy().copy()
    st.update_masks(sparsity)
    want, k = _ref_mask(w, sparsity)
    got = st.masks["kernel"].numpy()
    np.testing.assert_array_equal(got, want)
    assert int(got.sum()) == k                      # distinct magnitudes: exactly k kept
    st.apply_masks()
    np.testing.assert_array_equal(l.kernel.numpy(), w * want)
    np.testing.assert_array_equal(l.bias.numpy(), np.ones(units, np.float32))   # biases never pruned


def test_mask_ties_are_kept():
    l = _dense(4, 5, 0)
    w = np.array([[1, -1, 1, 2], [3, 1, -1, 0.5], [1, 4, 1, 1], [0.25, -1, 5, 1], [1, 1, 6, 7]], np.float32)
    l.set_weights([w, np.zeros(4, np.float32)])
    st = pruning.prune_low_magnitude(l)._pruning
    st.update_masks(0.5)                             # k = 10: the 10th largest |w| is 1, a tie of 12 ones
    want, k = _ref_mask(w, 0.5)
    np.testing.assert_array_equal(st.masks["kernel"].numpy(), want)
    assert k == 10 and int(want.sum()) == int((np.abs(w) >= 1).sum()) == 18


def test_conv_and_separable_kernels_are_masked():
    for layer, shape in [(layers.Conv2D(5, 3), (None, 9, 9, 3)), (layers.SeparableConv2D(4, 3), (None, 8, 8, 3)),
                         (layers.DepthwiseConv2D(3), (None, 7, 7, 2)), (layers.Conv2DTranspose(3, 2), (None, 5, 5, 2)),
                         (layers.Conv1D(4, 3), (None, 11, 3)), (layers.Embedding(13, 6), (None, 4))]:
        layer.build(shape)
        st = pruning.prune_low_magnitude(layer, pruning.ConstantSparsity(0.6, 0))._pruning
        assert set(st.masks) == set(pruning.PRUNABLE_WEIGHTS[type(layer).__name__])
        st.update_masks(0.6)
        st.apply_masks()
        for attr in st.masks:
            w = getattr(layer, attr).numpy()
            np.testing.assert_array_equal(st.masks[attr].numpy() == 0, w == 0)   # zeros = masked entries
            assert int(st.masks[attr].numpy().sum()) == int(max(np.round(np.float32(w.size) * np.float32(0.4)), 1))


# ---------------------------------------------------------------- training
def _data(n=192, d=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return x, y


def _mlp(seed=0, d=12):
    fn.random.set_random_seed(seed)
    return fn.Sequential([layers.Input((d,)), layers.Dense(24, activation="relu"), layers.Dense(2)])


OPTIMIZERS = [lambda: fn.optimizers.SGD(0.05), lambda: fn.optimizers.SGD(0.05, momentum=0.9),
              lambda: fn.optimizers.SGD(0.05, momentum=0.9, nesterov=True), lambda: fn.optimizers.Adam(0.01),
              lambda: fn.optimizers.AdamW(0.01), lambda: fn.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
              lambda: fn.optimizers.Adagrad(0.05)]


@pytest.mark.parametrize("make_opt", OPTIMIZERS)
def test_pruned_weights_stay_zero_through_fit(make_opt):
    x, y = _data()
    pr = pruning.prune_low_magnitude(_mlp(), pruning.ConstantSparsity(0.7, begin_step=0, end_step=0))
    pr.compile(make_opt(), fn.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [l.kernel.numpy().copy() for l in pr.layers]
    pr.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[pruning.UpdatePruningStep()])
    for l, w0 in zip(pr.layers, before):
        m = l._pruning.masks["kernel"].numpy()
        w = l.kernel.numpy()
        np.testing.assert_array_equal(w[m == 0], 0.0)
        assert np.mean(w[m == 1] != w0[m == 1]) > 0.3                         # the kept weights trained
        assert int(m.sum()) == int(np.round(np.float32(m.size) * np.float32(0.3)))
        assert l._pruning.step == 18                                          # 3 epochs x 6 batches
    k0 = f"{pr.layers[0].name}/kernel"
    assert pruning.get_sparsity(pr)[k0] == pytest.approx(1 - int(np.round(12 * 24 * 0.3)) / 288)


@pytest.mark.parametrize("make_opt", OPTIMIZERS)
def test_masked_step_is_unmasked_step_times_mask(make_opt):
    """One fused step with the mask inside it: equal bitwise to the unmasked step times the mask; with
    an all-ones mask the pruned run equals the plain run bitwise."""
    rng = np.random.default_rng(3)
    w0 = rng.normal(size=(9, 5)).astype(np.float32)
    grads = [rng.normal(size=(9, 5)).astype(np.float32) for _ in range(4)]
    mask = (rng.random((9, 5)) > 0.4).astype(np.float32)

    def run(prune, m=None):
        l = _dense(5, 9, 0)
        l.set_weights([w0, np.zeros(5, np.float32)])
        opt = make_opt()
        if prune:
            st = pruning.prune_low_magnitude(l, pruning.ConstantSparsity(0.5, begin_step=10 ** 6))._pruning
            st.masks["kernel"].copy_(fn.asarray(m))
            opt._pruning = pruning.prune.Pruner([st])
        out = []
        for g in grads:
            opt.apply([fn.asarray(g)], [l.kernel.data])
            out.append(l.kernel.numpy().copy())
        return out

    plain = run(False)
    ones = run(True, np.ones((9, 5), np.float32))
    for a, b in zip(plain, ones):
        np.testing.assert_array_equal(a, b)
    masked = run(True, mask)
    # first step: masked = (fused step from w0) * mask exactly
    np.testing.assert_array_equal(masked[0], plain[0] * mask)
    for m in masked:
        np.testing.assert_array_equal(m[mask == 0], 0.0)


def test_polynomial_schedule_reaches_final_sparsity_in_fit():
    x, y = _data(n=320)
    sch = pruning.PolynomialDecay(0.0, 0.8, begin_step=0, end_step=20, frequency=5)
    pr = pruning.prune_low_magnitude(_mlp(), pruning_schedule=sch)
    pr.compile("adam", fn.losses.SparseCategoricalCrossentropy(from_logits=True))
    pr.fit(x, y, batch_size=32, epochs=1, verbose=0, steps_per_epoch=7, callbacks=[pruning.UpdatePruningStep()])
    k0 = f"{pr.layers[0].name}/kernel"
    sp = pruning.get_sparsity(pr)[k0]
    assert sp == pytest.approx(1 - np.round(288 * (1 - sch(5)[1])) / 288)     # last update was at step 5
    pr.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[pruning.UpdatePruningStep()])
    assert pr.layers[0]._pruning.step == 7 + 30
    assert pruning.get_sparsity(pr)[k0] == pytest.approx(1 - np.round(288 * np.float32(0.2)) / 288)
    assert pr.optimizer._pruning is None                     # the hook is removed after fit


def test_strip_pruning_gives_plain_model_with_zeros():
    x, y = _data()
    pr = pruning.prune_low_magnitude(_mlp(), pruning.ConstantSparsity(0.5, 0, frequency=3))
    pr.compile("adam", fn.losses.SparseCategoricalCrossentropy(from_logits=True))
    pr.fit(x, y, epochs=2, verbose=0, callbacks=[pruning.UpdatePruningStep()])
    plain = pruning.strip_pruning(pr)
    assert plain is not pr and all(getattr(l, "_pruning", None) is None for l in plain.layers)
    for a, b in zip(plain.get_weights(), pr.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(plain.predict(x, verbose=0), pr.predict(x, verbose=0))
    assert pruning.get_sparsity(plain)[f"{plain.layers[0].name}/kernel"] == pytest.approx(0.5)
    plain.compile("sgd", fn.losses.SparseCategoricalCrossentropy(from_logits=True))
    plain.fit(x, y, epochs=1, verbose=0)                     # no callback needed any more


def test_prune_low_magnitude_clones_the_model():
    m = _mlp()
    pr = pruning.prune_low_magnitude(m)
    assert pr is not m and all(getattr(l, "_pruning", None) is None for l in m.layers)
    for a, b in zip(pr.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)
    st = pr.layers[0]._pruning
    assert st.step == -1 and st.schedule.get_config()["config"]["target_sparsity"] == 0.5


def test_pruning_summaries_writes_events(tmp_path):
    x, y = _data()
    pr = pruning.prune_low_magnitude(_mlp(), pruning.ConstantSparsity(0.5, 0))
    pr.compile("adam", fn.losses.SparseCategoricalCrossentropy(from_logits=True))
    pr.fit(x, y, epochs=1, verbose=0,
           callbacks=[pruning.UpdatePruningStep(), pruning.PruningSummaries(str(tmp_path))])
    files = glob.glob(str(tmp_path / "events.out.tfevents.*"))
    assert len(files) == 1 and f"pruning/{pr.layers[0].name}/kernel/sparsity".encode() in open(files[0], "rb").read()


# ---------------------------------------------------------------- errors
def test_fit_without_update_pruning_step_raises():
    x, y = _data()
    pr = pruning.prune_low_magnitude(_mlp())
    pr.compile("adam", fn.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match="UpdatePruningStep"):
        pr.fit(x, y, epochs=1, verbose=0)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="not prunable"):
        pruning.prune_low_magnitude(layers.Flatten())
    with pytest.raises(TypeError, match="PruningSchedule"):
        pruning.prune_low_magnitude(_mlp(), pruning_schedule=0.5)
    with pytest.raises(ValueError, match="block_size must be a pair"):
        pruning.prune_low_magnitude(_mlp(), block_size=(0, 2))
    with pytest.raises(ValueError, match=r"block_size=\(2, 2\) needs 2-D kernels .* shape \(3, 3, 2, 4\)"):
        pruning.prune_low_magnitude(fn.Sequential([layers.Input((6, 6, 2)), layers.Conv2D(4, 3)]), block_size=(2, 2))
    with pytest.raises(ValueError, match="block_pooling_type"):
        pruning.prune_low_magnitude(_mlp(), block_size=(2, 2), block_pooling_type="MIN")
    with pytest.raises(TypeError, match="unexpected"):
        pruning.prune_low_magnitude(_mlp(), sparsity=0.5)
    with pytest.raises(ValueError, match="no prunable"):
        pruning.prune_low_magnitude(fn.Sequential([layers.Input((4,)), layers.Dropout(0.1)]))
    pr = pruning.prune_low_magnitude(_mlp())
    with pytest.raises(ValueError, match="already"):
        pruning.prune_low_magnitude(pr)
    with pytest.raises(TypeError, match="model or a layer"):
        pruning.prune_low_magnitude(np.zeros(3))


# ---------------------------------------------------------------- accuracy at sparsity (short)
def _mnist():
    from fusednet.datasets import mnist
    for d in [os.environ.get("FUSEDNET_MNIST", ""), os.path.join(HERE, "..", "..", "shared", "data", "mnist"),
              os.path.join(HERE, "..", "..", "..", "..", "shared", "data", "mnist")]:
        if d and glob.glob(os.path.join(d, "t10k-images*")):
            return mnist.load_test_split(d, download=False)
    pytest.skip("MNIST files (shared/data/mnist) not found")


def test_mlp_mnist_80_percent_sparsity_close_to_dense():
    (xt, yt), (xv, yv) = _mnist()
    xt = xt.reshape(-1, 784).astype(np.float32) / 255.0
    yt = yt.astype(np.int64)
    xv = xv.reshape(-1, 784).astype(np.float32) / 255.0
    loss = fn.losses.SparseCategoricalCrossentropy(from_logits=True)

    def mlp():
        fn.random.set_random_seed(1)
        return fn.Sequential([layers.Input((784,)), layers.Dense(128, activation="relu"), layers.Dense(10)])

    dense = mlp()
    dense.compile(fn.optimizers.Adam(1e-3), loss)
    dense.fit(xt, yt, batch_size=32, epochs=5, verbose=0)
    acc_dense = float(np.mean(np.argmax(dense.predict(xv, verbose=0), 1) == yv))
    pr = pruning.prune_low_magnitude(mlp(), pruning.PolynomialDecay(0.0, 0.8, begin_step=0, end_step=750,
                                                                      frequency=50))
    pr.compile(fn.optimizers.Adam(1e-3), loss)
    pr.fit(xt, yt, batch_size=32, epochs=5, verbose=0, callbacks=[pruning.UpdatePruningStep()])
    acc_pr = float(np.mean(np.argmax(pr.predict(xv, verbose=0), 1) == yv))
    sp = pruning.get_sparsity(pr)
    k0, k1 = (f"{l.name}/kernel" for l in pr.layers)
    assert sp[k0] == pytest.approx(0.8, abs=1e-4) and sp[k1] == pytest.approx(0.8, abs=1e-3)
    assert acc_dense > 0.93
    print("dense", acc_dense, "pruned", acc_pr)
    assert acc_pr >= acc_dense - 0.015, (acc_dense, acc_pr)


# ---------------------------------------------------------------- saving
def test_pruned_model_save_load_keeps_masks_step_and_schedule(tmp_path):
    x, y = _data()
    sch = pruning.PolynomialDecay(0.1, 0.6, begin_step=2, end_step=30, power=2, frequency=4)
    pr = pruning.prune_low_magnitude(_mlp(), sch)
    pr.compile("adam", fn.losses.SparseCategoricalCrossentropy(from_logits=True))
    pr.fit(x, y, epochs=1, verbose=0, callbacks=[pruning.UpdatePruningStep()])
    f = str(tmp_path / "pruned.keras")
    pr.save(f)
    back = fn.models.load_model(f)
    for a, b in zip(pr.layers, back.layers):
        assert b._pruning.step == a._pruning.step == 6
        assert b._pruning.schedule.get_config() == sch.get_config()
        np.testing.assert_array_equal(b._pruning.masks["kernel"].numpy(), a._pruning.masks["kernel"].numpy())
    for a, b in zip(pr.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.predict(x, verbose=0), pr.predict(x, verbose=0))
    # training resumes from the saved step on both: same masks afterwards
    for m in (pr, back):
        m.fit(x, y, epochs=1, verbose=0, shuffle=False, callbacks=[pruning.UpdatePruningStep()])
    for a, b in zip(pr.layers, back.layers):
        assert a._pruning.step == b._pruning.step == 12
        np.testing.assert_array_equal(b._pruning.masks["kernel"].numpy(), a._pruning.masks["kernel"].numpy())
    with pytest.raises(ValueError, match="UpdatePruningStep"):
        back.fit(x, y, epochs=1, verbose=0)


def test_stripped_model_saves_as_a_plain_model(tmp_path):
    x, y = _data()
    pr = pruning.prune_low_magnitude(_mlp(), pruning.ConstantSparsity(0.5, 0))
    pr.compile("adam", fn.losses.SparseCategoricalCrossentropy(from_logits=True))
    pr.fit(x, y, epochs=1, verbose=0, callbacks=[pruning.UpdatePruningStep()])
    plain = pruning.strip_pruning(pr)
    f = str(tmp_path / "plain.keras")
    plain.save(f)
    back = fn.models.load_model(f)
    assert all(getattr(l, "_pruning", None) is None for l in back.layers)
    for a, b in zip(plain.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert pruning.get_sparsity(back)[f"{back.layers[0].name}/kernel"] == pytest.approx(0.5)


def test_functional_cnn_and_unbuilt_sequential_are_pruned():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8, 8, 3)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    i = fn.Input((8, 8, 3))
    h = layers.Flatten()(layers.MaxPooling2D()(layers.Conv2D(8, 3, activation="relu")(i)))
    pr = pruning.prune_low_magnitude(fn.Model(i, layers.Dense(3)(h)), pruning.ConstantSparsity(0.6, 0, frequency=2))
    pr.compile("adam", fn.losses.SparseCategoricalCrossentropy(from_logits=True))
    pr.fit(x, y, epochs=2, verbose=0, callbacks=[pruning.UpdatePruningStep()])
    conv, dense = [l for l in pr.layers if getattr(l, "_pruning", None) is not None]
    for l in (conv, dense):
        n = l.kernel.numpy().size
        assert int((l.kernel.numpy() == 0).sum()) == n - int(np.round(np.float32(n) * np.float32(0.4)))
    seq = pruning.prune_low_magnitude(fn.Sequential([layers.Dense(4), layers.Dense(3)]),
                                      pruning.ConstantSparsity(0.5, 0))   # built by fit
    seq.compile("adam", fn.losses.SparseCategoricalCrossentropy(from_logits=True))
    seq.fit(rng.normal(size=(32, 6)).astype(np.float32), rng.integers(0, 3, 32), epochs=1, verbose=0,
            callbacks=[pruning.UpdatePruningStep()])
    assert sorted(pruning.get_sparsity(seq).values()) == [0.5, 0.5]


# ---------------------------------------------------------------- nested models, the fit hook
def test_nested_models_prunable_layers_are_found(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(64, 6)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    inner = fn.Sequential([layers.Input((6,)), layers.Dense(8, activation="relu"), layers.Dense(5)])
    i = fn.Input((6,))
    mid = fn.Model(i, layers.Dense(7)(layers.Activation("relu")(inner(i))))       # functional around a Sequential
    outer = fn.Sequential([layers.Input((6,)), mid, layers.Dense(3)])
    pr = pruning.prune_low_magnitude(outer, pruning.ConstantSparsity(0.5, 0, frequency=3))
    names = [st.layer.name for st in pruning.prune.pruned_states(pr)]
    assert len(names) == 4 and len(set(names)) == 4                              # 2 inner + mid + outer Dense
    assert all(getattr(l, "_pruning", None) is None for l in pruning.prune._layers(outer))   # the original is untouched
    pr.compile("adam", fn.losses.SparseCategoricalCrossentropy(from_logits=True))
    pr.fit(x, y, epochs=2, verbose=0, callbacks=[pruning.UpdatePruningStep()])
    for st in pruning.prune.pruned_states(pr):
        m = st.masks["kernel"].numpy()
        w = st.layer.kernel.numpy()
        np.testing.assert_array_equal(w[m == 0], 0.0)
        assert int(m.sum()) == int(np.round(np.float32(m.size) * np.float32(0.5)))
    f = str(tmp_path / "nested.keras")
    pr.save(f)
    back = fn.models.load_model(f)
    assert [st.step for st in pruning.prune.pruned_states(back)] == [st.step for st in pruning.prune.pruned_states(pr)]
    np.testing.assert_array_equal(back.predict(x, verbose=0), pr.predict(x, verbose=0))
    plain = pruning.strip_pruning(pr)
    assert pruning.prune.pruned_states(plain) == []
    sp = pruning.get_sparsity(plain)
    assert len(sp) == 4 and sp == pruning.get_sparsity(pr)
    with pytest.raises(ValueError, match="UpdatePruningStep"):
        pr.fit(x, y, epochs=1, verbose=0)


def test_fit_hook_lives_in_the_pruning_package():
    from fusednet.pruning.callbacks import check_fit_callbacks
    pr = pruning.prune_low_magnitude(_mlp())
    check_fit_callbacks(pr, [pruning.UpdatePruningStep()])
    check_fit_callbacks(_mlp(), [])                                        # unpruned: nothing needed
    with pytest.raises(ValueError, match="UpdatePruningStep"):
        check_fit_callbacks(pr, [fn.callbacks.History()])
    # a plain CallbackList no longer knows about pruning (no pruning logic in callbacks/base.py)
    fn.callbacks.CallbackList([], add_history=True, model=pr)


# ---------------------------------------------------------------- block sparsity (tfmot block_size)
def _ref_block_mask(w, sparsity, bh, bw, pooling):
    R, C = w.shape
    a = np.abs(w.astype(np.float64))
    RB, CB = -(-R // bh), -(-C // bw)
    pooled = np.array([[(np.max if pooling == "MAX" else np.mean)(a[i * bh:(i + 1) * bh, j * bw:(j + 1) * bw])
                        for j in range(CB)] for i in range(RB)])
    bm, k = _ref_mask(pooled, sparsity)
    return np.kron(bm, np.ones((bh, bw), np.float32))[:R, :C], k


@pytest.mark.parametrize("in_dim,units,block", [(16, 8, (4, 4)), (13, 17, (2, 3)), (7, 1, (2, 1)), (64, 31, (1, 8))])
@pytest.mark.parametrize("pooling", ["AVG", "MAX"])
def test_block_mask_vs_numpy(in_dim, units, block, pooling):
    l = _dense(units, in_dim, seed=in_dim + units)
    st = pruning.prune_low_magnitude(l, pruning.ConstantSparsity(0.6, 0), block_size=block,
                                     block_pooling_type=pooling)._pruning
    w = l.kernel.numpy().copy()
    st.update_masks(0.6)
    want, k = _ref_block_mask(w, 0.6, *block, pooling)
    np.testing.assert_array_equal(st.masks["kernel"].numpy(), want)
    st.apply_masks()
    np.testing.assert_array_equal(l.kernel.numpy(), w * want)


def test_block_pruning_through_fit_keeps_whole_blocks_and_saves(tmp_path):
    x, y = _data()
    pr = pruning.prune_low_magnitude(_mlp(), pruning.ConstantSparsity(0.5, 0, frequency=4), block_size=(4, 2),
                                     block_pooling_type="MAX")
    pr.compile("adam", fn.losses.SparseCategoricalCrossentropy(from_logits=True))
    pr.fit(x, y, epochs=2, verbose=0, callbacks=[pruning.UpdatePruningStep()])
    for l in pr.layers:
        w = l.kernel.numpy()
        R, C = w.shape
        blocks = np.pad(w, ((0, -R % 4), (0, -C % 2)), constant_values=1).reshape(-R // -4, 4, -C // -2, 2)
        zero = np.all(blocks == 0, axis=(1, 3))
        assert zero.mean() == pytest.approx(1 - np.round(zero.size * np.float32(0.5)) / zero.size)
        np.testing.assert_array_equal(w == 0, np.kron(zero, np.ones((4, 2), bool))[:R, :C])   # whole blocks only
    f = str(tmp_path / "blocks.keras")
    pr.save(f)
    back = fn.models.load_model(f)
    for a, b in zip(pr.layers, back.layers):
        assert b._pruning.block_size == (4, 2) and b._pruning.block_pooling_type == "MAX"
        np.testing.assert_array_equal(b._pruning.masks["kernel"].numpy(), a._pruning.masks["kernel"].numpy())


def test_block_pruning_of_a_1x1_conv_kernel():
    conv = layers.Conv2D(6, 1)
    conv.build((None, 5, 5, 8))                                  # kernel (1, 1, 8, 6) -> blocks of (8, 6)
    st = pruning.prune_low_magnitude(conv, pruning.ConstantSparsity(0.5, 0), block_size=(2, 3))._pruning
    w = conv.kernel.numpy().copy()
    st.update_masks(0.5)
    want, _ = _ref_block_mask(w.reshape(8, 6), 0.5, 2, 3, "AVG")
    np.testing.assert_array_equal(st.masks["kernel"].numpy(), want.reshape(1, 1, 8, 6))


def test_no_separate_mask_pass_per_step(monkeypatch):
    """The masks are applied inside the fused step: weights are multiplied by their mask only at
    fit start, on pruning steps and at epoch ends (tfmot), never once per training step."""
    x, y = _data()
    pr = pruning.prune_low_magnitude(_mlp(), pruning.ConstantSparsity(0.7, begin_step=0, end_step=0))
    pr.compile("adam", fn.losses.SparseCategoricalCrossentropy(from_logits=True))
    calls = []
    orig = pruning.prune.PruningState.apply_masks
    monkeypatch.setattr(pruning.prune.PruningState, "apply_masks", lambda self: (calls.append(1), orig(self)))
    pr.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[pruning.UpdatePruningStep()])   # 18 steps
    assert len(calls) == 2 * (1 + 3)                 # 2 pruned layers x (fit start + 3 epoch ends)
    for l in pr.layers:
        np.testing.assert_array_equal(l.kernel.numpy()[l._pruning.masks["kernel"].numpy() == 0], 0.0)
