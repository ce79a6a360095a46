"""Batched GEMM (``_C.bmm``): every matrix vs a float64 NumPy matmul (sizes 1, primes, tile
non-multiples, broadcast batch axes, all transposes), bitwise equal to the 2-D kernel on each
matrix and independent of the thread count, vs torch.matmul, error paths, and its users
(``ops.matmul`` N-D and the ``Dot`` layer) bitwise against the per-matrix loops they replaced."""
import numpy as np
import pytest

import fusednet as fn
from fusednet import _C, ops
from tolerances import TOL, gemm_tol

SHAPES = [  # (a batch, b batch, M, K, N)
    ((1,), (1,), 1, 1, 1), ((3,), (3,), 5, 7, 11), ((2, 1), (1, 3), 13, 1, 17), ((), (4,), 3, 29, 2),
    ((5, 2), (), 2, 3, 37), ((1, 1), (2, 3), 1, 31, 1), ((7,), (1,), 33, 19, 40), ((2, 3), (2, 1), 12, 64, 31),
    ((1,), (3,), 97, 5, 1), ((0,), (1,), 3, 4, 5),
]


def _stored(x, trans):
    return np.ascontiguousarray(np.swapaxes(x, -1, -2)) if trans else x


@pytest.mark.parametrize("ab,bb,M,K,N", SHAPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_bmm_vs_numpy_float64(ab, bb, M, K, N, ta, tb, rng):
    a = rng.standard_normal(ab + (M, K)).astype(np.float32)
    b = rng.standard_normal(bb + (K, N)).astype(np.float32)
    got = np.asarray(_C.bmm(_C.asarray(_stored(a, ta)), _C.asarray(_stored(b, tb)), trans_a=ta, trans_b=tb))
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    assert got.shape == want.shape
    rt, at = gemm_tol(K)
    scale = np.matmul(np.abs(a).astype(np.float64), np.abs(b).astype(np.float64))
    assert np.all(np.abs(got - want) <= at * scale + rt * np.abs(want) + 1e-30)


@pytest.mark.parametrize("ab,bb,M,K,N", SHAPES[:9])
def test_bmm_is_bitwise_the_2d_kernel_per_matrix_and_thread_invariant(ab, bb, M, K, N, rng):
    a = rng.standard_normal(ab + (M, K)).astype(np.float32)
    b = rng.standard_normal(bb + (K, N)).astype(np.float32)
    batch = np.broadcast_shapes(ab, bb)
    ae = np.broadcast_to(a, batch + (M, K)).reshape(-1, M, K)
    be = np.broadcast_to(b, batch + (K, N)).reshape(-1, K, N)
    loop = np.stack([np.asarray(_C.matmul(_C.asarray(np.ascontiguousarray(ae[i])), _C.asarray(np.ascontiguousarray(be[i]))))
                     for i in range(ae.shape[0])]).reshape(batch + (M, N))
    saved = fn.get_num_threads()
    try:
        for t in (1, 2, 3):
            fn.set_num_threads(t)
            got = np.asarray(_C.bmm(_C.asarray(a), _C.asarray(b)))
            np.testing.assert_array_equal(got, loop)
    finally:
        fn.set_num_threads(saved)


def test_bmm_many_small_matrices_parallel_path_thread_invariant(rng):
    # 300 matrices of 6x8x5: each below the serial threshold, so the batch is split over threads
    a = rng.standard_normal((300, 6, 8)).astype(np.float32)
    b = rng.standard_normal((300, 8, 5)).astype(np.float32)
    saved = fn.get_num_threads()
    try:
        outs = []
        for t in (1, 2, 4):
            fn.set_num_threads(t)
            outs.append(np.asarray(_C.bmm(_C.asarray(a), _C.asarray(b))).copy())
    finally:
        fn.set_num_threads(saved)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])
    np.testing.assert_allclose(outs[0], np.matmul(a.astype(np.float64), b), *gemm_tol(8))


def test_bmm_out_and_beta(rng):
    a = rng.standard_normal((3, 4, 5)).astype(np.float32)
    b = rng.standard_normal((1, 5, 6)).astype(np.float32)
    c0 = rng.standard_normal((3, 4, 6)).astype(np.float32)
    out = _C.asarray(c0.copy())
    r = _C.bmm(_C.asarray(a), _C.asarray(b), out=out, beta=0.5)
    np.testing.assert_allclose(np.asarray(r), 0.5 * c0 + np.matmul(a.astype(np.float64), b), *gemm_tol(5))
    np.testing.assert_array_equal(np.asarray(out), np.asarray(r))


def test_bmm_vs_torch_matmul(rng):
    torch = pytest.importorskip("torch")
    a = rng.standard_normal((2, 1, 9, 23)).astype(np.float32)
    b = rng.standard_normal((3, 23, 14)).astype(np.float32)
    got = np.asarray(_C.bmm(_C.asarray(a), _C.asarray(b)))
    want = torch.matmul(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(got, want, *TOL["torch"])


@pytest.mark.parametrize("sa,sb,msg", [
    ((3, 4, 5), (3, 6, 2), "inner dimensions differ"), ((2, 4, 5), (3, 5, 2), "do not broadcast"),
    ((5,), (5, 2), "rank >= 2"), ((0, 4, 5), (3, 5, 2), "do not broadcast"),
])
def test_bmm_errors_name_op_and_shapes(sa, sb, msg):
    with pytest.raises(ValueError, match=msg) as e:
        _C.bmm(_C.asarray(np.zeros(sa, np.float32)), _C.asarray(np.zeros(sb, np.float32)))
    assert "bmm" in str(e.value) and str(tuple(sa)).replace(",)", ")") in str(e.value).replace(",)", ")")
    with pytest.raises(TypeError):
        _C.bmm(_C.asarray(np.zeros((2, 3, 4), np.int32)), _C.asarray(np.zeros((2, 4, 5), np.float32)))
    with pytest.raises(ValueError, match="beta"):
        _C.bmm(_C.asarray(np.zeros((2, 3, 4), np.float32)), _C.asarray(np.zeros((2, 4, 5), np.float32)), beta=1.0)


def test_ops_matmul_nd_bitwise_the_per_matrix_loop(rng):
    # ops.matmul used to loop 2-D GEMMs over the broadcast batch; the batched kernel gives the same
    # bits forward and backward (gradients of broadcast operands summed in batch order).
    a = rng.standard_normal((2, 1, 6, 9)).astype(np.float32)
    b = rng.standard_normal((3, 9, 4)).astype(np.float32)
    ta, tb = fn.Tensor(a, requires_grad=True), fn.Tensor(b, requires_grad=True)
    out = ops.matmul(ta, tb)
    ae = np.broadcast_to(a, (2, 3, 6, 9)).reshape(6, 6, 9)
    be = np.broadcast_to(b, (2, 3, 9, 4)).reshape(6, 9, 4)
    loop = np.stack([np.asarray(_C.matmul(_C.asarray(np.ascontiguousarray(ae[i])), _C.asarray(np.ascontiguousarray(be[i]))))
                     for i in range(6)]).reshape(2, 3, 6, 4)
    np.testing.assert_array_equal(out.numpy(), loop)
    w = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(w)
    np.testing.assert_allclose(ta.grad.numpy(), np.matmul(w.astype(np.float64), np.swapaxes(b, -1, -2)).sum(1, keepdims=True),
                               *gemm_tol(12))
    np.testing.assert_allclose(tb.grad.numpy(), np.matmul(np.swapaxes(a, -1, -2).astype(np.float64), w).sum(0), *gemm_tol(24))


@pytest.mark.parametrize("axes", [(2, 1), (1, 1), (2, 2), (1, 2)])
def test_dot_layer_rank3_bitwise_the_per_sample_gemms(axes, rng):
    from fusednet import layers
    a = rng.standard_normal((5, 7, 3)).astype(np.float32)
    b_shape = {(2, 1): (5, 3, 7), (1, 1): (5, 7, 3), (2, 2): (5, 7, 3), (1, 2): (5, 4, 7)}[axes]
    b = rng.standard_normal(b_shape).astype(np.float32)
    ta, tb = fn.Tensor(a, requires_grad=True), fn.Tensor(b, requires_grad=True)
    out = layers.Dot(axes=axes)([ta, tb])
    A = np.moveaxis(a, axes[0], 2) if axes[0] == 1 else a       # contracted axis last
    B = np.moveaxis(b, axes[1], 1) if axes[1] == 2 else b       # contracted axis first
    want = np.matmul(A.astype(np.float64), B)
    np.testing.assert_allclose(out.numpy(), want, *gemm_tol(a.shape[axes[0]]))
    ta_, tb_ = axes[0] == 1, axes[1] == 2
    loop = np.stack([np.asarray(_C.matmul(_C.asarray(a[s]), _C.asarray(b[s]), trans_a=ta_, trans_b=tb_)) for s in range(5)])
    np.testing.assert_array_equal(out.numpy(), loop)
    w = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(w)
    gA = np.matmul(w.astype(np.float64), np.swapaxes(B, 1, 2))
    gB = np.matmul(np.swapaxes(A, 1, 2).astype(np.float64), w)
    np.testing.assert_allclose(ta.grad.numpy(), np.moveaxis(gA, 2, axes[0]) if axes[0] == 1 else gA, *gemm_tol(8))
    np.testing.assert_allclose(tb.grad.numpy(), np.moveaxis(gB, 1, axes[1]) if axes[1] == 2 else gB, *gemm_tol(8))


@pytest.mark.cuda
@pytest.mark.parametrize("ab,bb,M,K,N", SHAPES[:9])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_bmm_cuda_vs_cpu(ab, bb, M, K, N, ta, tb, rng):
    a = _stored(rng.standard_normal(ab + (M, K)).astype(np.float32), ta)
    b = _stored(rng.standard_normal(bb + (K, N)).astype(np.float32), tb)
    cpu = np.asarray(_C.bmm(_C.asarray(a), _C.asarray(b), trans_a=ta, trans_b=tb))
    gpu = _C.bmm(_C.asarray(a).to("cuda"), _C.asarray(b).to("cuda"), trans_a=ta, trans_b=tb).to("cpu")
    np.testing.assert_allclose(np.asarray(gpu), cpu, *TOL["cuda_vs_cpu"])
    c0 = rng.standard_normal(cpu.shape).astype(np.float32)   # out= / beta on the device
    got = _C.bmm(_C.asarray(a).to("cuda"), _C.asarray(b).to("cuda"), trans_a=ta, trans_b=tb,
                 out=_C.asarray(c0).to("cuda"), beta=2.0).to("cpu")
    np.testing.assert_allclose(np.asarray(got), 2.0 * c0 + cpu, *TOL["cuda_vs_cpu"])


@pytest.mark.parametrize("sa,sb", [((2, 1, 3, 4), (1, 5, 4, 2)), ((3, 4), (2, 4, 5)), ((2, 3, 4), (1, 4, 5)),
                                   ((1, 1, 2), (3, 2, 1)), ((2, 2, 3, 5), (2, 1, 5, 3)), ((1, 7, 3), (7, 3, 2))])
def test_ops_matmul_batched_grads_float64_fd(sa, sb, rng):
    from test_ops_grad import gradcheck, normal
    gradcheck(ops.matmul, np.matmul, [normal(rng, *sa), normal(rng, *sb)], rng)
