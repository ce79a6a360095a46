"""Overridable train_step / test_step / predict_step (Keras 3 idioms), compute_loss / metrics, and
integer Input dtypes reaching the layers as integer Arrays."""
import numpy as np
import pytest

import fusednet
from fusednet import _C
from fusednet import functional as F
from fusednet.data import Dataset
from fusednet.layers import Dense, Input, Layer
from tolerances import TOL

N, FEAT, C = 61, 5, 3


def _data(rng, n=N):
    x = rng.standard_normal((n, FEAT)).astype(np.float32)
    y = rng.integers(0, C, n)
    return x, y


class KerasIdiomModel(fusednet.Model):
    """The keras.io 'customizing fit' train_step, verbatim apart from the module name."""

    def train_step(self, data):
        x, y = data
        with fusednet.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        for m in self.metrics:
            if m.name == "loss":
                m.update_state(loss)
            else:
                m.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def _functional(cls=fusednet.Model, seed=0, opt="sgd", metrics=("accuracy",)):
    fusednet.utils.set_random_seed(seed)
    inp = Input(shape=(FEAT,))
    out = Dense(C, activation="softmax")(Dense(13, activation="tanh")(inp))
    m = cls(inp, out)
    m.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=list(metrics))
    return m


def test_keras_idiom_train_step_matches_compiled_plan(rng):
    x, y = _data(rng)
    ref = _functional()
    href = ref.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    m = _functional(KerasIdiomModel)
    h = m.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    assert set(h.history) == {"loss", "accuracy"}
    rt, at = TOL["train_step"]
    for a, b in zip(m.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=rt, atol=at)
    # the logs are the running means of the epoch (loss tracker weighted per batch)
    np.testing.assert_allclose(h.history["accuracy"], href.history["accuracy"], rtol=rt, atol=at)
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert [mm.name for mm in m.metrics] == ["loss", "accuracy"]
    assert m.metrics_names == ["loss", "accuracy"]


class WeightedIdiom(fusednet.Model):
    """keras.io: 'Supporting sample_weight & class_weight' (data is a 2- or 3-tuple)."""

    def train_step(self, data):
        if len(data) == 3:
            x, y, sample_weight = data
        else:
            sample_weight = None
            x, y = data
        with fusednet.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred, sample_weight=sample_weight)
        return {m.name: m.result() for m in self.metrics}


def test_sample_weight_idiom_matches_compiled_plan(rng):
    x, y = _data(rng)
    w = rng.random(N).astype(np.float32) + 0.1
    ref = _functional()
    ref.fit(x, y, sample_weight=w, batch_size=8, epochs=2, shuffle=False, verbose=0)
    m = _functional(WeightedIdiom)
    m.fit(x, y, sample_weight=w, batch_size=8, epochs=2, shuffle=False, verbose=0)
    rt, at = TOL["train_step"]
    for a, b in zip(m.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=rt, atol=at)
    unweighted = _functional()
    unweighted.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert max(np.abs(a - b).max() for a, b in zip(m.get_weights(), unweighted.get_weights())) > 1e-3


def test_custom_step_on_a_dataset_and_validation(rng):
    x, y = _data(rng)
    m = _functional(KerasIdiomModel)
    ds = Dataset.from_tensor_slices((x, y)).batch(16)
    h = m.fit(ds, epochs=2, verbose=0, validation_data=ds)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    ref = _functional(KerasIdiomModel)
    ref.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(m.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=TOL["exact"][0], atol=TOL["exact"][1])
    # validation_split with arrays works in the custom loop too
    h = m.fit(x, y, epochs=1, verbose=0, validation_split=0.25)
    assert "val_loss" in h.history


def test_super_train_step_and_reset_metrics(rng):
    x, y = _data(rng)
    calls = []

    class Counting(fusednet.Model):
        def train_step(self, data):
            calls.append(type(data).__name__)
            return super().train_step(data)
    m = _functional(Counting)
    h = m.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert len(calls) == 2 * 4 and calls[0] == "tuple"
    assert h.history["loss"][1] < h.history["loss"][0] * 1.5
    acc = m.metrics[1]
    assert acc.count > 0
    m.reset_metrics()
    assert acc.count == 0 and m.metrics[0].count == 0


class LowLevel(fusednet.Model):
    """No loss in compile; a Mean loss tracker and an MAE metric as attributes."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.d1 = Dense(8, activation="relu")
        self.d2 = Dense(1)
        self.loss_tracker = fusednet.metrics.Mean(name="loss")
        self.mae_metric = fusednet.metrics.MeanAbsoluteError(name="mae")

    def call(self, x, training=None):
        return self.d2(self.d1(x))

    def train_step(self, data):
        x, y = data
        with fusednet.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = F.mean(F.square(y_pred - y))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_metric]


def test_low_level_loss_tracker_trains(rng):
    x = rng.standard_normal((97, 4)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]], np.float32) + 0.1).astype(np.float32)
    fusednet.utils.set_random_seed(3)
    m = LowLevel()
    m.compile(optimizer=fusednet.optimizers.Adam(0.01))
    h = m.fit(x, y, epochs=15, batch_size=16, verbose=0)
    assert set(h.history) == {"loss", "mae"}
    assert h.history["loss"][-1] < 0.3 * h.history["loss"][0]
    # reset at each epoch start: the epoch's first batch is the only one in the tracker's count
    assert m.loss_tracker.count == 7
    # evaluate without a test_step override and without a loss: a clear error
    with pytest.raises(ValueError, match="without a loss"):
        m.evaluate(x, y, verbose=0)
    with pytest.raises(ValueError, match="no loss"):
        m.compute_loss(y=y, y_pred=m(x))


def test_default_compiled_fit_without_loss_is_clear_error(rng):
    x, y = _data(rng)
    fusednet.utils.set_random_seed(0)
    m = fusednet.Sequential([Input(shape=(FEAT,)), Dense(C)])
    m.compile(optimizer="adam")
    with pytest.raises(ValueError, match="compiled without a loss"):
        m.fit(x, y, verbose=0)


class GAN(fusednet.Model):
    """Two sub-models, two optimizers, compile() overridden (keras.io DCGAN shape)."""

    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator, self.generator, self.latent_dim = discriminator, generator, latent_dim
        self.rng = np.random.default_rng(0)

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn
        self.d_loss_metric = fusednet.metrics.Mean(name="d_loss")
        self.g_loss_metric = fusednet.metrics.Mean(name="g_loss")

    @property
    def metrics(self):
        return [self.d_loss_metric, self.g_loss_metric]

    def train_step(self, real):
        b = real.shape[0]
        z = fusednet.Tensor(self.rng.standard_normal((b, self.latent_dim)).astype(np.float32))
        fake = self.generator(z)
        ones, zeros = np.ones((b, 1), np.float32), np.zeros((b, 1), np.float32)
        dw = self.discriminator.trainable_weights
        with fusednet.GradientTape() as tape:
            d_loss = self.loss_fn(ones, self.discriminator(real)) + self.loss_fn(zeros, self.discriminator(fake.detach()))
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, dw), dw))
        gw = self.generator.trainable_weights
        with fusednet.GradientTape() as tape:
            g_loss = self.loss_fn(ones, self.discriminator(self.generator(z)))
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, gw), gw))
        self.d_loss_metric.update_state(d_loss)
        self.g_loss_metric.update_state(g_loss)
        return {"d_loss": self.d_loss_metric.result(), "g_loss": self.g_loss_metric.result()}


def test_gan_two_optimizers_trains(rng):
    fusednet.utils.set_random_seed(5)
    real = (rng.standard_normal((128, 2)) * 0.3 + np.array([2.0, -1.0])).astype(np.float32)
    disc = fusednet.Sequential([Input(shape=(2,)), Dense(16, activation="relu"), Dense(1, activation="sigmoid")])
    gen = fusednet.Sequential([Input(shape=(4,)), Dense(16, activation="relu"), Dense(2)])
    gan = GAN(disc, gen, 4)
    gan.compile(d_optimizer=fusednet.optimizers.Adam(0.003), g_optimizer=fusednet.optimizers.Adam(0.003),
                loss_fn=fusednet.losses.BinaryCrossentropy())
    d0 = [w.copy() for w in disc.get_weights()]
    g0 = [w.copy() for w in gen.get_weights()]
    before = np.abs(gen.predict(rng.standard_normal((256, 4)).astype(np.float32), verbose=0).mean(0)
                    - real.mean(0)).sum()
    h = gan.fit(Dataset.from_tensor_slices(real).shuffle(128, seed=0).batch(32), epochs=40, verbose=0)
    assert set(h.history) == {"d_loss", "g_loss"} and len(h.history["d_loss"]) == 40
    assert all(np.isfinite(h.history["d_loss"])) and all(np.isfinite(h.history["g_loss"]))
    assert any(not np.array_equal(a, b) for a, b in zip(disc.get_weights(), d0))
    assert any(not np.array_equal(a, b) for a, b in zip(gen.get_weights(), g0))
    after = np.abs(gen.predict(rng.standard_normal((256, 4)).astype(np.float32), verbose=0).mean(0)
                   - real.mean(0)).sum()
    assert after < 0.5 * before          # the generator moved its samples towards the data
    assert gan.d_optimizer.iterations == gan.g_optimizer.iterations == 40 * 4


def test_evaluate_and_predict_with_overrides(rng):
    x, y = _data(rng)

    class Stepper(fusednet.Model):
        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            self.metrics[0].update_state(loss, sample_weight=y_pred.shape[0])
            return {"loss": self.metrics[0].result(), "n": float(y_pred.shape[0])}

        def predict_step(self, data):
            return {"probs": self(data, training=False), "twice": self(data, training=False) * 2.0}
    m = _functional(Stepper)
    m.fit(x, y, epochs=1, verbose=0)          # train_step not overridden: the compiled plan
    ref = _functional()
    ref.fit(x, y, epochs=1, verbose=0)
    res = m.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    want = ref.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    np.testing.assert_allclose(res["loss"], want["loss"], rtol=TOL["train_step"][0])
    assert res["n"] == N - 3 * 16             # the last batch's size (logs of the last step)
    out = m.predict(x, batch_size=16, verbose=0)
    p = ref.predict(x, verbose=0)
    np.testing.assert_allclose(out["probs"], p, rtol=TOL["train_step"][0], atol=TOL["train_step"][1])
    np.testing.assert_allclose(out["twice"], 2 * p, rtol=TOL["train_step"][0], atol=TOL["train_step"][1])
    out2 = m.predict(Dataset.from_tensor_slices(x).batch(10), verbose=0, steps=3)
    assert out2["probs"].shape == (30, C)
    # the default steps, called directly
    logs = ref.test_step((fusednet.Tensor(x), fusednet.Tensor(y)))
    assert set(logs) == {"loss", "accuracy"}
    np.testing.assert_allclose(ref.predict_step(fusednet.Tensor(x)).numpy(), p,
                               rtol=TOL["train_step"][0], atol=TOL["train_step"][1])


def test_compiled_loss_and_metrics_shims(rng):
    x, y = _data(rng)

    class Keras2(fusednet.Model):
        def train_step(self, data):
            x, y = data
            with fusednet.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            self.compiled_metrics.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics if m.name != "loss"} | {"loss": loss}
    m = _functional(Keras2)
    ref = _functional(KerasIdiomModel)
    h = m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    ref.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(m.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=TOL["exact"][0], atol=TOL["exact"][1])
    assert set(h.history) == {"loss", "accuracy"}
    assert [w.shape for w in m.trainable_variables] == [w.shape for w in m.trainable_weights]
    assert m.non_trainable_variables == []


def test_bad_step_return_is_type_error(rng):
    x, y = _data(rng)

    class Bad(fusednet.Model):
        def train_step(self, data):
            return 3.0
    m = _functional(Bad)
    with pytest.raises(TypeError, match="train_step must return a dict"):
        m.fit(x, y, verbose=0)


# ---------------------------------------------------------------- integer inputs
class Lookup(Layer):
    """A tiny embedding: rows of a table gathered by integer ids (native take_rows), summed
    over the sequence axis; records the dtype it was given."""

    accepts_integer_inputs = True

    def __init__(self, rows, dim, **kw):
        super().__init__(**kw)
        self.rows, self.dim, self.seen = rows, dim, []

    def build(self, input_shape):
        self.table = self.add_weight((self.rows, self.dim), initializer="glorot_uniform", name="table")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def forward(self, ctx, ids, training, strip=False):
        self.seen.append(ids.dtype)
        b, t = ids.shape
        flat = ids.reshape(b * t)
        ctx.flat, ctx.b, ctx.t = flat, b, t
        g = _C.take_rows(self.table.data, flat)                       # [b*t, dim]
        return _C.reduce("sum", g.reshape(b, t, self.dim), [1], False)

    def backward(self, ctx, dy, need_dx):
        rep = _C.take_rows(dy, _C.asarray(np.repeat(np.arange(ctx.b), ctx.t)))   # [b*t, dim]
        return None, [_C.scatter_add_rows(rep, ctx.flat, self.rows)]


def test_int_input_reaches_layer_and_trains(rng):
    V, T = 17, 4
    ids = rng.integers(0, V, (N, T)).astype(np.int32)
    table_true = rng.standard_normal((V, 2))
    y = (table_true[ids].sum(1)[:, 0] > 0).astype(np.int64)
    for dt in ("int32", "int64"):
        fusednet.utils.set_random_seed(0)
        inp = Input(shape=(T,), dtype=dt, name="ids")
        assert inp.dtype == dt
        lk = Lookup(V, 6)
        out = Dense(2, activation="softmax")(lk(inp))
        m = fusednet.Model(inp, out)
        m.compile(optimizer=fusednet.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
        h = m.fit(ids, y, epochs=20, batch_size=16, verbose=0)
        assert set(lk.seen) == {dt}                       # integer Arrays, never float
        assert h.history["loss"][-1] < 0.5 * h.history["loss"][0]
        p = m.predict(ids, verbose=0)
        assert p.shape == (N, 2)
        np.testing.assert_allclose(m(ids).numpy(), p, rtol=TOL["torch"][0], atol=TOL["torch"][1])
        # float ids are converted to the Input's dtype (Keras convert_to_tensor)
        np.testing.assert_allclose(m.predict(ids.astype(np.float32), verbose=0), p,
                                   rtol=TOL["exact"][0], atol=TOL["exact"][1])
        assert m.evaluate(ids, y, verbose=0, return_dict=True)["accuracy"] > 0.8


def test_int_input_autocast_for_dense(rng):
    xi = rng.integers(-5, 6, (N, FEAT)).astype(np.int64)
    y = rng.integers(0, C, N)

    def build(dt):
        fusednet.utils.set_random_seed(2)
        inp = Input(shape=(FEAT,), dtype=dt)
        m = fusednet.Model(inp, Dense(C, activation="softmax")(Dense(7, activation="relu")(inp)))
        m.compile("adam", "sparse_categorical_crossentropy")
        return m
    a, b = build("int64"), build("float32")
    a.fit(xi, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    b.fit(xi.astype(np.float32), y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=TOL["exact"][0], atol=TOL["exact"][1])
    np.testing.assert_allclose(a(xi).numpy(), b(xi.astype(np.float32)).numpy(),
                               rtol=TOL["exact"][0], atol=TOL["exact"][1])
    # Sequential with an integer InputLayer, and a Dense called eagerly on an int Tensor
    fusednet.utils.set_random_seed(2)
    s = fusednet.Sequential([Input(shape=(FEAT,), dtype="int32"), Dense(3)])
    s.compile("sgd", "mse")
    s.fit(xi, rng.standard_normal((N, 3)).astype(np.float32), epochs=1, verbose=0)
    assert s.layers[0](fusednet.Tensor(xi)).dtype == "float32"


def test_int_input_bad_dtype_and_overflow():
    with pytest.raises(TypeError, match="Input: dtype must be one of"):
        Input(shape=(3,), dtype="float16")
    inp = Input(shape=(2,), dtype="int32")
    m = fusednet.Model(inp, Dense(1)(inp))
    m.compile("sgd", "mse")
    with pytest.raises(ValueError, match="int32"):
        m.fit(np.array([[2 ** 40, 1], [0, 1]]), np.zeros((2, 1), np.float32), verbose=0)
