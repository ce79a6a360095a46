"""Models: :class:`Sequential` and functional :class:`Model` with Keras-shaped
compile / fit / evaluate / predict / summary / get_weights / set_weights.

Training runs the compiled graph plan (:mod:`fusednet.trainers.plan`) for every model: each
step is a fixed sequence of native calls — two ``take_rows`` gathers, each node's forward kernel,
one fused loss kernel per output, each node's backward kernel, one multi-tensor optimizer kernel.
Layers whose maths is a Tensor ``call()`` run on the autograd tape inside it, node by node.
"""
import math

import numpy as np

from . import _C
from . import losses as _losses
from . import optimizers as _optimizers
from . import random as _random
from .layers.base import KerasTensor, Layer
from .layers.core import InputLayer
from .trainers import fusion as _fusion
from .tensor import Tensor
from .trainers.plan import Graph, GraphPlan, Node

__all__ = ["Model", "Sequential"]


# ---------------------------------------------------------------------------- helpers
def _as_host_array(x, what):
    if isinstance(x, Tensor):
        x = x.data
    if isinstance(x, _C.Array):
        x = x.to("cpu").numpy() if x.device != "cpu" else x.numpy()
    if isinstance(x, (list, tuple)) and x and not np.isscalar(x[0]) and not isinstance(x[0], (list, tuple)):
        raise TypeError(f"{what}: multiple input arrays are not supported by this model")
    try:
        a = np.asarray(x)
    except Exception as e:  # pragma: no cover
        raise TypeError(f"{what}: cannot convert {type(x).__name__} to an array: {e}") from None
    if a.dtype == object:
        raise TypeError(f"{what}: expected a numeric array, got an object array (ragged or mixed data?)")
    return a


def _prep_x(x, what="x"):
    if x is None:
        raise ValueError(f"{what}: input data is None")
    a = _as_host_array(x, what)
    if a.ndim == 0:
        raise ValueError(f"{what}: expected an array with a batch axis, got a scalar")
    if a.shape[0] == 0:
        raise ValueError(f"{what}: input array is empty (shape {a.shape})")
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{what}: expected numeric data, got dtype {a.dtype}")
    if a.dtype != np.float32 or not a.flags.c_contiguous:
        a = np.ascontiguousarray(a, dtype=np.float32)
    if not _all_finite(a):
        bad = "NaN" if np.isnan(a).any() else "infinite values"
        raise ValueError(f"{what} contains {bad} (shape {a.shape}); clean the data before training")
    return a


def _all_finite(a):
    """True when the float32 array ``a`` holds no NaN/inf.

    One native multi-threaded pass (the mean, accumulated in double, is NaN/inf iff some element
    is; it cannot overflow), instead of NumPy's ``isfinite(a).all()`` which writes a boolean
    temporary as large as ``a`` (≈ 2-3x slower on MNIST-sized data and paid on every fit).
    The exact NumPy check confirms a failure.
    """
    if a.size == 0:
        return True
    try:
        m = _C.reduce("mean", _C.asarray(a), [], False).item()
    except Exception:  # pragma: no cover - exotic layouts: fall back to NumPy
        return bool(np.isfinite(a).all())
    return math.isfinite(m) or bool(np.isfinite(a).all())


def _check_batch_size(bs, what):
    if bs is None:
        return 32
    if isinstance(bs, bool) or not isinstance(bs, (int, np.integer)) or bs <= 0:
        raise ValueError(f"{what}: batch_size must be a positive integer, got {bs!r}")
    return int(bs)


def _callback_module():
    from . import callbacks as _cb
    return _cb


def _metrics_module():
    from . import metrics as _m
    return _m


class _MetricFeeder:
    """Feeds (y_true, y_pred) batches to compiled metrics.

    When nothing reads metric results between batches (no per-batch callback hooks, CPU), batches
    are queued as Arrays and handed to the metrics in one ``update_state`` per ~8k samples: one
    native concat and one host view instead of a dozen small NumPy calls per batch (those cost
    ~70 us per batch of 32, a third of an MLP step). Every built-in metric accumulates sums over
    samples, so the results are the same as per-batch updates (up to float summation order).
    """

    __slots__ = ("metrics", "defer", "ys", "ps", "n")
    FLUSH_ROWS = 8192

    def __init__(self, metrics, defer):
        self.metrics = metrics
        self.defer = defer
        self.ys, self.ps, self.n = [], [], 0

    def add(self, yb, probs):
        if not self.defer:
            yt, yp = _host_np(yb), _host_np(probs)
            for m in self.metrics:
                m.update_state(yt, yp)
            return
        self.ys.append(yb)
        self.ps.append(probs)
        self.n += probs.shape[0] if probs.ndim else 1
        if self.n >= self.FLUSH_ROWS:
            self.flush()

    def flush(self):
        if not self.ys:
            return
        ys, ps = self.ys, self.ps
        self.ys, self.ps, self.n = [], [], 0
        yt = ys[0] if len(ys) == 1 else _C.concat(ys, 0)
        yp = ps[0] if len(ps) == 1 else _C.concat(ps, 0)
        yt, yp = _host_np(yt), _host_np(yp)
        for m in self.metrics:
            m.update_state(yt, yp)


# ---------------------------------------------------------------------------- Model
class Model(Layer):
    """A trainable graph of layers with Keras' training API.

    Construct either functionally, ``Model(inputs, outputs)`` from :func:`fusednet.Input`
    KerasTensors, or use :class:`Sequential`.

    Example:
        >>> inputs = fusednet.Input(shape=(784,))
        >>> h = Dense(128, activation="relu")(inputs)
        >>> model = fusednet.Model(inputs, Dense(10, activation="softmax")(h))
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> history = model.fit(x, y, epochs=5)
    """

    def __init__(self, inputs=None, outputs=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self.stop_training = False
        self.history = None
        self._device = "cpu"
        self._plan_cache = None
        self._graph = None
        if inputs is not None or outputs is not None:
            self._init_graph(inputs, outputs)

    # ------------------------------------------------------------------ functional graph
    def _init_graph(self, inputs, outputs):
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != 1:
                raise ValueError("Model: only single-input functional models are supported")
            inputs = inputs[0]
        if isinstance(outputs, (list, tuple)):
            if len(outputs) != 1:
                raise ValueError("Model: only single-output functional models are supported")
            outputs = outputs[0]
        if not isinstance(inputs, KerasTensor) or not isinstance(outputs, KerasTensor):
            raise TypeError("Model: inputs and outputs must be KerasTensors from fusednet.Input(...) "
                            "and layer calls")
        order, seen = [], set()

        def visit(t):
            if id(t) in seen:
                return
            seen.add(id(t))
            for p in t.inputs:
                visit(p)
            order.append(t)
        visit(outputs)
        if inputs not in order:
            raise ValueError("Model: outputs are not connected to inputs")
        self._graph = (inputs, outputs, order)
        self._input_shape_decl = inputs.shape
        self.built = True
        self.input_shape = inputs.shape

    @property
    def layers(self):
        if self._graph is not None:
            out, seen = [], set()
            for t in self._graph[2]:
                if t.layer is not None and not isinstance(t.layer, InputLayer) and id(t.layer) not in seen:
                    seen.add(id(t.layer))
                    out.append(t.layer)
            return out
        return []

    def _flat_layers(self):
        return self.layers

    def _chain(self):
        """Layers as a simple chain (each consuming the previous output), or None."""
        if self._graph is None:
            return list(self.layers)
        inp, out, order = self._graph
        chain = []
        prev = inp
        for t in order:
            if t is inp:
                continue
            if len(t.inputs) != 1 or t.inputs[0] is not prev:
                return None
            chain.append(t.layer)
            prev = t
        return chain

    def _call_graph(self, x, training, logits=False):
        inp, out, order = self._graph
        vals = {id(inp): x}
        for t in order:
            if t is inp:
                continue
            args = [vals[id(p)] for p in t.inputs]
            a = args[0] if len(args) == 1 else args
            if logits and t is out and hasattr(t.layer, "_call_logits"):
                vals[id(t)] = t.layer._call_logits(a)
            else:
                vals[id(t)] = t.layer(a, training=training)
        return vals[id(out)]

    def call(self, inputs, training=None):
        return self._call_graph(inputs, training)

    def __call__(self, inputs, training=None, **kwargs):
        if isinstance(inputs, KerasTensor):
            return super().__call__(inputs, training)
        from .functional import as_tensor
        from .layers.base import _f32
        self._ensure_built(np.asarray(inputs).shape if not isinstance(inputs, (Tensor, _C.Array)) else inputs.shape)
        return self.call(as_tensor(_f32(inputs)), training=training)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for l in self._chain() or []:
            shape = l.compute_output_shape(shape)
        if self._graph is not None and self._chain() is None:
            return self._graph[1].shape
        return shape

    def _ensure_built(self, input_shape):
        if not self.built:
            raise ValueError(f"Model '{self.name}' has not been built")
        if self._graph is not None:
            exp = self._graph[0].shape
            got = tuple(input_shape)
            if len(exp) != len(got) or any(e is not None and e != g for e, g in zip(exp[1:], got[1:])):
                raise ValueError(f"Input 0 of model '{self.name}' is incompatible: expected shape "
                                 f"{exp}, but received input with shape {got}")

    # ------------------------------------------------------------------ weights
    @property
    def weights(self):
        out, seen = [], set()
        for l in self._flat_layers():
            for w in l.weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def trainable_weights(self):
        if not self._trainable:
            return []
        out, seen = [], set()
        for l in self._flat_layers():
            for w in l.trainable_weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def non_trainable_weights(self):
        tw = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in tw]

    @property
    def losses(self):
        out = []
        for l in self._flat_layers():
            out.extend(l.losses)
        return out

    def _require_built(self, what):
        if not self.built:
            raise ValueError(f"{what}: model '{self.name}' has not yet been built. Build it first by "
                             f"calling build(input_shape), by giving the first layer an Input/input_shape, "
                             f"or by calling fit()/predict() on a batch of data.")

    def get_weights(self):
        """All weights as a list of NumPy arrays (copies), in layer order."""
        self._require_built("get_weights")
        return [np.array(w.numpy(), copy=True) for w in self.weights]

    def set_weights(self, weights):
        """Copy NumPy arrays into all weights (list length and every shape must match)."""
        self._require_built("set_weights")
        mine = self.weights
        weights = list(weights)
        if len(weights) != len(mine):
            raise ValueError(f"set_weights: model '{self.name}' has {len(mine)} weight arrays, but the "
                             f"provided list has {len(weights)}")
        for i, (w, v) in enumerate(zip(mine, weights)):
            if tuple(np.shape(v)) != tuple(w.shape):
                raise ValueError(f"set_weights: weight {i} ({w.name}) has shape {tuple(w.shape)}, but the "
                                 f"provided array has shape {tuple(np.shape(v))}")
        srcs = []   # convert everything first: a bad array must not leave the model half-assigned
        for i, (w, v) in enumerate(zip(mine, weights)):
            a = np.asarray(v)
            if a.dtype.kind not in "fiub":
                raise TypeError(f"set_weights: weight {i} ({w.name}, shape {tuple(w.shape)}) must be a "
                                f"numeric array, got dtype {a.dtype}")
            srcs.append(_C.asarray(np.ascontiguousarray(a, dtype=np.float32)))
        for w, src in zip(mine, srcs):
            w.data.copy_(src if w.data.device == "cpu" else src.to(w.data.device))

    def count_params(self):
        self._require_built("count_params")
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    def get_layer(self, name=None, index=None):
        """Layer by name or index."""
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"get_layer: index {index} out of range for a model with {len(layers)} layers")
            return layers[index]
        for l in layers:
            if l.name == name:
                return l
        raise ValueError(f"No such layer: {name}. Existing layers are: {[l.name for l in layers]}.")

    def save_weights(self, filepath, overwrite=True):
        """Save all weights (atomic write; delegates to :mod:`fusednet.io`)."""
        import os
        from . import io as _io
        self._require_built("save_weights")
        if not overwrite and os.path.exists(filepath):
            raise ValueError(f"save_weights: {filepath!r} exists and overwrite=False")
        return _io.save_model_weights(self, filepath)

    def load_weights(self, filepath):
        """Load weights saved by :meth:`save_weights` (shape-checked)."""
        from . import io as _io
        self._require_built("load_weights")
        return _io.load_model_weights(self, filepath)

    # ------------------------------------------------------------------ summary
    def summary(self, line_length=None, print_fn=None):
        """Print a Keras-like table: Layer (type), Output Shape, Param #, then totals."""
        self._require_built("summary")
        print_fn = print_fn or print
        rows = []
        shape = tuple(self.input_shape) if self.input_shape is not None else None
        if self._graph is not None and self._chain() is None:
            for t in self._graph[2]:
                if t.layer is None or isinstance(t.layer, InputLayer):
                    continue
                rows.append((f"{t.layer.name} ({type(t.layer).__name__})", str(t.shape), t.layer.count_params()))
        else:
            for l in self.layers:
                shape = l.compute_output_shape(shape) if shape is not None else None
                rows.append((f"{l.name} ({type(l).__name__})", str(shape), l.count_params() if l.built else 0))
        w1 = max([len("Layer (type)")] + [len(r[0]) for r in rows]) + 3
        w2 = max([len("Output Shape")] + [len(r[1]) for r in rows]) + 3
        w3 = max([len("Param #")] + [len(f"{r[2]:,}") for r in rows])
        width = w1 + w2 + w3
        total = self.count_params()
        trainable = int(sum(int(np.prod(w.shape)) for w in self.trainable_weights))
        lines = [f'Model: "{self.name}"', "┏" + "━" * width + "┓",
                 "┃" + "Layer (type)".ljust(w1) + "Output Shape".ljust(w2) + "Param #".rjust(w3) + "┃",
                 "┡" + "━" * width + "┩"]
        for i, (a, b, c) in enumerate(rows):
            lines.append("│" + a.ljust(w1) + b.ljust(w2) + f"{c:,}".rjust(w3) + "│")
        lines.append("└" + "─" * width + "┘")
        lines.append(f" Total params: {total:,} ({_fmt_bytes(total * 4)})")
        lines.append(f" Trainable params: {trainable:,} ({_fmt_bytes(trainable * 4)})")
        lines.append(f" Non-trainable params: {total - trainable:,} ({_fmt_bytes((total - trainable) * 4)})")
        for ln in lines:
            print_fn(ln)

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1, jit_compile="auto",
                auto_scale_loss=True, device=None):
        """Configure training.

        Args:
            optimizer: name ('adam', 'sgd', ...) or Optimizer instance (Keras default 'rmsprop').
            loss: name ('sparse_categorical_crossentropy', 'mse', ...), Loss instance or callable.
            metrics: list of names/Metric instances (e.g. ['accuracy']).
            device: None/'cpu' or 'cuda[:N]': where weights and training run.
        """
        if loss_weights is not None:
            raise ValueError("compile: loss_weights is not supported (single-output models only)")
        self.optimizer = _optimizers.get(optimizer)
        if loss is None:
            raise ValueError("compile: a loss is required, e.g. loss='sparse_categorical_crossentropy'")
        self.loss = _losses.get(loss)
        if metrics is not None and not isinstance(metrics, (list, tuple, dict)):
            if isinstance(metrics, str):
                raise TypeError(f"compile: metrics must be a list, e.g. metrics=[{metrics!r}]")
            metrics = [metrics]
        self._metric_ids = list(metrics or []) + list(weighted_metrics or [])
        self._metrics = None
        if self._metric_ids:
            m = _metrics_module()
            self._metrics = [m.get(i, loss=self.loss) if _get_accepts_loss(m.get) else m.get(i)
                             for i in self._metric_ids]
        self.compiled = True
        self._plan_cache = None
        if device is not None:
            self.to(device)

    @property
    def metrics(self):
        return list(self._metrics or []) if self.compiled else []

    @property
    def metrics_names(self):
        return ["loss"] + [m.name for m in (self._metrics or [])]

    def to(self, device):
        """Move all weights (and optimizer state on the next build) to ``device``."""
        device = str(device)
        if device.startswith("cuda"):
            from . import cuda
            if not cuda.is_available():
                raise ValueError(f"device {device!r} requested but no CUDA device is available "
                                 f"(fusednet.cuda.is_available() is False)")
        self._device = device
        for w in self.weights:
            if w.data.device != device:
                w.data = w.data.to(device)
        if self.optimizer is not None:
            self.optimizer._vars = None
        self._plan_cache = None
        return self

    # ------------------------------------------------------------------ plan
    def _graph_spec(self):
        """This model as a :class:`~fusednet.trainers.plan.Graph` of layer calls."""
        if self._graph is None:   # subclassed model: its own call() is one tape node
            return Graph([0], [1], [Node(self, (0,), 1, False)])
        inp, out, order = self._graph
        nodes = []
        for t in order:
            if t is inp or t.layer is None or (isinstance(t.layer, InputLayer) and not t.inputs):
                continue
            nodes.append(Node(t.layer, [id(p) for p in t.inputs], id(t), len(t.inputs) > 1))
        return Graph([id(inp)], [id(out)], nodes)

    def _make_plan(self):
        plan = GraphPlan(self._graph_spec(), self.trainable_weights)
        plan.set_losses([self.loss])
        return plan

    def _get_plan(self):
        key = (tuple(id(w.data) for w in self.trainable_weights), id(self.loss),
               tuple(l.trainable for l in self._flat_layers()), _fusion.is_enabled())
        if self._plan_cache is None or self._plan_cache[0] != key:
            self._plan_cache = (key, self._make_plan())
        return self._plan_cache[1]

    def _predict_arrays(self, x):
        """Inference forward on an Array batch (already on the model's device)."""
        ip = self._inference_plan()   # Conv+BN folding (layers/fusion.py); None = not applicable
        if ip is not None:
            return ip.forward(x)
        plan = self._get_plan() if self.compiled else self._infer_plan()
        return plan.forward([x], False, record=False)[0][0]

    def _infer_plan(self):
        key = (tuple(id(w.data) for w in self.weights), _fusion.is_enabled())
        c = self.__dict__.get("_infer_cache")
        if c is None or c[0] != key:
            c = (key, GraphPlan(self._graph_spec(), []))
            self._infer_cache = c
        return c[1]

    # ------------------------------------------------------------------ layer protocol
    # A model used as a layer of another model runs its own plan inside the outer one.
    def forward(self, ctx, x, training, strip=False):
        plan = self._infer_plan() if not training else self._nested_plan()
        outs, ctx.ctxs = plan.forward([x], training, (0,) if strip else ())
        ctx.plan = plan
        return outs[0]

    def backward(self, ctx, dy, need_dx):
        dxs, grads = ctx.plan.backward(ctx.ctxs, [dy])
        ctx.ctxs = None
        return dxs[0], grads

    def _nested_plan(self):
        key = (tuple(id(w.data) for w in self.trainable_weights), _fusion.is_enabled(),
               tuple(l.trainable for l in self._flat_layers()))
        c = self.__dict__.get("_nested_cache")
        if c is None or c[0] != key:
            c = (key, GraphPlan(self._graph_spec(), self.trainable_weights, inputs_need_grad=True))
            self._nested_cache = c
        return c[1]

    # ------------------------------------------------------------------ data prep
    def _prepare_xy(self, x, y, what, x_checked=False):
        xa = x if x_checked else _prep_x(x, f"{what}: x")
        self._build_from_data(xa.shape)
        self._check_input_shape(xa.shape, what)
        if y is None:
            raise ValueError(f"{what}: y is required for training/evaluation with loss {self.loss.name!r}")
        ya = _as_host_array(y, f"{what}: y")
        if ya.ndim == 0 or ya.shape[0] != xa.shape[0]:
            raise ValueError(f"{what}: x and y must have the same number of samples, got x {xa.shape} "
                             f"and y {ya.shape}")
        if ya.dtype.kind == "f" and not np.isfinite(ya).all():
            raise ValueError(f"{what}: y contains NaN or infinite values")
        out_shape = self.compute_output_shape((None,) + tuple(xa.shape[1:]))
        yarr = self.loss.prepare_targets(ya, (xa.shape[0],) + tuple(out_shape[1:]))
        return xa, ya, yarr

    def _build_from_data(self, shape):
        if not self.built:
            self.build((None,) + tuple(shape[1:]))

    def _check_input_shape(self, shape, what):
        exp = self.input_shape
        if exp is None:
            return
        got = (None,) + tuple(shape[1:])
        if len(exp) != len(got) or any(e is not None and e != g for e, g in zip(exp[1:], got[1:])):
            first = self.layers[0].name if self.layers else self.name
            raise ValueError(f"{what}: Input 0 of layer '{first}' is incompatible with the layer: expected "
                             f"shape {tuple(exp)}, but received input with shape {tuple(shape)}")

    # ------------------------------------------------------------------ fit
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_batch_size=None,
            validation_freq=1):
        """Train for ``epochs`` epochs; returns a History (``history.history`` dict of lists).

        Keras semantics: ``batch_size`` defaults to 32; ``validation_split`` takes the last
        fraction of x/y before shuffling; ``shuffle`` reshuffles every epoch (Philox permutation
        from :mod:`fusednet.random`); ``verbose`` 'auto'/1 = progress bar, 2 = one line per
        epoch, 0 = silent.
        """
        if not self.compiled:
            raise ValueError("You must call compile() before fit(): model.compile(optimizer=..., loss=...)")
        batch_size = _check_batch_size(batch_size, "fit")
        if verbose == "auto":
            verbose = 1
        if not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
        if not 0.0 <= float(validation_split) < 1.0:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split}")
        xa = _prep_x(x, "fit: x")
        ya = _as_host_array(y, "fit: y") if y is not None else None
        if ya is None:
            raise ValueError("fit: y is required")
        if ya.ndim == 0 or ya.shape[0] != xa.shape[0]:
            raise ValueError(f"fit: x and y must have the same number of samples, got x {xa.shape} and y {ya.shape}")
        sw = None
        if sample_weight is not None:
            sw = np.ascontiguousarray(np.asarray(sample_weight, np.float32).reshape(-1))
            if sw.shape[0] != xa.shape[0]:
                raise ValueError(f"fit: sample_weight has {sw.shape[0]} entries, x has {xa.shape[0]} samples")
        if class_weight is not None:
            if ya.ndim > 1 and ya.shape[-1] > 1:
                cls = np.argmax(ya, axis=-1)
            else:
                cls = ya.reshape(-1).astype(np.int64)
            cw = np.array([class_weight.get(int(c), 1.0) for c in range(int(cls.max()) + 1)], np.float32)
            w = cw[cls]
            sw = w if sw is None else sw * w
        val = None
        if validation_data is not None:
            if len(validation_data) not in (2, 3):
                raise ValueError("fit: validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight)")
            val = tuple(validation_data[:2])
        elif validation_split:
            split_at = int(math.floor(xa.shape[0] * (1.0 - validation_split)))
            if split_at == 0 or split_at == xa.shape[0]:
                raise ValueError(f"fit: validation_split={validation_split} leaves an empty training or "
                                 f"validation set for {xa.shape[0]} samples")
            val = (xa[split_at:], ya[split_at:])
            xa, ya = xa[:split_at], ya[:split_at]
            if sw is not None:
                sw = sw[:split_at]
        xa, ya, Y = self._prepare_xy(xa, ya, "fit", x_checked=True)
        n = xa.shape[0]
        dev = self._device
        X = _C.asarray(xa)
        W = _C.asarray(sw) if sw is not None else None
        if dev != "cpu":
            X, Y = X.to(dev), Y.to(dev)
            W = W.to(dev) if W is not None else None
        plan = self._get_plan()
        opt = self.optimizer
        params = plan.param_arrays
        opt._check_match(params)
        steps = int(math.ceil(n / batch_size))
        if steps_per_epoch is not None:
            steps = min(steps, int(steps_per_epoch))
        metrics = self._metrics or []
        mod_cb = _callback_module()
        cbs = mod_cb.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=self,
                                  verbose=verbose, epochs=epochs, steps=steps)
        batch_hooks = _needs_batch_hooks(cbs)
        self.stop_training = False
        reg_layers = [l for l in self._flat_layers() if l._regularized]
        cbs.on_train_begin()
        logs = {}
        fuse, last_act = plan.fuse[0], plan.out_acts[0]
        feeder = _MetricFeeder(metrics, defer=not batch_hooks and dev == "cpu") if metrics else None
        for epoch in range(initial_epoch, epochs):
            for m in metrics:
                m.reset_state()
            cbs.on_epoch_begin(epoch)
            perm = None
            if shuffle:
                s, off = _random.next_key()
                perm = _C.permutation(n, s, off)
                if dev != "cpu":
                    perm = perm.to(dev)
            acc = _C.zeros([batch_size], device=dev)
            tail_loss = 0.0
            seen = 0
            reg_sum = 0.0
            for step in range(steps):
                start = step * batch_size
                stop = min(start + batch_size, n)
                nb = stop - start
                if batch_hooks:
                    cbs.on_train_batch_begin(step)
                if perm is not None:
                    idx = _C.slice_axis(perm, 0, start, stop)
                    xb = _C.take_rows(X, idx)
                    yb = _C.take_rows(Y, idx)
                    wb = _C.take_rows(W, idx) if W is not None else None
                else:
                    xb = _C.slice_axis(X, 0, start, stop)
                    yb = _C.slice_axis(Y, 0, start, stop)
                    wb = _C.slice_axis(W, 0, start, stop) if W is not None else None
                per, outs, grads = plan.train_step([xb], [yb], nb, wb)
                out = outs[0]
                opt._apply_arrays(params, grads)
                if nb == batch_size:
                    _C.axpy_(acc, 1.0, per)
                else:
                    tail_loss += float(_C.reduce("sum", per, [], False).item())
                seen += nb
                if reg_layers:
                    r = self._reg_penalty(reg_layers)
                    reg_sum += r * nb
                if feeder is not None:
                    probs = out
                    if fuse:
                        probs = _C.softmax_forward(out) if last_act == "softmax" else \
                            _C.activation_forward(out, "sigmoid", 0.0)
                    feeder.add(yb, probs)
                if batch_hooks:
                    total = float(_C.reduce("sum", acc, [], False).item()) + tail_loss + reg_sum
                    blogs = {"loss": total / seen}
                    for m in metrics:
                        blogs[m.name] = _to_float(m.result())
                    cbs.on_train_batch_end(step, blogs)
                if self.stop_training:
                    break
            if feeder is not None:
                feeder.flush()
            total = float(_C.reduce("sum", acc, [], False).item()) + tail_loss + reg_sum
            logs = {"loss": total / max(seen, 1)}
            for m in metrics:
                logs[m.name] = _to_float(m.result())
            if val is not None and (epoch + 1) % validation_freq == 0:
                vres = self.evaluate(val[0], val[1], batch_size=validation_batch_size or batch_size,
                                     verbose=0, return_dict=True, _callbacks=None)
                for k, v in vres.items():
                    logs["val_" + k] = v
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end(logs)
        self.history = _find_history(cbs)
        return self.history

    def _reg_penalty(self, layers):
        total = 0.0
        for l in layers:
            for w, reg in l._regularized:
                p = reg.penalty_array(w.data)
                if p is not None:
                    total += float(p.item())
        return total

    # ------------------------------------------------------------------ evaluate / predict
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, _callbacks=True):
        """Loss (and metrics) over x/y; returns ``loss`` (no metrics), ``[loss, *metrics]`` or a dict."""
        if not self.compiled:
            raise ValueError("You must call compile() before evaluate()")
        batch_size = _check_batch_size(batch_size, "evaluate")
        if verbose == "auto":
            verbose = 1
        xa, ya, Y = self._prepare_xy(x, y, "evaluate")
        n = xa.shape[0]
        dev = self._device
        X = _C.asarray(xa)
        if dev != "cpu":
            X, Y = X.to(dev), Y.to(dev)
        Wt = None
        if sample_weight is not None:
            Wt = _C.asarray(np.ascontiguousarray(np.asarray(sample_weight, np.float32).reshape(-1)))
            if dev != "cpu":
                Wt = Wt.to(dev)
        metrics = self._metrics or []
        for m in metrics:
            m.reset_state()
        nsteps = int(math.ceil(n / batch_size))
        cbs = None
        if _callbacks:
            cbs = _callback_module().CallbackList(callbacks, add_history=False, add_progbar=verbose != 0,
                                                  model=self, verbose=verbose, epochs=1, steps=nsteps)
            cbs.on_test_begin()
        hooks = cbs is not None and _needs_batch_hooks(cbs, "test")
        feeder = _MetricFeeder(metrics, defer=not hooks and dev == "cpu") if metrics else None
        total = 0.0
        plan = self._get_plan()
        fuse, last_act = plan.fuse[0], plan.out_acts[0]
        ip = self._inference_plan(refresh=True)   # Conv+BN folding (layers/fusion.py)
        for step in range(nsteps):
            s0, s1 = step * batch_size, min((step + 1) * batch_size, n)
            if hooks:
                cbs.on_test_batch_begin(step)
            xb = _C.slice_axis(X, 0, s0, s1)
            yb = _C.slice_axis(Y, 0, s0, s1)
            if ip is not None:
                out = ip.forward(xb, fuse)
            else:
                out = plan.forward([xb], False, plan.strip, record=False)[0][0]
            per, _ = plan.output_loss(0, out, yb, s1 - s0, None, False)
            if Wt is not None:
                per = _C.binary("mul", per, _C.slice_axis(Wt, 0, s0, s1))
            total += float(_C.reduce("sum", per, [], False).item())
            if feeder is not None:
                probs = out
                if fuse:
                    probs = _C.softmax_forward(out) if last_act == "softmax" else \
                        _C.activation_forward(out, "sigmoid", 0.0)
                feeder.add(yb, probs)
            if hooks:
                cbs.on_test_batch_end(step, {"loss": total / s1})
        if feeder is not None:
            feeder.flush()
        reg_layers = [l for l in self._flat_layers() if l._regularized]
        loss = total / n + (self._reg_penalty(reg_layers) if reg_layers else 0.0)
        res = {"loss": loss}
        for m in metrics:
            res[m.name] = _to_float(m.result())
        if cbs is not None:
            cbs.on_test_end(res)
        if return_dict:
            return res
        if not metrics:
            return loss
        return list(res.values())

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Model outputs for ``x`` as a NumPy array (probabilities for softmax/sigmoid models)."""
        batch_size = _check_batch_size(batch_size, "predict")
        if not self.layers and self._graph is None:
            raise ValueError(f"predict: model '{self.name}' has no layers; add layers before predicting")
        xa = _prep_x(x, "predict: x")
        self._build_from_data(xa.shape)
        self._require_built("predict")
        self._check_input_shape(xa.shape, "predict")
        n = xa.shape[0]
        X = _C.asarray(xa)
        if self._device != "cpu":
            X = X.to(self._device)
        result = None
        self._inference_plan(refresh=True)   # re-fold Conv+BN weights once per predict call
        for s0 in range(0, n, batch_size):
            s1 = min(s0 + batch_size, n)
            out = self._predict_arrays(_C.slice_axis(X, 0, s0, s1))
            o = _host_np(out)
            if result is None:
                result = np.empty((n,) + o.shape[1:], np.float32)
            result[s0:s1] = o
        return result

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=max(1, len(x)), verbose=0)

    def train_on_batch(self, x, y, sample_weight=None):
        """One optimizer step on one batch; returns the loss (float)."""
        h = self.fit(x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False, sample_weight=sample_weight)
        return h.history["loss"][-1]

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable}

    # ------------------------------------------------------------------ inference helpers
    # (owned by the augment/inspection work: logic lives in layers/fusion.py and inspect.py)
    def _inference_plan(self, refresh=False):
        """Folded Conv+BN(+ReLU) inference plan (:mod:`fusednet.layers.fusion`), or None."""
        from .layers import fusion
        return fusion.inference_plan(self, refresh)

    def intermediate(self, x, layer_names, batch_size=None):
        """Outputs of the named layer(s) for ``x`` at inference (see :func:`fusednet.inspect.feature_maps`)."""
        from . import inspect as _inspect
        return _inspect.feature_maps(self, x, layer_names, batch_size=batch_size)


class Sequential(Model):
    """A linear stack of layers.

    Args:
        layers: optional list of layers (an ``Input(...)``/``InputLayer`` first fixes the input
            shape so the model builds immediately).
        name: optional name (default 'sequential', 'sequential_1', ...).

    Example:
        >>> model = fusednet.Sequential([
        ...     fusednet.Input(shape=(784,)),
        ...     fusednet.layers.Dense(128, activation="relu"),
        ...     fusednet.layers.Dense(10, activation="softmax"),
        ... ])
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> model.fit(x_train, y_train, epochs=5, batch_size=32)
    """

    def __init__(self, layers=None, name=None, trainable=True):
        super().__init__(name=name, trainable=trainable)
        self._layers = []
        self._input_layer = None
        self.built = False
        for l in layers or []:
            self.add(l)

    def add(self, layer):
        """Append a layer (or an ``Input(...)`` KerasTensor / InputLayer as the first element)."""
        if isinstance(layer, KerasTensor):
            if layer.layer is None or not isinstance(layer.layer, InputLayer):
                raise TypeError("Sequential.add: only Input(...) KerasTensors can be added")
            layer = layer.layer
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a Layer instance, got {type(layer).__name__}: {layer!r}")
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError("Sequential.add: an InputLayer/Input may only be the first element")
            self._input_layer = layer
            self.build(layer.batch_shape)
            return
        if any(l is layer for l in self._layers):
            raise ValueError(f"Sequential.add: layer '{layer.name}' is already in the model")
        if any(l.name == layer.name for l in self._layers):
            raise ValueError(f"Sequential.add: all layers must have unique names; '{layer.name}' is already used")
        self._layers.append(layer)
        self._plan_cache = None
        if not self._layers[:-1] and self._input_layer is None and layer._batch_input_shape is not None:
            self.build(layer._batch_input_shape)
        elif self.built:
            shape = self.input_shape
            for l in self._layers[:-1]:
                shape = l.compute_output_shape(shape)
            layer._maybe_build(shape)
            layer._check_input(shape)

    def pop(self):
        """Remove the last layer."""
        if not self._layers:
            raise ValueError("Sequential.pop: there are no layers to remove")
        self._plan_cache = None
        return self._layers.pop()

    @property
    def layers(self):
        return list(self._layers)

    def _chain(self):
        return list(self._layers)

    def _graph_spec(self):
        return Graph.chain(self._layers)

    def build(self, input_shape=None):
        """Create every layer's weights for inputs of ``input_shape`` (batch axis included)."""
        if input_shape is None:
            if self._input_layer is not None:
                input_shape = self._input_layer.batch_shape
            else:
                raise ValueError(f"build: model '{self.name}' needs an input shape")
        shape = tuple(input_shape)
        if len(shape) < 2:
            raise ValueError(f"build: input_shape must include the batch axis, e.g. (None, 784); got {shape}")
        self.input_shape = shape
        for l in self._layers:
            l._maybe_build(shape)
            l._check_input(shape)
            shape = l.compute_output_shape(shape)
        self.built = True

    def _call_graph(self, x, training, logits=False):
        last = len(self._layers) - 1
        for i, l in enumerate(self._layers):
            if logits and i == last and hasattr(l, "_call_logits"):
                x = l._call_logits(x)
            else:
                x = l(x, training=training)
        return x

    def call(self, inputs, training=None):
        return self._call_graph(inputs, training)

    def __call__(self, inputs, training=None, **kwargs):
        if isinstance(inputs, KerasTensor):
            x = inputs
            for l in self._layers:
                x = l(x)
            return x
        from .functional import as_tensor
        from .layers.base import _f32
        x = as_tensor(_f32(inputs))
        if not self.built:
            self.build((None,) + tuple(x.shape[1:]))
        self._check_input_shape(x.shape, "call")
        return self.call(x, training=training)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for l in self._layers:
            shape = l.compute_output_shape(shape)
        return shape

    def get_config(self):
        from .layers import serialize
        cfg = {"name": self.name, "layers": [serialize(l) for l in self._layers]}
        if self._input_layer is not None:
            cfg["input_shape"] = self._input_layer.batch_shape
        elif self.input_shape is not None:
            cfg["input_shape"] = self.input_shape
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from .layers import deserialize
        m = cls(name=config.get("name"))
        for lc in config["layers"]:
            m.add(deserialize(lc, custom_objects))
        if config.get("input_shape") is not None and not m.built:
            m.build(tuple(config["input_shape"]))
        return m


# ---------------------------------------------------------------------------- small utilities
def _host_np(a):
    return a.numpy() if a.device == "cpu" else a.to("cpu").numpy()


def _to_float(v):
    """A metric result for the logs: a Python float for scalars; a NumPy float32 array for
    vector results (e.g. ``F1Score(average=None)``: one value per class), as Keras logs them."""
    if isinstance(v, Tensor):
        v = v.data
    if isinstance(v, _C.Array):
        if v.size == 1 and v.ndim == 0:
            return float(v.item())
        v = _host_np(v)
    a = np.asarray(v)
    if a.ndim == 0:
        return float(a)
    return np.array(a, dtype=np.float32)


def _fmt_bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024.0


def _get_accepts_loss(fn):
    import inspect
    try:
        return "loss" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _needs_batch_hooks(cbs, mode="train"):
    """False when no callback overrides the per-batch hooks (skip building per-batch logs)."""
    from inspect import getattr_static
    base = _callback_module().Callback
    names = (f"on_{mode}_batch_begin", f"on_{mode}_batch_end", "on_batch_begin", "on_batch_end") \
        if mode == "train" else (f"on_{mode}_batch_begin", f"on_{mode}_batch_end")
    for cb in getattr(cbs, "callbacks", []):
        for nm in names:
            try:
                if getattr_static(type(cb), nm, None) is not getattr_static(base, nm, None):
                    return True
            except AttributeError:
                return True
    return False


def _find_history(cbs):
    for cb in getattr(cbs, "callbacks", []):
        if type(cb).__name__ == "History":
            return cb
    return getattr(cbs, "history", None)
