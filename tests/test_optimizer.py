"""Multi-tensor optimizer kernels vs their Keras 3 formulas in float64 NumPy (100 steps), PyTorch
where the formulas coincide, and the clipping helpers."""
import numpy as np
import pytest

import fusednet as fn
from conftest import requires_torch
from tolerances import TOL

C_ = fn._C
SHAPES = [(7, 5), (13,), (1,), (3, 4, 2), (61, 67)]
# crosses the kernels' parallel threshold (65,536 elements per step) so the threaded path is checked
BIG_SHAPES = SHAPES + [(257, 256)]
STEPS = 100


def f32(x):
    return np.ascontiguousarray(x, dtype=np.float32)


def close(actual, desired, key="optimizer"):
    rtol, atol = TOL[key]
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol)


def make(rng, shapes=SHAPES):
    return [f32(rng.standard_normal(s)) for s in shapes]


def zeros_like(ps, fill=0.0):
    return [np.full(p.shape, fill, np.float32) for p in ps]


def arrs(xs):
    return [fn.asarray(x) for x in xs]


def grads_for(rng, shapes, scale=1.0):
    return [f32(rng.standard_normal(s) * scale) for s in shapes]


# ------------------------------------------------------------------ float64 Keras references
def ref_adam(p, m, v, vh, g, lr, b1, b2, eps, t, wd):
    p = p - p * wd * lr
    alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    m = m + (g - m) * (1 - b1)
    v = v + (g * g - v) * (1 - b2)
    vu = v
    if vh is not None:
        vh = np.maximum(vh, v)
        vu = vh
    p = p - m * alpha / (np.sqrt(vu) + eps)
    return p, m, v, vh


def ref_sgd(p, m, g, lr, mu, nesterov, wd):
    p = p - p * wd * lr
    if mu == 0:
        return p - lr * g, m
    m = mu * m - lr * g
    if nesterov:
        return p + mu * m - lr * g, m
    return p + m, m


def ref_rmsprop(p, v, mom, a, g, lr, rho, mu, eps, wd):
    p = p - p * wd * lr
    v = rho * v + (1 - rho) * g * g
    if a is not None:
        a = rho * a + (1 - rho) * g
        denom = v - a * a + eps
    else:
        denom = v + eps
    inc = lr * g / np.sqrt(denom)
    if mu > 0:
        mom = mu * mom + inc
        p = p - mom
    else:
        p = p - inc
    return p, v, mom, a


def ref_adagrad(p, acc, g, lr, eps, wd):
    p = p - p * wd * lr
    acc = acc + g * g
    return p - lr * g / np.sqrt(acc + eps), acc


def run_trajectory(rng, kernel_step, ref_step, n_state, shapes=SHAPES, init_state=0.0, gscale=1.0):
    """Runs STEPS steps of the kernel (float32, in place) and the float64 reference on the same
    float32 gradients; returns (kernel arrays, reference arrays) per slot (params then states)."""
    ps = make(rng, shapes)
    states = [zeros_like(ps, init_state) for _ in range(n_state)]
    ref = [[x.astype(np.float64) for x in ps]] + [[x.astype(np.float64) for x in st] for st in states]
    a_ps, a_states = arrs(ps), [arrs(st) for st in states]
    for t in range(1, STEPS + 1):
        gs = grads_for(rng, shapes, gscale)
        kernel_step(a_ps, arrs(gs), a_states, t)
        for i, g in enumerate(gs):
            new = ref_step([r[i] for r in ref], g.astype(np.float64), t)
            for k in range(len(ref)):
                ref[k][i] = new[k]
    return [ps] + states, ref


def check_trajectory(got, ref):
    """rtol relative to each element AND to its tensor's scale: float32 rounding accumulates in
    absolute terms of the values a parameter has held, so an element that walked from ~1 to ~0.004
    carries ~1e-7 absolute error; a formula mistake shows up at 1e-3 relative and above."""
    rtol, atol = TOL["optimizer"]
    for slot_got, slot_ref in zip(got, ref):
        for a, r in zip(slot_got, slot_ref):
            if r is not None:
                np.testing.assert_allclose(a, r, rtol=rtol, atol=atol + rtol * np.max(np.abs(r)))


# ------------------------------------------------------------------ Adam
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_adam_matches_keras(rng, amsgrad, wd):
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-7
    n_state = 3 if amsgrad else 2

    def kstep(ps, gs, st, t):
        C_.adam_step(ps, gs, st[0], st[1], lr, b1, b2, eps, t, wd, st[2] if amsgrad else None)

    def rstep(vals, g, t):
        p, m, v = vals[:3]
        vh = vals[3] if amsgrad else None
        p, m, v, vh = ref_adam(p, m, v, vh, g, lr, b1, b2, eps, t, wd)
        return [p, m, v] + ([vh] if amsgrad else [])

    got, ref = run_trajectory(rng, kstep, rstep, n_state, shapes=BIG_SHAPES if not amsgrad else SHAPES)
    check_trajectory(got, ref)


def test_adam_thread_count_independent(rng):
    shapes = [(784, 128), (128,), (128, 10), (10,)]
    results = []
    nt = fn.get_num_threads()
    try:
        for threads in (1, 2):
            fn.set_num_threads(threads)
            r = np.random.default_rng(7)
            ps = [f32(r.standard_normal(s)) for s in shapes]
            m, v = zeros_like(ps), zeros_like(ps)
            for t in range(1, 6):
                gs = [f32(r.standard_normal(s)) for s in shapes]
                C_.adam_step(arrs(ps), arrs(gs), arrs(m), arrs(v), 1e-3, 0.9, 0.999, 1e-7, t)
            results.append(ps)
    finally:
        fn.set_num_threads(nt)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@requires_torch
def test_adam_vs_torch_eps0(rng):
    # torch's eps sits outside the bias correction; with eps = 0 the formulas coincide exactly.
    import torch
    ps = make(rng, [(17, 9), (9,)])
    tp = [torch.tensor(p.copy(), requires_grad=True) for p in ps]
    opt = torch.optim.Adam(tp, lr=1e-2, betas=(0.9, 0.999), eps=0.0)
    m, v = zeros_like(ps), zeros_like(ps)
    for t in range(1, 31):
        gs = grads_for(rng, [(17, 9), (9,)])
        for x, g in zip(tp, gs):
            x.grad = torch.tensor(g)
        opt.step()
        C_.adam_step(arrs(ps), arrs(gs), arrs(m), arrs(v), 1e-2, 0.9, 0.999, 0.0, t)
    for p, x in zip(ps, tp):
        close(p, x.detach().numpy(), "torch")


# ------------------------------------------------------------------ SGD
@pytest.mark.parametrize("mu,nesterov", [(0.0, False), (0.9, False), (0.9, True), (0.5, True)])
@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_sgd_matches_keras(rng, mu, nesterov, wd):
    lr = 0.05

    def kstep(ps, gs, st, t):
        C_.sgd_step(ps, gs, st[0] if mu else None, lr, mu, nesterov, wd)

    def rstep(vals, g, t):
        p, m = ref_sgd(vals[0], vals[1], g, lr, mu, nesterov, wd)
        return [p, m]

    shapes = BIG_SHAPES if (mu, nesterov, wd) == (0.9, True, 0.01) else SHAPES
    got, ref = run_trajectory(rng, kstep, rstep, 1, shapes=shapes, gscale=0.1)
    if mu == 0:
        got, ref = got[:1], ref[:1]  # velocities untouched without momentum
    check_trajectory(got, ref)


@requires_torch
@pytest.mark.parametrize("mu,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_vs_torch(rng, mu, nesterov):
    # Keras m = mu*m - lr*g equals torch's -lr*buf for a constant lr, so trajectories coincide.
    import torch
    shapes = [(11, 6), (6,)]
    ps = make(rng, shapes)
    tp = [torch.tensor(p.copy(), requires_grad=True) for p in ps]
    opt = torch.optim.SGD(tp, lr=0.05, momentum=mu, nesterov=nesterov)
    vel = zeros_like(ps)
    for _ in range(30):
        gs = grads_for(rng, shapes, 0.1)
        for x, g in zip(tp, gs):
            x.grad = torch.tensor(g)
        opt.step()
        C_.sgd_step(arrs(ps), arrs(gs), arrs(vel), 0.05, mu, nesterov)
    for p, x in zip(ps, tp):
        close(p, x.detach().numpy(), "torch")


# ------------------------------------------------------------------ RMSprop
@pytest.mark.parametrize("mu", [0.0, 0.9])
@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("wd", [0.0, 0.02])
def test_rmsprop_matches_keras(rng, mu, centered, wd):
    lr, rho, eps = 1e-3, 0.9, 1e-7

    def kstep(ps, gs, st, t):
        C_.rmsprop_step(ps, gs, st[0], st[1] if mu else None, st[2] if centered else None,
                        lr, rho, mu, eps, wd)

    def rstep(vals, g, t):
        p, v, mom, a = ref_rmsprop(vals[0], vals[1], vals[2], vals[3] if centered else None, g,
                                   lr, rho, mu, eps, wd)
        return [p, v, mom, a if centered else vals[3]]

    got, ref = run_trajectory(rng, kstep, rstep, 3)
    check_trajectory(got, ref)


@requires_torch
@pytest.mark.parametrize("mu,centered", [(0.0, False), (0.9, True)])
def test_rmsprop_vs_torch_eps0(rng, mu, centered):
    import torch
    shapes = [(8, 5), (5,)]
    ps = make(rng, shapes)
    tp = [torch.tensor(p.copy(), requires_grad=True) for p in ps]
    opt = torch.optim.RMSprop(tp, lr=1e-3, alpha=0.9, eps=0.0, momentum=mu, centered=centered)
    v, mom, avg = zeros_like(ps), zeros_like(ps), zeros_like(ps)
    for _ in range(30):
        gs = grads_for(rng, shapes)
        for x, g in zip(tp, gs):
            x.grad = torch.tensor(g)
        opt.step()
        C_.rmsprop_step(arrs(ps), arrs(gs), arrs(v), arrs(mom) if mu else None,
                        arrs(avg) if centered else None, 1e-3, 0.9, mu, 0.0)
    for p, x in zip(ps, tp):
        close(p, x.detach().numpy(), "torch")


# ------------------------------------------------------------------ Adagrad
@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_adagrad_matches_keras(rng, wd):
    lr, eps = 0.01, 1e-7

    def kstep(ps, gs, st, t):
        C_.adagrad_step(ps, gs, st[0], lr, eps, wd)

    def rstep(vals, g, t):
        return list(ref_adagrad(vals[0], vals[1], g, lr, eps, wd))

    got, ref = run_trajectory(rng, kstep, rstep, 1, init_state=0.1)  # Keras initial_accumulator_value
    check_trajectory(got, ref)


@requires_torch
def test_adagrad_vs_torch_eps0(rng):
    import torch
    shapes = [(6, 7)]
    ps = make(rng, shapes)
    tp = [torch.tensor(p.copy(), requires_grad=True) for p in ps]
    opt = torch.optim.Adagrad(tp, lr=0.01, initial_accumulator_value=0.1, eps=0.0)
    acc = zeros_like(ps, 0.1)
    for _ in range(30):
        gs = grads_for(rng, shapes)
        for x, g in zip(tp, gs):
            x.grad = torch.tensor(g)
        opt.step()
        C_.adagrad_step(arrs(ps), arrs(gs), arrs(acc), 0.01, 0.0)
    close(ps[0], tp[0].detach().numpy(), "torch")


# ------------------------------------------------------------------ norms and clipping
def test_global_norm_and_scale(rng):
    xs = make(rng)
    ref = np.sqrt(sum((x.astype(np.float64) ** 2).sum() for x in xs))
    got = C_.global_norm(arrs(xs))
    assert isinstance(got, float)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert C_.global_norm([]) == 0.0
    nt = fn.get_num_threads()
    try:
        fn.set_num_threads(1)
        one = C_.global_norm(arrs(xs))
        fn.set_num_threads(2)
        two = C_.global_norm(arrs(xs))
    finally:
        fn.set_num_threads(nt)
    assert one == two  # bit-identical
    before = [x.copy() for x in xs]
    C_.scale_(arrs(xs), 0.5)
    for a, b in zip(xs, before):
        np.testing.assert_array_equal(a, b * np.float32(0.5))


def test_clip_by_value(rng):
    xs = make(rng)
    before = [x.copy() for x in xs]
    C_.clip_by_value_(arrs(xs), 0.5)
    for a, b in zip(xs, before):
        np.testing.assert_array_equal(a, np.clip(b, -0.5, 0.5))
    with pytest.raises(ValueError, match="clip_by_value_: v must be >= 0"):
        C_.clip_by_value_(arrs(xs), -1.0)


def test_clip_by_norm(rng):
    xs = make(rng)
    xs.append(f32(np.full((4,), 0.01)))  # small: untouched
    before = [x.astype(np.float64) for x in xs]
    C_.clip_by_norm_(arrs(xs), 1.5)
    for a, b in zip(xs, before):
        n = np.linalg.norm(b)
        expect = b * 1.5 / max(n, 1.5)  # Keras/TF clip_by_norm
        close(a, expect)
        assert np.linalg.norm(a.astype(np.float64)) <= 1.5 * (1 + 1e-6)
    np.testing.assert_array_equal(xs[-1], f32(np.full((4,), 0.01)))
    with pytest.raises(ValueError, match="clip_by_norm_: max_norm must be > 0"):
        C_.clip_by_norm_(arrs(xs), 0.0)


# ------------------------------------------------------------------ argument checking
def test_optimizer_errors(rng):
    ps = arrs(make(rng, [(3, 4), (5,)]))
    gs = arrs(make(rng, [(3, 4), (5,)]))
    m, v = arrs(zeros_like(make(rng, [(3, 4), (5,)]))), arrs(zeros_like(make(rng, [(3, 4), (5,)])))
    with pytest.raises(ValueError, match=r"adam_step: grads has 1 arrays but params has 2"):
        C_.adam_step(ps, gs[:1], m, v, 1e-3, 0.9, 0.999, 1e-7, 1)
    with pytest.raises(ValueError, match=r"adam_step: m\[1\] has shape \(6,\) but params\[1\] has shape \(5,\)"):
        C_.adam_step(ps, gs, [m[0], fn.asarray(f32(np.zeros(6)))], v, 1e-3, 0.9, 0.999, 1e-7, 1)
    with pytest.raises(TypeError, match=r"adam_step: grads\[0\] must be float32"):
        C_.adam_step(ps, [fn.asarray(np.zeros((3, 4), np.int32)), gs[1]], m, v, 1e-3, 0.9, 0.999, 1e-7, 1)
    with pytest.raises(ValueError, match="adam_step: step is the 1-based iteration"):
        C_.adam_step(ps, gs, m, v, 1e-3, 0.9, 0.999, 1e-7, 0)
    with pytest.raises(ValueError, match="adam_step: beta1 must be in"):
        C_.adam_step(ps, gs, m, v, 1e-3, 1.0, 0.999, 1e-7, 1)
    ro = np.zeros((3, 4), np.float32)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match=r"adam_step: params\[0\] is read-only"):
        C_.adam_step([fn.asarray(ro), ps[1]], gs, m, v, 1e-3, 0.9, 0.999, 1e-7, 1)
    with pytest.raises(ValueError, match="sgd_step: momentum=0.9.* needs velocities"):
        C_.sgd_step(ps, gs, None, 0.1, 0.9)
    with pytest.raises(ValueError, match="rmsprop_step: momentum=0.5.* needs momentums"):
        C_.rmsprop_step(ps, gs, v, None, None, 0.1, 0.9, 0.5, 1e-7)
    with pytest.raises(ValueError, match=r"adagrad_step: accumulators has 1 arrays"):
        C_.adagrad_step(ps, gs, v[:1], 0.1)
    # read-only grads are fine (only read)
    rg = np.zeros((5,), np.float32)
    rg.setflags(write=False)
    C_.sgd_step([ps[1]], [fn.asarray(rg)], None, 0.1)
