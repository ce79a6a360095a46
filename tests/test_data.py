"""fusednet.data: preprocessing (Keras / scikit-learn semantics) and Philox-shuffled batching."""
import numpy as np
import pytest

from fusednet.data import BatchIterator, batches, normalize, permutation, to_categorical, train_test_split
from tolerances import TOL


def test_permutation_is_deterministic_and_valid():
    p = permutation(1000, 42, 0)
    assert p.dtype == np.int64 and np.array_equal(np.sort(p), np.arange(1000))
    np.testing.assert_array_equal(p, permutation(1000, 42, 0))
    assert not np.array_equal(p, permutation(1000, 42, 1))
    assert not np.array_equal(p, permutation(1000, 43, 0))
    assert permutation(0, 1).shape == (0,)


def test_to_categorical():
    np.testing.assert_array_equal(to_categorical([0, 2, 1], 3), np.eye(3, dtype=np.float32)[[0, 2, 1]])
    assert to_categorical(np.array([[1], [3]])).shape == (2, 4)
    assert to_categorical(np.zeros((2, 3), np.int64), 5).shape == (2, 3, 5)
    assert to_categorical([1, 2]).dtype == np.float32
    with pytest.raises(ValueError, match="labels must be in"):
        to_categorical([0, 5], 3)


def test_normalize(rng):
    x = rng.standard_normal((6, 5))
    r, a = TOL["pointwise"]
    np.testing.assert_allclose(np.linalg.norm(normalize(x), axis=-1), 1.0, rtol=r, atol=a)
    np.testing.assert_allclose(np.abs(normalize(x, axis=0, order=1)).sum(0), 1.0, rtol=r, atol=a)
    z = normalize(np.zeros((2, 3)))
    assert np.all(z == 0)
    np.testing.assert_allclose(normalize(np.array([[3.0, 4.0]])), [[0.6, 0.8]], rtol=r, atol=a)


def test_train_test_split_basic(rng):
    x = np.arange(100).reshape(50, 2)
    y = np.arange(50)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=0)
    assert len(xte) == 10 and len(xtr) == 40
    np.testing.assert_array_equal(xtr[:, 0] // 2, ytr)  # rows stay aligned
    assert sorted(np.concatenate([ytr, yte]).tolist()) == list(range(50))
    again = train_test_split(x, y, test_size=0.2, random_state=0)
    np.testing.assert_array_equal(again[3], yte)
    xtr, xte = train_test_split(x, test_size=7, shuffle=False)
    np.testing.assert_array_equal(xte, x[-7:])
    assert len(train_test_split(x, test_size=0.33)[1]) == 17  # ceil, like scikit-learn
    with pytest.raises(ValueError, match="non-empty"):
        train_test_split(x, test_size=50)
    with pytest.raises(ValueError, match="inconsistent"):
        train_test_split(x, y[:3])


def test_train_test_split_stratified(rng):
    y = np.repeat(np.arange(3), [60, 30, 10])
    x = rng.standard_normal((100, 4))
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, stratify=y, random_state=3)
    assert np.bincount(yte).tolist() == [12, 6, 2] and np.bincount(ytr).tolist() == [48, 24, 8]
    assert len(set(yte[:5].tolist())) > 1 or len(set(ytr[:10].tolist())) > 1  # classes are mixed
    yoh = np.eye(3)[y]
    _, _, _, yte2 = train_test_split(x, yoh, test_size=0.2, stratify=yoh, random_state=3)
    assert np.bincount(yte2.argmax(1)).tolist() == [12, 6, 2]
    with pytest.raises(ValueError, match="at least 2"):
        train_test_split(x[:4], np.array([0, 0, 1, 2]), test_size=2, stratify=np.array([0, 0, 1, 2]))


def test_batch_iterator_shuffles_per_epoch_deterministically():
    x = np.arange(10, dtype=np.float32)[:, None]
    y = np.arange(10)
    it = BatchIterator(x, y, batch_size=4, shuffle=True, seed=7)
    assert len(it) == 3
    e0 = [yb for _, yb in it]
    e1 = [yb for _, yb in it]
    assert [len(b) for b in e0] == [4, 4, 2]
    assert sorted(np.concatenate(e0).tolist()) == list(range(10))
    assert not np.array_equal(np.concatenate(e0), np.concatenate(e1))
    np.testing.assert_array_equal(np.concatenate(e0), permutation(10, 7, 0))
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in BatchIterator(x, y, 4, True, 7)]),
                                  np.concatenate(e0))
    for xb, yb in BatchIterator(x, y, 4, True, 7):
        np.testing.assert_array_equal(xb[:, 0], yb)


def test_batch_iterator_options():
    x = np.arange(10)
    w = np.ones(10)
    assert [len(b[0]) for b in BatchIterator(x, None, 3, shuffle=False, drop_remainder=True)] == [3, 3, 3]
    b = list(BatchIterator([x, x * 2], {"out": x}, 4, shuffle=False, sample_weight=w))
    assert len(b[0]) == 3 and isinstance(b[0][0], list) and np.array_equal(b[0][0][1], [0, 2, 4, 6])
    assert list(b[-1][1]["out"]) == [8, 9]
    assert [len(xb) for xb, _ in batches(x, x, batch_size=6)] == [6, 4]
    with pytest.raises(ValueError, match="batch_size"):
        BatchIterator(x, batch_size=0)
    with pytest.raises(ValueError, match="y has 3"):
        BatchIterator(x, x[:3])
