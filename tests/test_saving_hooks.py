"""Keras 3 saving hooks of user layers (layers/base.py, saving/saving_lib.py):
``save_own_variables`` / ``load_own_variables`` keep state that is not a weight, and
``get_build_config`` / ``build_from_config`` rebuild a layer whose build needs more than the
input shape; the examples follow the Keras serialization guide's."""
import numpy as np
import pytest

import fusednet
from fusednet import layers as L, ops


@fusednet.saving.register_keras_serializable(package="test_hooks")
class DenseWithState(L.Dense):
    """A Dense layer with extra state that is not a weight (a NumPy array), saved by the hooks."""

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self.extra = np.zeros(units, np.float32)

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store["extra"] = self.extra

    def load_own_variables(self, store):
        self.extra = np.asarray(store["extra"])
        self.set_weights([store[str(i)] for i in range(len(self.weights))])


@fusednet.saving.register_keras_serializable(package="test_hooks")
class BuildsFromConfig(L.Layer):
    """Its build needs ``units`` decided at build time (kept only in the build config)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.units = None

    def build(self, input_shape):
        if self.units is None:
            self.units = int(input_shape[-1]) * 2
        self.w = self.add_weight((int(input_shape[-1]), self.units), name="w")

    def call(self, x):
        return ops.matmul(x, self.w)

    def get_build_config(self):
        return {"units": self.units, "input_shape": list(self._build_shape)}

    def build_from_config(self, config):
        self.units = config["units"]
        self.build(config["input_shape"])
        self.built = True


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_own_variables_and_build_config_round_trip(kind, tmp_path):
    fusednet.random.set_random_seed(0)
    b = BuildsFromConfig()
    b.units = 5              # not the default rule (2 * 4): only the build config knows it
    if kind == "sequential":
        m = fusednet.Sequential([L.Input((3,)), DenseWithState(4), b])
    else:
        i = L.Input((3,))
        m = fusednet.Model(i, b(DenseWithState(4)(i)))
    d = [l for l in m.layers if isinstance(l, DenseWithState)][0]
    d.extra = np.arange(4, dtype=np.float32) + 0.5
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    assert m.predict(x, verbose=0).shape == (2, 5)
    p = tmp_path / "m.keras"
    m.save(p)
    m2 = fusednet.models.load_model(p)
    d2 = [l for l in m2.layers if isinstance(l, DenseWithState)][0]
    np.testing.assert_array_equal(d2.extra, d.extra)
    b2 = [l for l in m2.layers if isinstance(l, BuildsFromConfig)][0]
    assert b2.units == 5
    np.testing.assert_array_equal(m2.predict(x, verbose=0), m.predict(x, verbose=0))


def test_default_hooks_and_a_bad_store():
    d = L.Dense(2)
    d(np.zeros((1, 3), np.float32))
    store = {}
    d.save_own_variables(store)
    assert sorted(store) == ["0", "1"] and store["0"].shape == (3, 2)
    e = L.Dense(2)
    e.build((None, 3))
    e.load_own_variables(store)
    np.testing.assert_array_equal(e.get_weights()[0], d.get_weights()[0])
    with pytest.raises(ValueError, match=r"'dense.*' expected 2 variables.*\['0'\]"):
        e.load_own_variables({"0": store["0"]})
    assert d.get_build_config() == {"input_shape": (1, 3)}
    assert L.Dense(2).get_build_config() is None
