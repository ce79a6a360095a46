"""Keras' cell-level RNN API (layers/rnn_cells.py): built-in cells wrapped by RNN are the native
layers (bitwise), cells called step by step equal the layer, a user cell and StackedRNNCells run
on the tape inside compiled models; all compared with real Keras 3 (torch backend) with copied
weights where it is installed, and with NumPy float64 loops otherwise."""
import numpy as np
import pytest

import fusednet
from fusednet import layers as L, ops
from test_masking import _keras  # noqa: F401  (real Keras on its torch backend, or skip)
from tolerances import TOL


def _close(a, b, key="rnn_keras"):
    rtol, atol = TOL[key]
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=atol)


def _np(t):
    return np.asarray(t.detach().cpu()) if hasattr(t, "detach") else np.asarray(t)


@pytest.mark.parametrize("cell,layer", [("SimpleRNNCell", "SimpleRNN"), ("LSTMCell", "LSTM"), ("GRUCell", "GRU")])
@pytest.mark.parametrize("seq", [False, True])
def test_builtin_cell_in_rnn_is_the_native_layer(cell, layer, seq):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 7, 5)).astype(np.float32)
    fusednet.random.set_random_seed(2)
    c = getattr(L, cell)(4)
    r = L.RNN(c, return_sequences=seq, go_backwards=True)
    assert type(r).__name__ == layer and isinstance(r, L.RNN) and r.cell is c
    y = r(x).numpy()
    assert c.kernel is r.kernel and [w is v for w, v in zip(c.weights, r.weights)] == [True] * len(r.weights)
    ref = getattr(L, layer)(4, return_sequences=seq, go_backwards=True)
    ref.build((None, 7, 5))
    ref.set_weights(r.get_weights())
    np.testing.assert_array_equal(y, ref(x).numpy())
    # the cell stepped by hand over the reversed sequence: the same bits as the layer
    states, outs = None, []
    for t in range(6, -1, -1):
        o, states = c(x[:, t], states)
        outs.append(o.numpy())
    np.testing.assert_array_equal(np.stack(outs, 1) if seq else outs[-1], y)


def test_built_cell_lends_its_weights_and_checks_features():
    c = L.GRUCell(3)
    c(np.zeros((2, 5), np.float32))
    r = L.RNN(c)
    r(np.zeros((2, 4, 5), np.float32))
    assert r.kernel is c.kernel
    with pytest.raises(ValueError, match=r"gru_cell.*5 input features.*\(2, 4, 6\)"):
        L.RNN(c)(np.zeros((2, 4, 6), np.float32))


def test_rnn_lstmcell_vs_keras_lstm_and_training():
    keras = _keras()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 5, 4)).astype(np.float32)
    y = rng.standard_normal((6, 3)).astype(np.float32)

    def build(ns):
        m = ns.Sequential([ns.layers.Input((5, 4)), ns.layers.RNN(ns.layers.LSTMCell(8)), ns.layers.Dense(3)])
        m.compile(optimizer=ns.optimizers.SGD(0.1), loss="mse")
        return m
    keras.utils.set_random_seed(0)
    km, fm = build(keras), build(fusednet)
    assert [w.shape for w in fm.get_weights()] == [tuple(w.shape) for w in km.get_weights()]
    fm.set_weights([np.asarray(w) for w in km.get_weights()])
    _close(fm.predict(x, verbose=0), km.predict(x, verbose=0))
    kh = km.fit(x, y, batch_size=6, epochs=1, shuffle=False, verbose=0).history
    fh = fm.fit(x, y, batch_size=6, epochs=1, shuffle=False, verbose=0).history
    _close(fh["loss"], kh["loss"])
    for a, b in zip(fm.get_weights(), km.get_weights()):
        _close(a, np.asarray(b))


class MinimalRNNCell(L.Layer):
    """The Keras guide's minimal cell: h = x K + h R (written once per framework)."""

    def __init__(self, units, ns_ops, **kwargs):
        super().__init__(**kwargs)
        self.units = self.state_size = units
        self.ops = ns_ops

    def build(self, input_shape):
        self.kernel = self.add_weight((input_shape[-1], self.units), name="kernel")
        self.recurrent_kernel = self.add_weight((self.units, self.units), name="recurrent_kernel")
        self.built = True

    def call(self, inputs, states):
        h = self.ops.matmul(inputs, self.kernel) + self.ops.matmul(states[0], self.recurrent_kernel)
        out = self.ops.tanh(h)
        return out, [out]


def _keras_minimal(keras):
    class KMinimal(keras.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), name="recurrent_kernel")

        def call(self, inputs, states):
            h = keras.ops.matmul(inputs, self.kernel) + keras.ops.matmul(states[0], self.recurrent_kernel)
            out = keras.ops.tanh(h)
            return out, [out]
    return KMinimal


@pytest.mark.parametrize("masked", [False, True])
def test_user_cell_and_stacked_cells_vs_keras_fit(masked):
    """A user cell stacked on an LSTMCell, on the tape inside a compiled model, with and
    without an Embedding mask: outputs, one SGD step and the weights after it match Keras."""
    keras = _keras()
    rng = np.random.default_rng(4)
    ids = rng.integers(1, 9, size=(5, 6)).astype(np.int64)
    if masked:
        for i, n in enumerate([6, 2, 4, 1, 5]):
            ids[i, n:] = 0
    y = rng.standard_normal((5, 6, 3)).astype(np.float32)

    def build(ns, cell_cls):
        kw = {} if ns is keras else {"ns_ops": ops}
        cells = ns.layers.StackedRNNCells([ns.layers.LSTMCell(4), cell_cls(5, **kw)])
        m = ns.Sequential([ns.layers.Input((6,), dtype="int64"), ns.layers.Embedding(9, 3, mask_zero=masked),
                           ns.layers.RNN(cells, return_sequences=True), ns.layers.Dense(3)])
        m.compile(optimizer=ns.optimizers.SGD(0.2), loss="mse")
        return m
    keras.utils.set_random_seed(0)
    km, fm = build(keras, _keras_minimal(keras)), build(fusednet, MinimalRNNCell)
    assert [w.shape for w in fm.get_weights()] == [tuple(w.shape) for w in km.get_weights()]
    fm.set_weights([np.asarray(w) for w in km.get_weights()])
    _close(fm.predict(ids, verbose=0), km.predict(ids, verbose=0))
    kh = km.fit(ids, y, batch_size=5, epochs=1, shuffle=False, verbose=0).history
    fh = fm.fit(ids, y, batch_size=5, epochs=1, shuffle=False, verbose=0).history
    _close(fh["loss"], kh["loss"])
    for a, b in zip(fm.get_weights(), km.get_weights()):
        _close(a, np.asarray(b))
    assert fm.layers[1].supports_fast_path is False


def test_user_cell_loop_vs_float64_and_return_state_go_backwards():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    fusednet.random.set_random_seed(1)
    r = L.RNN(MinimalRNNCell(4, ops), return_sequences=True, return_state=True, go_backwards=True)
    y, h = r(x)
    k, rk = [w.numpy().astype(np.float64) for w in r.weights]
    hh, outs = np.zeros((2, 4)), []
    for t in range(4, -1, -1):
        hh = np.tanh(x[:, t] @ k + hh @ rk)
        outs.append(hh)
    rtol, atol = TOL["rnn"]
    np.testing.assert_allclose(y.numpy(), np.stack(outs, 1), rtol=rtol, atol=atol)
    np.testing.assert_allclose(h.numpy(), outs[-1], rtol=rtol, atol=atol)


def test_rnn_config_round_trip_and_errors(tmp_path):
    fusednet.random.set_random_seed(3)
    m = fusednet.Sequential([L.Input((4, 3)), L.RNN(L.StackedRNNCells([L.GRUCell(5), L.SimpleRNNCell(2)]))])
    x = np.random.default_rng(0).standard_normal((2, 4, 3)).astype(np.float32)
    p = tmp_path / "m.keras"
    m.save(p)
    m2 = fusednet.models.load_model(p)
    np.testing.assert_array_equal(m2.predict(x, verbose=0), m.predict(x, verbose=0))
    with pytest.raises(ValueError, match="state_size"):
        L.RNN(L.Dense(3))
    with pytest.raises(TypeError, match="return_sequences"):
        L.LSTMCell(3, return_sequences=True)
    with pytest.raises(ValueError, match=r"rnn.*timesteps"):
        L.RNN(MinimalRNNCell(2, ops))(np.zeros((2, 3), np.float32))
