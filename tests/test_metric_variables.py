"""Metric.add_variable / fusednet.Variable (Keras 3 state variables) and a custom metric in fit."""
import numpy as np
import pytest

import fusednet
from fusednet import layers


def test_variable_assign_family():
    v = fusednet.Variable(np.array([1.0, 2.0, 3.0]), name="v")
    buf = v.data
    v.assign_add([1.0, 1.0, 1.0])
    v.assign_sub(0.5)                     # broadcast scalar
    np.testing.assert_array_equal(v.numpy(), np.array([1.5, 2.5, 3.5], np.float32))
    assert v.data is buf                  # in place: holders of the buffer see the new value
    v.assign(np.zeros(3))
    np.testing.assert_array_equal(v.numpy(), np.zeros(3, np.float32))
    v.reset()
    np.testing.assert_array_equal(v.numpy(), np.array([1, 2, 3], np.float32))
    with pytest.raises(ValueError, match=r"assign.*\(2,\).*\(3,\)"):
        v.assign(np.zeros(2))
    c = fusednet.Variable("zeros", shape=(), dtype="int64", trainable=False)
    c.assign_add(5)
    c.assign_add(2)
    assert int(c.numpy()) == 7
    with pytest.raises(ValueError, match="needs a shape"):
        fusednet.Variable("ones")


class TruePositives(fusednet.metrics.Metric):
    """The Keras guide's custom metric: counts correct arg-max predictions."""

    def __init__(self, name="true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.tp = self.add_variable(shape=(), initializer="zeros", name="tp")
        self.seen = self.add_weight(name="seen", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        hits = (np.asarray(y_true).reshape(-1) == np.argmax(np.asarray(y_pred), axis=1)).astype(np.float32)
        self.tp.assign_add(hits.sum())
        self.seen.assign_add(float(len(hits)))

    def result(self):
        return self.tp.value


def test_custom_metric_with_variables_in_fit():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(97, 5)).astype(np.float32)
    y = rng.integers(0, 3, size=97)
    fusednet.random.seed(1)
    model = fusednet.Sequential([layers.Input((5,)), layers.Dense(3, activation="softmax")])
    m = TruePositives()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=[m, "accuracy"])
    hist = model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    tp = hist.history["true_positives"]
    acc = hist.history["accuracy"]
    # the same batches counted twice: tp == accuracy * samples in every epoch (state reset per epoch)
    np.testing.assert_allclose(np.array(tp), np.array(acc) * 97, rtol=1e-6)
    assert float(m.seen.numpy()) == 97.0
    res = model.evaluate(x, y, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0)
    assert res["true_positives"] == float(np.sum(np.argmax(pred, 1) == y))
    m.reset_state()
    assert float(m.tp.numpy()) == 0.0 and float(m.seen.numpy()) == 0.0


def test_metric_without_variables_must_override_reset():
    class Bad(fusednet.metrics.Metric):
        def update_state(self, *a, **k):
            pass

        def result(self):
            return 0.0

    with pytest.raises(NotImplementedError, match="Bad.reset_state"):
        Bad().reset_state()


def test_auc_explicit_thresholds_survive_config():
    m = fusednet.metrics.AUC(thresholds=[0.2, 0.5, 0.9])
    m2 = fusednet.metrics.AUC.from_config(m.get_config())
    np.testing.assert_array_equal(m2.thresholds, m.thresholds)
    yt, yp = np.array([0, 1, 1, 0, 1]), np.array([0.1, 0.6, 0.95, 0.55, 0.3])
    assert m(yt, yp) == m2(yt, yp)


def test_mean_metric_wrapper_config_keeps_its_function():
    m = fusednet.metrics.MeanMetricWrapper(fusednet.metrics.binary_accuracy, name="b", threshold=0.3)
    m2 = fusednet.metrics.MeanMetricWrapper.from_config(m.get_config())
    yt, yp = np.array([[1.0], [0.0]]), np.array([[0.4], [0.35]])
    assert m(yt, yp) == m2(yt, yp) == 0.5


class ComputeSum(fusednet.layers.Layer):
    """The Keras guide's layer with a non-trainable weight updated in call()."""

    def build(self, input_shape):
        self.total = self.add_weight(shape=(input_shape[-1],), initializer="zeros", trainable=False, name="total")

    def call(self, inputs):
        self.total.assign_add(fusednet.ops.sum(inputs, axis=0))
        return self.total


def test_layer_weights_take_assignments():
    layer = ComputeSum()
    x = np.ones((2, 2), np.float32)
    layer(x)
    y = layer(x)
    np.testing.assert_array_equal(y.numpy(), [4.0, 4.0])
    assert layer.weights[0] is layer.total and not layer.trainable_weights
    d = fusednet.layers.Dense(3)
    d(np.zeros((1, 2), np.float32))
    d.kernel.assign(np.full((2, 3), 0.5))
    np.testing.assert_array_equal(d(np.ones((1, 2), np.float32)).numpy(), [[1.0, 1.0, 1.0]])
