"""_C.magnitude_mask (csrc/cpu/prune.cpp, csrc/cuda/prune.cu): the exact k-th largest |w| and the
mask |w| >= it, vs a NumPy float64 sort, on sizes 1, primes and non-multiples of the radix, with
ties, zeros, signed zeros, k = 0 and k = n, NaN/Inf, denormals, out= and the argument errors."""
import numpy as np
import pytest

import fusednet as fn

C_ = fn._C


def ref_mask(w, k):
    a = np.abs(w.astype(np.float64)).ravel()
    if k == 0:
        return np.zeros(w.shape, np.float32), np.inf
    thr = np.sort(a)[::-1][k - 1]
    return (np.abs(w.astype(np.float64)) >= thr).astype(np.float32), thr


@pytest.mark.parametrize("shape", [(1,), (2,), (7,), (13, 17), (257,), (64, 31), (3, 3, 5, 7), (1021, 3)])
def test_magnitude_mask_vs_numpy(shape):
    rng = np.random.default_rng(int(np.prod(shape)))
    w = rng.normal(size=shape).astype(np.float32)
    n = w.size
    for k in sorted({0, 1, 2, n // 3, n // 2, n - 1, n} & set(range(n + 1))):
        mask, thr = C_.magnitude_mask(fn.asarray(w), k)
        want, want_thr = ref_mask(w, k)
        np.testing.assert_array_equal(mask.numpy(), want)
        assert thr == want_thr
        assert tuple(mask.shape) == shape
        assert int(mask.numpy().sum()) == k          # distinct magnitudes: exactly k kept


def test_magnitude_mask_ties_zeros_and_signs():
    w = np.array([1, -1, 1, 2, 3, 1, -1, 0.5, 1, 4, 1, 1, 0.25, -1, 5, 1, 1, 1, 6, 7], np.float32)
    for k in range(0, w.size + 1):
        mask, thr = C_.magnitude_mask(fn.asarray(w), k)
        want, want_thr = ref_mask(w, k)
        np.testing.assert_array_equal(mask.numpy(), want)
        assert thr == want_thr
    mask, thr = C_.magnitude_mask(fn.asarray(w), 10)    # the 10th largest |w| is 1: all 12 ones kept
    assert thr == 1.0 and int(mask.numpy().sum()) == 18
    z = np.array([0.0, -0.0, 0.0, 3.0, -0.0, -2.0], np.float32)     # -0 and +0 are the same magnitude
    mask, thr = C_.magnitude_mask(fn.asarray(z), 3)
    assert thr == 0.0 and not np.signbit(np.float32(thr))
    np.testing.assert_array_equal(mask.numpy(), np.ones(6, np.float32))  # threshold 0 keeps every entry
    mask, thr = C_.magnitude_mask(fn.asarray(z), 2)
    np.testing.assert_array_equal(mask.numpy(), [0, 0, 0, 1, 0, 1])


def test_magnitude_mask_many_ties_large():
    rng = np.random.default_rng(5)
    w = rng.integers(-20, 21, size=(389, 211)).astype(np.float32) / 4     # 41 distinct values
    for k in (1, 777, w.size // 2, w.size - 5):
        mask, thr = C_.magnitude_mask(fn.asarray(w), k)
        want, want_thr = ref_mask(w, k)
        np.testing.assert_array_equal(mask.numpy(), want)
        assert thr == want_thr and mask.numpy().sum() >= k


def test_magnitude_mask_inf_nan_denormal():
    # denormals built from their bits: no float arithmetic, so a flush-to-zero mode left on the
    # calling thread cannot turn them into zeros before the kernel sees them
    w = np.array([np.inf, -np.inf, 1.0, 0.0, 0.0, np.nan, 0.0, -3.0], np.float32)
    w.view(np.uint32)[3], w.view(np.uint32)[4] = 1, 0x80000002         # 1e-45 and -2.8e-45
    mask, thr = C_.magnitude_mask(fn.asarray(w), 1)          # |NaN| ranks above +Inf
    assert np.isnan(thr)
    np.testing.assert_array_equal(mask.numpy(), [0, 0, 0, 0, 0, 1, 0, 0])
    mask, thr = C_.magnitude_mask(fn.asarray(w), 3)
    assert thr == np.inf
    np.testing.assert_array_equal(mask.numpy(), [1, 1, 0, 0, 0, 1, 0, 0])
    mask, thr = C_.magnitude_mask(fn.asarray(w), 6)          # denormals are exact magnitudes
    assert thr == float(np.abs(w[4]))
    np.testing.assert_array_equal(mask.numpy(), [1, 1, 1, 0, 1, 1, 0, 1])


def test_magnitude_mask_out_and_in_place():
    rng = np.random.default_rng(2)
    w = rng.normal(size=(11, 13)).astype(np.float32)
    want, _ = ref_mask(w, 50)
    out = fn.asarray(np.full((11, 13), 7.0, np.float32))
    mask, _ = C_.magnitude_mask(fn.asarray(w), 50, out=out)
    assert mask.data_ptr == out.data_ptr
    np.testing.assert_array_equal(out.numpy(), want)
    a = fn.asarray(w.copy())
    C_.magnitude_mask(a, 50, out=a)                          # out may be w itself (elementwise last pass)
    np.testing.assert_array_equal(a.numpy(), want)
    mask, thr = C_.magnitude_mask(fn.asarray(np.zeros((0,), np.float32)), 0)
    assert mask.shape == [0] or tuple(mask.shape) == (0,)
    assert thr == np.inf


def test_magnitude_mask_errors():
    w = fn.asarray(np.ones((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"magnitude_mask: k \(entries kept\) must be in \[0, 12\] for w of "
                                         r"shape \(3, 4\), got 13"):
        C_.magnitude_mask(w, 13)
    with pytest.raises(ValueError, match=r"magnitude_mask: k .* got -1"):
        C_.magnitude_mask(w, -1)
    with pytest.raises(TypeError, match="magnitude_mask: w must be float32"):
        C_.magnitude_mask(fn.asarray(np.ones(3, np.int32)), 1)
    with pytest.raises(ValueError, match="magnitude_mask"):
        C_.magnitude_mask(w, 2, out=fn.asarray(np.ones((4, 3), np.float32)))
    buf = np.ones(24, np.float32)                             # zero-copy views of one buffer
    wv, ov = fn.asarray(buf[0:12].reshape(3, 4)), fn.asarray(buf[6:18].reshape(3, 4))
    assert ov.data_ptr - wv.data_ptr == 24
    with pytest.raises(ValueError, match=r"magnitude_mask: out overlaps w \(shape \(3, 4\)\)"):
        C_.magnitude_mask(wv, 2, out=ov)


def test_update_masks_uses_native_selection_and_keeps_tfmot_rule():
    """PruningState.update_masks = tfmot's k = max(round(n(1-s)), 1), threshold = k-th largest |w|."""
    from fusednet import layers, pruning
    l = layers.Dense(37)
    l.build((None, 23))
    w = np.random.default_rng(1).normal(size=(23, 37)).astype(np.float32)
    l.set_weights([w, np.zeros(37, np.float32)])
    st = pruning.prune_low_magnitude(l, pruning.ConstantSparsity(0.9, 0))._pruning
    st.update_masks(0.9)
    k = int(max(np.round(np.float32(w.size) * (np.float32(1) - np.float32(0.9))), 1))
    want, thr = ref_mask(w, k)
    np.testing.assert_array_equal(st.masks["kernel"].numpy(), want)
    assert st.thresholds["kernel"] == thr


@pytest.mark.cuda
@pytest.mark.parametrize("n", [1, 7, 4099, 300007])
def test_cuda_magnitude_mask_matches_cpu(n):
    rng = np.random.default_rng(n)
    w = (rng.integers(-50, 51, size=n) / 8).astype(np.float32) if n > 7 else rng.normal(size=n).astype(np.float32)
    for k in sorted({0, 1, n // 2, n}):
        m_cpu, t_cpu = C_.magnitude_mask(fn.asarray(w), k)
        m_gpu, t_gpu = C_.magnitude_mask(fn.asarray(w).to("cuda"), k)
        np.testing.assert_array_equal(m_gpu.numpy(), m_cpu.numpy())
        assert t_gpu == t_cpu


# ---------------------------------------------------------------- block sparsity
def ref_block_magnitude(w, bh, bw, pooling):
    R, C = w.shape
    RB, CB = -(-R // bh), -(-C // bw)
    a = np.abs(w.astype(np.float64))
    out = np.zeros((RB, CB))
    for rb in range(RB):
        for cb in range(CB):
            blk = a[rb * bh:(rb + 1) * bh, cb * bw:(cb + 1) * bw]
            out[rb, cb] = blk.max() if pooling == "MAX" else blk.mean()
    return out


@pytest.mark.parametrize("shape,block", [((1, 1), (1, 1)), ((1, 7), (1, 3)), ((13, 17), (2, 2)), ((16, 8), (4, 4)),
                                         ((31, 5), (3, 7)), ((8, 12), (8, 1)), ((5, 3), (11, 13))])
@pytest.mark.parametrize("pooling", ["AVG", "MAX"])
def test_block_magnitude_and_expand_vs_numpy(shape, block, pooling):
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    w = rng.normal(size=shape).astype(np.float32)
    bh, bw = block
    p = C_.block_magnitude(fn.asarray(w), bh, bw, pooling).numpy()
    want = ref_block_magnitude(w, bh, bw, pooling)
    assert p.shape == want.shape
    np.testing.assert_array_equal(p, want.astype(np.float32))     # double sums of a few floats: exact
    bm = (rng.random(want.shape) > 0.5).astype(np.float32)
    mask = C_.block_mask_expand(fn.asarray(bm), bh, bw, list(shape)).numpy()
    np.testing.assert_array_equal(mask, np.kron(bm, np.ones((bh, bw), np.float32))[:shape[0], :shape[1]])


def test_block_kernels_errors():
    w = fn.asarray(np.ones((4, 6), np.float32))
    with pytest.raises(ValueError, match=r"block_magnitude: w must be 2-D \(R, C\), got shape \(24,\)"):
        C_.block_magnitude(fn.asarray(np.ones(24, np.float32)), 2, 2)
    with pytest.raises(ValueError, match=r"block_magnitude: block sizes must be in \[1, 2\^31\], got \(0, 2\)"):
        C_.block_magnitude(w, 0, 2)
    with pytest.raises(ValueError, match="block_magnitude: block sizes"):
        C_.block_magnitude(w, 2, 2 ** 62)
    with pytest.raises(ValueError, match="block_magnitude: pooling must be 'AVG' or 'MAX'"):
        C_.block_magnitude(w, 2, 2, "SUM")
    with pytest.raises(TypeError, match="block_magnitude: w must be float32"):
        C_.block_magnitude(fn.asarray(np.ones((4, 6), np.int32)), 2, 2)
    with pytest.raises(ValueError, match=r"block_mask_expand: block_mask has shape \(2, 2\) but \(4, 6\) in blocks "
                                         r"of \(2, 2\) needs \(2, 3\)"):
        C_.block_mask_expand(fn.asarray(np.ones((2, 2), np.float32)), 2, 2, [4, 6])
    with pytest.raises(ValueError, match="block_mask_expand: needs a 2-D shape"):
        C_.block_mask_expand(fn.asarray(np.ones((2, 2), np.float32)), 2, 2, [4, 6, 1])
    with pytest.raises(ValueError, match="block_mask_expand"):
        C_.block_mask_expand(fn.asarray(np.ones((2, 3), np.float32)), 2, 2, [4, 6],
                             out=fn.asarray(np.ones((6, 4), np.float32)))


@pytest.mark.cuda
def test_cuda_block_kernels_match_cpu():
    rng = np.random.default_rng(9)
    w = rng.normal(size=(257, 131)).astype(np.float32)
    for pooling in ("AVG", "MAX"):
        a = C_.block_magnitude(fn.asarray(w), 4, 3, pooling).numpy()
        b = C_.block_magnitude(fn.asarray(w).to("cuda"), 4, 3, pooling).numpy()
        np.testing.assert_array_equal(b, a)
    bm = (rng.random((65, 44)) > 0.5).astype(np.float32)
    np.testing.assert_array_equal(C_.block_mask_expand(fn.asarray(bm).to("cuda"), 4, 3, [257, 131]).numpy(),
                                  C_.block_mask_expand(fn.asarray(bm), 4, 3, [257, 131]).numpy())
