"""BatchNormalization(synchronized=True): the split kernels (sums -> allreduce -> finish) against
the fused ones and float64 NumPy; two in-process "ranks" (threads sharing a toy allreduce) against
one batch of the concatenated rows; a 2-rank mpirun fit against one rank of the global batch; and
plain BatchNorm (bitwise) outside DataParallel."""
import threading

import numpy as np
import pytest

import fusednet as fn
from fusednet import _C
from fusednet.distribution import sync
from tolerances import TOL

SHAPES = [(1, 1), (7, 5), (13, 3), (2, 5, 3, 4), (1031, 2)]


@pytest.mark.parametrize("shape", SHAPES)
def test_split_kernels_compose_to_the_fused_ones_bitwise(shape):
    rng = np.random.default_rng(len(shape) * 10 + shape[-1])
    x = (rng.standard_normal(shape) * 3 + 2).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    C = shape[-1]
    M = x.size // C
    g, b = rng.standard_normal(C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
    X, G, B, DY = map(fn.asarray, (x, g, b, dy))
    mm0, mv0 = rng.random(C).astype(np.float32), rng.random(C).astype(np.float32) + 0.5
    mm1, mv1, mm2, mv2 = map(fn.asarray, (mm0.copy(), mv0.copy(), mm0.copy(), mv0.copy()))
    y1, mean1, inv1 = _C.batch_norm_forward_train(X, G, B, mm1, mv1, 0.9, 1e-3)
    s1 = _C.batch_norm_sums(X)
    mean2 = _C.batch_norm_mean(s1, M)
    s2 = _C.batch_norm_sums(X, mean2)
    y2, inv2 = _C.batch_norm_forward_finish(X, G, B, mm2, mv2, mean2, s2, M, 0.9, 1e-3)
    for a, c in ((y1, y2), (mean1, mean2), (inv1, inv2), (mm1, mm2), (mv1, mv2)):
        assert np.array_equal(a.numpy(), c.numpy())
    x64 = x.reshape(M, C).astype(np.float64)
    np.testing.assert_allclose(s1, x64.sum(0), *TOL["reduce"])
    np.testing.assert_allclose(s2, ((x64 - mean2.numpy()) ** 2).sum(0), *TOL["reduce"])
    dx1, dg1, db1 = _C.batch_norm_backward(DY, X, G, mean1, inv1, True)
    s = _C.batch_norm_backward_sums(DY, X, mean1, inv1)
    dx2, dg2, db2 = _C.batch_norm_backward_finish(DY, X, G, mean1, inv1, s, s, 1.0, M, True)
    for a, c in ((dx1, dx2), (dg1, dg2), (db1, db2)):
        assert np.array_equal(a.numpy(), c.numpy())
    xh = (x64 - mean1.numpy()) * inv1.numpy()
    np.testing.assert_allclose(s[:C], dy.reshape(M, C).sum(0), *TOL["reduce"])
    np.testing.assert_allclose(s[C:], (dy.reshape(M, C) * xh).sum(0), *TOL["reduce"])


def test_split_kernel_argument_errors():
    X = fn.asarray(np.ones((4, 3), np.float32))
    v = fn.asarray(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="batch_norm_sums: center must have shape"):
        _C.batch_norm_sums(X, fn.asarray(np.ones(2, np.float32)))
    with pytest.raises(ValueError, match="batch_norm_forward_finish: s2 must be a float64 vector of 3"):
        _C.batch_norm_forward_finish(X, v, v, v.copy(), v.copy(), v, np.ones(2), 4)
    with pytest.raises(ValueError, match="global rows 3 < local rows 4"):
        _C.batch_norm_forward_finish(X, v, v, v.copy(), v.copy(), v, np.ones(3), 3)
    with pytest.raises(ValueError, match="batch_norm_backward_finish: sg must be"):
        _C.batch_norm_backward_finish(X, X, v, v, v, np.ones(6), np.ones(5), 1.0, 4)
    with pytest.raises(ValueError, match="batch_norm_mean: rows"):
        _C.batch_norm_mean(np.ones(3), -1)


class _ThreadComm:
    """Rank ``rank`` of an in-process world of ``size`` threads: allreduce sums in rank order."""

    def __init__(self, rank, size, shared):
        self.rank, self.size, self.shared = rank, size, shared

    def allreduce_sum_(self, buf):
        sh = self.shared
        sh["bufs"][self.rank] = buf.copy()
        sh["barrier"].wait()
        tot = sh["bufs"][0].copy()
        for r in range(1, self.size):
            tot += sh["bufs"][r]
        sh["barrier"].wait()
        buf[...] = tot
        return buf


def _bn_layer(C):
    fn.utils.set_random_seed(3)
    bn = fn.layers.BatchNormalization(synchronized=True, momentum=0.8)
    bn.build((None, C))
    rng = np.random.default_rng(5)
    bn.gamma.data.copy_(fn.asarray(rng.standard_normal(C).astype(np.float32)))
    bn.beta.data.copy_(fn.asarray(rng.standard_normal(C).astype(np.float32)))
    return bn


class _Ctx:
    pass


@pytest.mark.parametrize("rows,C", [((1, 2), 3), ((5, 8), 4), ((13, 17), 1)])
def test_two_thread_ranks_match_one_batch_of_all_rows(rows, C):
    # rank r holds rows[r] of the nb rows and a loss that is its local mean (dy scaled by nb/n_r):
    # y, dX (rescaled), the summed dgamma/dbeta and the moving statistics must be the global
    # batch's
    nb = sum(rows)
    rng = np.random.default_rng(nb)
    x = (rng.standard_normal((nb, C)) * 2 - 1).astype(np.float32)
    dy = rng.standard_normal((nb, C)).astype(np.float32)
    ref = _bn_layer(C)
    ctx = _Ctx()
    y = ref.forward(ctx, fn.asarray(x), True)
    dx, (dg, db) = ref.backward(ctx, fn.asarray(dy), True)
    shared = {"bufs": [None, None], "barrier": threading.Barrier(2, timeout=20)}
    out = [None, None]
    lo = [0, rows[0]]

    def rank(r):
        bn = _bn_layer(C)
        xs = x[lo[r]:lo[r] + rows[r]]
        scale = rows[r] / nb
        dys = dy[lo[r]:lo[r] + rows[r]] / np.float32(scale)        # the local-mean loss's dy
        c = _Ctx()
        with sync.step(_ThreadComm(r, 2, shared), scale):
            yr = bn.forward(c, fn.asarray(xs), True)
            dxr, (dgr, dbr) = bn.backward(c, fn.asarray(np.ascontiguousarray(dys)), True)
        out[r] = (yr.numpy(), dxr.numpy() * scale, dgr.numpy() * scale, dbr.numpy() * scale,
                  bn.moving_mean.data.numpy(), bn.moving_variance.data.numpy())

    ts = [threading.Thread(target=rank, args=(r,)) for r in (0, 1)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sync.current() is None and all(o is not None for o in out)     # per-thread steps, closed
    tol = TOL["sync_batchnorm"]
    np.testing.assert_allclose(np.concatenate([out[0][0], out[1][0]]), y.numpy(), *tol)
    np.testing.assert_allclose(np.concatenate([out[0][1], out[1][1]]), dx.numpy(), *tol)
    np.testing.assert_allclose(out[0][2] + out[1][2], dg.numpy(), *tol)
    np.testing.assert_allclose(out[0][3] + out[1][3], db.numpy(), *tol)
    for r in (0, 1):       # identical global statistics on both ranks
        np.testing.assert_allclose(out[r][4], ref.moving_mean.data.numpy(), *tol)
        np.testing.assert_allclose(out[r][5], ref.moving_variance.data.numpy(), *tol)
        assert np.array_equal(out[r][4], out[0][4]) and np.array_equal(out[r][5], out[0][5])
    # the test has teeth: per-rank (unsynchronized) statistics are far from the global ones
    if min(rows) > 1:
        plain = _bn_layer(C)
        plain.synchronized = False
        yp = plain.forward(_Ctx(), fn.asarray(x[:rows[0]]), True).numpy()
        assert np.abs(yp - y.numpy()[:rows[0]]).max() > 1e-3


def _fit(sync_flag, dp):
    fn.utils.set_random_seed(9)
    m = fn.Sequential([fn.Input((4,)), fn.layers.Dense(6), fn.layers.BatchNormalization(synchronized=sync_flag),
                       fn.layers.Activation("relu"), fn.layers.Dense(3)])
    m.compile(optimizer=fn.optimizers.Adam(0.01), loss=fn.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((29, 4)).astype(np.float32), rng.integers(0, 3, 29)
    if dp:
        fn.distribution.set_distribution(fn.distribution.DataParallel())
    try:
        m.fit(x, y, batch_size=8, epochs=2, verbose=0)
    finally:
        fn.distribution.set_distribution(None)
    return m.get_weights()


def test_without_data_parallel_it_is_plain_batchnorm_bitwise():
    ref = _fit(False, False)
    for dp in (False, True):         # a world of one: DataParallel is the plain fit
        for a, b in zip(ref, _fit(True, dp)):
            assert np.array_equal(a, b)
    bn = fn.layers.BatchNormalization(synchronized=True)
    assert bn.get_config()["synchronized"] is True
    assert fn.layers.BatchNormalization.from_config(bn.get_config()).synchronized is True


@pytest.mark.parametrize("nranks,gb", [(2, 8), (3, 9)])
def test_n_ranks_synced_match_one_rank_of_the_global_batch(tmp_path, nranks, gb):
    # 3 ranks: 3 rows each, the fixed-order (Allgather) sums on the duplicated communicator
    from test_distribution import _need_mpi, _rel, _run
    _need_mpi()
    one = _run(tmp_path / "one.npz", "bn", gb, 60)
    dp = _run(tmp_path / "dp.npz", "bn", gb, 60, np_=nranks)
    ws = [k for k in one.files if k.startswith("arr_")]
    assert len(ws) == 12             # conv 1, bn 4, dense 1, bn 4, dense 2 (no bias before a BN)
    rel = {k: _rel(one[k], dp[k]) for k in ws}
    assert max(rel.values()) <= TOL["sync_batchnorm_fit"], rel
    if nranks == 2:
        plain = _run(tmp_path / "plain.npz", "bn", gb, 60, np_=2, extra_env={"DP_SYNC": "0"})
        assert max(_rel(one[k], plain[k]) for k in ws) > 1e-4      # per-rank statistics: far off
