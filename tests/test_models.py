"""Sequential / Model: build, summary, compile, fit, evaluate, predict, weights, errors."""
import numpy as np
import pytest

import fusednet as fn
from fusednet import layers


@pytest.fixture(autouse=True)
def _fresh():
    fn.clear_session()
    fn.random.seed(0)


def _data(n=256, d=8, c=3, seed=0):
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, d)).astype(np.float32)
    w = r.standard_normal((d, c))
    y = np.argmax(x @ w, -1)
    return x, y


def _mlp(d=8, c=3, act="softmax"):
    return fn.Sequential([fn.Input(shape=(d,)), layers.Dense(16, activation="relu"),
                          layers.Dense(c, activation=act)])


def test_summary_and_counts(capsys):
    m = _mlp()
    m.summary()
    out = capsys.readouterr().out
    assert 'Model: "sequential"' in out and "dense (Dense)" in out and "(None, 16)" in out
    assert "Total params: 195" in out and "Trainable params: 195" in out
    assert m.count_params() == 8 * 16 + 16 + 16 * 3 + 3
    assert [l.name for l in m.layers] == ["dense", "dense_1"]
    assert m.get_layer("dense_1") is m.layers[1]
    with pytest.raises(ValueError, match="No such layer: nope"):
        m.get_layer("nope")


def test_unbuilt_model_errors():
    m = fn.Sequential([layers.Dense(2)])
    # summary() of an unbuilt model prints "? / 0 (unbuilt)" rows, as Keras 3 does
    # (tests/test_keras_compat_guides.py); the weights are what cannot exist yet
    with pytest.raises(ValueError, match="not yet been built"):
        m.get_weights()
    with pytest.raises(ValueError, match="no layers"):
        fn.Sequential().predict(np.zeros((2, 3)))
    # Keras semantics: predict builds an unbuilt Sequential from the data
    assert m.predict(np.zeros((4, 5), np.float32), verbose=0).shape == (4, 2)


def test_fit_learns_and_history():
    x, y = _data()
    m = _mlp()
    m.compile(optimizer=fn.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h = m.fit(x, y, epochs=8, batch_size=32, verbose=0)
    assert set(h.history) == {"loss", "accuracy"} and len(h.history["loss"]) == 8
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert m.history is h
    loss, acc = m.evaluate(x, y, verbose=0)
    assert acc > 0.8
    np.testing.assert_allclose(loss, h.history["loss"][-1], rtol=0.3)
    p = m.predict(x, verbose=0)
    assert p.shape == (256, 3) and np.allclose(p.sum(1), 1, atol=1e-5)
    d = m.evaluate(x, y, verbose=0, return_dict=True)
    assert set(d) == {"loss", "accuracy"}


def test_evaluate_scalar_without_metrics_and_matches_numpy():
    x, y = _data(n=50)
    m = _mlp()
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    v = m.evaluate(x, y, batch_size=7, verbose=0)
    assert isinstance(v, float)
    p = m.predict(x, batch_size=13, verbose=0).astype(np.float64)
    np.testing.assert_allclose(v, -np.log(p[np.arange(50), y]).mean(), rtol=1e-4)


def test_validation_split_takes_last_fraction():
    x, y = _data(n=100)
    seen = {}

    class Spy(fn.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.update(logs)
    m = _mlp()
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    m.fit(x, y, epochs=1, validation_split=0.2, verbose=0, callbacks=[Spy()])
    assert "val_loss" in seen
    np.testing.assert_allclose(seen["val_loss"], m.evaluate(x[80:], y[80:], verbose=0), rtol=1e-5)


def test_fast_path_equals_tape_path():
    x, y = _data(n=64)

    class Wrap(layers.Layer):   # a custom layer forces the generic tape path
        def call(self, x, training=None):
            return x

    w0 = None
    results = []
    for custom in (False, True):
        fn.clear_session()
        fn.random.seed(1)
        ls = [fn.Input(shape=(8,)), layers.Dense(16, activation="tanh", kernel_regularizer="l2"),
              layers.Dropout(0.0), layers.Dense(3, activation="softmax")]
        if custom:
            ls.insert(2, Wrap())
        m = fn.Sequential(ls)
        if w0 is None:
            w0 = m.get_weights()
        else:
            m.set_weights(w0)
        m.compile(optimizer=fn.optimizers.SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy")
        assert bool(m._get_plan().tape_layers) == bool(custom)
        h = m.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
        results.append((h.history["loss"], m.get_weights()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5)
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_softmax_fusion_stable_for_huge_logits():
    x = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    m = fn.Sequential([fn.Input(shape=(2,)), layers.Dense(2, activation="softmax")])
    m.set_weights([np.array([[1e4, -1e4], [-1e4, 1e4]], np.float32), np.zeros(2, np.float32)])
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    h = m.fit(x, np.array([1, 0]), epochs=1, batch_size=2, verbose=0, shuffle=False)
    assert np.isfinite(h.history["loss"][0]) and h.history["loss"][0] > 1e3
    assert all(np.isfinite(w).all() for w in m.get_weights())
    assert np.isfinite(m.predict(x, verbose=0)).all()


def test_sigmoid_bce_and_regression_models():
    r = np.random.default_rng(2)
    x = r.standard_normal((128, 4)).astype(np.float32)
    yb = (x[:, :1] > 0).astype(np.float32)
    m = fn.Sequential([fn.Input(shape=(4,)), layers.Dense(1, activation="sigmoid")])
    m.compile(optimizer=fn.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    m.fit(x, yb, epochs=10, verbose=0)
    assert m.evaluate(x, yb, verbose=0)[1] > 0.9
    yr = x @ np.array([[1.0], [2.0], [0.0], [-1.0]], np.float32)
    m2 = fn.Sequential([fn.Input(shape=(4,)), layers.Dense(1)])
    m2.compile(optimizer=fn.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    m2.fit(x, yr, epochs=20, verbose=0)
    assert m2.evaluate(x, yr, verbose=0)[0] < 1e-2


def test_get_set_weights_and_save_load(tmp_path):
    x, y = _data(n=40)
    m = _mlp()
    w = m.get_weights()
    assert [a.shape for a in w] == [(8, 16), (16,), (16, 3), (3,)]
    with pytest.raises(ValueError, match="weight 2 .*\\(16, 3\\).*\\(3, 16\\)"):
        m.set_weights([w[0], w[1], w[2].T, w[3]])
    with pytest.raises(ValueError, match="has 4 weight arrays"):
        m.set_weights(w[:2])
    p = tmp_path / "m.weights.safetensors"
    m.save_weights(p)
    before = m.predict(x, verbose=0)
    m.set_weights([np.zeros_like(a) for a in w])
    m.load_weights(p)
    np.testing.assert_array_equal(m.predict(x, verbose=0), before)


def test_input_errors():
    x, y = _data(n=20)
    m = _mlp()
    with pytest.raises(ValueError, match="compile"):
        m.fit(x, y)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        m.fit(bad, y, verbose=0)
    with pytest.raises(ValueError, match="empty"):
        m.fit(x[:0], y[:0], verbose=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        m.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        m.predict(x, batch_size=-1)
    with pytest.raises(ValueError, match="layer 'dense'.*\\(20, 5\\)"):
        m.predict(x[:, :5])
    with pytest.raises(ValueError, match="same number of samples"):
        m.fit(x, y[:5], verbose=0)
    with pytest.raises(ValueError, match="class ids"):
        m.fit(x, y + 5, verbose=0)
    with pytest.raises(ValueError, match="categorical_crossentropy"):
        m.fit(x, np.eye(3)[y], verbose=0)
    with pytest.raises(ValueError, match="Unknown loss 'sparse_ce'; valid names"):
        m.compile(optimizer="adam", loss="sparse_ce")
    with pytest.raises(ValueError, match="Unknown optimizer 'adamm'"):
        m.compile(optimizer="adamm", loss="mse")


def test_callbacks_early_stopping_and_stop_training():
    x, y = _data(n=64)
    m = _mlp()
    m.compile(optimizer=fn.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    es = fn.callbacks.EarlyStopping(monitor="loss", patience=1)
    h = m.fit(x, y, epochs=20, verbose=0, callbacks=[es])
    assert len(h.history["loss"]) < 20
    batches = []

    class Count(fn.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches.append(logs["loss"])
    m.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[Count()])
    assert len(batches) == 4 and all(np.isfinite(batches))


def test_verbose_modes(capsys):
    x, y = _data(n=64)
    m = _mlp()
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x, y, epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 2/2" in out and "loss:" in out and "accuracy:" in out
    m.fit(x, y, epochs=1, verbose=1)
    out = capsys.readouterr().out
    assert "2/2" in out and "loss:" in out


def test_class_and_sample_weight():
    x, y = _data(n=64)
    m = _mlp()
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    w0 = m.get_weights()
    m.fit(x, y, epochs=1, verbose=0, shuffle=False, sample_weight=np.zeros(64))
    for a, b in zip(w0, m.get_weights()):
        np.testing.assert_array_equal(a, b)
    m.fit(x, y, epochs=1, verbose=0, class_weight={0: 1.0, 1: 2.0, 2: 0.5})


def test_functional_model_and_dropout_training():
    inputs = fn.Input(shape=(8,))
    h = layers.Dense(16, activation="relu")(inputs)
    h = layers.Dropout(0.2, seed=1)(h)
    outputs = layers.Dense(3, activation="softmax")(h)
    m = fn.Model(inputs, outputs)
    assert [type(l).__name__ for l in m.layers] == ["InputLayer", "Dense", "Dropout", "Dense"]   # Keras 3
    assert m.count_params() == 195
    x, y = _data()
    m.compile(optimizer=fn.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h = m.fit(x, y, epochs=8, verbose=0)
    assert h.history["accuracy"][-1] > 0.7
    p1, p2 = m.predict(x, verbose=0), m.predict(x, verbose=0)
    np.testing.assert_array_equal(p1, p2)  # dropout inactive at inference


def test_same_seed_same_training():
    x, y = _data(n=64)
    res = []
    for _ in range(2):
        fn.clear_session()
        fn.random.seed(42)
        m = fn.Sequential([fn.Input(shape=(8,)), layers.Dense(16, activation="relu"), layers.Dropout(0.3),
                           layers.Dense(3, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        res.append(m.fit(x, y, epochs=2, verbose=0).history["loss"])
    assert res[0] == res[1]


def test_default_layer_names_follow_keras_snake_case():
    from fusednet.layers.base import Layer, _snake
    fn.clear_session()
    cases = {"Conv2D": "conv2d", "MaxPooling2D": "max_pooling2d", "Dense": "dense",
             "BatchNormalization": "batch_normalization", "Conv2DTranspose": "conv2d_transpose",
             "GlobalAveragePooling2D": "global_average_pooling2d", "SimpleRNN": "simple_rnn",
             "LSTM": "lstm", "ReLU": "re_lu", "UpSampling2D": "up_sampling2d"}
    for cls, want in cases.items():
        assert _snake(cls) == want, cls

    class MyConv3D(Layer):  # a subclass needs no name override
        def call(self, inputs, training=None):
            return inputs
    assert MyConv3D().name == "my_conv3d"
    assert MyConv3D().name == "my_conv3d_1"


def test_vector_metric_results_are_logged_as_arrays():
    # F1Score(average=None) returns one value per class: logs keep the array (Keras), the
    # progress bar shows it, evaluate returns it.
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.random((64, 5), dtype=np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 64)]
    m = fn.Sequential([fn.Input(shape=(5,)), fn.layers.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["f1_score", "accuracy"])
    for verbose in (0, 1, 2):
        h = m.fit(x, y, epochs=1, verbose=verbose, validation_split=0.25)
    f1 = h.history["f1_score"][-1]
    assert isinstance(f1, np.ndarray) and f1.shape == (3,)
    assert isinstance(h.history["val_f1_score"][-1], np.ndarray)
    assert isinstance(h.history["accuracy"][-1], float)
    res = m.evaluate(x, y, verbose=0, return_dict=True)
    assert res["f1_score"].shape == (3,) and isinstance(res["loss"], float)


def test_batched_metric_updates_match_per_batch_updates():
    # Without per-batch hooks fit/evaluate queue metric batches (one update per ~8k samples);
    # with a batch hook they update every batch. Both must give the same history.
    import numpy as np
    from fusednet.callbacks import Callback

    class Hook(Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

        def on_test_batch_end(self, batch, logs=None):
            pass

    rng = np.random.default_rng(0)
    x = rng.random((3000, 20), dtype=np.float32)
    y = rng.integers(0, 3, 3000)
    runs = []
    for cbs in ([], [Hook()]):
        fn.random.seed(1)
        m = fn.Sequential([fn.Input(shape=(20,)), fn.layers.Dense(16, activation="relu"),
                           fn.layers.Dense(3, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", "sparse_top_k_categorical_accuracy"])
        h = m.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=cbs, validation_split=0.2)
        runs.append((h.history, m.evaluate(x, y, verbose=0, callbacks=cbs, return_dict=True)))
    assert runs[0] == runs[1]


def test_sequential_has_a_symbolic_view_for_feature_extractors():
    """Keras: a built Sequential has inputs/outputs and every layer an output."""
    seq = fn.Sequential([fn.Input((6, 6, 1)), layers.Conv2D(2, 3, name="c1"), layers.Conv2D(3, 3, name="c2")])
    fx = fn.Model(inputs=seq.inputs, outputs=[l.output for l in seq.layers])
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 1)).astype(np.float32)
    outs = fx.predict(x, verbose=0)
    assert [o.shape for o in outs] == [(2, 4, 4, 2), (2, 2, 2, 3)]
    np.testing.assert_array_equal(outs[1], seq.predict(x, verbose=0))
    assert seq.output_shape == (None, 2, 2, 3)
    with pytest.raises(ValueError, match="no defined input"):
        fn.Sequential([layers.Dense(2)]).inputs
