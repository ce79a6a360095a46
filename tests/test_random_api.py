"""fusednet.random samplers (keras.random): seeding semantics (int seeds reproduce, a SeedGenerator
advances, the global stream follows random.seed), distribution moments within a few standard
errors, ranges, permutations, dropout masks, and errors."""
import math

import numpy as np
import pytest

import fusednet as fn
from fusednet import Tensor, ops
from fusednet import random as R
from tolerances import TOL

SIG = TOL["random_sigmas"]
N = 20011  # prime


def within(stat, expect, se):
    assert abs(stat - expect) <= SIG * se, (stat, expect, se)


@pytest.mark.parametrize("sampler", ["normal", "uniform", "truncated_normal"])
def test_seed_semantics(sampler):
    f = getattr(R, sampler)
    a, b = f((3, 7), seed=11), f((3, 7), seed=11)
    assert isinstance(a, Tensor) and a.shape == (3, 7) and a.dtype == "float32"
    np.testing.assert_array_equal(a.numpy(), b.numpy())          # an int seed is stateless
    assert not np.array_equal(a.numpy(), f((3, 7), seed=12).numpy())
    g = R.SeedGenerator(5)
    x1, x2 = f((4,), seed=g), f((4,), seed=g)                     # a generator advances
    assert not np.array_equal(x1.numpy(), x2.numpy())
    assert g.state == (5, 2)
    g2 = R.SeedGenerator(5)
    np.testing.assert_array_equal(f((4,), seed=g2).numpy(), x1.numpy())
    np.testing.assert_array_equal(f((4,), seed=g2).numpy(), x2.numpy())
    R.seed(99)
    u = f((5,))
    R.seed(99)
    np.testing.assert_array_equal(f((5,)).numpy(), u.numpy())      # None follows the global stream
    np.testing.assert_array_equal(f((5,), seed=(7, 3)).numpy(), f((5,), seed=(7, 3)).numpy())


def test_normal_moments():
    x = R.normal((N,), mean=2.0, stddev=3.0, seed=1).numpy().astype(np.float64)
    within(x.mean(), 2.0, 3.0 / math.sqrt(N))
    within(x.var(), 9.0, 9.0 * math.sqrt(2.0 / N))


def test_uniform_range_and_moments():
    x = R.uniform((N,), minval=-1.0, maxval=3.0, seed=2).numpy().astype(np.float64)
    assert x.min() >= -1.0 and x.max() < 3.0
    within(x.mean(), 1.0, 4.0 / math.sqrt(12 * N))
    within(x.var(), 16.0 / 12, 16.0 / 12 * math.sqrt(0.8 / N))


def test_truncated_normal_is_within_two_sigma():
    x = R.truncated_normal((N,), mean=1.0, stddev=0.5, seed=3).numpy().astype(np.float64)
    assert np.all(np.abs(x.astype(np.float32) - np.float32(1.0)) <= np.float32(2 * 0.5))
    # variance of a standard normal truncated at +-2: 1 - 2*2*phi(2)/(2*Phi(2)-1)
    phi2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
    v = 1 - 4 * phi2 / math.erf(2 / math.sqrt(2))
    within(x.mean(), 1.0, 0.5 * math.sqrt(v / N))
    within(x.var(), 0.25 * v, 0.25 * v * math.sqrt(2.0 / N))


@pytest.mark.parametrize("lo,hi", [(0, 1), (0, 7), (-3, 10)])
def test_randint_covers_the_range_uniformly(lo, hi):
    x = R.randint((N,), lo, hi, seed=4)
    assert x.dtype == "int32"
    v = x.numpy()
    assert v.min() >= lo and v.max() <= hi - 1
    k = hi - lo
    counts = np.bincount(v - lo, minlength=k)
    p = 1.0 / k
    assert len(counts) == k
    for c in counts:
        within(c / N, p, math.sqrt(p * (1 - p) / N))
    assert R.randint((3,), 0, 5, dtype="int64", seed=1).dtype == "int64"


def test_categorical_matches_softmax_probabilities():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    s = R.categorical(np.log(p), 4001, seed=6)
    assert s.shape == (2, 4001) and s.dtype == "int32"
    for row in range(2):
        freq = np.bincount(s.numpy()[row], minlength=3) / 4001
        for k in range(3):
            within(freq[k], p[row, k], math.sqrt(p[row, k] * (1 - p[row, k]) / 4001))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_shuffle_is_a_permutation_along_axis(axis):
    x = np.arange(5 * 7 * 3, dtype=np.float32).reshape(5, 7, 3)
    y = R.shuffle(x, axis=axis, seed=8).numpy()
    ax = axis % 3
    assert y.shape == x.shape
    # every slice along `axis` is one of x's slices, each used once
    xs = sorted(np.moveaxis(x, ax, 0).reshape(x.shape[ax], -1).tolist())
    ys = sorted(np.moveaxis(y, ax, 0).reshape(x.shape[ax], -1).tolist())
    assert xs == ys and not np.array_equal(x, y)
    np.testing.assert_array_equal(R.shuffle(x, axis=axis, seed=8).numpy(), y)
    ints = R.shuffle(ops.arange(11), seed=1).numpy()
    assert sorted(ints.tolist()) == list(range(11))


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_dropout_rate_and_scale(rate):
    x = np.ones((N,), np.float32)
    y = R.dropout(x, rate, seed=9).numpy()
    keep = y != 0
    within(1 - keep.mean(), rate, math.sqrt(rate * (1 - rate) / N))
    np.testing.assert_allclose(y[keep], 1.0 / (1.0 - rate), *TOL["pointwise"])
    # the same key as the functional op (and Dropout layer): the same mask
    np.testing.assert_array_equal(fn.functional.dropout(Tensor(x), rate, seed=9).numpy(), y)


def test_dropout_noise_shape_shares_the_mask():
    x = np.ones((6, 5, 4), np.float32)
    y = R.dropout(x, 0.5, noise_shape=(1, None, 4), seed=10).numpy()
    np.testing.assert_array_equal(y, np.broadcast_to(y[:1], y.shape))
    assert 0 < (y == 0).mean() < 1


def test_bad_inputs_name_the_op():
    with pytest.raises(TypeError, match="normal: seed must be None, an int"):
        R.normal((2,), seed="x")
    with pytest.raises(ValueError, match=r"uniform: minval \(1.0\) must be < maxval \(1.0\)"):
        R.uniform((2,), 1.0, 1.0)
    with pytest.raises(TypeError, match="uniform: dtype must be a floating dtype"):
        R.uniform((2,), dtype="int32")
    with pytest.raises(ValueError, match=r"randint: minval \(3\) must be < maxval \(2\)"):
        R.randint((2,), 3, 2)
    with pytest.raises(ValueError, match=r"normal: negative dimension in shape \(2, -1\)"):
        R.normal((2, -1))
    with pytest.raises(ValueError, match=r"dropout: rate must be in \[0, 1\)"):
        R.dropout(np.ones(3, np.float32), 1.0)
    with pytest.raises(ValueError, match=r"dropout: noise_shape \(2,\) does not broadcast to the input shape \(3,\)"):
        R.dropout(np.ones(3, np.float32), 0.5, noise_shape=(2,))
    with pytest.raises(ValueError, match=r"shuffle: axis 2 is out of range for shape \(3,\)"):
        R.shuffle(np.ones(3, np.float32), axis=2)
    with pytest.raises(ValueError, match=r"categorical: logits must be 2-D"):
        R.categorical(np.ones(3, np.float32), 2)
    with pytest.raises(ValueError, match="SeedGenerator: seed must be >= 0"):
        R.SeedGenerator(-1)


def test_existing_seed_api_still_works():
    R.seed(42)
    assert R.get_seed() == 42 and R.next_key() == (42, 0) and R.next_key(3) == (42, 1) and R.next_key() == (42, 4)
    s = R.SeedStream(7)
    assert s.next() == (7, 0)
    R.set_random_seed(3)
    assert R.get_seed() == 3
    g = R.SeedGenerator()          # seeded from the global stream: reproducible after seed()
    R.set_random_seed(3)
    assert R.SeedGenerator().state == g.state
