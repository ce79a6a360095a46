"""Philox RNG kernels: known answers, the documented stream layout, determinism across thread
counts, distribution moments, dropout and permutation."""
import math

import numpy as np
import pytest

import fusednet as fn

C_ = fn._C
M32 = 0xFFFFFFFF


def philox(ctr, key):
    return C_._philox4x32_10(list(ctr), list(key))


@pytest.mark.parametrize("ctr,key,expect", [
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([M32] * 4, [M32, M32], [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
     [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
])
def test_philox_known_answers(ctr, key, expect):
    """Random123 kat_vectors for philox4x32-10 (Salmon et al. 2011)."""
    assert list(philox(ctr, key)) == expect


def with_threads(n, f):
    old = fn.get_num_threads()
    try:
        fn.set_num_threads(n)
        return f()
    finally:
        fn.set_num_threads(old)


def test_uniform_stream_layout():
    """Element i = ((lane i%4 of philox(ctr=(i/4, 0, off_lo, off_hi), key=seed)) >> 8) * 2^-24."""
    seed, off = 0x0123456789ABCDEF, (5 << 32) | 7
    u = np.asarray(C_.random_uniform([10], seed, off))
    for i in range(10):
        b = i // 4
        lanes = philox([b & M32, b >> 32, off & M32, off >> 32], [seed & M32, seed >> 32])
        assert u[i] == np.float32((lanes[i % 4] >> 8) * 2.0 ** -24)
    # large block indices use the high counter word
    big = np.asarray(C_.random_uniform([3], seed, off))
    assert np.array_equal(big, u[:3])


def test_normal_stream_layout():
    seed, off = 42, 3
    z = np.asarray(C_.random_normal([8], seed, off))
    for b in range(2):
        lanes = philox([b, 0, off, 0], [seed, 0])
        for pair in range(2):
            a, c = lanes[2 * pair], lanes[2 * pair + 1]
            r = math.sqrt(-2.0 * math.log(((a >> 8) + 1) * 2.0 ** -24))
            t = 2 * math.pi * ((c >> 8) * 2.0 ** -24)
            np.testing.assert_allclose(z[4 * b + 2 * pair], r * math.cos(t), rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(z[4 * b + 2 * pair + 1], r * math.sin(t), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("op", ["uniform", "normal", "truncated", "dropout", "permutation"])
def test_deterministic_and_thread_independent(op):
    n = 200_003  # above the parallel threshold, not a multiple of 4
    x = np.ones(n, np.float32)

    def gen(seed=7, offset=11):
        if op == "uniform":
            return np.asarray(C_.random_uniform([n], seed, offset, -2.0, 3.0)).copy()
        if op == "normal":
            return np.asarray(C_.random_normal([n], seed, offset, 1.0, 2.0)).copy()
        if op == "truncated":
            return np.asarray(C_.random_truncated_normal([n], seed, offset)).copy()
        if op == "dropout":
            y, m = C_.dropout_forward(fn.asarray(x), 0.3, seed, offset)
            return np.concatenate([np.asarray(y), np.asarray(m)])
        return np.asarray(C_.permutation(n, seed, offset)).copy()

    a = with_threads(1, gen)
    b = with_threads(2, gen)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, gen())
    assert not np.array_equal(a, gen(seed=8))
    assert not np.array_equal(a, gen(offset=12))


def test_prefix_consistency():
    """Element i does not depend on the array size: a longer draw extends a shorter one."""
    a = np.asarray(C_.random_normal([37], 5, 1))
    b = np.asarray(C_.random_normal([3, 50], 5, 1)).ravel()
    np.testing.assert_array_equal(a, b[:37])


def test_uniform_moments():
    n = 1 << 20
    u = np.asarray(C_.random_uniform([n], 123, 0)).astype(np.float64)
    assert u.min() >= 0.0 and u.max() < 1.0
    se = 1 / math.sqrt(12 * n)
    assert abs(u.mean() - 0.5) < 5 * se
    assert abs(u.var() - 1 / 12) < 5 * math.sqrt(1 / 180 / n)
    hist, _ = np.histogram(u, bins=16, range=(0, 1))
    assert np.all(np.abs(hist - n / 16) < 5 * math.sqrt(n / 16))
    v = np.asarray(C_.random_uniform([1000], 1, 2, -3.0, -1.0))
    assert v.min() >= -3.0 and v.max() < -1.0


def test_normal_moments():
    n = 1 << 20
    z = np.asarray(C_.random_normal([n], 99, 4, 0.5, 2.0)).astype(np.float64)
    s = (z - 0.5) / 2.0
    assert abs(s.mean()) < 5 / math.sqrt(n)
    assert abs(s.var() - 1) < 5 * math.sqrt(2 / n)
    assert abs((s ** 3).mean()) < 5 * math.sqrt(15 / n)
    assert abs((s ** 4).mean() - 3) < 5 * math.sqrt(96 / n)
    # lanes of a pair are uncorrelated
    assert abs(np.corrcoef(s[0::2], s[1::2])[0, 1]) < 5 / math.sqrt(n / 2)


def test_truncated_normal():
    n = 1 << 20
    z = np.asarray(C_.random_truncated_normal([n], 5, 0, 1.0, 0.5)).astype(np.float64)
    assert z.min() >= 1.0 - 2 * 0.5 and z.max() <= 1.0 + 2 * 0.5
    s = (z - 1.0) / 0.5
    # standard normal truncated to [-2, 2]: variance 1 - 4 phi(2) / (2 Phi(2) - 1)
    phi2 = math.exp(-2) / math.sqrt(2 * math.pi)
    var = 1 - 4 * phi2 / math.erf(2 / math.sqrt(2))
    assert abs(s.mean()) < 5 * math.sqrt(var / n)
    assert abs(s.var() - var) < 0.01
    # values inside 2 std are the plain normal's (only the rejected ones are re-drawn)
    plain = np.asarray(C_.random_normal([n], 5, 0, 1.0, 0.5))
    keep = np.abs(plain - 1.0) <= 1.0
    np.testing.assert_array_equal(z[keep], plain[keep].astype(np.float64))
    assert 0.04 < 1 - keep.mean() < 0.05


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 0.9])
def test_dropout(rate, rng):
    x = rng.standard_normal((513, 129)).astype(np.float32)
    y, m = C_.dropout_forward(fn.asarray(x), rate, 2024, 3)
    y, m = np.asarray(y), np.asarray(m)
    assert y.shape == x.shape and m.shape == x.shape
    scale = np.float32(1 / (1 - rate))
    assert set(np.unique(m)).issubset({0.0, scale})
    np.testing.assert_array_equal(y, x * m)
    n = x.size
    kept = (m != 0).mean()
    assert abs(kept - (1 - rate)) < 5 * math.sqrt(rate * (1 - rate) / n) + 1e-12
    # the mask is the uniform stream thresholded at rate
    u = np.asarray(C_.random_uniform(list(x.shape), 2024, 3))
    np.testing.assert_array_equal(m != 0, u >= rate)


def test_dropout_errors():
    x = fn.asarray(np.ones(4, np.float32))
    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"dropout_forward: rate must be in \[0, 1\)"):
            C_.dropout_forward(x, bad, 0)
    with pytest.raises(TypeError, match="dropout_forward: x must be float32"):
        C_.dropout_forward(fn.asarray(np.ones(4, np.int64)), 0.5, 0)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000, 70_001])
def test_permutation(n):
    p = np.asarray(C_.permutation(n, 31, 0))
    assert p.dtype == np.int64 and p.shape == (n,)
    np.testing.assert_array_equal(np.sort(p), np.arange(n))
    if n >= 1000:
        assert (p == np.arange(n)).mean() < 0.01  # actually shuffled
        q = np.asarray(C_.permutation(n, 31, 1))
        assert not np.array_equal(p, q)


def test_permutation_is_uniform_on_small_n():
    counts = {}
    for s in range(3000):
        key = tuple(np.asarray(C_.permutation(3, s, 0)))
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 6
    for c in counts.values():
        assert abs(c - 500) < 5 * math.sqrt(500)


def test_seed_and_shape_arguments():
    # seeds are taken modulo 2^64: -1 and 2^64-1 are the same stream
    a = np.asarray(C_.random_uniform([5], -1, 0))
    b = np.asarray(C_.random_uniform([5], 2 ** 64 - 1, 0))
    np.testing.assert_array_equal(a, b)
    assert C_.random_normal([0, 3], 1, 0).shape == (0, 3)
    with pytest.raises(ValueError, match="random_uniform: shape .* negative"):
        C_.random_uniform([-1], 0, 0)
    with pytest.raises(ValueError, match=r"random_uniform: high .* < low"):
        C_.random_uniform([3], 0, 0, 1.0, 0.0)
    with pytest.raises(ValueError, match="permutation: n must be >= 0"):
        C_.permutation(-3, 0, 0)
