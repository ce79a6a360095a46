"""fusednet.ops as keras.ops, the rest: nn ops vs NumPy float64, the dtype policy, the Tensor
operators, errors naming the op and the shapes, the _C.where kernel, documentation of every public
name, and Keras-style use in a custom loss, a custom layer and a GradientTape loop."""
import numpy as np
import pytest

import fusednet as fn
from fusednet import Tensor, layers, ops
from tolerances import TOL, gemm_tol

RT, AT = TOL["pointwise"]
RR, AR = TOL["reduce"]
RC, AC = TOL["ops_composed"]
RA, AA = TOL["ops_abs"]
EX = TOL["exact"]



def close(t, ref, rt=RT, at=AT):
    assert isinstance(t, Tensor), type(t)
    got = t.numpy()
    assert got.shape == np.shape(ref), (got.shape, np.shape(ref))
    np.testing.assert_allclose(got.astype(np.float64), ref, rtol=rt, atol=at)


def f32(a):
    return np.asarray(a, np.float32)


# ------------------------------------------------------------------ nn
def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


NN = {
    "relu": lambda x: np.maximum(x, 0), "relu6": lambda x: np.clip(x, 0, 6), "sigmoid": _sigmoid,
    "tanh": np.tanh, "softplus": lambda x: np.log1p(np.exp(x)), "softsign": lambda x: x / (1 + np.abs(x)),
    "silu": lambda x: x * _sigmoid(x), "swish": lambda x: x * _sigmoid(x),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x), "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "log_sigmoid": lambda x: -np.log1p(np.exp(-x)), "mish": lambda x: x * np.tanh(np.log1p(np.exp(x))),
    "hard_sigmoid": lambda x: np.clip(x + 3, 0, 6) / 6,
}


@pytest.mark.parametrize("name", sorted(NN))
@pytest.mark.parametrize("shape", [(1,), (3, 13)])
def test_activations_vs_numpy(name, shape, rng):
    x = f32(rng.standard_normal(shape) * 3)
    close(getattr(ops, name)(x), NN[name](x.astype(np.float64)), *TOL["pointwise_approx"])


def test_gelu_both_forms(rng):
    from math import erf
    x = f32(rng.standard_normal((3, 7)))
    x64 = x.astype(np.float64)
    exact = 0.5 * x64 * (1 + np.vectorize(erf)(x64 / np.sqrt(2)))
    tanh = 0.5 * x64 * (1 + np.tanh(np.sqrt(2 / np.pi) * (x64 + 0.044715 * x64 ** 3)))
    close(ops.gelu(x), tanh, *TOL["pointwise_approx"])          # Keras 3 ops default
    close(ops.gelu(x, approximate=False), exact, *TOL["pointwise_approx"])
    close(fn.functional.gelu(x), exact, *TOL["pointwise_approx"])   # functional's old default


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_any_axis(axis, rng):
    x = f32(rng.standard_normal((3, 13, 5)))
    close(ops.softmax(x, axis=axis), _softmax(x.astype(np.float64), axis))
    close(ops.log_softmax(x, axis=axis), np.log(_softmax(x.astype(np.float64), axis)), RA, AA)


def test_one_hot(rng):
    idx = rng.integers(0, 7, (3, 5))
    close(ops.one_hot(idx, 7), np.eye(7)[idx], *EX)
    close(ops.one_hot(idx, 7, axis=0), np.moveaxis(np.eye(7)[idx], -1, 0), *EX)
    with pytest.raises(ValueError, match=r"one_hot: .*out of range.*indices of shape \(2,\)"):
        ops.one_hot([0, 9], 7)


@pytest.mark.parametrize("from_logits", [False, True])
def test_crossentropies_vs_numpy(from_logits, rng):
    logits = rng.standard_normal((6, 7)) * 2
    labels = rng.integers(0, 7, 6)
    onehot = np.eye(7)[labels]
    p = _softmax(logits, -1)
    out = f32(logits if from_logits else p)
    ref = -np.sum(onehot * np.log(np.clip(p, 1e-7, 1 - 1e-7)), -1)
    close(ops.categorical_crossentropy(f32(onehot), out, from_logits=from_logits), ref, RC, AC)
    close(ops.sparse_categorical_crossentropy(labels, out, from_logits=from_logits), ref, RC, AC)
    close(ops.sparse_categorical_crossentropy(labels.reshape(6, 1), out, from_logits=from_logits), ref, RC, AC)
    z = rng.integers(0, 2, (6, 7)).astype(np.float64)
    s = _sigmoid(logits)
    ref_b = -(z * np.log(np.clip(s, 1e-7, 1 - 1e-7)) + (1 - z) * np.log(1 - np.clip(s, 1e-7, 1 - 1e-7)))
    close(ops.binary_crossentropy(f32(z), f32(logits if from_logits else s), from_logits=from_logits), ref_b, RC, AC)


def test_binary_crossentropy_from_huge_logits_is_finite():
    out = ops.binary_crossentropy(f32([1.0, 0.0, 1.0]), f32([-200.0, 200.0, 200.0]), from_logits=True)
    close(out, np.array([200.0, 200.0, 0.0]), RA, AA)


def test_moments_and_normalize(rng):
    x = f32(rng.standard_normal((3, 13, 5)))
    m, v = ops.moments(x, axes=[0, 1])
    close(m, x.astype(np.float64).mean(axis=(0, 1)), RC, AC)
    close(v, x.astype(np.float64).var(axis=(0, 1)), RC, AC)
    x64 = x.astype(np.float64)
    close(ops.normalize(x), x64 / np.maximum(np.linalg.norm(x64, axis=-1, keepdims=True), 1e-7), RC, AC)
    close(ops.normalize(x, axis=1, order=1), x64 / np.abs(x64).sum(axis=1, keepdims=True), RC, AC)
    close(ops.normalize(f32(np.zeros((2, 3)))), np.zeros((2, 3)), *EX)


# ------------------------------------------------------------------ dtype policy and core
def test_conversion_and_dtype_policy(rng):
    x64 = rng.standard_normal((2, 3))
    t = ops.convert_to_tensor(x64)
    assert t.dtype == "float32" and ops.is_tensor(t) and not ops.is_tensor(x64)
    assert ops.convert_to_tensor(t) is t
    assert ops.convert_to_tensor([1, 2]).dtype == "int64"
    assert ops.convert_to_tensor(np.array([1, 2], np.int32)).dtype == "int32"
    assert ops.convert_to_tensor([1, 2], dtype="float64").dtype == "float32"
    assert ops.standardize_dtype("bool") == "float32" and ops.standardize_dtype(np.int16) == "int32"
    np.testing.assert_array_equal(ops.convert_to_numpy(t), x64.astype(np.float32))
    assert ops.shape(t) == (2, 3) and ops.ndim(t) == 2 and ops.size(t) == 6 and ops.dtype([1.0]) == "float32"
    c = ops.cast(ops.convert_to_tensor([1.7, -1.7, 2.5]), "int32")
    assert c.dtype == "int32"
    np.testing.assert_array_equal(c.numpy(), [1, -1, 2])
    i = ops.convert_to_tensor([1, 2, 3])            # integer tensors meet float kernels as float32
    close(ops.add(i, 0.5), np.array([1.5, 2.5, 3.5]))
    close(ops.mean(i), np.array(2.0))
    with pytest.raises(TypeError, match="standardize_dtype: unsupported dtype 'complex64'"):
        ops.cast(t, "complex64")


def test_stop_gradient_cuts_the_tape():
    x = Tensor(f32([1.0, 2.0]), requires_grad=True)
    y = ops.sum(ops.square(x) + ops.stop_gradient(ops.square(x)))
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


# ------------------------------------------------------------------ Tensor operators and methods
def test_tensor_operators_route_to_ops(rng):
    a, b = f32(rng.standard_normal((3, 4))), f32(np.abs(rng.standard_normal((4,))) + 0.5)
    A, B = Tensor(a), Tensor(b)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    close(A + B, a64 + b64)
    close(2.0 - A, 2.0 - a64)
    close(A * B, a64 * b64)
    close(1.0 / B, 1.0 / b64)
    close(a / B, a64 / b64)
    close(B ** 1.5, b64 ** 1.5)
    close(2.0 ** B, 2.0 ** b64)
    close(-A, -a64)
    close(abs(A), np.abs(a64))
    close(A // B, np.floor(a / b).astype(np.float64))
    close(A % 1.0, np.mod(a64, 1.0), RA, AA)
    close(A > 0, (a > 0).astype(np.float64), *EX)
    close(A <= B, (a <= b).astype(np.float64), *EX)
    close(A.T, a64.T)
    close(A[1:, 2], a64[1:, 2])
    close(A @ B, a64 @ b64, *gemm_tol(4))
    close(a.T.copy() @ A, a64.T @ a64, *gemm_tol(3))            # ndarray on the left defers to Tensor
    close(np.float32(2.0) * A + a, 3 * a64)
    close(A.sum(axis=1), a64.sum(axis=1), RR, AR)
    close(A.max(), np.array(a64.max()))
    close(A.var(axis=0), a64.var(axis=0), RC, AC)
    close(A.reshape(2, 6), a64.reshape(2, 6))
    close(A.reshape((6, 2)), a64.reshape(6, 2))
    close(A.transpose(1, 0), a64.T)
    close(A.clip(-0.5, 0.5), np.clip(a64, -0.5, 0.5))
    assert A.argmax(axis=1).dtype == "int64" and A.astype("int32").dtype == "int32"
    assert A == A and A != B and len({A, B}) == 2      # identity semantics kept: hashable
    assert A in [B, A]


# ------------------------------------------------------------------ errors name the op and the shapes
@pytest.mark.parametrize("call,exc,pattern", [
    (lambda: ops.add(np.ones((3, 4), np.float32), np.ones((5,), np.float32)), ValueError,
     r"binary\(add\): shapes \(3, 4\) and \(5,\) are not broadcastable"),
    (lambda: ops.where(np.ones(3, np.float32), np.ones((2, 4), np.float32), 0.0), ValueError,
     r"where: shapes \(3,\), \(2, 4\), \(\) are not broadcastable"),
    (lambda: ops.where(np.ones(3, np.float32)), ValueError, "where: both x1 and x2"),
    (lambda: ops.sum(np.ones((2, 3), np.float32), axis=2), ValueError, "sum: axis 2 is out of range for a tensor of rank 2"),
    (lambda: ops.argmax(np.ones((2, 3), np.float32), axis=(0, 1)), ValueError, r"argmax: axis must be one int"),
    (lambda: ops.reshape(np.ones((2, 3), np.float32), (4, 2)), ValueError, r"reshape: cannot reshape tensor of shape \(2, 3\) into \(4, 2\)"),
    (lambda: ops.concatenate([np.ones((2, 3), np.float32), np.ones((3, 3), np.float32)], axis=1), ValueError,
     r"concatenate: shapes \[\(2, 3\), \(3, 3\)\] differ outside axis 1"),
    (lambda: ops.stack([np.ones(2, np.float32), np.ones(3, np.float32)]), ValueError, r"stack: all shapes must be equal"),
    (lambda: ops.split(np.ones((5, 2), np.float32), 2), ValueError, r"split: axis 0 of shape \(5, 2\) does not divide into 2"),
    (lambda: ops.squeeze(np.ones((2, 3), np.float32), 1), ValueError, r"squeeze: axis 1 of shape \(2, 3\) has length 3"),
    (lambda: ops.transpose(np.ones((2, 3), np.float32), (0, 0)), ValueError, r"transpose: axes \(0, 0\) is not a permutation"),
    (lambda: ops.broadcast_to(np.ones((2, 3), np.float32), (3, 3)), ValueError, r"broadcast_to: .*\(2, 3\).*\(3, 3\)"),
    (lambda: ops.matmul(Tensor(np.ones((2, 3), np.float32)), np.ones((2, 3), np.float32)), ValueError,
     r"matmul: inner dimensions differ: \(2, 3\) @ \(2, 3\)"),
    (lambda: ops.dot(np.ones(3, np.float32), np.ones((2, 3, 4), np.float32)), ValueError, r"dot: second operand of rank 3"),
    (lambda: ops.categorical_crossentropy(np.ones((2, 3), np.float32), np.ones((2, 4), np.float32)), ValueError,
     r"categorical_crossentropy: target shape \(2, 3\) and output shape \(2, 4\)"),
    (lambda: ops.sparse_categorical_crossentropy([0, 1, 2], np.ones((2, 4), np.float32)), ValueError,
     r"sparse_categorical_crossentropy: target shape \(3,\) does not match output shape \(2, 4\)"),
    (lambda: ops.take(np.ones((2, 3), np.float32), [0.5], axis=0), TypeError, "take: indices must be integers"),
    (lambda: ops.take(np.ones((2, 3), np.float32), [5], axis=0), ValueError, r"take_rows"),
    (lambda: ops.softmax(np.ones((2, 3), np.float32), axis=2), ValueError, "softmax: axis 2 is out of range"),
    (lambda: ops.max(np.ones((0, 3), np.float32), axis=0), ValueError, r"max: .*zero-size reduction.*\(0, 3\)"),
    (lambda: Tensor(np.ones(3, np.float32))[5], IndexError, "getitem: index 5 is out of bounds for axis 0 with size 3"),
    (lambda: ops.normalize(np.ones(3, np.float32), order=3), ValueError, "normalize: order must be 1 or 2"),
])
def test_errors_name_op_and_shapes(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


# ------------------------------------------------------------------ Keras-style usage
def _regression(n=96, seed=3):
    r = np.random.default_rng(seed)
    X = r.standard_normal((n, 5)).astype(np.float32)
    W = r.standard_normal((5, 2)).astype(np.float32)
    return X, (X @ W + 0.1).astype(np.float32)


def test_custom_loss_built_from_ops_trains_a_compiled_model():
    X, Y = _regression()

    def my_mse(y_true, y_pred):
        return ops.mean(ops.square(y_true - y_pred), axis=-1)

    fn.clear_session()
    fn.random.seed(0)
    m = fn.Sequential([fn.Input((5,)), layers.Dense(8, activation="tanh"), layers.Dense(2)])
    m.compile(optimizer=fn.optimizers.Adam(0.02), loss=my_mse)
    h = m.fit(X, Y, epochs=15, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < 0.3 * h.history["loss"][0]
    # evaluate with the custom loss equals the NumPy MSE of the predictions
    pred = m.predict(X, verbose=0)
    np.testing.assert_allclose(m.evaluate(X, Y, verbose=0), np.mean((pred - Y) ** 2), *TOL["evaluate"])


def test_custom_layer_whose_call_uses_ops_trains_through_the_tape():
    X, Y = _regression(seed=5)

    class ScaledResidual(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight((input_shape[-1],), initializer="ones")
            self.b = self.add_weight((input_shape[-1],), initializer="zeros")

        def call(self, x, training=None):
            gate = ops.sigmoid(ops.multiply(x, self.w) + self.b)
            return ops.where(x > 0, x * gate, ops.clip(x, -3.0, 0.0)) + ops.mean(x, axis=-1, keepdims=True)

    fn.clear_session()
    fn.random.seed(1)
    lay = ScaledResidual()
    m = fn.Sequential([fn.Input((5,)), lay, layers.Dense(2)])
    m.compile(optimizer=fn.optimizers.Adam(0.02), loss="mse")
    assert m._get_plan().tape_layers
    w0 = [np.array(w) for w in lay.get_weights()]
    h = m.fit(X, Y, epochs=15, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < 0.5 * h.history["loss"][0]
    assert all(not np.array_equal(a, np.array(b)) for a, b in zip(w0, lay.get_weights()))


def test_gradient_tape_custom_loop_with_ops():
    X, Y = _regression(seed=7)
    w = Tensor(np.zeros((5, 2), np.float32), requires_grad=True)
    opt = fn.optimizers.SGD(0.1)
    losses = []
    for _ in range(30):
        with fn.GradientTape() as tape:
            loss = ops.mean(ops.square(ops.matmul(Tensor(X), w) + 0.1 - Y))
        (g,) = tape.gradient(loss, [w])
        opt.apply_gradients([(g, w)])
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]


# ------------------------------------------------------------------ the native select kernel
def test_where_kernel_contract(rng):
    C_ = fn._C
    c = f32([1.0, 0.0, np.nan, -0.0, 2.0])
    a, b = f32([np.inf, 1.0, 2.0, 3.0, np.nan]), f32([5.0, -np.inf, 7.0, 8.0, 9.0])
    y = np.asarray(C_.where(C_.asarray(c), C_.asarray(a), C_.asarray(b)))
    np.testing.assert_array_equal(y, [np.inf, -np.inf, 2.0, 8.0, np.nan])   # NaN condition is true, -0 false
    big = f32(rng.standard_normal(100003))                                   # the threaded path
    m = f32(big > 0)
    out = C_.zeros([100003])
    r = C_.where(C_.asarray(m), C_.asarray(big), C_.asarray(-big), out=out)
    np.testing.assert_array_equal(np.asarray(out), np.abs(big))
    assert C_.shares_memory(r, out)
    with pytest.raises(ValueError, match=r"where: condition \(5,\), x1 \(5,\) and x2 \(4,\) must have the same shape"):
        C_.where(C_.asarray(c), C_.asarray(a), C_.asarray(b[:4]))
    with pytest.raises(TypeError, match="where: condition"):
        C_.where(C_.asarray(np.ones(5, np.int64)), C_.asarray(a), C_.asarray(b))
    buf = np.arange(11.0, dtype=np.float32)
    with pytest.raises(ValueError, match=r"where: out overlaps x1 \(10,\)"):
        C_.where(C_.asarray(np.ones(10, np.float32)), C_.asarray(buf[:10]), C_.asarray(buf[:10].copy()),
                 out=C_.asarray(buf[1:]))


@pytest.mark.cuda
def test_where_kernel_cuda_matches_cpu(rng):
    C_ = fn._C
    c = f32(rng.integers(0, 2, 1031))
    a, b = f32(rng.standard_normal(1031)), f32(rng.standard_normal(1031))
    a[::7] = np.inf
    cpu = np.asarray(C_.where(C_.asarray(c), C_.asarray(a), C_.asarray(b)))
    gpu = C_.where(*(C_.asarray(v).to("cuda") for v in (c, a, b)))
    np.testing.assert_array_equal(np.asarray(gpu.to("cpu")), cpu)
    t = ops.where(Tensor(c).to("cuda"), Tensor(a).to("cuda"), 0.0)
    np.testing.assert_array_equal(t.numpy(), np.where(c != 0, a, 0.0))


@pytest.mark.parametrize("mod", [ops, fn.random, fn.functional], ids=lambda m: m.__name__)
def test_public_names_are_documented(mod):
    """House rule: every public function has Args, Returns (or Shape) and an Example."""
    missing = []
    for name in mod.__all__:
        obj = getattr(mod, name)
        doc = obj.__doc__ or ""
        need = ("Args:", "Example") if isinstance(obj, type) else ("Args:", "Example", "Return")
        if not all(k in doc for k in need) and not (not isinstance(obj, type) and "Shape:" in doc
                                                     and "Args:" in doc and "Example" in doc):
            missing.append(name)
    assert not missing, f"{mod.__name__}: undocumented {missing}"
    assert set(mod.__all__) <= set(dir(mod))


def test_empty_inputs_give_empty_results_or_named_errors():
    e = np.zeros((0, 3), np.float32)
    assert ops.where(e, e, e).shape == (0, 3) and ops.sum(e, axis=0).shape == (3,)
    close(ops.sum(e, axis=0), np.zeros(3), *EX)
    close(ops.prod(e, axis=0), np.ones(3), *EX)
    assert ops.matmul(Tensor(np.zeros((2, 0), np.float32)), np.zeros((0, 3), np.float32)).shape == (2, 3)
    assert ops.matmul(Tensor(np.zeros((0, 2, 3), np.float32)), np.zeros((0, 3, 4), np.float32)).shape == (0, 2, 4)
    assert ops.repeat(np.ones((2, 3), np.float32), 0, axis=1).shape == (2, 0)
    assert Tensor(e)[::-1].shape == (0, 3) and ops.pad(e, 1).shape == (2, 5)
    x = Tensor(e, requires_grad=True)
    ops.sum(ops.where(x > 0, x, 0.0) * 2).backward()
    assert x.grad.shape == (0, 3)
    with pytest.raises(ValueError, match=r"^argmin: attempt to get argmin of an empty axis 0 of shape \(0, 3\)"):
        ops.argmin(e, axis=0)
