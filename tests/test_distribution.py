"""fusednet.distribution: DataParallel fit over MPI (mpirun -np 2/3 on loopback, spawned from
pytest) against the single-process fit of the same global batch; bitwise run to run; the world
size 1 path; the Communicator's argument checks."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import fusednet as fn
from tolerances import TOL

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "dist_scripts", "dp_fit.py")
# the fusednet the test process imported (the source tree in a dev run, site-packages in CI)
PYPATH = os.path.dirname(os.path.dirname(os.path.abspath(fn.__file__)))


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = PYPATH + os.pathsep + env.get("PYTHONPATH", "")
    env["FUSEDNET_NUM_THREADS"] = "1"
    env["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
    return env


def _run(out, kind, gb, steps, np_=None, extra_env=None, check=True, dp="1"):
    cmd = [sys.executable, SCRIPT, str(out), kind, str(gb), str(steps), dp if np_ else "0"]
    if np_:
        cmd = [shutil.which("mpirun"), "--allow-run-as-root", "--oversubscribe", "-np", str(np_)] + cmd
    p = subprocess.run(cmd, env=dict(_env(), **(extra_env or {})), capture_output=True, text=True, timeout=120)
    if not check:
        return p
    assert p.returncode == 0, p.stdout + p.stderr
    return np.load(out)


def _need_mpi():
    pytest.importorskip("mpi4py")
    if shutil.which("mpirun") is None:
        pytest.skip("mpirun (Open MPI) is not installed")


def _rel(a, b):
    return np.abs(a - b).max() / max(np.abs(a).max(), 1e-30)


@pytest.mark.parametrize("kind,gb,nranks,dp", [("cnn", 8, 2, "1"), ("mlp", 7, 3, "1"), ("mlp", 7, 3, "2")])
def test_n_ranks_match_one_rank_of_the_global_batch(tmp_path, kind, gb, nranks, dp):
    # 100 steps; gb=7 over 3 ranks: uneven shards (2/2/3), the fixed-order (Allgather) path and
    # (dp="2") DataParallel(ordered=False), MPI's Allreduce
    _need_mpi()
    one = _run(tmp_path / "one.npz", kind, gb, 100)
    dp = _run(tmp_path / "dp.npz", kind, gb, 100, np_=nranks, dp=dp)
    ws = [k for k in one.files if k.startswith("arr_")]
    assert len(ws) == 4
    for k in ws:
        assert not np.array_equal(one[k], 0 * one[k])
        assert _rel(one[k], dp[k]) <= TOL["data_parallel"], (k, _rel(one[k], dp[k]))
    np.testing.assert_allclose(dp["loss"], one["loss"], rtol=TOL["data_parallel"] * 10)
    # accuracy over the global epoch (rows gathered from every rank): the same counts
    assert np.array_equal(dp["accuracy"], one["accuracy"])
    assert len(np.unique(one["accuracy"])) > 1      # it moves: not a constant


def test_two_ranks_bitwise_run_to_run(tmp_path):
    _need_mpi()
    a = _run(tmp_path / "a.npz", "mlp", 6, 30, np_=2)
    b = _run(tmp_path / "b.npz", "mlp", 6, 30, np_=2)
    # tiny buckets (~100 B: one per small tensor, several for the big ones) leave while backward
    # runs; the elementwise sums are the same, so the bits are too
    c = _run(tmp_path / "c.npz", "mlp", 6, 30, np_=2, extra_env={"DP_BUCKET_MB": "0.0001"})
    for k in a.files:
        assert np.array_equal(a[k], b[k]), k
        assert np.array_equal(a[k], c[k]), k


@pytest.mark.parametrize("nranks", [2, 3, 4])
def test_allreduce_is_the_rank_ordered_sum_on_every_rank(nranks):
    # N > 2: the fixed-order reduce-scatter + allgather; N = 2: MPI's Allreduce (a + b == b + a)
    _need_mpi()
    cmd = [shutil.which("mpirun"), "--allow-run-as-root", "--oversubscribe", "-np", str(nranks), sys.executable,
           os.path.join(HERE, "dist_scripts", "comm_check.py")]
    p = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and f"ok {nranks}" in p.stdout, p.stdout + p.stderr


def test_three_ranks_bitwise_run_to_run(tmp_path):
    _need_mpi()
    a = _run(tmp_path / "a.npz", "mlp", 7, 20, np_=3)
    b = _run(tmp_path / "b.npz", "mlp", 7, 20, np_=3)
    for k in a.files:
        assert np.array_equal(a[k], b[k]), k


class _Twice:
    """A fake 2-rank group whose peer holds the same gradients: sum = 2 x buf."""
    size, rank = 2, 0

    def __init__(self):
        self.calls = 0

    def allreduce_sum_(self, buf):
        self.calls += 1
        np.multiply(buf, np.float32(2.0), out=buf)
        return buf


def test_grad_buckets_leave_during_backward_and_sum_exactly():
    from fusednet.trainers.grad_buckets import GradBuckets
    fn.utils.set_random_seed(4)
    m = fn.Sequential([fn.Input((6,)), fn.layers.Dense(5, activation="relu"), fn.layers.Dense(4, activation="relu"),
                       fn.layers.Dense(3)])
    m.compile(optimizer="sgd", loss=fn.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = fn.asarray(rng.standard_normal((11, 6)).astype(np.float32))
    y = m._to_device([rng.integers(0, 3, 11)])[0]
    plan = m._get_plan()
    params = plan.param_arrays
    comm = _Twice()
    gb = GradBuckets(plan, params, comm, bucket_bytes=16)
    try:
        assert len(gb.buckets) >= 4
        _, _, _, ref = plan.train_step([x], [y], 11, None)
        gb.begin(0.5)
        plan.grad_hook = gb.ready
        try:
            _, _, _, grads = plan.train_step([x], [y], 11, None)
        finally:
            plan.grad_hook = None
        sent_during_backward = gb.next_bucket
        out = gb.finish(grads)
    finally:
        gb.close()
    assert 0 < sent_during_backward < len(gb.buckets)      # overlapped, and the first layer last
    assert comm.calls == len(gb.buckets)
    for a, b in zip(ref, out):
        assert np.array_equal(a.numpy(), b.numpy())         # x 0.5 then x 2: exact
    with pytest.raises(ValueError, match="bucket_mb"):
        fn.distribution.DataParallel(bucket_mb=0)


def test_a_dying_rank_ends_the_job_with_an_error(tmp_path):
    # rank 1 os._exit(1)s after its 3rd step while rank 0 waits in the gradient allreduce: Open
    # MPI's launcher must abort the job (non-zero exit, the failed process named) within the
    # subprocess timeout instead of hanging
    _need_mpi()
    import time
    t0 = time.monotonic()
    p = _run(tmp_path / "x.npz", "mlp", 6, 100, np_=2, extra_env={"DP_DIE_AT_STEP": "3"}, check=False)
    assert p.returncode != 0
    assert time.monotonic() - t0 < 60
    out = p.stdout + p.stderr
    assert "exit" in out.lower() and "non-zero" in out.lower(), out
    assert not (tmp_path / "x.npz").exists()


BACKUP = os.path.join(HERE, "dist_scripts", "backup_fit.py")


def _backup_run(out, bdir, die, np_=None, freq="epoch"):
    cmd = [sys.executable, BACKUP, str(out), str(bdir), str(die), "1" if np_ else "0", str(freq)]
    if np_:
        cmd = [shutil.which("mpirun"), "--allow-run-as-root", "--oversubscribe", "-np", str(np_)] + cmd
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("nranks", [None, 2])
def test_backup_and_restore_resumes_a_killed_run_bitwise(tmp_path, nranks):
    if nranks:
        _need_mpi()
    ref = _backup_run(tmp_path / "ref.npz", tmp_path / "b_ref", -1, nranks)
    assert ref.returncode == 0, ref.stdout + ref.stderr
    assert not (tmp_path / "b_ref" / "backup.npz").exists()        # deleted after a clean end
    killed = _backup_run(tmp_path / "k.npz", tmp_path / "b", 2, nranks)
    assert killed.returncode != 0 and not (tmp_path / "k.npz").exists()
    assert (tmp_path / "b" / "backup.npz").exists()
    with np.load(tmp_path / "b" / "backup.npz") as z:
        assert int(z["epoch"]) == 2
        w_epoch2 = z["w/0000"]
    resumed = _backup_run(tmp_path / "k.npz", tmp_path / "b", -1, nranks)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    a, b = np.load(tmp_path / "ref.npz"), np.load(tmp_path / "k.npz")
    for k in a.files:
        assert np.array_equal(a[k], b[k]), k
    assert not np.array_equal(w_epoch2, b["arr_0"])      # epochs 3-5 trained after the restore


@pytest.mark.parametrize("nranks", [None, 2])
def test_backup_every_3_batches_resumes_mid_epoch_bitwise(tmp_path, nranks):
    # 8 batches per epoch, a backup every 3 (counted across epochs): killed at batch 5 of epoch 2
    # (batch 22 overall), the last backup is after batch 4 of epoch 2 (batch 21); the resumed
    # run replays epoch 2's permutation, skips its batches 0-4 and must end bitwise equal
    if nranks:
        _need_mpi()
    ref = _backup_run(tmp_path / "ref.npz", tmp_path / "b_ref", -1, nranks, 3)
    assert ref.returncode == 0, ref.stdout + ref.stderr
    killed = _backup_run(tmp_path / "k.npz", tmp_path / "b", 2, nranks, 3)
    assert killed.returncode != 0 and not (tmp_path / "k.npz").exists()
    with np.load(tmp_path / "b" / "backup.npz") as z:
        assert (int(z["epoch"]), int(z["step"])) == (2, 4)
    resumed = _backup_run(tmp_path / "k.npz", tmp_path / "b", -1, nranks, 3)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    a, b = np.load(tmp_path / "ref.npz"), np.load(tmp_path / "k.npz")
    for k in a.files:
        assert np.array_equal(a[k], b[k]), k
    if nranks:
        return
    # the test has teeth (one process is enough): resuming at the epoch's start instead (the
    # step forgotten) diverges
    killed2 = _backup_run(tmp_path / "k2.npz", tmp_path / "b2", 2, nranks, 3)
    assert killed2.returncode != 0
    z = dict(np.load(tmp_path / "b2" / "backup.npz"))
    z["step"] = np.array(-1)
    z["epoch"] = np.array(1)
    np.savez(tmp_path / "b2" / "backup.npz", **z)
    wrong = _backup_run(tmp_path / "k2.npz", tmp_path / "b2", -1, nranks, 3)
    assert wrong.returncode == 0, wrong.stdout + wrong.stderr
    c = np.load(tmp_path / "k2.npz")
    assert not all(np.array_equal(a[k], c[k]) for k in a.files)


def test_backup_and_restore_arguments():
    with pytest.raises(ValueError, match="BackupAndRestore"):
        fn.callbacks.BackupAndRestore("")
    for bad in (0, -2, 2.5, True, "batch"):
        with pytest.raises(ValueError, match="save_freq"):
            fn.callbacks.BackupAndRestore("/tmp/x", save_freq=bad)
    from fusednet.trainers.logs import needs_batch_hooks

    class _L:
        def __init__(self, cb):
            self.callbacks = [cb]
    # only the per-batch variant declares a batch hook (epoch backups keep fits hook-free)
    assert not needs_batch_hooks(_L(fn.callbacks.BackupAndRestore("/tmp/x")))
    cb = fn.callbacks.BackupAndRestore("/tmp/x", save_freq=3)
    assert needs_batch_hooks(_L(cb)) and isinstance(cb, fn.callbacks.BackupAndRestore) and cb.save_freq == 3


def test_a_hanging_rank_trips_the_collective_watchdog(tmp_path):
    # rank 1 sleeps in a callback (alive, so mpirun sees nothing): rank 0's watchdog must name the
    # stuck collective and abort the job after FUSEDNET_DIST_TIMEOUT=3 s
    _need_mpi()
    import time
    t0 = time.monotonic()
    p = _run(tmp_path / "x.npz", "mlp", 6, 100, np_=2, check=False,
             extra_env={"DP_DIE_AT_STEP": "2", "DP_HANG": "1", "FUSEDNET_DIST_TIMEOUT": "3"})
    assert p.returncode != 0
    assert time.monotonic() - t0 < 60
    out = p.stdout + p.stderr
    assert "rank 0: collective 'allreduce' did not complete within 3 s" in out, out


def test_bad_watchdog_timeout(monkeypatch):
    from fusednet.distribution import comm
    monkeypatch.setenv("FUSEDNET_DIST_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="FUSEDNET_DIST_TIMEOUT"):
        comm._timeout_s()
    monkeypatch.setenv("FUSEDNET_DIST_TIMEOUT", "-1")
    with pytest.raises(ValueError, match=">= 0"):
        comm._timeout_s()


def _model():
    m = fn.Sequential([fn.Input((5,)), fn.layers.Dense(7, activation="tanh"), fn.layers.Dense(3)])
    m.compile(optimizer=fn.optimizers.Adam(0.01),
              loss=fn.losses.SparseCategoricalCrossentropy(from_logits=True))
    return m


def test_world_size_one_equals_plain_fit_bitwise():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((37, 5)).astype(np.float32)
    y = rng.integers(0, 3, 37)
    runs = []
    for dp in (False, True):
        fn.utils.set_random_seed(11)
        m = _model()
        if dp:
            fn.distribution.set_distribution(fn.distribution.DataParallel())
        try:
            h = m.fit(x, y, batch_size=8, epochs=3, verbose=0)
        finally:
            fn.distribution.set_distribution(None)
        runs.append((m.get_weights(), h.history["loss"]))
    for a, b in zip(runs[0][0], runs[1][0]):
        assert np.array_equal(a, b)
    assert runs[0][1] == runs[1][1]


def test_single_process_world():
    c = fn.distribution.initialize()
    if "OMPI_COMM_WORLD_SIZE" not in os.environ:
        assert (c.size, c.rank, fn.distribution.world_size(), fn.distribution.rank()) == (1, 0, 1, 0)
    buf = np.arange(5, dtype=np.float32)
    assert np.array_equal(c.allreduce_sum_(buf.copy()), buf * c.size)
    with pytest.raises(TypeError, match="allreduce_sum_"):
        c.allreduce_sum_([1.0, 2.0])
    with pytest.raises(TypeError, match="set_distribution"):
        fn.distribution.set_distribution("dp")
    dp = fn.distribution.DataParallel()
    with dp.scope():
        assert fn.distribution.distribution() is dp
    assert fn.distribution.distribution() is None


def test_overridden_train_step_with_two_optimizers_matches_one_rank(tmp_path):
    """A user train_step (GradientTape, two optimizers) under DataParallel on 2 ranks: every
    apply_gradients sums the ranks' share-scaled gradients, so the weights follow the one-process
    fit of the same global batches (the 1-row last batch is skipped on both sides)."""
    _need_mpi()
    script = os.path.join(HERE, "dist_scripts", "dp_custom_step.py")

    def run(out, np_):
        cmd = [sys.executable, script, str(out), "8", "30", "1" if np_ else "0"]
        if np_:
            cmd = [shutil.which("mpirun"), "--allow-run-as-root", "--oversubscribe", "-np", str(np_)] + cmd
        p = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
        return np.load(out)
    one, dp = run(tmp_path / "one.npz", 0), run(tmp_path / "dp.npz", 2)
    ws = [k for k in one.files if k.startswith("arr_")]
    assert len(ws) == 4
    for k in ws:
        assert not np.array_equal(one[k], 0 * one[k])
        assert _rel(one[k], dp[k]) <= TOL["data_parallel"], (k, _rel(one[k], dp[k]))
    np.testing.assert_allclose(dp["loss"], one["loss"], rtol=TOL["data_parallel"] * 10)
    # overridden test_step / predict_step: row-weighted logs over ranks, outputs in input order
    for k in ("ev_loss", "ev_scale"):
        np.testing.assert_allclose(dp[k], one[k], rtol=TOL["data_parallel"] * 10, err_msg=k)
    for k in ("pr_logits", "pr_double"):
        assert dp[k].shape == one[k].shape == (23, 3)
        np.testing.assert_allclose(dp[k], one[k], *TOL["dist_outputs"], err_msg=k)
