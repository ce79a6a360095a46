"""Optimizers through the Python API vs float64 Keras 3 formulas over 100 steps."""
import math

import numpy as np
import pytest

import fusednet as fn
from fusednet import optimizers, schedules
from tolerances import TOL

RT, AT = TOL["optimizer"]
STEPS = 100


def _run(opt, shapes, rng, steps=STEPS):
    ps = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    gs = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(steps)]
    params = [fn.Tensor(p.copy(), requires_grad=True) for p in ps]
    for k in range(steps):
        opt.apply_gradients(zip([fn.asarray(g) for g in gs[k]], params))
    return [p.astype(np.float64) for p in ps], gs, [p.numpy() for p in params]


def _close(got, want):
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=RT, atol=AT * max(1.0, np.abs(w).max()))


SHAPES = [(7, 5), (5,), (33,)]


def test_adam_defaults_and_formula(rng):
    opt = optimizers.get("adam")
    assert (opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    p0, gs, got = _run(opt, SHAPES, rng)
    for i in range(len(SHAPES)):
        p, m, v = p0[i], 0 * p0[i], 0 * p0[i]
        for t in range(1, STEPS + 1):
            g = gs[t - 1][i].astype(np.float64)
            m += (g - m) * 0.1
            v += (g * g - v) * 0.001
            a = 0.001 * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
            p = p - a * m / (np.sqrt(v) + 1e-7)
        _close([got[i]], [p])
    assert opt.iterations == STEPS


def test_adamw(rng):
    opt = optimizers.AdamW(learning_rate=0.01)
    assert opt.weight_decay == 0.004
    p0, gs, got = _run(opt, SHAPES[:1], rng)
    p, m, v = p0[0], 0 * p0[0], 0 * p0[0]
    for t in range(1, STEPS + 1):
        g = gs[t - 1][0].astype(np.float64)
        p = p - p * 0.004 * 0.01
        m += (g - m) * 0.1
        v += (g * g - v) * 0.001
        p = p - 0.01 * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v) + 1e-7)
    _close(got, [p])


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd(rng, momentum, nesterov):
    opt = optimizers.SGD(momentum=momentum, nesterov=nesterov)
    assert opt.learning_rate == 0.01
    p0, gs, got = _run(opt, SHAPES, rng)
    for i in range(len(SHAPES)):
        p, vel = p0[i], 0 * p0[i]
        for t in range(STEPS):
            g = gs[t][i].astype(np.float64)
            if momentum:
                vel = momentum * vel - 0.01 * g
                p = p + (momentum * vel - 0.01 * g if nesterov else vel)
            else:
                p = p - 0.01 * g
        _close([got[i]], [p])


@pytest.mark.parametrize("centered,momentum", [(False, 0.0), (True, 0.0), (False, 0.5), (True, 0.5)])
def test_rmsprop(rng, centered, momentum):
    opt = optimizers.RMSprop(centered=centered, momentum=momentum)
    assert (opt.learning_rate, opt.rho, opt.epsilon) == (0.001, 0.9, 1e-7)
    p0, gs, got = _run(opt, SHAPES, rng)
    for i in range(len(SHAPES)):
        p, v, a, mo = p0[i], 0 * p0[i], 0 * p0[i], 0 * p0[i]
        for t in range(STEPS):
            g = gs[t][i].astype(np.float64)
            v = 0.9 * v + 0.1 * g * g
            if centered:
                a = 0.9 * a + 0.1 * g
                den = v - a * a
            else:
                den = v
            inc = 0.001 * g / np.sqrt(den + 1e-7)
            if momentum:
                mo = momentum * mo + inc
                p = p - mo
            else:
                p = p - inc
        _close([got[i]], [p])


def test_adagrad(rng):
    opt = optimizers.Adagrad()
    assert (opt.learning_rate, opt.initial_accumulator_value, opt.epsilon) == (0.001, 0.1, 1e-7)
    p0, gs, got = _run(opt, SHAPES, rng)
    for i in range(len(SHAPES)):
        p, acc = p0[i], 0 * p0[i] + 0.1
        for t in range(STEPS):
            g = gs[t][i].astype(np.float64)
            acc = acc + g * g
            p = p - 0.001 * g / np.sqrt(acc + 1e-7)
        _close([got[i]], [p])


def test_clipping(rng):
    g = [np.full((4,), 3.0, np.float32), np.full((3,), -4.0, np.float32)]
    for kw, want in [({"clipvalue": 1.0}, [np.full(4, 1.0), np.full(3, -1.0)]),
                     ({"clipnorm": 1.0}, [np.full(4, 0.5), np.full(3, -1 / math.sqrt(3))])]:
        p = [fn.Tensor(np.zeros(4, np.float32), requires_grad=True), fn.Tensor(np.zeros(3, np.float32), requires_grad=True)]
        optimizers.SGD(learning_rate=1.0, **kw).apply_gradients(zip([fn.asarray(x.copy()) for x in g], p))
        for pi, w in zip(p, want):
            np.testing.assert_allclose(-pi.numpy(), w, rtol=1e-6)
    p = [fn.Tensor(np.zeros(4, np.float32), requires_grad=True), fn.Tensor(np.zeros(3, np.float32), requires_grad=True)]
    optimizers.SGD(learning_rate=1.0, global_clipnorm=2.0).apply_gradients(zip([fn.asarray(x.copy()) for x in g], p))
    n = math.sqrt(4 * 9 + 3 * 16)
    np.testing.assert_allclose(-p[0].numpy(), 3.0 * 2.0 / n, rtol=1e-6)


def test_schedules():
    e = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert math.isclose(e(5), 0.1 * 0.5 ** 0.5)
    assert math.isclose(schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)(15), 0.05)
    pc = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert (pc(0), pc(10), pc(11), pc(20), pc(21)) == (1.0, 1.0, 0.5, 0.5, 0.1)
    c = schedules.CosineDecay(0.0, decay_steps=100, warmup_target=1.0, warmup_steps=10)
    assert math.isclose(c(5), 0.5) and math.isclose(c(10), 1.0) and math.isclose(c(60), 0.5)
    assert math.isclose(c(200), 0.0, abs_tol=1e-12)
    c2 = schedules.CosineDecay(1.0, decay_steps=10, alpha=0.1)
    assert math.isclose(c2(10), 0.1)


def test_schedule_drives_lr(rng):
    sched = schedules.PiecewiseConstantDecay([0], [1.0, 0.0])  # step 0 → 1.0, later steps → 0
    opt = optimizers.SGD(learning_rate=sched)
    p = fn.Tensor(np.zeros(2, np.float32), requires_grad=True)
    for _ in range(3):
        opt.apply_gradients([(fn.asarray(np.ones(2, np.float32)), p)])
    np.testing.assert_allclose(p.numpy(), [-1.0, -1.0])


def test_get_and_errors():
    for name, cls in [("adam", optimizers.Adam), ("SGD", optimizers.SGD), ("rmsprop", optimizers.RMSprop),
                      ("adagrad", optimizers.Adagrad), ("adamw", optimizers.AdamW)]:
        assert type(optimizers.get(name)) is cls
    with pytest.raises(ValueError, match="valid names: adagrad, adam"):
        optimizers.get("adamax_plus")
    with pytest.raises(ValueError, match="at most one"):
        optimizers.SGD(clipnorm=1.0, global_clipnorm=1.0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        optimizers.Adam(lr=0.1)
