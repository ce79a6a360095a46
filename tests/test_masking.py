"""The mask channel (issue 12): Embedding(mask_zero) / Masking masks carried through the graph
(eager tape and compiled plan) to recurrent layers, Bidirectional, MultiHeadAttention, masked
GlobalAveragePooling1D and the losses, compared with real Keras 3 (torch backend) with copied
weights; merges AND their masks; error paths."""
import os

import numpy as np
import pytest

import fusednet
from fusednet import layers as L
from tolerances import TOL


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("real Keras is loaded with a non-torch backend")
    return keras


def _close(a, b, key="mask_keras"):
    rtol, atol = TOL[key]
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=atol)


def _ids(rng, n, t, vocab, lengths):
    """Token ids in [1, vocab) with zero padding at the end of each row (``lengths``)."""
    ids = rng.integers(1, vocab, size=(n, t)).astype(np.int64)
    for i, ln in enumerate(lengths):
        ids[i, ln:] = 0
    return ids


def _padded(rng, n, t, f, lengths, value=0.0):
    x = rng.standard_normal((n, t, f)).astype(np.float32)
    for i, ln in enumerate(lengths):
        x[i, ln:] = value
    return x


def _copy(fmodel, kmodel):
    fmodel.set_weights([np.asarray(w) for w in kmodel.get_weights()])


def _both(keras, build, x):
    """Build the same model in Keras and fusednet (``build(ns)`` with ns = keras or fusednet),
    copy Keras' weights, return (kmodel, fmodel)."""
    km = build(keras)
    fm = build(fusednet)
    km(x)
    fm.build((None,) + x.shape[1:]) if isinstance(fm, fusednet.Sequential) else None
    fm.predict(x, verbose=0)
    _copy(fm, km)
    return km, fm


@pytest.mark.parametrize("rnn", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("seq", [False, True])
def test_embedding_mask_dropout_rnn_vs_keras(rnn, seq):
    keras = _keras()
    rng = np.random.default_rng(0)
    ids = _ids(rng, 5, 7, 13, [7, 3, 1, 5, 6])

    def build(ns):
        return ns.Sequential([ns.layers.Input((7,), dtype="int64"), ns.layers.Embedding(13, 6, mask_zero=True),
                              ns.layers.Dropout(0.5), getattr(ns.layers, rnn)(5, return_sequences=seq)])
    km, fm = _both(keras, build, ids)
    ref = np.asarray(km(ids, training=False).detach().cpu())
    _close(fm.predict(ids, verbose=0), ref)                 # compiled plan
    _close(fm(ids).numpy(), ref)                            # eager (tape)


def test_masking_gru_functional_vs_keras():
    keras = _keras()
    rng = np.random.default_rng(1)
    x = _padded(rng, 4, 9, 3, [9, 2, 5, 1], value=-1.0)

    def build(ns):
        i = ns.layers.Input((9, 3))
        h = ns.layers.Masking(-1.0)(i)
        h = ns.layers.Dense(4, activation="tanh")(h)
        h = ns.layers.GRU(6, return_sequences=True)(h)
        h = ns.layers.LayerNormalization()(h)
        o = ns.layers.GRU(3)(h)
        return ns.Model(i, o)
    km, fm = _both(keras, build, x)
    ref = np.asarray(km(x).detach().cpu())
    _close(fm.predict(x, verbose=0), ref)
    _close(fm(x).numpy(), ref)


@pytest.mark.parametrize("merge_mode", ["concat", "sum"])
def test_bidirectional_with_masks_vs_keras(merge_mode):
    keras = _keras()
    rng = np.random.default_rng(2)
    ids = _ids(rng, 3, 8, 11, [8, 4, 2])

    def build(ns):
        i = ns.layers.Input((8,), dtype="int64")
        e = ns.layers.Embedding(11, 5, mask_zero=True)(i)
        h = ns.layers.Bidirectional(ns.layers.LSTM(4, return_sequences=True), merge_mode=merge_mode)(e)
        o = ns.layers.Bidirectional(ns.layers.GRU(3))(h)
        return ns.Model(i, o)
    km, fm = _both(keras, build, ids)
    ref = np.asarray(km(ids).detach().cpu())
    _close(fm.predict(ids, verbose=0), ref)
    _close(fm(ids).numpy(), ref)


def test_masking_outputs_and_mask_values():
    x = np.array([[[1., 2.], [0., 0.], [0., 3.]]], np.float32)
    m = L.Masking()
    y = m(x)
    np.testing.assert_array_equal(y.numpy(), x)
    np.testing.assert_array_equal(y._keras_mask.numpy(), [[1., 0., 1.]])
    y2 = L.Masking(mask_value=2.0)(np.array([[[2., 2.], [2., 1.]]], np.float32))
    np.testing.assert_array_equal(y2.numpy(), [[[0., 0.], [2., 1.]]])
    np.testing.assert_array_equal(y2._keras_mask.numpy(), [[0., 1.]])


def test_merges_and_masks():
    a = L.Masking()(np.array([[[1.], [0.], [1.]]], np.float32))
    b = L.Masking()(np.array([[[1.], [1.], [0.]]], np.float32))
    np.testing.assert_array_equal(L.Add()([a, b])._keras_mask.numpy(), [[1., 0., 0.]])
    np.testing.assert_array_equal(L.Concatenate()([a, b])._keras_mask.numpy(), [[1., 0., 0.]])
    np.testing.assert_array_equal(L.Concatenate(axis=1)([a, b])._keras_mask.numpy(), [[1., 0., 1., 1., 1., 0.]])
    c = fusednet.Tensor(np.ones((1, 3, 1), np.float32))        # unmasked: counts as all ones
    np.testing.assert_array_equal(L.Multiply()([a, c])._keras_mask.numpy(), [[1., 0., 1.]])
    assert L.Flatten()(a)._keras_mask is None                  # no masking support: dropped (Keras)


def test_rnn_mask_shape_mismatch_names_layer_and_shapes():
    lstm = L.LSTM(3, name="seq_lstm")
    x = np.zeros((2, 5, 4), np.float32)
    with pytest.raises(ValueError, match=r"seq_lstm.*\(2, 5\).*\(2, 4\)"):
        lstm(x, mask=np.ones((2, 4), np.float32))


def test_masked_global_average_pooling1d_vs_keras_and_gradient():
    keras = _keras()
    rng = np.random.default_rng(3)
    ids = _ids(rng, 4, 6, 9, [6, 1, 3, 4])

    def build(ns):
        i = ns.layers.Input((6,), dtype="int64")
        e = ns.layers.Embedding(9, 5, mask_zero=True)(i)
        h = ns.layers.Dense(4)(e)
        o = ns.layers.GlobalAveragePooling1D()(h)
        return ns.Model(i, o)
    km, fm = _both(keras, build, ids)
    ref = np.asarray(km(ids).detach().cpu())
    _close(fm.predict(ids, verbose=0), ref)
    _close(fm(ids).numpy(), ref)
    # the layer alone: masked mean and its gradient (padded steps get none)
    x = fusednet.Tensor(rng.standard_normal((3, 5, 2)).astype(np.float32), requires_grad=True)
    m = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0]], np.float32)
    gap = L.GlobalAveragePooling1D()
    y = gap(x, mask=m)
    xn = x.numpy().astype(np.float64)
    want = (xn * m[..., None]).sum(1) / m.sum(1, keepdims=True)
    _close(y.numpy(), want, "pointwise")
    y.sum().backward()
    _close(x.grad.numpy(), np.broadcast_to((m / m.sum(1, keepdims=True))[..., None], xn.shape), "pointwise")


def test_mha_padding_mask_vs_keras():
    keras = _keras()
    rng = np.random.default_rng(4)
    ids = _ids(rng, 3, 7, 10, [7, 4, 2])

    def build(ns):
        i = ns.layers.Input((7,), dtype="int64")
        e = ns.layers.Embedding(10, 8, mask_zero=True)(i)
        a = ns.layers.MultiHeadAttention(num_heads=2, key_dim=4)(e, e)
        h = ns.layers.Add()([e, a])
        o = ns.layers.GlobalAveragePooling1D()(h)
        return ns.Model(i, o)
    km, fm = _both(keras, build, ids)
    ref = np.asarray(km(ids).detach().cpu())
    _close(fm.predict(ids, verbose=0), ref)
    _close(fm(ids).numpy(), ref)
    # every query row, padded ones included (fully masked rows: uniform weights, as Keras)
    ka, fa = (keras.Model(km.inputs, km.layers[2].output),
              fusednet.Model(fm.inputs, fm.layers[2].output))
    _close(fa.predict(ids, verbose=0), np.asarray(ka(ids).detach().cpu()))
    # the padding changes the answer: the same model without the mask differs
    def build_nomask(ns):
        i = ns.layers.Input((7,), dtype="int64")
        e = ns.layers.Embedding(10, 8)(i)
        a = ns.layers.MultiHeadAttention(num_heads=2, key_dim=4)(e, e)
        return ns.Model(i, ns.layers.GlobalAveragePooling1D()(ns.layers.Add()([e, a])))
    f2 = build_nomask(fusednet)
    f2.predict(ids, verbose=0)
    f2.set_weights(fm.get_weights())
    assert np.abs(f2.predict(ids, verbose=0) - ref).max() > 1e-3


def _python_mse(ns):
    """A user loss function (runs on the tape in fusednet, as a LossFunctionWrapper in Keras)."""
    def python_mse(y_true, y_pred):
        return ns.ops.mean(ns.ops.square(y_true - y_pred), axis=-1)
    return python_mse


def _seq_model(ns, loss, metrics=None):
    if loss == "python_mse":
        loss = _python_mse(ns)
    m = ns.Sequential([ns.layers.Input((6,), dtype="int64"), ns.layers.Embedding(12, 4, mask_zero=True),
                       ns.layers.LSTM(5, return_sequences=True), ns.layers.Dense(3, activation="softmax")])
    m.compile(optimizer=ns.optimizers.SGD(0.1), loss=loss, metrics=metrics)
    return m


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "mse", "python_mse"])
def test_masked_loss_evaluate_and_fit_vs_keras(loss):
    keras = _keras()
    rng = np.random.default_rng(5)
    ids = _ids(rng, 8, 6, 12, [6, 2, 3, 5, 1, 6, 4, 2])
    if loss in ("mse", "python_mse"):
        y = rng.random((8, 6, 3)).astype(np.float32)
    else:
        y = rng.integers(0, 3, size=(8, 6)).astype(np.int64)
    metric = "mae" if loss in ("mse", "python_mse") else "sparse_categorical_accuracy"
    keras.utils.set_random_seed(0)                   # the same Keras weights whatever ran before
    km, fm = _seq_model(keras, loss, [metric]), _seq_model(fusednet, loss, [metric])
    km(ids)
    fm.predict(ids, verbose=0)
    ws = [np.asarray(w) for w in km.get_weights()]
    ws[-2] = ws[-2] * 30.0                           # a peaked softmax: wrong classes cost a lot
    km.set_weights(ws)
    _copy(fm, km)
    # targets at the padded positions far off (the least likely class / 10): counted, they
    # would move the loss a lot, so the comparison below sees whether the mask is applied
    p = fm.predict(ids, verbose=0).astype(np.float64)
    pad = ids == 0
    if loss in ("mse", "python_mse"):
        y[pad] = 10.0
        unmasked = ((p - y) ** 2).mean()
    else:
        y[pad] = p.argmin(-1)[pad]
        unmasked = -np.log(np.take_along_axis(p, y[..., None], -1)).mean()
    kv = km.evaluate(ids, y, batch_size=8, verbose=0)
    fv = fm.evaluate(ids, y, batch_size=8, verbose=0)
    _close(fv, kv)                                   # [loss, metric]: both masked as Keras
    assert abs(unmasked - fv[0]) > 1e-2              # >= 100x the Keras tolerance
    # one epoch, one batch of 8, SGD: the same weights after the masked gradient step
    kh = km.fit(ids, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    fh = fm.fit(ids, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    _close([fh["loss"][0], fh[metric][0]], [kh["loss"][0], kh[metric][0]])
    for a, b in zip(fm.get_weights(), km.get_weights()):
        _close(a, np.asarray(b))


def test_tape_equals_plan_training_gradients():
    """The eager tape and the compiled plan give the same loss gradients on a masked model."""
    rng = np.random.default_rng(6)
    ids = _ids(rng, 5, 6, 12, [6, 3, 1, 5, 6])
    y = rng.integers(0, 3, size=(5, 6)).astype(np.int64)
    m = _seq_model(fusednet, "sparse_categorical_crossentropy")
    m.predict(ids, verbose=0)
    w0 = m.get_weights()
    plan = m._get_plan()
    xs = [fusednet._C.asarray(ids)]
    per, _, _, grads = plan.train_step(xs, [fusednet._C.asarray(y)], 5, None)
    # tape: the same loss through Tensor ops with the mask as Keras weights
    out = m(ids, training=True)
    mask = out._keras_mask.numpy()
    np.testing.assert_array_equal(mask, (ids != 0).astype(np.float32))
    logp = fusednet.ops.log(out)
    onehot = np.eye(3, dtype=np.float32)[y]
    wts = fusednet.Tensor((mask / mask.sum())[..., None] * onehot)
    loss = -(logp * wts).sum()
    loss.backward()
    tape = [w.grad.numpy() for w in m.trainable_weights]
    for g, t in zip(grads, tape):
        _close(g.numpy(), t)
    _close(float(np.sum(per.numpy())) / 5, float(loss.item()))
    m.set_weights(w0)


def test_user_layer_consumes_and_produces_masks():
    class Halve(L.Layer):
        """Keeps the first half of each sequence as real steps (produces a mask)."""

        def call(self, x):
            return x

        def compute_mask(self, inputs, mask=None):
            t = inputs.shape[1]
            keep = np.zeros(tuple(inputs.shape[:2]), np.float32)
            keep[:, :t // 2] = 1.0
            return keep

    class MaskedSum(L.Layer):
        """Sums the unmasked steps (consumes the mask in call)."""

        def call(self, x, mask=None):
            m = mask if mask is not None else fusednet.Tensor(np.ones(tuple(x.shape[:2]), np.float32))
            return (x * fusednet.ops.expand_dims(m, -1)).sum(axis=1)

    x = np.arange(24, dtype=np.float32).reshape(2, 4, 3)
    want = x[:, :2].sum(1)
    np.testing.assert_allclose(MaskedSum()(Halve()(x)).numpy(), want)
    i = L.Input((4, 3))
    model = fusednet.Model(i, MaskedSum()(Halve()(i)))
    np.testing.assert_allclose(model.predict(x, verbose=0), want)
    np.testing.assert_allclose(model(x).numpy(), want)


def test_mask_errors_name_layer_and_shapes():
    gap = L.GlobalAveragePooling1D(name="gap_x")
    with pytest.raises(ValueError, match=r"gap_x.*\(2, 5\).*\(2, 3\)"):
        gap(np.zeros((2, 5, 4), np.float32), mask=np.ones((2, 3), np.float32))
    mha = L.MultiHeadAttention(num_heads=1, key_dim=2, name="mha_x")
    q = L.Masking()(np.ones((2, 5, 4), np.float32))
    with pytest.raises(ValueError, match=r"mha_x.*value mask.*\(2, 3\).*\(2, 5\)"):
        v = fusednet.Tensor(np.ones((2, 3, 4), np.float32))
        v._keras_mask = fusednet.Tensor(np.ones((2, 5), np.float32))
        mha(q, v)
    with pytest.raises(ValueError, match="Masking 'mk_x'.*rank >= 2"):
        L.Masking(name="mk_x")(np.ones((3,), np.float32))


def test_masking_model_save_load_roundtrip(tmp_path):
    rng = np.random.default_rng(7)
    x = _padded(rng, 3, 5, 2, [5, 2, 3], value=9.0)
    m = fusednet.Sequential([L.Input((5, 2)), L.Masking(mask_value=9.0), L.LSTM(4, recurrent_dropout=0.25,
                                                                                  return_sequences=True),
                             L.GlobalAveragePooling1D()])
    want = m.predict(x, verbose=0)
    m.save(tmp_path / "m.keras")
    again = fusednet.saving.load_model(tmp_path / "m.keras")
    assert again.layers[0].mask_value == 9.0 and again.layers[1].recurrent_dropout == 0.25
    np.testing.assert_array_equal(again.predict(x, verbose=0), want)


def test_masked_rnn_trains_on_the_plan_and_padding_gets_no_gradient():
    """fit on a Masking -> LSTM(recurrent_dropout) model: the padded steps' features get no
    gradient (the RNN carries the state through them), and fit lowers the masked loss."""
    rng = np.random.default_rng(8)
    x = _padded(rng, 16, 6, 3, rng.integers(1, 7, 16))
    y = rng.standard_normal((16, 2)).astype(np.float32)
    m = fusednet.Sequential([L.Input((6, 3)), L.Masking(), L.LSTM(8, recurrent_dropout=0.2, seed=1),
                             L.Dense(2)])
    m.compile(optimizer="adam", loss="mse")
    plan = fusednet.trainers.plan.GraphPlan(m._graph_spec(), m.trainable_weights, inputs_need_grad=True)
    plan.set_losses(m._out_losses)
    outs, ctxs = plan.forward([fusednet._C.asarray(x)], True)
    per, g = plan.output_loss(0, outs[0], fusednet._C.asarray(y), 16, None, True)
    dxs, _ = plan.backward(ctxs, [g])
    dx = dxs[0].numpy()
    pad = np.all(x == 0.0, axis=-1)
    assert pad.any() and np.all(dx[pad] == 0.0) and np.abs(dx[~pad]).max() > 0
    h = m.fit(x, y, epochs=15, batch_size=8, verbose=0).history["loss"]
    assert h[-1] < h[0]


def test_bidirectional_masked_fit_vs_keras():
    """One SGD step through Embedding(mask_zero) -> Bidirectional(GRU, sequences) -> Dense with the
    masked per-step loss: the same weights as Keras afterwards (masked forward and backward)."""
    keras = _keras()
    rng = np.random.default_rng(9)
    ids = _ids(rng, 6, 5, 10, [5, 2, 4, 1, 3, 5])
    y = rng.integers(0, 4, size=(6, 5)).astype(np.int64)

    def build(ns):
        m = ns.Sequential([ns.layers.Input((5,), dtype="int64"), ns.layers.Embedding(10, 4, mask_zero=True),
                           ns.layers.Bidirectional(ns.layers.GRU(3, return_sequences=True)),
                           ns.layers.TimeDistributed(ns.layers.Dense(4, activation="softmax"))])
        m.compile(optimizer=ns.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
        return m
    km, fm = build(keras), build(fusednet)
    km(ids)
    fm.predict(ids, verbose=0)
    _copy(fm, km)
    kh = km.fit(ids, y, batch_size=6, epochs=1, shuffle=False, verbose=0).history
    fh = fm.fit(ids, y, batch_size=6, epochs=1, shuffle=False, verbose=0).history
    _close(fh["loss"], kh["loss"])
    for a, b in zip(fm.get_weights(), km.get_weights()):
        _close(a, np.asarray(b))


def test_onnx_export_refuses_masks_into_nested_models(tmp_path):
    """Masks are exported (tests/test_onnx_masks.py) except across a nested model's boundary."""
    pytest.importorskip("onnx")
    from fusednet.io.onnx import export_onnx
    inner = fusednet.Sequential([L.Input((4, 2)), L.LSTM(3)], name="inner_rnn")
    i = L.Input((4, 2))
    m = fusednet.Model(i, inner(L.Masking()(i)))
    with pytest.raises(ValueError, match="mask flows into the nested model 'inner_rnn'"):
        export_onnx(m, tmp_path / "m.onnx")


def test_masks_cross_nested_models_like_the_flat_graph():
    """A sub-model that makes the mask (Embedding(mask_zero)) and one that consumes it (LSTM):
    nested in a functional model they give the flat model's outputs, loss and gradients."""
    rng = np.random.default_rng(10)
    ids = _ids(rng, 4, 6, 9, [6, 2, 4, 1])
    y = rng.standard_normal((4, 6, 2)).astype(np.float32)
    emb, lstm, dense = L.Embedding(9, 3, mask_zero=True), L.LSTM(4, return_sequences=True), L.Dense(2)
    flat = fusednet.Sequential([L.Input((6,), dtype="int64"), emb, lstm, dense])
    enc = fusednet.Sequential([L.Input((6,), dtype="int64"), emb])
    head_in = L.Input((6, 3))
    head = fusednet.Model(head_in, dense(lstm(head_in)))
    outer_in = L.Input((6,), dtype="int64")
    nested = fusednet.Model(outer_in, head(enc(outer_in)))
    want = flat.predict(ids, verbose=0)
    np.testing.assert_array_equal(nested.predict(ids, verbose=0), want)
    for m in (flat, nested):
        m.compile(optimizer="sgd", loss="mse")
    np.testing.assert_allclose(nested.evaluate(ids, y, verbose=0), flat.evaluate(ids, y, verbose=0), rtol=1e-6)
    unmasked = fusednet.Sequential([L.Input((6,), dtype="int64"), L.Embedding(9, 3), L.LSTM(4, return_sequences=True),
                                    L.Dense(2)])
    unmasked.predict(ids, verbose=0)
    unmasked.set_weights(flat.get_weights())
    assert np.abs(unmasked.predict(ids, verbose=0) - want).max() > 1e-3


@pytest.mark.parametrize("merge_mode", ["concat", "mul"])
def test_bidirectional_sequence_zeroes_padded_steps_vs_keras(merge_mode):
    # Keras forces zero_output_for_mask on both halves of a Bidirectional with return_sequences
    keras = _keras()
    ids = _ids(np.random.default_rng(5), 3, 7, 11, [7, 4, 2])

    def build(ns):
        i = ns.layers.Input((7,), dtype="int64")
        e = ns.layers.Embedding(11, 5, mask_zero=True)(i)
        return ns.Model(i, ns.layers.Bidirectional(ns.layers.GRU(4, return_sequences=True),
                                                   merge_mode=merge_mode)(e))
    km, fm = _both(keras, build, ids)
    ref = np.asarray(km(ids).detach().cpu())
    assert np.all(ref[1, 4:] == 0) and np.all(ref[2, 2:] == 0)
    _close(fm.predict(ids, verbose=0), ref)
    _close(fm(ids).numpy(), ref)


@pytest.mark.parametrize("bi", [False, True])
def test_masks_reach_consumers_of_return_state_outputs_vs_keras(bi):
    # the sequence output of a return_state call keeps the mask (through its OutputSelect node)
    keras = _keras()
    ids = _ids(np.random.default_rng(6), 3, 7, 11, [7, 4, 2])

    def build(ns):
        i = ns.layers.Input((7,), dtype="int64")
        e = ns.layers.Embedding(11, 5, mask_zero=True)(i)
        rnn = ns.layers.LSTM(4, return_sequences=True, return_state=True)
        outs = (ns.layers.Bidirectional(rnn) if bi else rnn)(e)
        return ns.Model(i, [ns.layers.GRU(3)(outs[0])] + list(outs))
    km, fm = _both(keras, build, ids)
    refs = [np.asarray(t.detach().cpu()) for t in km(ids)]
    for got, ref in zip(fm.predict(ids, verbose=0), refs):
        _close(got, ref)
    for got, ref in zip(fm(ids), refs):
        _close(got.numpy(), ref)


def _bn_seq_model(ns):
    m = ns.Sequential([ns.layers.Input((7,), dtype="int64"), ns.layers.Embedding(12, 4, mask_zero=True),
                       ns.layers.BatchNormalization(momentum=0.5),
                       ns.layers.LSTM(5, return_sequences=True), ns.layers.Dense(3)])
    m.compile(optimizer=ns.optimizers.SGD(0.5), loss="mse")
    return m


def test_batchnorm_masked_statistics_vs_keras():
    """Keras 3 BatchNormalization takes its training statistics over the unmasked positions only
    (and normalises every position with them): the training output, the moving statistics and
    one SGD step (the gradient through the masked statistics) match Keras."""
    keras = _keras()
    rng = np.random.default_rng(11)
    ids = _ids(rng, 6, 7, 12, [7, 2, 3, 1, 5, 4])
    y = rng.standard_normal((6, 7, 3)).astype(np.float32)
    keras.utils.set_random_seed(0)
    km, fm = _bn_seq_model(keras), _bn_seq_model(fusednet)
    km(ids)
    fm.predict(ids, verbose=0)
    ws = [np.asarray(w) for w in km.get_weights()]
    ws[0] = ws[0] * 3.0 + 1.0                  # embeddings far from zero mean / unit variance
    km.set_weights(ws)
    _copy(fm, km)
    # the training-mode BN output, eagerly, with the embedding's mask
    kb = keras.Model(km.inputs, km.layers[1].output)
    fb = fusednet.Model(fm.inputs, fm.layers[1].output)
    ko = np.asarray(kb(ids, training=True).detach().cpu())
    fo = fb(ids, training=True).numpy()
    _close(fo, ko)
    # the padded rows (token 0's embedding, far off) must not count: unmasked statistics differ
    e = ws[0][ids].astype(np.float64)
    unmasked = (e - e.mean((0, 1))) / np.sqrt(e.var((0, 1)) + 1e-3)
    assert np.abs(unmasked - fo).max() > 1e-2
    kh = km.fit(ids, y, batch_size=6, epochs=1, shuffle=False, verbose=0).history
    fh = fm.fit(ids, y, batch_size=6, epochs=1, shuffle=False, verbose=0).history
    _close(fh["loss"], kh["loss"])
    for a, b in zip(fm.get_weights(), km.get_weights()):   # incl. moving mean / variance
        _close(a, np.asarray(b))


def test_batchnorm_fully_masked_batch_and_mask_shape_error():
    fusednet.random.set_random_seed(3)
    bn = L.BatchNormalization()
    x = fusednet.Tensor(np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32))
    y = bn(x, training=True, mask=np.zeros((2, 3), np.float32))
    # no valid position: mean 0, variance 0 (Keras: 0 / (0 + eps))
    np.testing.assert_allclose(y.numpy(), x.numpy() / np.sqrt(1e-3), rtol=1e-5)
    with pytest.raises(ValueError, match=r"BatchNormalization .*mask \(2, 4\).*input \(2, 3, 4\)"):
        bn(x, training=True, mask=np.ones((2, 4), np.float32))


def test_batchnorm_masked_backward_vs_float64_finite_differences():
    """dX / dgamma / dbeta of the masked statistics against central differences of a float64
    NumPy forward (the loss: Σ y·w with fixed random w), sizes not multiples of any tile."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 5, 7)) * 2 + 0.5
    m = (rng.random((3, 5)) > 0.4).astype(np.float64)
    m[0, 0] = 1
    w = rng.standard_normal((3, 5, 7))
    g, b, eps = rng.uniform(0.5, 2, 7), rng.standard_normal(7), 1e-3

    def loss(x, g, b):
        n = m.sum()
        mu = (x * m[..., None]).sum((0, 1)) / n
        var = (m[..., None] * (x - mu) ** 2).sum((0, 1)) / n
        return float((((x - mu) / np.sqrt(var + eps) * g + b) * w).sum())

    def fd(f, a, h=1e-6):
        out = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            d = np.zeros_like(a)
            d[i] = h
            out[i] = (f(a + d) - f(a - d)) / (2 * h)
        return out

    bn = L.BatchNormalization(epsilon=eps)
    bn.build((None, 5, 7))
    bn.set_weights([g.astype(np.float32), b.astype(np.float32), np.zeros(7, np.float32), np.ones(7, np.float32)])
    xt = fusednet.Tensor(x.astype(np.float32), requires_grad=True)
    y = bn(xt, training=True, mask=m.astype(np.float32))
    (y * fusednet.Tensor(w.astype(np.float32))).sum().backward()
    r, a = TOL["gradcheck_f32"]
    h = TOL["fd_eps"]
    for got, want in ((xt.grad, fd(lambda v: loss(v, g, b), x, h)),
                      (bn.gamma.grad, fd(lambda v: loss(x, v, b), g, h)),
                      (bn.beta.grad, fd(lambda v: loss(x, g, v), b, h))):
        assert got is not None
        scale = max(np.abs(want).max(), 1e-3)
        np.testing.assert_allclose(got.numpy() / scale, want / scale, rtol=r, atol=a)


@pytest.mark.parametrize("rnn", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("seq", [False, True])
def test_leading_masked_steps_with_initial_state_output_zeros_vs_keras(rnn, seq):
    """Keras outputs zeros before a row's first real step (the previous *output*), even with an
    initial state carried through those steps; a row with no real step outputs zeros and keeps
    its initial state."""
    keras = _keras()
    rng = np.random.default_rng(12)
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)
    m = np.array([[0, 0, 1, 1, 0], [1, 0, 1, 1, 1], [0, 0, 0, 0, 0]], bool)
    n_st = 2 if rnn == "LSTM" else 1
    states = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(n_st)]
    kl = getattr(keras.layers, rnn)(4, return_sequences=seq, return_state=True, go_backwards=True)
    ko = kl(x, initial_state=states, mask=m)
    fl = getattr(L, rnn)(4, return_sequences=seq, return_state=True, go_backwards=True)
    fl.build((None, 5, 2))
    fl.set_weights([np.asarray(w) for w in kl.get_weights()])
    fo = fl(x, initial_state=states, mask=m.astype(np.float32))
    for a, b in zip(fo, ko):
        _close(a.numpy(), np.asarray(b.detach().cpu()))
    assert np.abs(fo[0].numpy()[2]).max() == 0.0 and np.abs(fo[1].numpy()[2] - states[0][2]).max() < 1e-6


def _explicit_mask_model(ns, rnn):
    x = ns.layers.Input((6, 3))
    m = ns.layers.Input((6,), dtype="bool" if ns is not fusednet else "float32")
    h = getattr(ns.layers, rnn)(4, return_sequences=True)(x, mask=m)
    p = ns.layers.GlobalAveragePooling1D()(ns.layers.Dense(2)(h), mask=m)
    return ns.Model([x, m], p)


@pytest.mark.parametrize("rnn", ["LSTM", "GRU"])
def test_explicit_mask_input_in_a_model_vs_keras(rnn, tmp_path):
    """``layer(x, mask=m)`` with ``m`` a model input: predict, one SGD step, save / load."""
    keras = _keras()
    rng = np.random.default_rng(13)
    x = rng.standard_normal((5, 6, 3)).astype(np.float32)
    mk = np.ones((5, 6), bool)
    mk[0, 4:] = False
    mk[1, 1] = False
    mk[3, :5] = False          # one real step, at the end (a row with none: Keras GAP1D gives NaN, we 0)
    y = rng.standard_normal((5, 2)).astype(np.float32)
    keras.utils.set_random_seed(0)
    km, fm = _explicit_mask_model(keras, rnn), _explicit_mask_model(fusednet, rnn)
    fm.set_weights([np.asarray(w) for w in km.get_weights()])
    mf = mk.astype(np.float32)
    _close(fm.predict([x, mf], verbose=0), km.predict([x, mk], verbose=0))
    unmasked = fm.predict([x, np.ones_like(mf)], verbose=0)
    assert np.abs(unmasked - fm.predict([x, mf], verbose=0)).max() > 1e-3
    for ns, m, arg in ((keras, km, mk), (fusednet, fm, mf)):
        m.compile(optimizer=ns.optimizers.SGD(0.3), loss="mse")
        m.fit([x, arg], y, batch_size=5, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(fm.get_weights(), km.get_weights()):
        _close(a, np.asarray(b))
    p = tmp_path / "m.keras"
    fm.save(p)
    back = fusednet.models.load_model(p)
    np.testing.assert_array_equal(back.predict([x, mf], verbose=0), fm.predict([x, mf], verbose=0))


def _seq2seq_explicit(ns):
    a, b = ns.layers.Input((5, 3)), ns.layers.Input((4, 3))
    ma = ns.layers.Input((5,), dtype="bool" if ns is not fusednet else "float32")
    mb = ns.layers.Input((4,), dtype="bool" if ns is not fusednet else "float32")
    _, h, c = ns.layers.LSTM(4, return_state=True)(a, mask=ma)
    y = ns.layers.LSTM(4, return_sequences=True)(b, initial_state=[h, c], mask=mb)
    return ns.Model([a, b, ma, mb], ns.layers.Dense(2)(y))


def test_explicit_masks_with_states_vs_keras(tmp_path):
    """Explicit masks on an encoder with return_state and a decoder with initial_state."""
    keras = _keras()
    rng = np.random.default_rng(14)
    a, b = rng.standard_normal((4, 5, 3)).astype(np.float32), rng.standard_normal((4, 4, 3)).astype(np.float32)
    ma, mb = np.ones((4, 5), bool), np.ones((4, 4), bool)
    ma[0, 3:] = False
    ma[2, 1] = False
    mb[1, 0] = False            # a leading masked decoder step: output zeros (the state is h)
    mb[3, 2:] = False
    keras.utils.set_random_seed(0)
    km, fm = _seq2seq_explicit(keras), _seq2seq_explicit(fusednet)
    fm.set_weights([np.asarray(w) for w in km.get_weights()])
    fx = [a, b, ma.astype(np.float32), mb.astype(np.float32)]
    _close(fm.predict(fx, verbose=0), km.predict([a, b, ma, mb], verbose=0))
    p = tmp_path / "s2s.keras"
    fm.save(p)
    np.testing.assert_array_equal(fusednet.models.load_model(p).predict(fx, verbose=0), fm.predict(fx, verbose=0))
    with pytest.raises(TypeError, match="mask= in a model must be a KerasTensor"):
        L.LSTM(2)(L.Input((5, 3)), mask=ma)


def test_symbolic_keras_mask_on_keras_tensors():
    """``KerasTensor._keras_mask`` (Keras 3; the masking guide prints it): a bool [batch, time]
    KerasTensor where the graph makes a mask, None elsewhere."""
    i = L.Input((None,), dtype="int64")
    e = L.Embedding(50, 4, mask_zero=True)(i)
    assert e._keras_mask is not None and e._keras_mask.shape == (None, None) and e._keras_mask.dtype == "bool"
    seq = L.LSTM(3, return_sequences=True)(L.Dropout(0.1)(e))
    assert seq._keras_mask is not None
    assert L.LSTM(3)(e)._keras_mask is None and i._keras_mask is None
    assert L.Embedding(50, 4)(i)._keras_mask is None
    x, m = L.Input((7, 2)), L.Input((7,))
    assert L.GRU(2, return_sequences=True)(x, mask=m)._keras_mask.shape == (None, 7)
    assert L.Masking()(x)._keras_mask.shape == (None, 7)
