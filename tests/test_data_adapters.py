"""Data sources in fit / evaluate / predict: fusednet.data.Dataset, PyDataset, generators, any
iterable (torch DataLoader). Each source must train to the same weights as the NumPy path for the
same batches (shuffle=False), with Keras' steps semantics, and stop its threads cleanly."""
import gc
import threading
import time
import warnings

import numpy as np
import pytest

import fusednet
from fusednet.data import INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset
from fusednet.layers import Dense, Input
from fusednet.utils import PyDataset, Sequence
from tolerances import TOL
from conftest import requires_torch

N, F, C = 53, 7, 3          # a prime number of samples: the last batch is partial


def _data(rng, n=N):
    x = rng.standard_normal((n, F)).astype(np.float32)
    y = rng.integers(0, C, n)
    return x, y


def _model(seed=0, metrics=("accuracy",)):
    fusednet.utils.set_random_seed(seed)
    m = fusednet.Sequential([Input(shape=(F,)), Dense(11, activation="relu"), Dense(C, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=list(metrics))
    return m


def _weights(m):
    return [w.copy() for w in m.get_weights()]


def _same(a, b):
    rt, at = TOL["exact"]
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=rt, atol=at)


def _reference(x, y, bs, epochs=2, **kw):
    m = _model()
    h = m.fit(x, y, batch_size=bs, epochs=epochs, shuffle=False, verbose=0, **kw)
    return m, h


class Loader:
    """A re-iterable object of batches (neither a list nor an iterator), like a DataLoader."""

    def __init__(self, batches):
        self.batches = list(batches)

    def __iter__(self):
        return iter(self.batches)

    def __len__(self):
        return len(self.batches)


class Batches(PyDataset):
    def __init__(self, x, y, bs, **kw):
        super().__init__(**kw)
        self.x, self.y, self.bs = x, y, bs
        self.epochs_ended = 0

    def __len__(self):
        return -(-len(self.x) // self.bs)

    def __getitem__(self, i):
        s = slice(i * self.bs, (i + 1) * self.bs)
        return self.x[s], self.y[s]

    def on_epoch_end(self):
        self.epochs_ended += 1


# ---------------------------------------------------------------- Dataset API
def test_from_tensor_slices_batch_cardinality(rng):
    x, y = _data(rng)
    ds = Dataset.from_tensor_slices((x, y))
    assert ds.cardinality() == N and len(ds) == N
    xb, yb = next(iter(ds))
    np.testing.assert_array_equal(xb, x[0])
    assert yb == y[0]
    for bs in (1, 4, 10, N, N + 3):
        b = ds.batch(bs)
        got = list(b)
        assert len(got) == b.cardinality() == -(-N // bs)
        np.testing.assert_array_equal(np.concatenate([g[0] for g in got]), x)
        d = ds.batch(bs, drop_remainder=True)
        assert len(list(d)) == d.cardinality() == N // bs
    # dict structure
    dd = Dataset.from_tensor_slices({"a": x, "b": y}).batch(8)
    first = next(iter(dd))
    assert set(first) == {"a", "b"} and first["a"].shape == (8, F)


def test_map_take_skip_repeat_filter(rng):
    x, y = _data(rng)
    ds = Dataset.from_tensor_slices((x, y)).map(lambda a, b: (a * 2.0, b + 1))
    xb, yb = next(iter(ds.batch(5)))
    np.testing.assert_array_equal(xb, x[:5] * 2.0)
    np.testing.assert_array_equal(yb, y[:5] + 1)
    assert ds.take(3).cardinality() == 3 and len(list(ds.take(3))) == 3
    assert ds.skip(50).cardinality() == 3 and len(list(ds.skip(50))) == 3
    r = Dataset.from_tensor_slices(np.arange(5)).repeat(3)
    assert r.cardinality() == 15 and list(r) == list(range(5)) * 3
    inf = Dataset.from_tensor_slices(np.arange(5)).repeat()
    assert inf.cardinality() == INFINITE_CARDINALITY
    assert list(inf.take(12)) == [0, 1, 2, 3, 4] * 2 + [0, 1]
    with pytest.raises(TypeError, match="infinite"):
        len(inf)
    f = Dataset.from_tensor_slices(np.arange(10)).filter(lambda v: v % 2 == 0)
    assert f.cardinality() == UNKNOWN_CARDINALITY and list(f) == [0, 2, 4, 6, 8]
    with pytest.raises(TypeError, match="unknown"):
        len(f)
    g = Dataset.from_generator(lambda: iter(range(4)))
    assert list(g) == list(g) == [0, 1, 2, 3]       # a fresh generator per pass


def test_shuffle_seeded_permutation_and_buffer(rng):
    v = np.arange(37)
    a = list(Dataset.from_tensor_slices(v).shuffle(64, seed=3))
    b = list(Dataset.from_tensor_slices(v).shuffle(64, seed=3))
    assert a == b and sorted(a) == list(v) and a != list(v)
    ds = Dataset.from_tensor_slices(v).shuffle(64, seed=3)
    assert list(ds) != list(ds)                      # reshuffled each pass
    same = Dataset.from_tensor_slices(v).shuffle(64, seed=3, reshuffle_each_iteration=False)
    assert list(same) == list(same)
    # a small buffer: still a permutation, elements move at most buffer-ish positions early
    small = list(Dataset.from_tensor_slices(v).shuffle(4, seed=1))
    assert sorted(small) == list(v)
    for i, e in enumerate(small):
        assert e <= i + 4
    # the batch fast path gives the same order as element-wise batching
    fast = np.concatenate(list(Dataset.from_tensor_slices(v).shuffle(64, seed=9).batch(5)))
    slow = np.concatenate(list(Dataset.from_tensor_slices(v).shuffle(64, seed=9).map(lambda e: e).batch(5)))
    np.testing.assert_array_equal(fast, slow)


def test_dataset_bad_arguments(rng):
    with pytest.raises(ValueError, match="same first dimension"):
        Dataset.from_tensor_slices((np.zeros(3), np.zeros(4)))
    with pytest.raises(ValueError, match="batch_size"):
        Dataset.from_tensor_slices(np.zeros(3)).batch(0)
    with pytest.raises(ValueError, match="buffer_size"):
        Dataset.from_tensor_slices(np.zeros(3)).shuffle(0)
    with pytest.raises(TypeError, match="callable"):
        Dataset.from_tensor_slices(np.zeros(3)).map(3)
    with pytest.raises(ValueError, match="different shapes"):
        list(Dataset.from_generator(lambda: iter([np.zeros(2), np.zeros(3)])).batch(2))


# ---------------------------------------------------------------- prefetch thread
def _threads_settle(n0, timeout=5.0):
    end = time.time() + timeout
    while threading.active_count() > n0 and time.time() < end:
        time.sleep(0.01)
    return threading.active_count()


def test_prefetch_same_elements_and_thread_stops():
    n0 = threading.active_count()
    ds = Dataset.from_tensor_slices(np.arange(100)).batch(7).prefetch(2)
    got = np.concatenate(list(ds))
    np.testing.assert_array_equal(got, np.arange(100))
    assert _threads_settle(n0) == n0
    # dropped half way: the producer blocked on the full queue must stop
    it = iter(ds)
    next(it)
    time.sleep(0.05)
    assert threading.active_count() == n0 + 1
    del it
    gc.collect()
    assert _threads_settle(n0) == n0


def test_prefetch_never_waits_when_producer_is_faster():
    ds = Dataset.from_tensor_slices(np.arange(20)).prefetch(20)
    it = iter(ds)
    time.sleep(0.2)                       # the producer fills the queue meanwhile
    t = time.perf_counter()
    vals = [next(it) for _ in range(20)]
    assert vals == list(range(20))
    assert time.perf_counter() - t < 0.05


def test_prefetch_reraises_map_exception_and_stops():
    n0 = threading.active_count()

    def bad(v):
        if v == 5:
            raise KeyError("sample 5 is broken")
        return v
    ds = Dataset.from_tensor_slices(np.arange(10)).map(bad).prefetch(3)
    with pytest.raises(KeyError, match="sample 5") as ei:
        list(ds)
    assert any("prefetch" in n for n in getattr(ei.value, "__notes__", []))
    assert _threads_settle(n0) == n0


# ---------------------------------------------------------------- sources in fit: same weights
@pytest.mark.parametrize("bs", [1, 8, 13])
def test_sources_train_like_numpy(rng, bs):
    x, y = _data(rng)
    ref, href = _reference(x, y, bs)
    w_ref = _weights(ref)
    nb = -(-N // bs)

    def gen():
        while True:
            for i in range(nb):
                yield x[i * bs:(i + 1) * bs], y[i * bs:(i + 1) * bs]
    sources = {
        "dataset": lambda: Dataset.from_tensor_slices((x, y)).batch(bs),
        "dataset_prefetch": lambda: Dataset.from_tensor_slices((x, y)).batch(bs).prefetch(2),
        "pydataset": lambda: Batches(x, y, bs),
        "pydataset_workers": lambda: Batches(x, y, bs, workers=3, max_queue_size=4),
        "iterable": lambda: Loader((x[i * bs:(i + 1) * bs], y[i * bs:(i + 1) * bs]) for i in range(nb)),
    }
    n0 = threading.active_count()
    for name, make in sources.items():
        m = _model()
        h = m.fit(make(), epochs=2, verbose=0)
        _same(_weights(m), w_ref)
        np.testing.assert_allclose(h.history["loss"], href.history["loss"], rtol=TOL["loss"][0])
        np.testing.assert_allclose(h.history["accuracy"], href.history["accuracy"], rtol=TOL["metric"][0])
    m = _model()                               # an endless generator with steps_per_epoch
    m.fit(gen(), steps_per_epoch=nb, epochs=2, verbose=0)
    _same(_weights(m), w_ref)
    assert _threads_settle(n0) == n0


def test_generator_with_sample_weights_and_multi_io(rng):
    x, y = _data(rng)
    w = rng.random(N).astype(np.float32)
    ref = _model()
    ref.fit(x, y, sample_weight=w, batch_size=10, epochs=1, shuffle=False, verbose=0)
    m = _model()
    m.fit(Dataset.from_tensor_slices((x, y, w)).batch(10), epochs=1, verbose=0)
    _same(_weights(m), _weights(ref))
    # two inputs, two outputs (dict x and y)
    xa, xb = x[:, :4], x[:, 4:]

    def build():
        fusednet.utils.set_random_seed(1)
        a, b = Input((4,), name="a"), Input((3,), name="b")
        h = fusednet.layers.concatenate([Dense(5, activation="relu")(a), b])
        mm = fusednet.Model([a, b], [Dense(C, activation="softmax", name="cls")(h), Dense(1, name="reg")(h)])
        mm.compile("sgd", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"})
        return mm
    r = build()
    r.fit({"a": xa, "b": xb}, {"cls": y, "reg": x[:, :1]}, batch_size=16, epochs=1, shuffle=False, verbose=0)
    g = build()
    g.fit(Dataset.from_tensor_slices(({"a": xa, "b": xb}, {"cls": y, "reg": x[:, :1]})).batch(16),
          epochs=1, verbose=0)
    _same(_weights(g), _weights(r))
    lg = build()                       # a generator of list-structured batches

    def batches():
        for i in range(0, N, 16):
            yield [xa[i:i + 16], xb[i:i + 16]], [y[i:i + 16], x[i:i + 16, :1]]
    lg.fit(batches(), epochs=1, verbose=0)
    _same(_weights(lg), _weights(r))
    out = lg.predict(([xa[i:i + 16], xb[i:i + 16]] for i in range(0, N, 16)), verbose=0)
    ref_out = r.predict([xa, xb], verbose=0)
    for a, b in zip(out, ref_out):
        np.testing.assert_allclose(a, b, rtol=TOL["exact"][0], atol=TOL["exact"][1])


@requires_torch
def test_torch_dataloader(rng):
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    x, y = _data(rng)
    ref, _ = _reference(x, y, 8)
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=8, shuffle=False)
    m = _model()
    m.fit(loader, epochs=2, verbose=0)
    _same(_weights(m), _weights(ref))
    res = m.evaluate(loader, verbose=0, return_dict=True)
    np.testing.assert_allclose(res["loss"], ref.evaluate(x, y, verbose=0, return_dict=True)["loss"],
                               rtol=TOL["loss"][0])


# ---------------------------------------------------------------- steps semantics
def test_steps_per_epoch_continues_across_epochs(rng):
    x, y = _data(rng)
    seen = []

    def gen():
        for i in range(6):
            seen.append(i)
            yield x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8]
    m = _model()
    h = m.fit(gen(), steps_per_epoch=2, epochs=3, verbose=0)
    assert seen == list(range(6)) and len(h.history["loss"]) == 3
    # the same 6 batches as arrays, one epoch of 6 steps: same weights
    ref = _model()
    ref.fit(x[:48], y[:48], batch_size=8, epochs=1, shuffle=False, verbose=0)
    _same(_weights(m), _weights(ref))


def test_generator_running_dry_warns_and_ends_epoch(rng):
    x, y = _data(rng)

    def gen(k):
        for i in range(k):
            yield x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8]
    m = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        h = m.fit(gen(3), steps_per_epoch=2, epochs=5, verbose=0)
    # epoch 1: 2 batches, epoch 2: 1 batch then dry; epoch 3: nothing left -> training stops
    assert len(h.history["loss"]) == 2
    assert m.optimizer.iterations == 3
    # a one-shot generator without steps: one epoch, then the warning and a stop
    m = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        h = m.fit(gen(3), epochs=3, verbose=0)
    assert len(h.history["loss"]) == 1 and m.optimizer.iterations == 3


def test_infinite_without_steps_is_value_error(rng):
    x, y = _data(rng)
    m = _model()
    with pytest.raises(ValueError, match="infinite.*steps_per_epoch"):
        m.fit(Dataset.from_tensor_slices((x, y)).batch(8).repeat(), epochs=1, verbose=0)
    import itertools
    with pytest.raises(ValueError, match="infinite"):
        m.fit(itertools.cycle([(x[:8], y[:8])]), epochs=1, verbose=0)
    # with steps it trains
    m.fit(Dataset.from_tensor_slices((x, y)).batch(8).repeat(), steps_per_epoch=3, epochs=2, verbose=0)
    assert m.optimizer.iterations == 6


def test_pydataset_epoch_end_and_alias(rng):
    x, y = _data(rng)
    assert Sequence is PyDataset
    ds = Batches(x, y, 16)
    m = _model()
    m.fit(ds, epochs=3, verbose=0)
    assert ds.epochs_ended == 3 and m.optimizer.iterations == 3 * 4
    ds2 = Batches(x, y, 16, use_multiprocessing=True, workers=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(ds2, epochs=1, verbose=0, steps_per_epoch=2)
    assert m.optimizer.iterations == 14
    with pytest.raises(ValueError, match="workers"):
        Batches(x, y, 16, workers=0)


def test_pydataset_worker_exception_propagates_and_pool_stops(rng):
    x, y = _data(rng)

    class Broken(Batches):
        def __getitem__(self, i):
            if i == 2:
                raise IndexError("batch 2 cannot be read")
            return super().__getitem__(i)
    n0 = threading.active_count()
    m = _model()
    with pytest.raises(IndexError, match="batch 2"):
        m.fit(Broken(x, y, 8, workers=3), epochs=1, verbose=0)
    assert m.optimizer.iterations == 2
    assert _threads_settle(n0) == n0


def test_validation_sources_and_steps(rng):
    x, y = _data(rng)
    xv, yv = _data(rng, 29)
    ref = _model()                  # validation_steps=2: the validation pass continues across epochs
    want = []
    for lo, hi in ((0, 16), (16, 29)):
        ref.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        want.append(ref.evaluate(xv[lo:hi], yv[lo:hi], verbose=0, return_dict=True)["loss"])
    for val in (Dataset.from_tensor_slices((xv, yv)).batch(8),
                Batches(xv, yv, 8),
                Loader((xv[i:i + 8], yv[i:i + 8]) for i in range(0, 29, 8))):
        m = _model()
        h = m.fit(Dataset.from_tensor_slices((x, y)).batch(8), epochs=2, verbose=0,
                  validation_data=val, validation_steps=2)
        np.testing.assert_allclose(h.history["val_loss"], want, rtol=TOL["loss"][0])
    # validation_freq: only epochs 2 and 4 are validated
    m = _model()
    h = m.fit(x, y, epochs=4, verbose=0, validation_data=Dataset.from_tensor_slices((xv, yv)).batch(8),
              validation_freq=2)
    assert len(h.history["val_loss"]) == 2 and len(h.history["loss"]) == 4
    # a generator as validation data with validation_steps (its iterator persists across epochs)
    m = _model()

    def vgen():
        while True:
            yield xv[:8], yv[:8]
    h = m.fit(x, y, epochs=2, verbose=0, validation_data=vgen(), validation_steps=1)
    assert len(h.history["val_loss"]) == 2


def test_validation_data_with_sample_weights(rng):
    x, y = _data(rng)
    xv, yv = _data(rng, 17)
    wv = rng.random(17).astype(np.float32)
    m = _model()
    h = m.fit(x, y, epochs=1, verbose=0, shuffle=False, validation_data=(xv, yv, wv))
    want = m.evaluate(xv, yv, sample_weight=wv, verbose=0, return_dict=True)["loss"]
    np.testing.assert_allclose(h.history["val_loss"], [want], rtol=TOL["loss"][0])
    unweighted = m.evaluate(xv, yv, verbose=0, return_dict=True)["loss"]
    assert abs(unweighted - want) > 1e-3


def test_one_shot_validation_generator_is_read_once(rng):
    x, y = _data(rng)
    xv, yv = _data(rng, 16)
    m = _model()
    with pytest.warns(UserWarning, match="validation_data yielded no batches"):
        h = m.fit(x, y, epochs=2, verbose=0, validation_data=((xv[i:i + 8], yv[i:i + 8]) for i in (0, 8)))
    assert len(h.history["val_loss"]) == 1 and len(h.history["loss"]) == 2
    with pytest.raises(ValueError, match="no batches"):
        m.evaluate(iter([]), verbose=0)


def test_evaluate_and_predict_steps(rng):
    x, y = _data(rng)
    m = _model()
    m.fit(x, y, epochs=1, verbose=0)
    ds = Dataset.from_tensor_slices((x, y)).batch(10)
    full = m.evaluate(x, y, verbose=0, return_dict=True)
    got = m.evaluate(ds, verbose=0, return_dict=True)
    for k in full:
        np.testing.assert_allclose(got[k], full[k], rtol=TOL["loss"][0])
    part = m.evaluate(ds, steps=2, verbose=0, return_dict=True)
    np.testing.assert_allclose(part["loss"], m.evaluate(x[:20], y[:20], verbose=0, return_dict=True)["loss"],
                               rtol=TOL["loss"][0])
    p = m.predict(x, verbose=0)
    np.testing.assert_allclose(m.predict(ds, verbose=0), p, rtol=TOL["exact"][0], atol=TOL["exact"][1])
    np.testing.assert_allclose(m.predict(Dataset.from_tensor_slices(x).batch(7), verbose=0), p,
                               rtol=TOL["exact"][0], atol=TOL["exact"][1])
    assert m.predict(ds, steps=2, verbose=0).shape == (20, C)
    assert m.predict(x, steps=2, batch_size=10, verbose=0).shape == (20, C)
    gen = (x[i:i + 10] for i in range(0, N, 10))
    np.testing.assert_allclose(m.predict(gen, verbose=0), p, rtol=TOL["exact"][0], atol=TOL["exact"][1])


def test_source_errors(rng):
    x, y = _data(rng)
    m = _model()
    ds = Dataset.from_tensor_slices((x, y)).batch(8)
    with pytest.raises(ValueError, match="validation_split"):
        m.fit(ds, validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="y must not be given"):
        m.fit(ds, y, verbose=0)
    with pytest.raises(ValueError, match="sample_weight must not be given"):
        m.fit(ds, sample_weight=np.ones(N), verbose=0)
    with pytest.raises(ValueError, match="without targets"):
        m.fit(Dataset.from_tensor_slices(x).batch(8), verbose=0)
    with pytest.raises(ValueError, match="no batches"):
        m.fit(iter([]), verbose=0)
    with pytest.raises(ValueError, match="validation_data"):
        m.fit(x, y, validation_data=5, verbose=0)
    with pytest.raises(ValueError, match="steps_per_epoch must be a positive"):
        m.fit(ds, steps_per_epoch=0, verbose=0)
    with pytest.raises(ValueError, match=r"fit: Input 0 .* incompatible|expected shape"):
        m.fit(Dataset.from_tensor_slices((x[:, :3], y)).batch(8), verbose=0)

    with pytest.raises(ValueError, match="tuple of 4 elements"):
        m.fit(iter([(x[:8], y[:8], np.ones(8), np.ones(8))]), verbose=0)
    with pytest.raises(TypeError, match="numeric"):
        m.fit(iter([(np.array(["a"] * 8), y[:8])]), verbose=0)
    with pytest.raises(ValueError, match="same number of samples"):
        m.fit(iter([(x[:8], y[:5])]), verbose=0)

    def broken():
        yield x[:8], y[:8]
        raise RuntimeError("disk on fire")
    with pytest.raises(RuntimeError, match="disk on fire"):
        m.fit(broken(), verbose=0)
    n0 = threading.active_count()

    def bad_map(a, b):
        raise ZeroDivisionError("bad sample")
    with pytest.raises(ZeroDivisionError, match="bad sample"):
        m.fit(Dataset.from_tensor_slices((x, y)).map(bad_map).batch(8).prefetch(2), verbose=0)
    assert _threads_settle(n0) == n0


def test_fit_with_prefetch_threads_back_to_start(rng):
    x, y = _data(rng)
    n0 = threading.active_count()
    m = _model()
    ds = Dataset.from_tensor_slices((x, y)).shuffle(64, seed=0).batch(8).prefetch(3)
    m.fit(ds, epochs=2, steps_per_epoch=3, verbose=0, validation_data=ds, validation_steps=2)
    m.evaluate(ds, steps=1, verbose=0)
    m.predict(ds, steps=1, verbose=0)
    # the consumer fails (wrong feature count) while the producer is running: it still stops
    bad = Dataset.from_tensor_slices((x[:, :4], y)).batch(4).prefetch(2)
    with pytest.raises(ValueError, match="incompatible"):
        m.fit(bad, epochs=1, verbose=0)
    gc.collect()
    assert _threads_settle(n0) == n0


def test_class_weight_with_source(rng):
    x, y = _data(rng)
    cw = {0: 1.0, 1: 2.0, 2: 0.5}
    ref = _model()
    ref.fit(x, y, class_weight=cw, batch_size=8, epochs=1, shuffle=False, verbose=0)
    m = _model()
    m.fit(Dataset.from_tensor_slices((x, y)).batch(8), class_weight=cw, epochs=1, verbose=0)
    _same(_weights(m), _weights(ref))


def test_duck_typed_sequence_is_one_pass_per_epoch():
    """A Keras-style Sequence that is not a PyDataset (len + getitem, and an endless next() like
    Keras's DirectoryIterator) trains one pass of len() batches per epoch, on_epoch_end between."""
    import fusednet
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3)).astype(np.float32)
    y = rng.normal(size=(20, 1)).astype(np.float32)

    class Seq:
        def __init__(self):
            self.calls, self.ends = [], 0

        def __len__(self):
            return 4

        def __getitem__(self, i):
            self.calls.append(i)
            return x[5 * i:5 * i + 5], y[5 * i:5 * i + 5]

        def __next__(self):          # Keras iterators cycle forever; fit must not use this
            return self[0]

        def __iter__(self):
            return self

        def on_epoch_end(self):
            self.ends += 1
    s = Seq()
    m = fusednet.Sequential([fusednet.Input((3,)), fusednet.layers.Dense(1)])
    m.compile("sgd", "mse")
    m.fit(s, epochs=2, verbose=0)
    assert s.calls == [0, 1, 2, 3, 0, 1, 2, 3] and s.ends == 2


def test_known_length_source_restarts_instead_of_running_dry(recwarn):
    """Keras: steps_per_epoch that does not divide len(PyDataset) continues into the next pass."""
    import fusednet
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 3)).astype(np.float32)
    y = rng.normal(size=(24, 1)).astype(np.float32)

    class DS(fusednet.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return x[8 * i:8 * i + 8], y[8 * i:8 * i + 8]
    m = fusednet.Sequential([fusednet.Input((3,)), fusednet.layers.Dense(1)])
    m.compile("sgd", "mse")
    h = m.fit(DS(), steps_per_epoch=2, epochs=3, verbose=0)
    assert len(h.history["loss"]) == 3 and m.optimizer.iterations == 6
    h = m.fit(DS(), steps_per_epoch=3, epochs=3, verbose=0)       # passes end exactly at epoch ends
    assert len(h.history["loss"]) == 3 and m.optimizer.iterations == 15
    assert not [w for w in recwarn if "ran out" in str(w.message)]
