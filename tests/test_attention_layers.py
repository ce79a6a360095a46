"""MultiHeadAttention vs real Keras 3 (torch backend) with copied weights (outputs, input and
weight gradients, masks, scores), training small functional transformer blocks on the compiled
plan, PositionEmbedding / TokenAndPositionEmbedding. The kernel itself: tests/test_attention.py."""
import os

import numpy as np
import pytest

import fusednet
from test_attention import close

def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("real Keras is loaded with a non-torch backend")
    return keras


def _pair(keras, rng, x_shapes, call_kw, **cfg):
    """A Keras MHA and a fusednet one with Keras's weights copied in."""
    km = keras.layers.MultiHeadAttention(**cfg)
    xs = [rng.standard_normal(s).astype(np.float32) for s in x_shapes]
    km(*xs, **call_kw)
    fm = fusednet.layers.MultiHeadAttention(**cfg)
    fm(*xs, **call_kw)
    fm.set_weights([np.asarray(w) for w in km.get_weights()])
    return km, fm, xs


MHA_CASES = [
    # (input shapes, call kwargs, layer config)
    ([(2, 7, 12), (2, 7, 12)], {}, dict(num_heads=3, key_dim=4)),
    ([(2, 7, 12), (2, 7, 12)], {"use_causal_mask": True}, dict(num_heads=2, key_dim=5, value_dim=3)),
    ([(3, 5, 8), (3, 11, 6), (3, 11, 10)], {}, dict(num_heads=4, key_dim=2, output_shape=7)),
    ([(1, 1, 4), (1, 1, 4)], {"use_causal_mask": True}, dict(num_heads=1, key_dim=1)),
    ([(2, 70, 16), (2, 70, 16)], {"use_causal_mask": True}, dict(num_heads=2, key_dim=8, use_bias=False)),
    ([(2, 9, 8), (2, 13, 8)], {}, dict(num_heads=2, key_dim=3, value_dim=5)),
]


@pytest.mark.parametrize("shapes,kw,cfg", MHA_CASES)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_mha_vs_keras_forward_and_grads(rng, shapes, kw, cfg):
    keras = _keras()
    import torch
    km, fm, xs = _pair(keras, rng, shapes, kw, **cfg)
    ts = [torch.tensor(x, requires_grad=True) for x in xs]
    ko = km(*ts, **kw)
    dy = rng.standard_normal(tuple(ko.shape)).astype(np.float32)
    (ko * torch.tensor(dy)).sum().backward()
    fx = [fusednet.Tensor(fusednet.asarray(x), requires_grad=True) for x in xs]
    fo = fm(*fx, **kw)
    close(fo.numpy(), ko.detach().numpy(), "keras_layer")
    (fo * fusednet.Tensor(fusednet.asarray(dy))).sum().backward()
    for f, t in zip(fx, ts):
        close(f.grad.numpy(), t.grad.numpy(), "keras_layer")
    for fw, kw_ in zip(fm.trainable_weights, km.trainable_weights):
        close(fw.grad.numpy(), kw_.value.grad.numpy(), "keras_layer")


@pytest.mark.parametrize("mshape", [(2, 6, 9), (2, 1, 9)])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_mha_attention_mask_and_scores_vs_keras(rng, mshape, causal):
    keras = _keras()
    km, fm, xs = _pair(keras, rng, [(2, 6, 8), (2, 9, 8)], {}, num_heads=2, key_dim=4)
    mask = rng.random(mshape) > 0.4
    mask[..., 0] = True
    kw = dict(attention_mask=mask, use_causal_mask=causal, return_attention_scores=True)
    ko, ks = km(*xs, **kw)
    fo, fs = fm(*xs, **kw)
    close(fo.numpy(), ko.detach().numpy(), "keras_layer")
    close(fs.numpy(), ks.detach().numpy(), "keras_layer")
    assert tuple(fs.shape) == (2, 2, 6, 9)


def test_mha_weights_layout_and_config():
    m = fusednet.layers.MultiHeadAttention(num_heads=3, key_dim=4, value_dim=6, output_shape=10, name="mha")
    m(np.zeros((2, 5, 8), np.float32), np.zeros((2, 7, 9), np.float32))
    assert [w.name for w in m.trainable_weights] == [
        "mha/query/kernel", "mha/query/bias", "mha/key/kernel", "mha/key/bias", "mha/value/kernel",
        "mha/value/bias", "mha/attention_output/kernel", "mha/attention_output/bias"]
    assert [tuple(w.shape) for w in m.trainable_weights] == [
        (8, 3, 4), (3, 4), (9, 3, 4), (3, 4), (9, 3, 6), (3, 6), (3, 6, 10), (10,)]
    cfg = m.get_config()
    m2 = fusednet.layers.MultiHeadAttention.from_config({**cfg, "name": "mha2"})
    assert (m2.num_heads, m2.key_dim, m2.value_dim, m2._output_dim) == (3, 4, 6, 10)


def test_mha_dropout_training_only_and_seeded(rng):
    x = rng.standard_normal((2, 9, 8)).astype(np.float32)
    m = fusednet.layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.5, seed=3)
    a = m(x, x).numpy()
    np.testing.assert_array_equal(a, m(x, x, training=False).numpy())
    d1, d2 = m(x, x, training=True).numpy(), m(x, x, training=True).numpy()
    assert not np.allclose(d1, a) and not np.allclose(d1, d2)
    m2 = fusednet.layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.5, seed=3)
    m2(x, x)
    m2.set_weights(m.get_weights())
    np.testing.assert_array_equal(m2(x, x, training=True).numpy(), d1)


def test_mha_errors():
    M = fusednet.layers.MultiHeadAttention
    with pytest.raises(ValueError, match="attention_axes"):
        M(num_heads=2, key_dim=4, attention_axes=(1, 2))
    with pytest.raises(ValueError, match="num_heads"):
        M(num_heads=0, key_dim=4)
    m = M(num_heads=2, key_dim=4, name="att")
    x = np.zeros((2, 5, 8), np.float32)
    m(x, x)
    with pytest.raises(ValueError, match=r"MultiHeadAttention 'att': query must have shape \(batch, time, 8\)"):
        m(np.zeros((2, 5, 7), np.float32), x)
    with pytest.raises(ValueError, match="MultiHeadAttention 'att'.*mask"):
        m(x, x, attention_mask=np.ones((2, 4, 5), bool))
    with pytest.raises(ValueError, match="mha\\(query, value"):
        m(x)


def _block(T, d, heads, causal=True):
    inp = fusednet.Input((T, d))
    h = fusednet.layers.MultiHeadAttention(num_heads=heads, key_dim=d // heads)(inp, inp, use_causal_mask=causal)
    h = fusednet.layers.LayerNormalization()(fusednet.layers.Add()([inp, h]))
    out = fusednet.layers.Dense(1)(fusednet.layers.Dense(16, activation="relu")(h))
    return fusednet.Model(inp, out)


def test_transformer_block_trains_on_the_plan(rng):
    """Causal self-attention + Add + LayerNormalization + Dense: target = running mean of the
    input's first feature (needs attention to past positions); the loss drops by > 3x."""
    fusednet.random.seed(0)
    T, d = 12, 16
    x = rng.standard_normal((256, T, d)).astype(np.float32)
    y = (np.cumsum(x[:, :, :1], axis=1) / np.arange(1, T + 1)[None, :, None]).astype(np.float32)
    model = _block(T, d, 4)
    model.compile(optimizer=fusednet.optimizers.Adam(3e-3), loss="mse")
    first = model.evaluate(x, y, verbose=0)
    hist = model.fit(x, y, epochs=25, batch_size=32, verbose=0)
    assert model._get_plan().tape_layers == []
    assert hist.history["loss"][-1] < first / 3, (first, hist.history["loss"][-1])
    # the plan's forward equals the eager layer calls
    np.testing.assert_allclose(model.predict(x[:8], verbose=0), model(x[:8]).numpy(), rtol=1e-6, atol=1e-6)


def test_mha_plan_gradient_matches_eager(rng):
    """One plan training step (SGD) moves the weights exactly as the eager tape's gradients say."""
    fusednet.random.seed(1)
    T, d = 10, 8
    x = rng.standard_normal((16, T, d)).astype(np.float32)
    y = rng.standard_normal((16, T, 1)).astype(np.float32)
    model = _block(T, d, 2)
    w0 = [w.numpy().copy() for w in model.trainable_weights]
    xt = fusednet.Tensor(fusednet.asarray(x))
    out = model(xt, training=True)
    loss = ((out - fusednet.Tensor(fusednet.asarray(y))) ** 2).mean()
    loss.backward()
    g = [w.grad.numpy().copy() for w in model.trainable_weights]
    model.compile(optimizer=fusednet.optimizers.SGD(0.1), loss="mse")
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    for a, b, gw in zip(w0, model.trainable_weights, g):
        np.testing.assert_allclose(b.numpy(), a - 0.1 * gw, rtol=1e-4, atol=1e-6)


def test_token_and_position_embedding(rng):
    V, L, D = 13, 9, 6
    layer = fusednet.layers.TokenAndPositionEmbedding(V, L, D)
    ids = rng.integers(0, V, (4, 7))
    out = layer(ids)
    E, P = (w.numpy() for w in layer.weights)
    close(out.numpy(), E[ids] + P[:7], "exact")
    assert E.shape == (V, D) and P.shape == (L, D)
    assert np.abs(E).max() <= 0.05  # keras_hub default: uniform(-0.05, 0.05)
    dy = rng.standard_normal((4, 7, D)).astype(np.float32)
    (out * fusednet.Tensor(fusednet.asarray(dy))).sum().backward()
    dE = np.zeros((V, D))
    np.add.at(dE, ids, dy)
    dP = np.zeros((L, D))
    dP[:7] = dy.sum(0)
    close(layer.weights[0].grad.numpy(), dE, "reduce")
    close(layer.weights[1].grad.numpy(), dP, "reduce")
    with pytest.raises(ValueError, match="TokenAndPositionEmbedding .*out of range"):
        layer(np.array([[0, V]]))
    with pytest.raises(ValueError, match="T <= 9"):
        layer(np.zeros((1, 10), np.int64))


def test_position_embedding(rng):
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    pe = fusednet.layers.PositionEmbedding(8)
    out = pe(x).numpy()
    P = pe.weights[0].numpy()
    close(out, np.broadcast_to(P[:5], x.shape), "exact")


def test_tiny_gpt_trains(rng):
    """Token+position embedding -> causal MHA block -> Dense(vocab) on a periodic token stream:
    next-token cross-entropy falls well below log(vocab) (the plan runs every layer natively)."""
    fusednet.random.seed(2)
    V, T, d = 7, 16, 16
    seq = np.tile(np.arange(V), 200)
    starts = rng.integers(0, len(seq) - T - 1, 256)
    x = np.stack([seq[s:s + T] for s in starts]).astype(np.float32)
    y = np.stack([seq[s + 1:s + T + 1] for s in starts]).astype(np.float32)
    inp = fusednet.Input((T,))
    h = fusednet.layers.TokenAndPositionEmbedding(V, T, d)(inp)
    a = fusednet.layers.MultiHeadAttention(num_heads=2, key_dim=8)(h, h, use_causal_mask=True)
    h = fusednet.layers.LayerNormalization()(fusednet.layers.Add()([h, a]))
    model = fusednet.Model(inp, fusednet.layers.Dense(V)(h))
    model.compile(optimizer=fusednet.optimizers.Adam(1e-2),
                  loss=fusednet.losses.SparseCategoricalCrossentropy(from_logits=True))
    hist = model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    assert model._get_plan().tape_layers == []
    assert hist.history["loss"][-1] < 0.3 * np.log(V), hist.history["loss"]


def test_mha_in_graph_with_key_and_mask_inputs(rng):
    """Cross-attention with an explicit key and a padding mask fed as model inputs: the plan's
    output equals the eager layer, and fit trains through it (the mask input gets no gradient)."""
    fusednet.random.seed(3)
    q_in, v_in, k_in = fusednet.Input((5, 8)), fusednet.Input((9, 6)), fusednet.Input((9, 4))
    m_in = fusednet.Input((1, 9))
    mha = fusednet.layers.MultiHeadAttention(num_heads=2, key_dim=3)
    out = mha(q_in, v_in, key=k_in, attention_mask=m_in)
    model = fusednet.Model([q_in, v_in, k_in, m_in], out)
    xs = [rng.standard_normal((16,) + s).astype(np.float32) for s in ((5, 8), (9, 6), (9, 4))]
    mask = (rng.random((16, 1, 9)) > 0.3).astype(np.float32)
    mask[:, :, 0] = 1.0
    want = mha(*xs, attention_mask=mask).numpy()
    np.testing.assert_allclose(model.predict(xs + [mask], verbose=0), want, rtol=1e-6, atol=1e-6)
    y = rng.standard_normal((16, 5, 8)).astype(np.float32)
    model.compile(optimizer=fusednet.optimizers.Adam(1e-2), loss="mse")
    first = model.evaluate(xs + [mask], y, verbose=0)
    model.fit(xs + [mask], y, epochs=20, batch_size=8, verbose=0)
    assert model._get_plan().tape_layers == []
    assert model.evaluate(xs + [mask], y, verbose=0) < first
    with pytest.raises(ValueError, match="different options"):
        mha(q_in, v_in)
