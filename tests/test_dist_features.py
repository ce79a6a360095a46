"""DataParallel beyond plain arrays (issue 14 part 3), 2 and 3 ranks against one process:
validation_split (the last rows, evaluated sharded), class_weight x sample_weight, an L2 kernel
regularizer (its gradient added on every rank, weighted by the rank's share: once in the sum),
sharded evaluate / predict on arrays and on a Dataset, fit on a Dataset with a Dataset as
validation_data, and fit on a generator (tests/dist_scripts/dp_features.py)."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from test_distribution import _env, _need_mpi, _rel
from tolerances import TOL

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dist_scripts", "dp_features.py")


def _run(out, np_=None):
    cmd = [sys.executable, SCRIPT, str(out), "1" if np_ else "0"]
    if np_:
        cmd = [shutil.which("mpirun"), "--allow-run-as-root", "--oversubscribe", "-np", str(np_)] + cmd
    p = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return np.load(out)


@pytest.fixture(scope="module")
def one(tmp_path_factory):
    _need_mpi()
    return _run(tmp_path_factory.mktemp("one") / "one.npz")


@pytest.mark.parametrize("nranks", [2, 3])
def test_features_match_one_process(one, tmp_path, nranks):
    dp = _run(tmp_path / "dp.npz", nranks)
    assert set(dp.files) == set(one.files)
    want = {"h1_val_loss", "h1_val_accuracy", "h2_val_loss", "h2_val_accuracy", "h3_loss", "w3_0"}
    assert want <= set(one.files)
    for k in one.files:
        a, b = one[k], dp[k]
        if k.startswith("w"):
            assert _rel(a, b) <= TOL["data_parallel"], (k, _rel(a, b))
        elif k.endswith("accuracy"):
            assert np.array_equal(a, b), (k, a, b)     # counts over the same rows
        elif k.startswith("pr_"):
            assert a.shape == b.shape and a.shape[0] == 83
            np.testing.assert_allclose(b, a, *TOL["dist_outputs"], err_msg=k)
        else:                                           # losses (with the L2 penalty), evaluate lists
            np.testing.assert_allclose(b, a, rtol=TOL["data_parallel"] * 10, err_msg=k)
    # not constants: training moved the validation loss and the regularized loss
    assert len(np.unique(one["h1_val_loss"])) > 1 and len(np.unique(one["h2_loss"])) > 1


class _FakeTwo:
    """A 2-rank group that is never reached: the argument checks raise before any collective."""
    size, rank, mpi = 2, 0, None

    def guard(self, what):
        raise AssertionError(f"no collective expected, got {what}")


def test_unsupported_under_data_parallel_raise_value_errors():
    import fusednet as fn
    dp = fn.distribution.DataParallel()
    dp.comm = _FakeTwo()

    class Custom(fn.Sequential):
        def train_step(self, data):
            return {}

        def test_step(self, data):
            return {}

        def predict_step(self, data):
            return data

    m = Custom([fn.Input((3,)), fn.layers.Dense(2)])
    m.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((4, 3), np.float32), np.zeros((4, 2), np.float32)
    fn.distribution.set_distribution(dp)
    try:
        # an overridden train_step runs under DataParallel (tests/test_distribution.py) on arrays
        with pytest.raises(ValueError, match="overridden train_step under DataParallel takes NumPy arrays"):
            m.fit(((x, y) for _ in range(2)), verbose=0)
        with pytest.raises(ValueError, match="takes validation_data= .not validation_split"):
            m.fit(x, y, validation_split=0.5, verbose=0)
        with pytest.raises(ValueError, match="evaluate: an overridden test_step under DataParallel takes"):
            m.evaluate(((x, y) for _ in range(2)), verbose=0)
        with pytest.raises(ValueError, match="predict: an overridden predict_step under DataParallel takes"):
            m.predict((x for _ in range(2)), verbose=0)
        bn = fn.Sequential([fn.Input((3,)), fn.layers.BatchNormalization(synchronized=True), fn.layers.Dense(2)])
        bn.compile(optimizer="sgd", loss="mse")
        with pytest.raises(ValueError, match="a batch of 1 rows over 2 ranks"):
            bn.fit(np.zeros((5, 3), np.float32), np.zeros((5, 2), np.float32), batch_size=4, verbose=0)
    finally:
        fn.distribution.set_distribution(None)


def test_bucket_overlap_needs_thread_multiple_only_with_synced_batchnorm():
    from fusednet.trainers.data_parallel import _overlap_ok

    class C:
        thread_multiple = False
    assert _overlap_ok(C(), False) and not _overlap_ok(C(), True)
    C.thread_multiple = True
    assert _overlap_ok(C(), True)
    import fusednet as fn
    assert fn.distribution.initialize().thread_multiple      # a world of one: no MPI threads
