"""Pruning masks inside the fused optimizer kernels (``masks=`` of ``_C.adam_step`` & co.).

Per optimizer: a masked 100-step trajectory vs the float64 Keras formula with the mask applied
(p and every state set to 0 where mask == 0, kept entries untouched), masks changing mid-run
(regrowth from zero state), pruned entries and their moments exactly zero, an all-ones mask equal
to the unmasked run bitwise (in process, and on every ISA path in subprocesses), mixed
masked/unmasked tensor lists, and the argument errors."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fusednet as fn
from test_optimizer import (BIG_SHAPES, SHAPES, STEPS, arrs, check_trajectory, f32, grads_for, make,
                            ref_adagrad, ref_adam, ref_rmsprop, ref_sgd, zeros_like)

C_ = fn._C
HERE = os.path.dirname(os.path.abspath(__file__))


# ------------------------------------------------------------------ one entry per optimizer variant
# name -> (n_state, init_state, kernel(ps, gs, states, t, masks), reference(vals, g, t) -> vals)
def _adam(ams, wd):
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-7

    def k(ps, gs, st, t, masks):
        C_.adam_step(ps, gs, st[0], st[1], lr, b1, b2, eps, t, wd, st[2] if ams else None, masks)

    def r(vals, g, t):
        p, m, v = vals[:3]
        p, m, v, vh = ref_adam(p, m, v, vals[3] if ams else None, g, lr, b1, b2, eps, t, wd)
        return [p, m, v] + ([vh] if ams else [])
    return (3 if ams else 2), 0.0, k, r


def _sgd(mu, nesterov, wd):
    lr = 0.05

    def k(ps, gs, st, t, masks):
        C_.sgd_step(ps, gs, st[0] if mu else None, lr, mu, nesterov, wd, masks)

    def r(vals, g, t):
        p, m = ref_sgd(vals[0], vals[1] if mu else None, g, lr, mu, nesterov, wd)
        return [p, m] if mu else [p]
    return (1 if mu else 0), 0.0, k, r


def _rms(mu, centered, wd):
    lr, rho, eps = 1e-2, 0.9, 1e-7
    n = 1 + (mu > 0) + centered

    def k(ps, gs, st, t, masks):
        C_.rmsprop_step(ps, gs, st[0], st[1] if mu else None, st[-1] if centered else None, lr, rho, mu, eps,
                        wd, masks)

    def r(vals, g, t):
        p, v = vals[0], vals[1]
        mom = vals[2] if mu else None
        a = vals[-1] if centered else None
        p, v, mom, a = ref_rmsprop(p, v, mom, a, g, lr, rho, mu, eps, wd)
        return [p, v] + ([mom] if mu else []) + ([a] if centered else [])
    return n, 0.0, k, r


def _adagrad(wd):
    lr, eps = 0.05, 1e-7

    def k(ps, gs, st, t, masks):
        C_.adagrad_step(ps, gs, st[0], lr, eps, wd, masks)

    def r(vals, g, t):
        return list(ref_adagrad(vals[0], vals[1], g, lr, eps, wd))
    return 1, 0.1, k, r


VARIANTS = {
    "adam": _adam(False, 0.0), "adamw": _adam(False, 0.05), "adam_amsgrad": _adam(True, 0.0),
    "sgd": _sgd(0.0, False, 0.0), "sgd_wd": _sgd(0.0, False, 0.05), "sgd_momentum": _sgd(0.9, False, 0.0),
    "sgd_nesterov": _sgd(0.9, True, 0.05), "rmsprop": _rms(0.0, False, 0.0),
    "rmsprop_momentum": _rms(0.5, False, 0.0), "rmsprop_centered": _rms(0.0, True, 0.05),
    "rmsprop_momentum_centered": _rms(0.5, True, 0.0), "adagrad": _adagrad(0.0), "adagrad_wd": _adagrad(0.05),
}


def _masks(rng, shapes, keep=0.4, none_at=(1,)):
    """A random 0/1 mask per tensor, None (dense) at the indices in none_at."""
    return [None if i in none_at else f32(rng.random(s) < keep) for i, s in enumerate(shapes)]


def _run_masked(rng, variant, shapes, mask_at):
    """STEPS kernel steps (float32) and the float64 reference with mask_at(t) applied."""
    n_state, init, kstep, rstep = VARIANTS[variant]
    ps = make(rng, shapes)
    states = [zeros_like(ps, init) for _ in range(n_state)]
    ref = [[x.astype(np.float64) for x in ps]] + [[x.astype(np.float64) for x in st] for st in states]
    a_ps, a_states = arrs(ps), [arrs(st) for st in states]
    for t in range(1, STEPS + 1):
        gs = grads_for(rng, shapes)
        masks = mask_at(t)
        kstep(a_ps, arrs(gs), a_states, t, [None if m is None else fn.asarray(m) for m in masks])
        for i, g in enumerate(gs):
            new = rstep([r[i] for r in ref], g.astype(np.float64), t)
            if masks[i] is not None:
                new = [np.where(masks[i] != 0, x, 0.0) for x in new]
            for k in range(len(ref)):
                ref[k][i] = new[k]
    return [ps] + states, ref, masks


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_masked_step_matches_float64_reference(rng, variant):
    shapes = BIG_SHAPES if variant in ("adam", "sgd_momentum") else SHAPES   # (257, 256): threaded path
    m1, m2 = _masks(rng, shapes), _masks(rng, shapes, keep=0.7)
    # mask changes at step 50 (entries regrow from zero state, others are newly pruned)
    got, ref, last = _run_masked(rng, variant, shapes, lambda t: m1 if t <= 50 else m2)
    check_trajectory(got, ref)
    for i, m in enumerate(last):
        for slot in got:                       # pruned: parameter and every state exactly +0
            if m is not None:
                assert np.all(slot[i][m == 0] == 0.0) and not np.any(np.signbit(slot[i][m == 0]))
    p_dense = got[0][1]                         # the unmasked tensor of a mixed list trained as usual
    assert np.count_nonzero(p_dense) == p_dense.size


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_all_ones_mask_equals_unmasked_bitwise(variant):
    n_state, init, kstep, _ = VARIANTS[variant]
    runs = []
    for masks in (None, "ones", "none_list"):
        rng = np.random.default_rng(7)
        ps = arrs(make(rng, BIG_SHAPES))
        states = [arrs(zeros_like(make(np.random.default_rng(0), BIG_SHAPES), init)) for _ in range(n_state)]
        mk = {None: None, "ones": [fn.asarray(np.ones(s, np.float32)) for s in BIG_SHAPES],
              "none_list": [None] * len(BIG_SHAPES)}[masks]
        for t in range(1, 6):
            kstep(ps, arrs(grads_for(rng, BIG_SHAPES)), states, t, mk)
        runs.append([a.numpy().copy() for a in ps] + [a.numpy().copy() for st in states for a in st])
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            assert a.tobytes() == b.tobytes()


_ISA_SCRIPT = r"""
import hashlib, json, sys
import numpy as np
import fusednet as fn
sys.path.insert(0, sys.argv[1])
from test_optimizer_masked import VARIANTS, BIG_SHAPES, make, zeros_like, arrs, grads_for
out = {}
for name, (n_state, init, kstep, _) in sorted(VARIANTS.items()):
    for masked in (0, 1):
        rng = np.random.default_rng(11)
        ps = arrs(make(rng, BIG_SHAPES))
        st = [arrs(zeros_like(make(np.random.default_rng(0), BIG_SHAPES), init)) for _ in range(n_state)]
        mk = [fn.asarray(np.ones(s, np.float32)) for s in BIG_SHAPES] if masked else None
        for t in range(1, 4):
            kstep(ps, arrs(grads_for(rng, BIG_SHAPES)), st, t, mk)
        h = hashlib.sha256()
        for a in ps + [a for s in st for a in s]:
            h.update(a.numpy().tobytes())
        out[name + ("/ones" if masked else "/dense")] = h.hexdigest()
print(json.dumps(out))
"""


def test_masked_and_dense_bits_equal_on_every_isa_path():
    """FUSEDNET_ISA caps the loop variant: portable, AVX2 and AVX-512 must give the same bits, and
    the all-ones-mask loop the dense loop's (optimizer.cpp is built without FMA contraction)."""
    res = {}
    for isa in ("portable", "avx2", "avx512"):
        env = dict(os.environ, FUSEDNET_ISA=isa)
        r = subprocess.run([sys.executable, "-c", _ISA_SCRIPT, HERE], env=env, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr
        res[isa] = json.loads(r.stdout.strip().splitlines()[-1])
    for isa, h in res.items():
        for name in VARIANTS:
            assert h[name + "/ones"] == h[name + "/dense"], (isa, name)
        assert h == res["portable"], isa


def test_masked_entries_zero_after_optimizer_fit_with_pruning():
    """Through the Python optimizer and fit: pruned kernel entries and their optimizer slots are
    exactly zero after training (masks come from the schedule, applied inside the fused step)."""
    from fusednet import layers, pruning
    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 10)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    for make_opt in (lambda: fn.optimizers.Adam(0.01, amsgrad=True), lambda: fn.optimizers.SGD(0.05, momentum=0.9),
                     lambda: fn.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
                     lambda: fn.optimizers.Adagrad(0.05)):
        fn.random.set_random_seed(0)
        model = fn.Sequential([layers.Input((10,)), layers.Dense(16, activation="relu"), layers.Dense(2)])
        pr = pruning.prune_low_magnitude(model, pruning.ConstantSparsity(0.6, begin_step=0, end_step=5, frequency=5))
        opt = make_opt()
        pr.compile(opt, fn.losses.SparseCategoricalCrossentropy(from_logits=True))
        pr.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[pruning.UpdatePruningStep()])
        ptrs = [v.data_ptr for v in opt._vars]
        for l in pr.layers:
            m = l._pruning.masks["kernel"].numpy()
            i = ptrs.index(l.kernel.data.data_ptr)
            assert np.all(l.kernel.numpy()[m == 0] == 0.0)
            for name in opt._slot_names:
                slot = opt._slots[name][i].numpy()
                assert np.all(slot[m == 0] == 0.0), (type(opt).__name__, name)
                assert np.count_nonzero(slot[m != 0]) > 0.5 * (m != 0).sum()     # kept entries' state lives


def test_mask_argument_errors(rng):
    ps = arrs(make(rng, [(3, 4), (5,)]))
    gs = arrs(make(rng, [(3, 4), (5,)]))
    m, v = arrs(zeros_like(make(rng, [(3, 4), (5,)]))), arrs(zeros_like(make(rng, [(3, 4), (5,)])))
    ok = fn.asarray(np.ones((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"adam_step: masks has 1 entries but params has 2"):
        C_.adam_step(ps, gs, m, v, 1e-3, 0.9, 0.999, 1e-7, 1, 0.0, None, [ok])
    with pytest.raises(ValueError, match=r"sgd_step: masks\[1\] has shape \(4,\) but params\[1\] has shape \(5,\)"):
        C_.sgd_step(ps, gs, None, 0.1, 0.0, False, 0.0, [ok, fn.asarray(np.ones(4, np.float32))])
    with pytest.raises(TypeError, match=r"adagrad_step: masks\[0\] must be float32"):
        C_.adagrad_step(ps, gs, v, 0.1, 1e-7, 0.0, [fn.asarray(np.ones((3, 4), np.int32)), None])
    with pytest.raises(ValueError, match=r"rmsprop_step: masks\[0\] overlaps params\[0\]"):
        C_.rmsprop_step(ps, gs, v, None, None, 0.1, 0.9, 0.0, 1e-7, 0.0, [ps[0], None])
    with pytest.raises(ValueError, match=r"adam_step: masks\[1\] overlaps params\[1\]"):
        C_.adam_step(ps, gs, m, v, 1e-3, 0.9, 0.999, 1e-7, 1, 0.0, None, [None, v[1]])
    before = [a.numpy().copy() for a in ps]
    with pytest.raises(ValueError):                 # nothing is written when an argument is bad
        C_.adam_step(ps, gs, m, v, 1e-3, 0.9, 0.999, 1e-7, 1, 0.0, None, [ok])
    for a, b in zip(ps, before):
        np.testing.assert_array_equal(a.numpy(), b)
    C_.sgd_step(ps, gs, None, 0.1, 0.0, False, 0.0, [fn.asarray(np.zeros((3, 4), np.float32)), None])
    np.testing.assert_array_equal(ps[0].numpy(), 0.0)          # an all-zero mask prunes everything


@pytest.mark.cuda
@pytest.mark.parametrize("variant", ["adam", "adam_amsgrad", "sgd_nesterov", "rmsprop_momentum_centered", "adagrad"])
def test_cuda_masked_step_matches_cpu(rng, variant):
    n_state, init, kstep, _ = VARIANTS[variant]
    shapes = BIG_SHAPES
    ps0 = make(rng, shapes)
    masks = _masks(rng, shapes)
    grads = [grads_for(rng, shapes) for _ in range(5)]
    out = {}
    for dev in ("cpu", "cuda"):
        ps = [fn.asarray(p).to(dev) for p in ps0]
        st = [[fn.asarray(x).to(dev) for x in zeros_like(ps0, init)] for _ in range(n_state)]
        mk = [None if m is None else fn.asarray(m).to(dev) for m in masks]
        for t, gs in enumerate(grads, 1):
            kstep(ps, [fn.asarray(g).to(dev) for g in gs], st, t, mk)
        out[dev] = [a.numpy() for a in ps] + [a.numpy() for s in st for a in s]
    from tolerances import TOL
    for a, b in zip(out["cpu"], out["cuda"]):
        np.testing.assert_allclose(b, a, *TOL["cuda_vs_cpu"])
    for i, m in enumerate(masks):
        if m is not None:
            for arr in out["cuda"][i::len(shapes)]:
                assert np.all(arr[m == 0] == 0.0)
